//! End-to-end: what only the process runtime does. It runs the host's commands, so a container
//! needs a command (there is no image Entrypoint to fall back on), and it never pulls. The pod
//! life shared with the Docker runtime is in `runtime_scenarios.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::{container_status, ready, waiting_reason, Cluster, Runtime};
use serde_json::json;

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_need_a_command_and_images_are_never_pulled() {
    let c = Cluster::up(Runtime::Process).await;
    // A container without a command cannot run on the process runtime.
    c.create(json!({"metadata": {"name": "nocmd"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}})).await;
    // Args alone would run after the image's Entrypoint, which this runtime does not know.
    c.create(json!({"metadata": {"name": "argsonly"},
        "spec": {"containers": [{"name": "web", "image": "nginx", "args": ["-g", "daemon off;"]}]}}))
        .await;
    for name in ["nocmd", "argsonly"] {
        let pod = c
            .wait(name, "CreateContainerConfigError", T, |p| {
                waiting_reason(p, "web").as_deref() == Some("CreateContainerConfigError")
            })
            .await;
        let msg = container_status(&pod, "web").unwrap().state.clone().unwrap().waiting.unwrap().message.unwrap();
        assert!(msg.contains("has no command"), "{name}: {msg}");
    }

    // The process runtime records images and never pulls: every pull policy runs the command.
    let pod = |name: &str, policy: &str| {
        json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "minik-test/absent:1.0",
            "imagePullPolicy": policy, "command": ["sleep", "3600"]}]}})
    };
    for (name, policy) in [("never", "Never"), ("always", "Always"), ("ifnotpresent", "IfNotPresent")] {
        c.create(pod(name, policy)).await;
        c.wait(name, "Running", T, ready).await;
    }
}
