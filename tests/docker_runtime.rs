//! End-to-end: `minik up --runtime docker` against the host's Docker engine, driven through the
//! API. Images are made locally (busybox from Debian's `busybox-static`, `docker import`); the
//! pause image is made by the agent itself from the `minik` binary. Every test removes the
//! containers its agent made (they carry the agent's `io.minik.agent` label).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::Minik;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, LogParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The local test image (busybox and its applet links, nothing pulled).
const BUSYBOX: &str = "minik-test/busybox:latest";

fn docker(args: &[&str]) -> (i32, String, String) {
    common::run(Command::new("docker").args(args))
}

/// Makes [`BUSYBOX`] with `docker import` unless it exists (needs `busybox-static`).
fn ensure_busybox_image() {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if *done || docker(&["image", "inspect", BUSYBOX]).0 == 0 {
        *done = true;
        return;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.exists(), "install busybox-static (apt-get install -y busybox-static) for the docker tests");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    for d in ["bin", "tmp", "etc", "www"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    let (_, list, _) = common::run(Command::new(busybox).arg("--list"));
    for applet in list.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let tar = tmp.path().join("rootfs.tar");
    let (code, _, err) = common::run(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg("."));
    assert_eq!(code, 0, "tar: {err}");
    let (code, _, err) = docker(&["import", "-c", "CMD [\"sh\"]", &tar.display().to_string(), BUSYBOX]);
    assert_eq!(code, 0, "docker import: {err}");
    *done = true;
}

/// A running `minik up --runtime docker`; its containers are removed when dropped.
struct Cluster {
    minik: Minik,
    pods: Api<Pod>,
    _keep: Option<tempfile::TempDir>,
}

impl Cluster {
    async fn up() -> Cluster {
        tokio::task::block_in_place(ensure_busybox_image);
        let minik = tokio::task::block_in_place(|| Minik::start("up", &["--runtime", "docker"]));
        Cluster::connect(minik, None).await
    }

    async fn connect(minik: Minik, keep: Option<tempfile::TempDir>) -> Cluster {
        let opts = minik_client::ConnectOptions { server: Some(minik.url.clone()), ..Default::default() };
        let client = minik_client::connect(&opts).await.unwrap();
        Cluster { pods: Api::namespaced(client, "default"), minik, _keep: keep }
    }

    /// SIGKILLs `minik` (agent included) and starts it again on the same data.
    async fn restart(&mut self) {
        self.minik.kill9();
        if let Some(t) = self.minik.take_tempdir() {
            self._keep = Some(t);
        }
        let data_dir = self.minik.data_dir.clone();
        self.minik = tokio::task::block_in_place(|| Minik::start_in("up", &data_dir, &["--runtime", "docker"]));
        let opts = minik_client::ConnectOptions { server: Some(self.minik.url.clone()), ..Default::default() };
        self.pods = Api::namespaced(minik_client::connect(&opts).await.unwrap(), "default");
    }

    /// The `io.minik.agent` label value of this cluster's agent: its runtime directory.
    fn agent_label(&self) -> String {
        let dir = self.minik.data_dir.join("agent").join("runtime");
        std::fs::canonicalize(&dir).unwrap_or(dir).display().to_string()
    }

    /// IDs of this agent's containers (all states) matching an extra label filter.
    fn containers(&self, filter: Option<&str>) -> Vec<String> {
        let agent = format!("label=io.minik.agent={}", self.agent_label());
        let mut args = vec!["ps", "-aq", "--no-trunc", "--filter", &agent];
        let extra = filter.map(|f| format!("label={f}"));
        if let Some(f) = &extra {
            args.extend(["--filter", f]);
        }
        docker(&args).1.lines().map(str::to_owned).collect()
    }

    async fn create(&self, pod: serde_json::Value) -> Pod {
        let pod: Pod = serde_json::from_value(pod).unwrap();
        self.pods.create(&PostParams::default(), &pod).await.unwrap()
    }

    async fn wait(&self, name: &str, what: &str, timeout: Duration, check: impl Fn(&Pod) -> bool) -> Pod {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < timeout {
            if let Ok(p) = self.pods.get(name).await {
                if check(&p) {
                    return p;
                }
                last = Some(p);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "pod {name}: {what} not reached in {timeout:?}; last status: {}\nlog:\n{}",
            serde_json::to_string_pretty(&last.and_then(|p| p.status)).unwrap(),
            self.minik.log()
        );
    }

    async fn running(&self, name: &str) -> Pod {
        self.wait(name, "Running", Duration::from_secs(60), |p| phase(p) == "Running").await
    }

    async fn exec(&self, pod: &str, container: &str, cmd: &[&str], stdin: Option<&str>) -> (String, i32) {
        let ap = AttachParams::default().container(container).stdin(stdin.is_some()).stdout(true).stderr(false);
        let mut p = self.pods.exec(pod, cmd.iter().copied(), &ap).await.unwrap();
        if let Some(input) = stdin {
            let mut w = p.stdin().unwrap();
            w.write_all(input.as_bytes()).await.unwrap();
            w.shutdown().await.unwrap();
        }
        let mut out = String::new();
        p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
        let status = p.take_status().unwrap().await;
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

    async fn logs(&self, pod: &str, container: &str) -> String {
        let lp = LogParams { container: Some(container.into()), ..Default::default() };
        self.pods.logs(pod, &lp).await.unwrap()
    }

    async fn logs_until(&self, pod: &str, container: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = self.logs(pod, container).await;
            if text.contains(needle) || start.elapsed() > Duration::from_secs(30) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Removes every container this agent made.
    fn remove_containers(&self) {
        let ids = self.containers(None);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            docker(&args);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.minik.kill9();
        self.remove_containers();
    }
}

fn phase(p: &Pod) -> String {
    p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()
}

fn container_status(p: &Pod, name: &str) -> k8s_openapi::api::core::v1::ContainerStatus {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == name).cloned())
        .unwrap_or_else(|| panic!("no status for container {name}"))
}

fn docker_id(p: &Pod, name: &str) -> String {
    let id = container_status(p, name).container_id.unwrap_or_default();
    id.rsplit("://").next().unwrap_or_default().to_owned()
}

fn inspect(id: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, id]).1.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_shares_network_ipc_and_hostname_with_logs_and_exec() {
    let c = Cluster::up().await;
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

    // Exec through the API: output, exit codes, stdin.
    let (out, code) = c.exec("shared", "client", &["hostname"], None).await;
    assert_eq!((out.as_str(), code), ("shared\n", 0));
    let (_, code) = c.exec("shared", "client", &["sh", "-c", "exit 3"], None).await;
    assert_eq!(code, 3);
    let (out, code) = c.exec("shared", "server", &["cat"], Some("piped input\n")).await;
    assert_eq!((out.as_str(), code), ("piped input\n", 0));

    // Deleting the pod removes its containers and the sandbox.
    c.pods.delete("shared", &DeleteParams { grace_period_seconds: Some(1), ..Default::default() }).await.unwrap();
    let start = Instant::now();
    while c.pods.get_opt("shared").await.unwrap().is_some() || !c.containers(None).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "pod or containers left: {:?}\n{}",
            c.containers(None),
            c.minik.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_process_namespace_joins_the_pause_pid_namespace() {
    let c = Cluster::up().await;
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "pidshare" },
        "spec": { "shareProcessNamespace": true, "containers": [
            { "name": "a", "image": BUSYBOX, "command": ["sleep", "3600"] },
            { "name": "b", "image": BUSYBOX, "command": ["sleep", "3601"] }
        ]}
    }))
    .await;
    c.running("pidshare").await;
    let (out, code) = c.exec("pidshare", "b", &["ps"], None).await;
    assert_eq!(code, 0);
    // The pause holder is PID 1, and a's process is visible from b.
    assert!(out.contains("sleep 3600") && out.contains("sleep 3601"), "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("pause")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_fails_fast_with_a_pull_error() {
    let c = Cluster::up().await;
    c.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "nopull" },
        "spec": { "containers": [{ "name": "app", "image": "minik-test/does-not-exist:1.0", "command": ["true"] }] }
    }))
    .await;
    // No registry is reachable: the pull fails within seconds and the pod says why (no hang).
    let pod = c
        .wait("nopull", "a pull error", Duration::from_secs(30), |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.first())
                .and_then(|cs| cs.state.as_ref())
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.message.as_deref())
                .is_some_and(|m| m.contains("ErrImagePull") && m.contains("minik-test/does-not-exist:1.0"))
        })
        .await;
    assert_eq!(phase(&pod), "Pending");
    // Only the sandbox exists: no app container was made.
    assert_eq!(c.containers(Some("io.minik.kind=container")), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_counts_exit_codes_and_termination_messages_come_from_docker() {
    let c = Cluster::up().await;
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
    let mut c = Cluster::up().await;
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
    assert_eq!(inspect(&id, "{{.State.Running}}"), "true");
    assert_eq!(inspect(&id, "{{.State.StartedAt}}"), started);
    let mut all_after = c.containers(None);
    all_after.sort();
    assert_eq!(all_after, all_before);
    assert_eq!(c.logs("keeper", "app").await, "started\n");
}
