//! The `process` runtime: containers are host processes running command + args (the image is
//! recorded, not pulled). Each container runs under a shim (`minik pause` in shim mode) that
//! writes its CRI log and exit status, so containers outlive the agent and a restarted agent
//! adopts them from the state on disk.
//!
//! As root, a pod is a real sandbox: a pause process holds new network, IPC and UTS namespaces
//! (hostname = pod name) with an IP from the node's podCIDR on bridge `minik0`; each container
//! gets its own mount namespace and root where volumes appear at their mountPath, and memory/cpu
//! limits through cgroups. Not root: pods run in the host's namespaces, and what needs isolation
//! fails with a clear reason.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot};

use super::{
    ContainerInfo, ContainerSpec, ContainerState, ContainerStats, ExecOutput, ExecRequest, ExecSession, ExitReason,
    Listing, LogOptions, LogStream, Mount, ResourceLimits, Runtime, RuntimeError, SandboxInfo, SandboxSpec,
};
use crate::crilog;

/// Environment variable that turns `minik pause` into a container shim for the given directory.
pub const SHIM_ENV: &str = "MINIK_SHIM";
/// Environment variable that turns `minik pause` into "chroot, chdir, exec" (JSON [`ExecInRoot`]).
pub const EXEC_ENV: &str = "MINIK_EXEC_IN_ROOT";
/// Environment variables of the sandbox holder.
pub const HOSTNAME_ENV: &str = "MINIK_POD_HOSTNAME";
pub const NAMESPACES_ENV: &str = "MINIK_NAMESPACES";

const BRIDGE: &str = "minik0";

/// A sandbox on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub id: String,
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    pub hostname: String,
    pub ip: Option<String>,
    pub created_at: Timestamp,
    /// The pause process holding the namespaces (with its start time, against pid reuse).
    pub pause: Option<ProcessRef>,
    /// Whether the pod has its own network/IPC/UTS namespaces.
    pub isolated: bool,
    pub share_process_namespace: bool,
    /// With a shared PID namespace: its PID 1 (a child of the pause process), whose namespace
    /// the containers join.
    #[serde(default)]
    pub pid_init: Option<ProcessRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessRef {
    pub fn of(pid: i32) -> Option<ProcessRef> {
        Some(ProcessRef { pid, start_time: start_time(pid)? })
    }

    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start_time) && !is_zombie(self.pid)
    }
}

/// Field 22 of /proc/PID/stat: when the process started (in clock ticks since boot).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .unwrap_or(true)
}

/// A container on disk: what the shim needs to run it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub sandbox_id: String,
    pub pod_uid: String,
    pub name: String,
    pub attempt: u32,
    pub image: String,
    pub created_at: Timestamp,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub mounts: Vec<MountRecord>,
    pub log_path: PathBuf,
    pub memory_limit: Option<u64>,
    pub cpu_millis: Option<u64>,
    pub termination_message_path: Option<String>,
    /// The sandbox's pause process, whose namespaces the container joins.
    pub join: Option<ProcessRef>,
    pub share_pid: bool,
    /// PID 1 of the pod's shared PID namespace, when there is one.
    #[serde(default)]
    pub pid_init: Option<ProcessRef>,
    /// Whether the container gets its own mount namespace and root.
    pub isolated: bool,
    pub hostname: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MountRecord {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

/// Written by the shim once the command runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StartedRecord {
    pub pid: ProcessRef,
    pub started_at: Timestamp,
}

/// Written by the shim when the command ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub finished_at: Timestamp,
    pub oom_killed: bool,
    pub message: Option<String>,
}

/// What the exec helper does: chroot, chdir, exec.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExecInRoot {
    pub root: Option<PathBuf>,
    /// Mount a /proc of the (shared) PID namespace the command runs in.
    #[serde(default)]
    pub fresh_proc: bool,
    pub cwd: Option<String>,
    pub argv: Vec<String>,
}

pub struct ProcessRuntime {
    root: PathBuf,
    binary: PathBuf,
    /// Root with `ip` and `nsenter`: pods get their own namespaces.
    isolation: bool,
    exits: broadcast::Sender<String>,
    bridge_ready: std::sync::atomic::AtomicBool,
    /// pod uid → its sandbox and container ids (so a pod's state is read without scanning all).
    by_pod: std::sync::Mutex<std::collections::HashMap<String, PodIds>>,
}

