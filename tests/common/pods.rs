//! Talking to pods through the API with kube-rs in tests.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs a command in a container through the API's exec (WebSocket); (stdout, exit code).
pub async fn exec(pods: &Api<Pod>, pod: &str, container: &str, cmd: &[&str], stdin: Option<&str>) -> (String, i32) {
    let ap = AttachParams::default().container(container).stdin(stdin.is_some()).stdout(true).stderr(false);
    let mut p = pods.exec(pod, cmd.iter().copied(), &ap).await.expect("exec");
    if let Some(input) = stdin {
        let mut w = p.stdin().expect("stdin");
        w.write_all(input.as_bytes()).await.expect("write stdin");
        w.shutdown().await.expect("close stdin");
    }
    let mut out = String::new();
    p.stdout().expect("stdout").read_to_string(&mut out).await.expect("read stdout");
    let status = p.take_status().expect("status").await;
    let code = match status {
        Some(s) if s.status.as_deref() == Some("Failure") => s
            .details
            .and_then(|d| d.causes)
            .and_then(|c| c.into_iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
            .and_then(|c| c.message)
            .and_then(|m| m.parse().ok())
            .unwrap_or(-1),
        _ => 0,
    };
    (out, code)
}

/// Creates a pod from its JSON form.
pub async fn create(pods: &Api<Pod>, pod: serde_json::Value) -> Pod {
    let pod: Pod = serde_json::from_value(pod).expect("a Pod");
    pods.create(&kube::api::PostParams::default(), &pod).await.expect("create pod")
}

/// Polls the pod until `check` holds, or panics with its last status and `log()` (the server's).
pub async fn wait(
    pods: &Api<Pod>,
    name: &str,
    what: &str,
    timeout: std::time::Duration,
    check: impl Fn(&Pod) -> bool,
    log: impl Fn() -> String,
) -> Pod {
    let start = std::time::Instant::now();
    let mut last = None;
    while start.elapsed() < timeout {
        if let Ok(p) = pods.get(name).await {
            if check(&p) {
                return p;
            }
            last = Some(p);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "pod {name}: {what} not reached in {timeout:?}; last status: {}\nlog:\n{}",
        serde_json::to_string_pretty(&last.and_then(|p| p.status)).unwrap_or_default(),
        log()
    );
}
