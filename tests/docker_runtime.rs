//! End-to-end: what only the Docker runtime does, against the host's Docker engine, driven
//! through the API (the pod life it shares with the process runtime is `runtime_scenarios.rs`):
//! the pause container's namespaces and address, pulls and their failures, Entrypoint/Cmd mapping,
//! hostPorts, Docker's own records of exits and attempts, adoption after a restart. Images are made locally (busybox from Debian's `busybox-static`, `docker import`); the
//! pause image is made by the agent itself from the `minik` binary. Every test removes the
//! containers its agent made (they carry the agent's `io.minik.agent` label).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::cluster::{docker, ensure_busybox_image, phase, waiting, Cluster, Runtime, BUSYBOX};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Made from [`BUSYBOX`] with its own Entrypoint and Cmd (see [`ensure_entry_image`]).
const ENTRY_IMAGE: &str = "minik-test/entry:1.0";

/// Makes [`ENTRY_IMAGE`]: busybox with `ENTRYPOINT ["echo", "entry:"]` and `CMD ["default-cmd"]`,
/// committed from a container of [`BUSYBOX`] (no build, no pull).
fn ensure_entry_image() {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if *done || docker(&["image", "inspect", ENTRY_IMAGE]).0 == 0 {
        *done = true;
        return;
    }
    ensure_busybox_image();
    let (code, id, err) = docker(&["create", BUSYBOX]);
    assert_eq!(code, 0, "docker create: {err}");
    let id = id.trim();
    let (code, _, err) = docker(&[
        "commit",
        "--change",
        r#"ENTRYPOINT ["echo", "entry:"]"#,
        "--change",
        r#"CMD ["default-cmd"]"#,
        id,
        ENTRY_IMAGE,
    ]);
    docker(&["rm", "-f", id]);
    assert!(code == 0 || docker(&["image", "inspect", ENTRY_IMAGE]).0 == 0, "docker commit: {err}");
    *done = true;
}

fn container_status(p: &Pod, name: &str) -> ContainerStatus {
    common::cluster::container_status(p, name).cloned().unwrap_or_else(|| panic!("no status for container {name}"))
}

fn docker_id(p: &Pod, name: &str) -> String {
    let id = container_status(p, name).container_id.unwrap_or_default();
    id.rsplit("://").next().unwrap_or_default().to_owned()
}