#[derive(Clone, Debug, Default)]
struct PodIds {
    sandboxes: Vec<String>,
    containers: Vec<String>,
}

impl ProcessRuntime {
    /// `root` holds sandbox, container and log state; `binary` is run as pause and shim.
    pub fn new(root: PathBuf, binary: PathBuf) -> Result<ProcessRuntime, RuntimeError> {
        for d in ["sandboxes", "containers", "logs"] {
            std::fs::create_dir_all(root.join(d))
                .map_err(|e| RuntimeError::io(format!("create {}", root.display()), e))?;
        }
        let root_user = nix::unistd::geteuid().is_root();
        let tools = which("ip") && which("nsenter");
        let isolation = root_user && tools;
        if isolation {
            tracing::info!("process runtime: running as root: pods get their own network, IPC, UTS and mount namespaces (bridge {BRIDGE})");
        } else if root_user {
            tracing::warn!("process runtime: `ip` or `nsenter` missing: pods run in the host's namespaces; volume mounts, pod IPs and limits are unavailable");
        } else {
            tracing::warn!("process runtime: not running as root: pods run in the host's namespaces; volume mounts, pod IPs and resource limits are unavailable");
        }
        let (exits, _) = broadcast::channel(1024);
        let mut by_pod: std::collections::HashMap<String, PodIds> = std::collections::HashMap::new();
        for s in list_json::<SandboxRecord>(&root.join("sandboxes"), "sandbox.json") {
            by_pod.entry(s.pod_uid.clone()).or_default().sandboxes.push(s.id);
        }
        for c in list_json::<ContainerRecord>(&root.join("containers"), "container.json") {
            by_pod.entry(c.pod_uid.clone()).or_default().containers.push(c.id);
        }
        let rt = ProcessRuntime {
            root,
            binary,
            isolation,
            exits,
            bridge_ready: std::sync::atomic::AtomicBool::new(false),
            by_pod: std::sync::Mutex::new(by_pod),
        };
        rt.watch_adopted();
        Ok(rt)
    }

