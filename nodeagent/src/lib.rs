//! The node agent (our kubelet): registers Nodes and runs the Pods bound to them.

pub mod backoff;
pub mod env;
pub mod plan;
pub mod runtime;
pub mod status;

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    Process,
    Docker,
    Sim,
}

/// What the node agent needs to run.
#[derive(Clone, Debug)]
pub struct NodeAgentConfig {
    pub node_name: String,
    pub runtime: RuntimeKind,
    pub data_dir: PathBuf,
    pub pod_manifest_path: Option<PathBuf>,
    /// The agent's own HTTP port (logs, exec); 0 picks a free one.
    pub kubelet_port: u16,
}

impl NodeAgentConfig {
    /// The single local node of `minik up`.
    pub fn local(node_name: String, runtime: RuntimeKind, data_dir: PathBuf, pod_manifest_path: Option<PathBuf>, kubelet_port: u16) -> Self {
        NodeAgentConfig { node_name, runtime, data_dir, pod_manifest_path, kubelet_port }
    }
}

/// `minik nodeagent` flags (besides `--server`, which the binary handles).
#[derive(clap::Args, Clone, Debug)]
pub struct NodeAgentArgs {
    #[arg(long)]
    pub node_name: String,
    #[arg(long, value_enum, default_value = "process")]
    pub runtime: RuntimeKind,
    #[arg(long, default_value = "/var/lib/minik/agent")]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub pod_manifest_path: Option<PathBuf>,
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
}

impl NodeAgentArgs {
    pub fn into_config(self) -> NodeAgentConfig {
        NodeAgentConfig::local(self.node_name, self.runtime, self.data_dir, self.pod_manifest_path, self.kubelet_port)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeAgentError {
    #[error("node agent failed: {0}")]
    Failed(String),
}

/// Runs until `shutdown` fires.
pub async fn run(_config: NodeAgentConfig, _client: kube::Client, shutdown: CancellationToken) -> Result<(), NodeAgentError> {
    shutdown.cancelled().await;
    Ok(())
}

/// The body of `minik pause`: the process runtime's sandbox holder. Sleeps until signalled and
/// reaps children when it is PID 1 of a shared PID namespace.
pub fn pause_main() -> Result<(), NodeAgentError> {
    Err(NodeAgentError::Failed("pause is not implemented yet".into()))
}
