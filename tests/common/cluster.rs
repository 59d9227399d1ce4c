//! `minik up` with a real container runtime (process or docker), driven through the API with
//! kube-rs, and cleaned up after: the runtime suites share this one harness.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kube::api::{Api, ListParams, LogParams};

use super::Minik;

/// The local test image: busybox and its applet links, made by `docker import`, nothing pulled.
/// Not `latest`: that tag defaults imagePullPolicy to Always, which pulls (and fails here).
/// The process runtime records the name and runs the host's commands.
pub const BUSYBOX: &str = "minik-test/busybox:1.0";

/// The runtimes that run real containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Process,
    Docker,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Process => "process",
            Runtime::Docker => "docker",
        }
    }
}

/// A running `minik up --runtime <runtime>`; its pods' processes or containers go when dropped.
pub struct Cluster {
    pub runtime: Runtime,
    pub minik: Minik,
    pub pods: Api<Pod>,
    pub events: Api<Event>,
    /// Kept across restarts: pods are bound to it.
    pub node_name: String,
    extra: Vec<String>,
    _keep: Option<tempfile::TempDir>,
}

impl Cluster {
    pub async fn up(runtime: Runtime) -> Cluster {
        Cluster::up_with(runtime, &[]).await
    }

    /// `minik up --runtime <runtime> --node-name <unique> <extra...>`
    pub async fn up_with(runtime: Runtime, extra: &[&str]) -> Cluster {
        if runtime == Runtime::Docker {
            tokio::task::block_in_place(ensure_busybox_image);
        }
        let node_name = super::unique_node_name();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let minik = tokio::task::block_in_place(|| {
            Minik::start(
                "up",
                &Cluster::args(runtime, &node_name, &extra).iter().map(String::as_str).collect::<Vec<_>>(),
            )
        });
        let (pods, events) = Cluster::apis(&minik).await;
        Cluster { runtime, minik, pods, events, node_name, extra, _keep: None }
    }

    fn args(runtime: Runtime, node_name: &str, extra: &[String]) -> Vec<String> {
        let mut args: Vec<String> =
            vec!["--runtime".into(), runtime.name().into(), "--node-name".into(), node_name.into()];
        args.extend(extra.iter().cloned());
        args
    }

    async fn apis(minik: &Minik) -> (Api<Pod>, Api<Event>) {
        let opts = minik_client::ConnectOptions { server: Some(minik.url.clone()), ..Default::default() };
        let client = minik_client::connect(&opts).await.expect("connect");
        (Api::namespaced(client.clone(), "default"), Api::namespaced(client, "default"))
    }