    pub fn isolation(&self) -> bool {
        self.isolation
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, PodIds>> {
        self.by_pod.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, id: &str) {
        let mut ids = self.ids();
        for p in ids.values_mut() {
            p.sandboxes.retain(|s| s != id);
            p.containers.retain(|c| c != id);
        }
        ids.retain(|_, p| !p.sandboxes.is_empty() || !p.containers.is_empty());
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.root.join("sandboxes").join(id)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    fn read_sandbox(&self, id: &str) -> Result<SandboxRecord, RuntimeError> {
        read_json(&self.sandbox_dir(id).join("sandbox.json")).ok_or_else(|| RuntimeError::NoSandbox(id.to_owned()))
    }

    fn read_container(&self, id: &str) -> Result<ContainerRecord, RuntimeError> {
        read_json(&self.container_dir(id).join("container.json"))
            .ok_or_else(|| RuntimeError::NoContainer(id.to_owned()))
    }

    fn started(&self, id: &str) -> Option<StartedRecord> {
        read_json(&self.container_dir(id).join("started.json"))
    }

    fn exited(&self, id: &str) -> Option<ExitRecord> {
        read_json(&self.container_dir(id).join("exit.json"))
    }

    fn info(&self, rec: &ContainerRecord) -> ContainerInfo {
        let started = self.started(&rec.id);
        let exited = self.exited(&rec.id);
        let state = match (&started, exited) {
            (_, Some(e)) => ContainerState::Exited {
                exit_code: e.exit_code,
                finished_at: e.finished_at,
                reason: if e.oom_killed { ExitReason::OomKilled } else { ExitReason::Normal },
                message: e.message,
            },
            (Some(s), None) if s.pid.alive() || self.shim_alive(&rec.id) => ContainerState::Running,
            (Some(s), None) => ContainerState::Exited {
                // The shim died with its container (e.g. the host rebooted): the exit is unknown.
                exit_code: 137,
                finished_at: s.started_at,
                reason: ExitReason::Normal,
                message: Some("the container's shim is gone".into()),
            },
            (None, None) if self.shim_alive(&rec.id) => ContainerState::Created,
            (None, None) => ContainerState::Created,
        };
        ContainerInfo {
            id: rec.id.clone(),
            sandbox_id: rec.sandbox_id.clone(),
            pod_uid: rec.pod_uid.clone(),
            name: rec.name.clone(),
            attempt: rec.attempt,
            image: rec.image.clone(),
            image_id: None,
            state,
            created_at: rec.created_at,
            started_at: started.map(|s| s.started_at),
        }
    }

    fn shim_alive(&self, id: &str) -> bool {
        read_json::<ProcessRef>(&self.container_dir(id).join("shim.json")).is_some_and(|p| p.alive())
    }

    fn sandbox_info(&self, rec: &SandboxRecord) -> SandboxInfo {
        SandboxInfo {
            id: rec.id.clone(),
            pod_uid: rec.pod_uid.clone(),
            namespace: rec.namespace.clone(),
            name: rec.name.clone(),
            ip: rec.ip.clone(),
            created_at: rec.created_at,
            ready: rec.pause.map(|p| p.alive()).unwrap_or(true),
        }
    }

    fn all_containers(&self) -> Vec<ContainerRecord> {
        list_json(&self.root.join("containers"), "container.json")
    }

    /// Reports exits of containers the agent did not start (adopted after a restart) by polling.
    fn watch_adopted(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let root = self.root.clone();
        let exits = self.exits.clone();
        handle.spawn(async move {
            let mut running: std::collections::HashMap<String, String> = Default::default();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let recs: Vec<ContainerRecord> = list_json(&root.join("containers"), "container.json");
                let mut now_running = std::collections::HashMap::new();
                for r in recs {
                    let dir = root.join("containers").join(&r.id);
                    if dir.join("started.json").exists() && !dir.join("exit.json").exists() {
                        now_running.insert(r.id.clone(), r.pod_uid.clone());
                    }
                }
                for (id, uid) in &running {
                    if !now_running.contains_key(id) {
                        let _ = exits.send(uid.clone());
                    }
                }
                running = now_running;
            }
        });
    }

    async fn setup_network(&self, pid: i32, ip: &str, id: &str) -> Result<(), RuntimeError> {
        let ipam = crate::ipam::Ipam::new(&format!("{}.0/24", ip.rsplit_once('.').map_or("10.244.0", |(net, _)| net)))
            .ok_or_else(|| RuntimeError::Unsupported(format!("bad pod IP {ip}")))?;
        let gw = ipam.gateway().to_string();
        if !self.bridge_ready.load(std::sync::atomic::Ordering::Relaxed) {
            if !Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
                run_cmd("ip", &["link", "add", BRIDGE, "type", "bridge"]).await?;
            }
            let has_gw = tokio::process::Command::new("ip")
                .args(["-4", "addr", "show", "dev", BRIDGE])
                .output()
                .await
                .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("inet {gw}/")))
                .unwrap_or(false);
            if !has_gw {
                run_cmd("ip", &["addr", "add", &format!("{gw}/24"), "dev", BRIDGE]).await?;
            }
            run_cmd("ip", &["link", "set", BRIDGE, "up"]).await?;
            self.bridge_ready.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let short = &id[id.len().saturating_sub(8)..];
        let host_end = format!("vm{short}");
        let pod_end = format!("vp{short}");
        // Two `ip -batch` runs: the host's side, then the pod's side inside its namespace.
        let host = format!(
            "link add {host_end} type veth peer name {pod_end}\nlink set {pod_end} netns {pid}\nlink set {host_end} master {BRIDGE} up\n"
        );
        run_batch("ip", &["-batch", "-"], &host).await?;
        let pod = format!(
            "link set {pod_end} name eth0\naddr add {ip}/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via {gw}\n"
        );
        run_batch("nsenter", &["-t", &pid.to_string(), "-n", "ip", "-batch", "-"], &pod).await?;
        Ok(())
    }

    /// The argv prefix that runs a command inside a running container.
    fn enter_prefix(&self, rec: &ContainerRecord, pid: i32) -> Vec<String> {
        if !rec.isolated && rec.join.is_none() {
            return Vec::new();
        }
        let mut v = vec![
            "nsenter".to_string(),
            "-t".into(),
            pid.to_string(),
            "-m".into(),
            "-n".into(),
            "-i".into(),
            "-u".into(),
        ];
        if rec.pid_init.is_some() {
            v.push("-p".into());
        }
        if rec.isolated {
            v.extend(["-r".to_string(), "-w".to_string()]);
        }
        v.push("--".into());
        v
    }

    fn command_in(&self, rec: &ContainerRecord, argv: &[String]) -> Result<tokio::process::Command, RuntimeError> {
        let started = self.started(&rec.id).ok_or_else(|| RuntimeError::NotRunning(rec.id.clone()))?;
        if !started.pid.alive() {
            return Err(RuntimeError::NotRunning(rec.id.clone()));
        }
        let mut full = self.enter_prefix(rec, started.pid.pid);
        full.extend(argv.iter().cloned());
        let Some((prog, args)) = full.split_first() else {
            return Err(RuntimeError::InvalidSpec("empty command".into()));
        };
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args).env_clear().envs(container_env(rec));
        if !rec.isolated {
            if let Some(wd) = &rec.working_dir {
                cmd.current_dir(wd);
            }
        }
        Ok(cmd)
    }
}