fn inspect(id: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, id]).1.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pause_container_holds_network_ipc_and_hostname() {
    let c = Cluster::up(Runtime::Docker).await;
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "shared" },
        "spec": { "containers": [
            { "name": "server", "image": BUSYBOX, "command": ["sh", "-c",
                "echo from-server > /www/index.html; echo ipc-token > /dev/shm/token; echo server up; exec httpd -f -p 8080 -h /www"] },
            { "name": "client", "image": BUSYBOX, "command": ["sh", "-c",
                "until wget -qO- http://127.0.0.1:8080/ 2>/dev/null; do sleep 0.2; done; echo shm=$(cat /dev/shm/token); echo host=$(hostname); exec sleep 3600"] }
        ]}
    }))
    .await;
    let pod = c.running("shared").await;

    // Container B reaches container A on localhost, and sees A's /dev/shm (the shared IPC namespace).
    let logs = c.logs_until("shared", "client", "host=").await;
    assert!(logs.contains("from-server"), "client logs: {logs}");
    assert!(logs.contains("shm=ipc-token"), "client logs: {logs}");
    // The pod's hostname is its name, in every container.
    assert!(logs.contains("host=shared"), "client logs: {logs}");
    assert_eq!(c.logs_until("shared", "server", "server up").await, "server up\n");

    // The pod's IP is the pause container's address on the engine's network.
    let pod_ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
    let sandboxes = c.containers(Some("io.minik.kind=sandbox"));
    assert_eq!(sandboxes.len(), 1);
    assert_eq!(inspect(&sandboxes[0], "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"), pod_ip);
    assert_eq!(inspect(&sandboxes[0], "{{.HostConfig.IpcMode}}"), "shareable");
    let server = docker_id(&pod, "server");
    assert_eq!(inspect(&server, "{{.HostConfig.NetworkMode}}"), format!("container:{}", sandboxes[0]));
    assert_eq!(inspect(&server, "{{.HostConfig.IpcMode}}"), format!("container:{}", sandboxes[0]));
    assert_eq!(inspect(&server, "{{index .Config.Labels \"io.minik.pod.uid\"}}"), pod.metadata.uid.clone().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_pull_with_a_missing_image_shows_err_image_never_pull() {
    let c = Cluster::up(Runtime::Docker).await;
    let image = "minik-test/absent:1.0";
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "neverpull" },
        "spec": { "containers": [{ "name": "app", "image": image, "imagePullPolicy": "Never", "command": ["true"] }] }
    }))
    .await;
    let want = format!("Container image \"{image}\" is not present with pull policy of Never");
    let pod = c
        .wait("neverpull", "ErrImageNeverPull", Duration::from_secs(30), |p| {
            waiting(p, "app").is_some_and(|(r, m)| r == "ErrImageNeverPull" && m == want)
        })
        .await;
    assert_eq!(phase(&pod), "Pending");
    let events =
        c.wait_events("neverpull", &[&format!("ErrImageNeverPull: {want}"), "Failed: Error: ErrImageNeverPull"]).await;
    // Nothing is pulled, and the agent does not retry in a storm: one try, then the image back-off (10 s).
    assert!(!events.iter().any(|e| e.starts_with("Pulling")), "{events:#?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tries = c.event_reasons("neverpull").await.iter().filter(|r| *r == "ErrImageNeverPull").count();
    assert_eq!(tries, 1, "{:#?}", c.events("neverpull").await);
    assert_eq!(c.containers(Some("io.minik.kind=container")), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_pulls_show_err_image_pull_then_image_pull_back_off() {
    let c = Cluster::up(Runtime::Docker).await;
    let missing = "minik-test/does-not-exist:1.0";
    // `missing` is absent (IfNotPresent pulls it); BUSYBOX is present, but Always pulls anyway.
    // No registry is reachable here, so both pulls fail fast.
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "nopull" },
        "spec": { "containers": [
            { "name": "absent", "image": missing, "imagePullPolicy": "IfNotPresent", "command": ["true"] },
            { "name": "always", "image": BUSYBOX, "imagePullPolicy": "Always", "command": ["sleep", "3600"] }
        ]}
    }))
    .await;
    // Record the waiting reasons each container goes through.
    let mut seen: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let start = Instant::now();
    let last = loop {
        let p = c.pods.get("nopull").await.unwrap();
        for name in ["absent", "always"] {
            if let Some((reason, message)) = waiting(&p, name) {
                let list = seen.entry(name).or_default();
                if list.last() != Some(&reason) {
                    if reason == "ErrImagePull" {
                        let image = if name == "absent" { missing } else { BUSYBOX };
                        assert!(message.starts_with(&format!("Failed to pull image \"{image}\": ")), "{message}");
                    }
                    if reason == "ImagePullBackOff" {
                        let image = if name == "absent" { missing } else { BUSYBOX };
                        assert_eq!(message, format!("Back-off pulling image \"{image}\""));
                    }
                    list.push(reason);
                }
            }
        }
        let done =
            ["absent", "always"].iter().all(|n| seen.get(n).is_some_and(|l| l.iter().any(|r| r == "ImagePullBackOff")));
        if done {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "reasons so far: {seen:?}\n{}", c.minik.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for name in ["absent", "always"] {
        let reasons: Vec<&str> = seen[name]
            .iter()
            .map(String::as_str)
            .filter(|r| r.starts_with("ErrImage") || r.starts_with("ImagePull"))
            .collect();
        assert_eq!(reasons[..2], ["ErrImagePull", "ImagePullBackOff"], "{name}: {:?}", seen[name]);
    }
    assert_eq!(phase(&last), "Pending");
    let events = c
        .wait_events(
            "nopull",
            &[
                &format!("Pulling: Pulling image \"{missing}\""),
                &format!("Pulling: Pulling image \"{BUSYBOX}\""),
                "Failed: Error: ErrImagePull",
                &format!("BackOff: Back-off pulling image \"{missing}\""),
                &format!("BackOff: Back-off pulling image \"{BUSYBOX}\""),
                "Failed: Error: ImagePullBackOff",
            ],
        )
        .await;
    assert!(
        events.iter().any(|e| e.starts_with(&format!("Failed: Failed to pull image \"{missing}\": "))),
        "{events:#?}"
    );
    // Only the sandbox exists: no app container was made.
    assert_eq!(c.containers(Some("io.minik.kind=container")), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_and_args_map_over_the_image_entrypoint_and_cmd() {
    tokio::task::block_in_place(ensure_entry_image);
    let c = Cluster::up(Runtime::Docker).await;
    let container = |name: &str, extra: serde_json::Value| {
        let mut c = json!({ "name": name, "image": ENTRY_IMAGE, "env": [{ "name": "WHO", "value": "world" }] });
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    };
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "entry" },
        "spec": { "restartPolicy": "Never", "containers": [
            container("neither", json!({})),
            container("args-only", json!({ "args": ["hello", "$(WHO)"] })),
            container("command-only", json!({ "command": ["echo", "cmd:"] })),
            container("both", json!({ "command": ["echo", "cmd:"], "args": ["$(WHO)"] }))
        ]}
    }))
    .await;
    let pod = c.wait("entry", "Succeeded", Duration::from_secs(60), |p| phase(p) == "Succeeded").await;
    let want = [
        ("neither", "entry: default-cmd\n"),
        ("args-only", "entry: hello world\n"),
        ("command-only", "cmd:\n"),
        ("both", "cmd: world\n"),
    ];
    for (name, out) in want {
        assert_eq!(c.logs("entry", name, false).await, out, "container {name}");
    }
    // The status names Docker's ids: the container's and its image's.
    let cs = container_status(&pod, "both");
    assert!(cs.container_id.as_deref().unwrap_or_default().starts_with("docker://"), "{cs:?}");
    let image_id = inspect(ENTRY_IMAGE, "{{.Id}}");
    assert_eq!(cs.image_id, format!("docker://{image_id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_ports_are_published_on_the_host() {
    let c = Cluster::up(Runtime::Docker).await;
    let host_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "hostport" },
        "spec": { "containers": [{ "name": "web", "image": BUSYBOX,
            "command": ["sh", "-c", "echo via-host-port > /www/index.html; exec httpd -f -p 8080 -h /www"],
            "ports": [{ "containerPort": 8080, "hostPort": host_port }] }] }
    }))
    .await;
    c.running("hostport").await;
    let sandboxes = c.containers(Some("io.minik.kind=sandbox"));
    assert_eq!(sandboxes.len(), 1);
    let bound = inspect(
        &sandboxes[0],
        "{{range $p, $b := .HostConfig.PortBindings}}{{$p}}={{range $b}}{{.HostPort}}{{end}}{{end}}",
    );
    assert_eq!(bound, format!("8080/tcp={host_port}"));
    let start = Instant::now();
    let body = loop {
        let got = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", host_port)).await.ok()?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").await.ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).await.ok()?;
            Some(out)
        }
        .await;
        match got {
            Some(out) if out.contains("via-host-port") => break out,
            other => {
                assert!(start.elapsed() < Duration::from_secs(20), "no answer on 127.0.0.1:{host_port}: {other:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(body.starts_with("HTTP/1.") && body.lines().next().unwrap_or_default().contains(" 200 "), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_counts_exit_codes_and_termination_messages_come_from_docker() {
    let c = Cluster::up(Runtime::Docker).await;
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "crashy" },
        "spec": { "restartPolicy": "OnFailure", "containers": [
            { "name": "app", "image": BUSYBOX, "command": ["sh", "-c", "echo bye > /dev/termination-log; exit 3"] }
        ]}
    }))
    .await;
    let pod = c
        .wait("crashy", "a restart", Duration::from_secs(60), |p| {
            p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|cs| cs[0].restart_count >= 1)
        })
        .await;
    let cs = container_status(&pod, "app");
    let last = cs.last_state.and_then(|s| s.terminated).expect("lastState.terminated");
    assert_eq!(last.exit_code, 3);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert_eq!(last.message.as_deref(), Some("bye\n"));
    // Docker holds one container per attempt, labelled with it.
    let first = c.containers(Some("io.minik.container.attempt=0"));
    assert_eq!(first.len(), 1);
    assert_eq!(inspect(&first[0], "{{.State.ExitCode}}"), "3");
    assert_eq!(c.containers(Some("io.minik.container.attempt=1")).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_adopts_running_containers() {
    let mut c = Cluster::up(Runtime::Docker).await;
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "keeper" },
        "spec": { "containers": [{ "name": "app", "image": BUSYBOX, "command": ["sh", "-c", "echo started; exec sleep 3600"] }] }
    }))
    .await;
    let before = c.running("keeper").await;
    let id = docker_id(&before, "app");
    let started = inspect(&id, "{{.State.StartedAt}}");
    let all_before = {
        let mut v = c.containers(None);
        v.sort();
        v
    };

    c.restart().await;
    // Give the restarted agent time to reconcile, then check nothing was restarted or replaced.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = c.running("keeper").await;
    assert_eq!(docker_id(&after, "app"), id);
    assert_eq!(container_status(&after, "app").restart_count, 0);
    assert_eq!(inspect(&id, "{{.State.Running}}"), "true", "{}", c.minik.log());
    assert_eq!(inspect(&id, "{{.State.StartedAt}}"), started);
    let mut all_after = c.containers(None);
    all_after.sort();
    assert_eq!(all_after, all_before);
    assert_eq!(c.logs("keeper", "app", false).await, "started\n");
}
