//! The runtime seam: what the agent asks of whatever runs containers. Runtimes know nothing about
//! the API server; they get plain specs and report plain observations.

pub mod docker;
pub mod process;
pub mod sim;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use jiff::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

/// What a pod sandbox (the "pause" holder of the pod's namespaces) is made from.
#[derive(Clone, Debug, Default)]
pub struct SandboxSpec {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    /// The pod's hostname (its name unless spec.hostname says otherwise).
    pub hostname: String,
    pub host_network: bool,
    pub share_process_namespace: bool,
    /// The IP the agent allocated from the node's podCIDR (ignored with host networking).
    pub ip: Option<String>,
    /// Pod annotations: the sim runtime reads its behaviour from them.
    pub annotations: BTreeMap<String, String>,
    /// The pod's port mappings that ask for a host port (`hostPort` set).
    pub ports: Vec<PortMapping>,
}

/// One `containerPort` published on the node (`hostPort`), as the pod spec asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: u16,
    pub host_port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The host address to bind (`None`: every address).
    pub host_ip: Option<String>,
}

/// Kubernetes' `imagePullPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The policy a container's (defaulted) `imagePullPolicy` names; unset means IfNotPresent.
    pub fn parse(policy: Option<&str>) -> PullPolicy {
        match policy {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        }
    }
}

/// A sandbox as the runtime sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxInfo {
    pub id: String,
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    /// The pod's IP; `None` means the pod shares the host's network.
    pub ip: Option<String>,
    pub created_at: Timestamp,
    pub ready: bool,
}

/// A directory or file the container sees at `container_path`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

/// Everything needed to create one container instance (one attempt of one container).
#[derive(Clone, Debug, Default)]
pub struct ContainerSpec {
    pub sandbox_id: String,
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub name: String,
    /// 0 for the first instance, incremented on every restart (the restartCount).
    pub attempt: u32,
    pub image: String,
    pub image_pull_policy: PullPolicy,
    /// The container's `command`, `$(VAR)` already expanded. Empty: the image's Entrypoint.
    pub command: Vec<String>,
    /// The container's `args`, `$(VAR)` already expanded. Empty with no command: the image's Cmd.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub mounts: Vec<Mount>,
    pub tty: bool,
    pub stdin: bool,
    pub limits: ResourceLimits,
    /// Path inside the container whose content becomes the termination message.
    pub termination_message_path: Option<String>,
    /// Pod annotations (the sim runtime reads its behaviour from them).
    pub annotations: BTreeMap<String, String>,
}

impl ContainerSpec {
    /// Command then args: what runtimes without images run.
    pub fn argv(&self) -> Vec<String> {
        self.command.iter().chain(&self.args).cloned().collect()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    pub memory_bytes: Option<u64>,
    pub cpu_millis: Option<u64>,
}

/// The state of one container instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited { exit_code: i32, finished_at: Timestamp, reason: ExitReason, message: Option<String> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Exited by itself or by a signal.
    Normal,
    OomKilled,
}

/// A container instance as the runtime sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerInfo {
    pub id: String,
    pub sandbox_id: String,
    pub pod_uid: String,
    pub name: String,
    pub attempt: u32,
    pub image: String,
    /// The runtime's id of the image, as the pod status shows it (`imageID`), where known.
    pub image_id: Option<String>,
    pub state: ContainerState,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
}

impl ContainerInfo {
    pub fn is_running(&self) -> bool {
        self.state == ContainerState::Running
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self.state {
            ContainerState::Exited { exit_code, .. } => Some(exit_code),
            _ => None,
        }
    }
}

/// Everything a runtime holds, for adoption after an agent restart and for reconciling.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub sandboxes: Vec<SandboxInfo>,
    pub containers: Vec<ContainerInfo>,
}

/// A command to run inside a running container.
#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    pub stdin: bool,
    pub tty: bool,
}