/// The environment a container's processes get: a default PATH and HOSTNAME, then the pod's.
pub fn container_env(rec: &ContainerRecord) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
        ("HOSTNAME".to_string(), rec.hostname.clone()),
        ("HOME".to_string(), "/root".to_string()),
    ];
    for (k, v) in &rec.env {
        env.retain(|(n, _)| n != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

fn which(prog: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file())).unwrap_or(false)
}

/// Runs `prog args` with `input` on its stdin.
async fn run_batch(prog: &str, args: &[&str], input: &str) -> Result<(), RuntimeError> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::io(format!("run {prog}"), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).await.map_err(|e| RuntimeError::io(format!("feed {prog}"), e))?;
    }
    let out = child.wait_with_output().await.map_err(|e| RuntimeError::io(format!("run {prog}"), e))?;
    succeeded(prog, args, &out)
}

async fn run_cmd(prog: &str, args: &[&str]) -> Result<(), RuntimeError> {
    let out = tokio::process::Command::new(prog)
        .args(args)
        .output()
        .await
        .map_err(|e| RuntimeError::io(format!("run {prog}"), e))?;
    succeeded(prog, args, &out)
}

/// A helper command's outcome: its stderr in the error when it failed.
fn succeeded(prog: &str, args: &[&str], out: &std::process::Output) -> Result<(), RuntimeError> {
    if out.status.success() {
        Ok(())
    } else {
        Err(RuntimeError::Unsupported(format!(
            "{prog} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The node's podCIDR: kept in `state_dir` across restarts; chosen the first time as a /24 of
/// 10.244.0.0/16 that no other agent on this host uses on the bridge.
pub fn claim_pod_cidr(state_dir: &Path) -> String {
    let file = state_dir.join("pod-cidr");
    if let Ok(s) = std::fs::read_to_string(&file) {
        if crate::ipam::Ipam::new(s.trim()).is_some() {
            return s.trim().to_owned();
        }
    }
    let used: Vec<u8> = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", BRIDGE])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("10.244."))
        .filter_map(|rest| rest.split('.').next()?.parse().ok())
        .collect();
    // Start from a spot derived from the state dir, so agents started together rarely collide.
    let seed = state_dir.display().to_string().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let start = u8::try_from(seed % 256).unwrap_or(0);
    let free = (0..=255u8).map(|i| start.wrapping_add(i)).find(|x| !used.contains(x)).unwrap_or(start);
    let cidr = format!("10.244.{free}.0/24");
    let _ = std::fs::create_dir_all(state_dir);
    let _ = std::fs::write(&file, &cidr);
    if nix::unistd::geteuid().is_root() && which("ip") {
        // Claim it at once: the gateway address on the bridge marks the subnet as taken.
        let ip = |args: &[&str]| std::process::Command::new("ip").args(args).output();
        if !Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
            let _ = ip(&["link", "add", BRIDGE, "type", "bridge"]);
        }
        let _ = ip(&["addr", "add", &format!("10.244.{free}.1/24"), "dev", BRIDGE]);
        let _ = ip(&["link", "set", BRIDGE, "up"]);
    }
    cidr
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes atomically (temp file + rename), so readers never see half a record.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, path)
}

fn list_json<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter_map(|e| read_json(&e.path().join(file))).collect()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn kill_group(pid: i32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
}

#[async_trait]
impl Runtime for ProcessRuntime {
    fn name(&self) -> &'static str {
        "process"
    }

    fn network_probes(&self) -> bool {
        true
    }

    /// `spec.ports` (hostPorts) are ignored: the process runtime has no port forwarding; a pod
    /// on the host's network listens on the host directly.
    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<SandboxInfo, RuntimeError> {
        let id = new_id();
        let dir = self.sandbox_dir(&id);
        std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create the sandbox directory", e))?;
        let isolated = self.isolation && !spec.host_network;
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("pause")
            .env(HOSTNAME_ENV, &spec.hostname)
            .env(
                NAMESPACES_ENV,
                match (isolated, spec.share_process_namespace) {
                    (true, true) => "net,ipc,uts,pid",
                    (true, false) => "net,ipc,uts",
                    _ => "",
                },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| RuntimeError::io(format!("start {}", self.binary.display()), e))?;
        // The pause process says "ready" once its namespaces exist.
        let mut ready = String::new();
        if let Some(mut out) = child.stdout.take() {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 64];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(10), out.read(&mut buf)).await {
                ready = String::from_utf8_lossy(&buf[..n]).into_owned();
            }
        }
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        if !ready.starts_with("ready") {
            kill_group(pid, nix::sys::signal::Signal::SIGKILL);
            return Err(RuntimeError::Unsupported(format!("the pause process did not start: {}", ready.trim())));
        }
        let pause = ProcessRef::of(pid);
        // `ready <pid>`: the PID 1 of a shared PID namespace.
        let pid_init = ready.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()).and_then(ProcessRef::of);
        let ip = if isolated { spec.ip.clone() } else { None };
        if let (true, Some(ip)) = (isolated, &ip) {
            if let Err(e) = self.setup_network(pid, ip, &id).await {
                kill_group(pid, nix::sys::signal::Signal::SIGKILL);
                return Err(e);
            }
        }
        let rec = SandboxRecord {
            id: id.clone(),
            pod_uid: spec.pod_uid.clone(),
            namespace: spec.namespace.clone(),
            name: spec.name.clone(),
            hostname: spec.hostname.clone(),
            ip,
            created_at: Timestamp::now(),
            pause,
            isolated,
            share_process_namespace: spec.share_process_namespace,
            pid_init,
        };
        write_json(&dir.join("sandbox.json"), &rec).map_err(|e| RuntimeError::io("write the sandbox record", e))?;
        self.ids().entry(rec.pod_uid.clone()).or_default().sandboxes.push(rec.id.clone());
        Ok(self.sandbox_info(&rec))
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let containers: Vec<ContainerRecord> =
            self.all_containers().into_iter().filter(|c| c.sandbox_id == sandbox_id).collect();
        for c in &containers {
            let _ = self.stop_container(&c.id, Duration::from_secs(2)).await;
            let _ = self.remove_container(&c.id).await;
        }
        if let Ok(rec) = self.read_sandbox(sandbox_id) {
            if let Some(p) = rec.pause.filter(|p| p.alive()) {
                kill_group(p.pid, nix::sys::signal::Signal::SIGKILL);
            }
            if rec.isolated {
                let short = &sandbox_id[sandbox_id.len().saturating_sub(8)..];
                let _ = run_cmd("ip", &["link", "del", &format!("vm{short}")]).await;
            }
            let logs = self.root.join("logs").join(format!("{}_{}_{}", rec.namespace, rec.name, rec.pod_uid));
            let _ = std::fs::remove_dir_all(logs);
        }
        let _ = std::fs::remove_dir_all(self.sandbox_dir(sandbox_id));
        self.forget(sandbox_id);
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        if spec.command.is_empty() {
            return Err(RuntimeError::InvalidSpec(format!(
                "container {} has no command: the process runtime runs command and args on the host and does not read images (their Entrypoint is unknown here)",
                spec.name
            )));
        }
        let sandbox = self.read_sandbox(&spec.sandbox_id)?;
        if !sandbox.isolated && !spec.mounts.is_empty() && !self.isolation {
            return Err(RuntimeError::InvalidSpec(format!(
                "container {} mounts volumes, which needs mount namespaces: run the agent as root",
                spec.name
            )));
        }
        let id = new_id();
        let dir = self.container_dir(&id);
        std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create the container directory", e))?;
        let log_dir = self
            .root
            .join("logs")
            .join(format!("{}_{}_{}", spec.pod_namespace, spec.pod_name, spec.pod_uid))
            .join(&spec.name);
        std::fs::create_dir_all(&log_dir).map_err(|e| RuntimeError::io("create the log directory", e))?;
        let ResourceLimits { memory_bytes, cpu_millis } = spec.limits;
        let rec = ContainerRecord {
            id: id.clone(),
            sandbox_id: spec.sandbox_id.clone(),
            pod_uid: spec.pod_uid.clone(),
            name: spec.name.clone(),
            attempt: spec.attempt,
            image: spec.image.clone(),
            created_at: Timestamp::now(),
            argv: spec.argv(),
            env: spec.env.clone(),
            working_dir: spec.working_dir.clone(),
            mounts: spec
                .mounts
                .iter()
                .map(|Mount { host_path, container_path, read_only }| MountRecord {
                    host_path: host_path.clone(),
                    container_path: container_path.clone(),
                    read_only: *read_only,
                })
                .collect(),
            log_path: log_dir.join(format!("{}.log", spec.attempt)),
            memory_limit: memory_bytes,
            cpu_millis,
            termination_message_path: spec.termination_message_path.clone(),
            join: if sandbox.isolated { sandbox.pause } else { None },
            share_pid: sandbox.share_process_namespace && sandbox.pid_init.is_some(),
            pid_init: sandbox.pid_init,
            isolated: self.isolation && sandbox.isolated,
            hostname: sandbox.hostname.clone(),
        };
        write_json(&dir.join("container.json"), &rec).map_err(|e| RuntimeError::io("write the container record", e))?;
        self.ids().entry(rec.pod_uid.clone()).or_default().containers.push(rec.id.clone());
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        let rec = self.read_container(id)?;
        let dir = self.container_dir(id);
        let mut child = tokio::process::Command::new(&self.binary)
            .arg("pause")
            .env(SHIM_ENV, &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| RuntimeError::io(format!("start the shim {}", self.binary.display()), e))?;
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()).and_then(ProcessRef::of) {
            let _ = write_json(&dir.join("shim.json"), &pid);
        }
        let stderr = child.stderr.take();
        // Wait until the shim says the command runs (or failed to).
        for _ in 0..200 {
            if dir.join("started.json").exists() || dir.join("exit.json").exists() {
                break;
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let exits = self.exits.clone();
        let uid = rec.pod_uid.clone();
        let shim_dir = dir.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            if !shim_dir.join("exit.json").exists() {
                let mut err = String::new();
                if let Some(mut s) = stderr {
                    use tokio::io::AsyncReadExt;
                    let _ = s.read_to_string(&mut err).await;
                }
                let rec = ExitRecord {
                    exit_code: 128,
                    finished_at: Timestamp::now(),
                    oom_killed: false,
                    message: Some(format!("the shim failed ({status:?}): {}", err.trim())),
                };
                let _ = write_json(&shim_dir.join("exit.json"), &rec);
            }
            let _ = exits.send(uid);
        });
        if let Some(exit) = self.exited(id) {
            if self.started(id).is_none() {
                return Err(RuntimeError::InvalidSpec(
                    exit.message.unwrap_or_else(|| "the container did not start".into()),
                ));
            }
        }
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let Some(started) = self.started(id) else {
            // Never started: nothing runs; mark it exited so it is not started later.
            if self.exited(id).is_none() && self.container_dir(id).exists() {
                let rec =
                    ExitRecord { exit_code: 137, finished_at: Timestamp::now(), oom_killed: false, message: None };
                let _ = write_json(&self.container_dir(id).join("exit.json"), &rec);
            }
            return Ok(());
        };
        if self.exited(id).is_some() {
            return Ok(());
        }
        let pid = started.pid;
        if pid.alive() {
            kill_group(pid.pid, nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if self.exited(id).is_some() || !pid.alive() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if pid.alive() {
            kill_group(pid.pid, nix::sys::signal::Signal::SIGKILL);
        }
        for _ in 0..250 {
            if self.exited(id).is_some() {
                return Ok(());
            }
            if !self.shim_alive(id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.exited(id).is_none() {
            let rec = ExitRecord { exit_code: 137, finished_at: Timestamp::now(), oom_killed: false, message: None };
            let _ = write_json(&self.container_dir(id).join("exit.json"), &rec);
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        if let Ok(rec) = self.read_container(id) {
            let _ = std::fs::remove_file(&rec.log_path);
        }
        let dir = self.container_dir(id);
        let rootfs = dir.join("rootfs");
        if rootfs.exists() {
            let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(dir);
        self.forget(id);
        Ok(())
    }

    async fn list(&self) -> Result<Listing, RuntimeError> {
        let sandboxes: Vec<SandboxRecord> = list_json(&self.root.join("sandboxes"), "sandbox.json");
        Ok(Listing {
            sandboxes: sandboxes.iter().map(|s| self.sandbox_info(s)).collect(),
            containers: self.all_containers().iter().map(|c| self.info(c)).collect(),
        })
    }

    async fn list_pod(&self, pod_uid: &str) -> Result<Listing, RuntimeError> {
        let ids = self.ids().get(pod_uid).cloned().unwrap_or_default();
        let sandboxes =
            ids.sandboxes.iter().filter_map(|id| self.read_sandbox(id).ok()).map(|s| self.sandbox_info(&s)).collect();
        let containers =
            ids.containers.iter().filter_map(|id| self.read_container(id).ok()).map(|c| self.info(&c)).collect();
        Ok(Listing { sandboxes, containers })
    }

    async fn exec_sync(&self, id: &str, argv: &[String], timeout: Duration) -> Result<ExecOutput, RuntimeError> {
        let rec = self.read_container(id)?;
        let mut cmd = self.command_in(&rec, argv)?;
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| RuntimeError::io(format!("run {argv:?}"), e))?;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
                output.push_str(&String::from_utf8_lossy(&out.stderr));
                Ok(ExecOutput { exit_code: exit_code(out.status), output })
            }
            Ok(Err(e)) => Err(RuntimeError::io(format!("run {argv:?}"), e)),
            Err(_) => {
                Ok(ExecOutput { exit_code: -1, output: format!("command timed out after {}s", timeout.as_secs()) })
            }
        }
    }

    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecSession, RuntimeError> {
        let rec = self.read_container(id)?;
        if request.tty {
            return self.exec_tty(&rec, request).await;
        }
        let mut cmd = self.command_in(&rec, &request.argv)?;
        cmd.stdin(if request.stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| RuntimeError::io(format!("run {:?}", request.argv), e))?;
        let stdin = child.stdin.take().map(|s| Box::pin(s) as _);
        let stdout = child.stdout.take().map(|s| Box::pin(s) as _);
        let stderr = child.stderr.take().map(|s| Box::pin(s) as _);
        let (tx, exit) = oneshot::channel();
        tokio::spawn(async move {
            let code = child.wait().await.map(exit_code).unwrap_or(-1);
            let _ = tx.send(code);
        });
        Ok(ExecSession { stdin, stdout, stderr, resize: None, exit })
    }

    async fn logs(&self, id: &str, options: &LogOptions) -> Result<LogStream, RuntimeError> {
        let rec = self.read_container(id)?;
        Ok(follow_log(rec.log_path.clone(), self.container_dir(id), options.clone()))
    }

    async fn stats(&self, id: &str) -> Result<ContainerStats, RuntimeError> {
        let started = self.started(id).ok_or_else(|| RuntimeError::NotRunning(id.to_owned()))?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", started.pid.pid))
            .map_err(|e| RuntimeError::io("read process status", e))?;
        let rss_kb: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(ContainerStats { memory_bytes: rss_kb * 1024, cpu_usage_nanos: 0 })
    }

    fn watch_exits(&self) -> broadcast::Receiver<String> {
        self.exits.subscribe()
    }
}

impl ProcessRuntime {
    async fn exec_tty(&self, rec: &ContainerRecord, request: &ExecRequest) -> Result<ExecSession, RuntimeError> {
        let pty = nix::pty::openpty(None, None).map_err(|e| RuntimeError::io("open a pty", e.into()))?;
        let slave_path = nix::unistd::ttyname(&pty.slave).map_err(|e| RuntimeError::io("name the pty", e.into()))?;
        let mut argv = vec!["setsid".to_string(), "-c".to_string()];
        argv.extend(request.argv.iter().cloned());
        let mut cmd = self.command_in(rec, &argv)?;
        let slave = std::fs::File::from(pty.slave);
        let clone = |f: &std::fs::File| f.try_clone().map_err(|e| RuntimeError::io("dup the pty", e));
        cmd.stdin(Stdio::from(clone(&slave)?)).stdout(Stdio::from(clone(&slave)?)).stderr(Stdio::from(slave));
        cmd.env("TERM", "xterm");
        let mut child = cmd.spawn().map_err(|e| RuntimeError::io(format!("run {:?}", request.argv), e))?;
        let master = std::fs::File::from(pty.master);
        let reader = tokio::fs::File::from_std(master.try_clone().map_err(|e| RuntimeError::io("dup the pty", e))?);
        let writer = tokio::fs::File::from_std(master);
        let (resize_tx, mut resize_rx) = tokio::sync::mpsc::channel::<(u16, u16)>(8);
        tokio::spawn(async move {
            while let Some((w, h)) = resize_rx.recv().await {
                if w == 0 || h == 0 {
                    continue;
                }
                let _ = tokio::process::Command::new("stty")
                    .arg("-F")
                    .arg(&slave_path)
                    .args(["cols", &w.to_string(), "rows", &h.to_string()])
                    .status()
                    .await;
            }
        });
        let (tx, exit) = oneshot::channel();
        tokio::spawn(async move {
            let code = child.wait().await.map(exit_code).unwrap_or(-1);
            let _ = tx.send(code);
        });
        Ok(ExecSession {
            stdin: Some(Box::pin(writer)),
            stdout: Some(Box::pin(PtyReader(reader))),
            stderr: None,
            resize: Some(resize_tx),
            exit,
        })
    }
}

/// A pty master reader that ends (instead of failing with EIO) when the terminal closes.
struct PtyReader(tokio::fs::File);

impl tokio::io::AsyncRead for PtyReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match std::pin::Pin::new(&mut self.0).poll_read(cx, buf) {
            std::task::Poll::Ready(Err(_)) => std::task::Poll::Ready(Ok(())),
            other => other,
        }
    }
}

pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(9))
}

/// Streams a CRI log file as `kubectl logs` shows it; with `follow`, until the container exits.
fn follow_log(path: PathBuf, container_dir: PathBuf, options: LogOptions) -> LogStream {
    struct St {
        path: PathBuf,
        dir: PathBuf,
        offset: u64,
        first: bool,
        render: crilog::RenderOptions,
        options: LogOptions,
    }
    let st = St {
        path,
        dir: container_dir,
        offset: 0,
        first: true,
        render: crilog::RenderOptions { timestamps: options.timestamps, since: options.since },
        options,
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        loop {
            let text = tokio::fs::read(&st.path).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&text).into_owned();
            let start = usize::try_from(st.offset).unwrap_or(0).min(text.len());
            let mut chunk = &text[start..];
            if st.first {
                st.first = false;
                if let Some(n) = st.options.tail_lines {
                    let from = crilog::tail_offset(chunk, n);
                    st.offset += from as u64;
                    chunk = &chunk[from..];
                }
            }
            let (out, consumed) = crilog::render(chunk, &st.render);
            st.offset += consumed as u64;
            if !out.is_empty() {
                return Some((Ok(Bytes::from(out)), st));
            }
            if !st.options.follow || st.dir.join("exit.json").exists() || !st.dir.exists() {
                // One last read after the exit, then the end.
                if st.options.follow && st.dir.join("exit.json").exists() {
                    st.options.follow = false;
                    continue;
                }
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Box::pin(stream)
}