    /// SIGKILLs `minik` (agent included) and starts it again on the same data, same flags.
    pub async fn restart(&mut self) {
        self.minik.kill9();
        if let Some(t) = self.minik.take_tempdir() {
            self._keep = Some(t);
        }
        let data_dir = self.minik.data_dir.clone();
        let args = Cluster::args(self.runtime, &self.node_name, &self.extra);
        self.minik = tokio::task::block_in_place(|| {
            Minik::start_in("up", &data_dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
        });
        (self.pods, self.events) = Cluster::apis(&self.minik).await;
    }

    /// The agent's runtime directory (also the `io.minik.agent` label of its Docker containers).
    fn runtime_dir(&self) -> PathBuf {
        runtime_dir(&self.minik.data_dir)
    }

    pub async fn create(&self, pod: serde_json::Value) -> Pod {
        super::pods::create(&self.pods, pod).await
    }

    /// Polls the pod until `check` holds, or panics with the last state and the agent's log.
    pub async fn wait(&self, name: &str, what: &str, timeout: Duration, check: impl Fn(&Pod) -> bool) -> Pod {
        super::pods::wait(&self.pods, name, what, timeout, check, || self.minik.log()).await
    }

    pub async fn running(&self, name: &str) -> Pod {
        self.wait(name, "Running", Duration::from_secs(60), |p| phase(p) == "Running").await
    }

    /// Waits until the pod is gone from the API; how long that took.
    pub async fn wait_gone(&self, name: &str, timeout: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.pods.get_opt(name).await.expect("get pod").is_none() {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pod {name} still there after {timeout:?}\nlog:\n{}", self.minik.log());
    }

    /// Runs a command in a container through the API's exec (WebSocket); (stdout, exit code).
    pub async fn exec(&self, pod: &str, container: &str, cmd: &[&str], stdin: Option<&str>) -> (String, i32) {
        super::pods::exec(&self.pods, pod, container, cmd, stdin).await
    }

    pub async fn logs(&self, pod: &str, container: &str, previous: bool) -> String {
        let lp = LogParams { container: Some(container.into()), previous, ..Default::default() };
        self.pods.logs(pod, &lp).await.expect("logs")
    }

    /// Polls the logs until they hold `needle` (30 s at most); the last logs read.
    pub async fn logs_until(&self, pod: &str, container: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = self.logs(pod, container, false).await;
            if text.contains(needle) || start.elapsed() > Duration::from_secs(30) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `(reason, message)` of the events about pod `name`.
    pub async fn events(&self, name: &str) -> Vec<(String, String)> {
        let list = self.events.list(&ListParams::default()).await.expect("list events");
        list.items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect()
    }

    pub async fn event_reasons(&self, name: &str) -> Vec<String> {
        self.events(name).await.into_iter().map(|(r, _)| r).collect()
    }

    /// Waits until the events of pod `name` hold one `reason: message` equal to each of `want`.
    pub async fn wait_events(&self, name: &str, want: &[&str]) -> Vec<String> {
        let start = Instant::now();
        loop {
            let events: Vec<String> = self.events(name).await.into_iter().map(|(r, m)| format!("{r}: {m}")).collect();
            if want.iter().all(|w| events.iter().any(|e| e == w)) {
                return events;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "events of {name}: want {want:?}, got {events:#?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// IDs of this agent's Docker containers (all states) matching an extra label filter.
    pub fn containers(&self, filter: Option<&str>) -> Vec<String> {
        let agent = format!("label=io.minik.agent={}", self.runtime_dir().display());
        let mut args = vec!["ps", "-aq", "--no-trunc", "--filter", &agent];
        let extra = filter.map(|f| format!("label={f}"));
        if let Some(f) = &extra {
            args.extend(["--filter", f]);
        }
        docker(&args).1.lines().map(str::to_owned).collect()
    }

    /// Removes what this agent ran: pods outlive their agent by design.
    fn clean_up(&self) {
        match self.runtime {
            Runtime::Process => kill_processes(&self.runtime_dir()),
            Runtime::Docker => {
                let ids = self.containers(None);
                if !ids.is_empty() {
                    let mut args = vec!["rm", "-f", "-v"];
                    args.extend(ids.iter().map(String::as_str));
                    docker(&args);
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.minik.kill9();
        self.clean_up();
    }
}

/// The runtime directory of the agent of `minik up --data-dir <data_dir>`.
pub fn runtime_dir(data_dir: &Path) -> PathBuf {
    let dir = data_dir.join("agent").join("runtime");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// Kills the pause holders, shims and container processes the process runtime recorded under
/// `runtime_dir`.
pub fn kill_processes(runtime_dir: &Path) {
    let mut pids = Vec::new();
    for (sub, file, key) in
        [("containers", "started.json", "pid"), ("containers", "shim.json", ""), ("sandboxes", "sandbox.json", "pause")]
    {
        let Ok(entries) = std::fs::read_dir(runtime_dir.join(sub)) else { continue };
        for e in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(e.path().join(file)) else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            let v = if key.is_empty() { v } else { v[key].clone() };
            if let Some(pid) = v["pid"].as_i64() {
                pids.push(pid);
            }
        }
    }
    for pid in pids {
        let _ = Command::new("kill").args(["-9", "--", &format!("-{pid}")]).output();
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
    }
}

pub fn docker(args: &[&str]) -> (i32, String, String) {
    super::run(Command::new("docker").args(args))
}

/// Makes [`BUSYBOX`] with `docker import` unless it exists (needs `busybox-static`).
pub fn ensure_busybox_image() {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if *done || docker(&["image", "inspect", BUSYBOX]).0 == 0 {
        *done = true;
        return;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.exists(), "install busybox-static (apt-get install -y busybox-static) for the docker tests");
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("rootfs");
    for d in ["bin", "tmp", "etc", "www"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    let (_, list, _) = super::run(Command::new(busybox).arg("--list"));
    for applet in list.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    let tar = tmp.path().join("rootfs.tar");
    let (code, _, err) = super::run(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg("."));
    assert_eq!(code, 0, "tar: {err}");
    let (code, _, err) = docker(&["import", "-c", "CMD [\"sh\"]", &tar.display().to_string(), BUSYBOX]);
    // A concurrent test binary may have imported it first.
    assert!(code == 0 || docker(&["image", "inspect", BUSYBOX]).0 == 0, "docker import: {err}");
    *done = true;
}

pub fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub fn condition(p: &Pod, type_: &str) -> bool {
    p.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == type_ && c.status == "True")
}

/// The status of a container or init container.
pub fn container_status<'a>(p: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let s = p.status.as_ref()?;
    s.container_statuses.iter().chain(s.init_container_statuses.iter()).flatten().find(|c| c.name == name)
}

pub fn restarts(p: &Pod, name: &str) -> i32 {
    container_status(p, name).map(|c| c.restart_count).unwrap_or(0)
}

/// `(reason, message)` of a container's waiting state, if it is waiting.
pub fn waiting(p: &Pod, name: &str) -> Option<(String, String)> {
    let w = container_status(p, name)?.state.as_ref()?.waiting.as_ref()?;
    Some((w.reason.clone().unwrap_or_default(), w.message.clone().unwrap_or_default()))
}

pub fn waiting_reason(p: &Pod, name: &str) -> Option<String> {
    waiting(p, name).map(|(r, _)| r)
}

/// Running and Ready.
pub fn ready(p: &Pod) -> bool {
    phase(p) == "Running" && condition(p, "Ready")
}