/// A running exec: its streams and how it ends.
pub struct ExecSession {
    pub stdin: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    pub stdout: Option<Pin<Box<dyn AsyncRead + Send>>>,
    /// `None` with a TTY (stderr goes to stdout).
    pub stderr: Option<Pin<Box<dyn AsyncRead + Send>>>,
    /// Terminal size changes (columns, rows), with a TTY.
    pub resize: Option<mpsc::Sender<(u16, u16)>>,
    /// The exit code once the command ends.
    pub exit: oneshot::Receiver<i32>,
}

/// The result of a short command run to completion (probes and hooks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub output: String,
}

/// What `kubectl logs` may ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub tail_lines: Option<u64>,
    pub timestamps: bool,
    pub since: Option<Timestamp>,
    pub limit_bytes: Option<u64>,
}

pub type LogStream = Pin<Box<dyn Stream<Item = Result<Bytes, RuntimeError>> + Send>>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerStats {
    pub memory_bytes: u64,
    pub cpu_usage_nanos: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The spec cannot run on this runtime (the pod shows CreateContainerConfigError).
    #[error("{0}")]
    InvalidSpec(String),
    #[error("no such sandbox {0}")]
    NoSandbox(String),
    #[error("no such container {0}")]
    NoContainer(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("{what}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Unsupported(String),
    /// The image is missing and may not or cannot be pulled; `reason` is the kubelet's waiting
    /// reason (`ErrImagePull`, `ErrImageNeverPull`).
    #[error("{message}")]
    Image { reason: String, message: String },
}

impl RuntimeError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io { what: what.into(), source }
    }
}

/// One way of running containers: `process`, `sim` (and later `docker`).
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// `process`, `sim`, ... (reported in the Node's nodeInfo.containerRuntimeVersion).
    fn name(&self) -> &'static str;

    /// Whether probes over the network (httpGet, tcpSocket) reach the pod; false for the sim.
    fn network_probes(&self) -> bool;

    /// The scheme of containerIDs in the pod status (`docker` → `docker://<id>`); `None`: the
    /// runtime's ids as they are.
    fn container_id_scheme(&self) -> Option<&'static str> {
        None
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<SandboxInfo, RuntimeError>;
    /// Stops and removes the sandbox and every container in it.
    async fn remove_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError>;

    /// Whether this runtime runs images (and so pulls them). Runtimes without images (process,
    /// sim) only record the image name: for them every image is present and nothing is pulled,
    /// whatever the pull policy says.
    fn pulls_images(&self) -> bool {
        false
    }
    /// Whether `image` is on the node.
    async fn image_present(&self, _image: &str) -> Result<bool, RuntimeError> {
        Ok(true)
    }
    /// Pulls `image`; a failure is [`RuntimeError::Image`] with reason `ErrImagePull`.
    async fn pull_image(&self, _image: &str) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError>;
    async fn start_container(&self, id: &str) -> Result<(), RuntimeError>;
    /// SIGTERM, then SIGKILL once `grace` has passed. Returns once the container has exited.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError>;

    /// Every sandbox and container this runtime holds (live and exited).
    async fn list(&self) -> Result<Listing, RuntimeError>;

    /// The sandboxes and containers of one pod.
    async fn list_pod(&self, pod_uid: &str) -> Result<Listing, RuntimeError> {
        let Listing { sandboxes, containers } = self.list().await?;
        Ok(Listing {
            sandboxes: sandboxes.into_iter().filter(|s| s.pod_uid == pod_uid).collect(),
            containers: containers.into_iter().filter(|c| c.pod_uid == pod_uid).collect(),
        })
    }

    /// Runs a command in the container to completion (probes, hooks).
    async fn exec_sync(&self, id: &str, argv: &[String], timeout: Duration) -> Result<ExecOutput, RuntimeError>;
    /// Starts an interactive command in the container.
    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecSession, RuntimeError>;

    async fn logs(&self, id: &str, options: &LogOptions) -> Result<LogStream, RuntimeError>;
    async fn stats(&self, id: &str) -> Result<ContainerStats, RuntimeError>;

    /// A receiver told whenever a container of `pod_uid` changes state by itself (e.g. exits).
    fn watch_exits(&self) -> tokio::sync::broadcast::Receiver<String>;
}
