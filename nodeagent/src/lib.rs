//! The node agent (our kubelet): registers Nodes, renews their Leases, and runs the Pods bound to
//! them through a [`runtime::Runtime`] (`process`: host processes in a pause-held sandbox; `sim`:
//! nothing runs, like KWOK, so one agent carries 1,000+ nodes). Each pod has a worker that plans
//! with the pure [`plan::plan`], executes the actions, and derives status in [`status::derive`].
//! It also serves container logs and exec on its own port, and runs static pods.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod agent;
pub mod backoff;
pub mod crilog;
pub mod env;
pub mod events;
pub mod image;
pub mod ipam;
pub mod node;
pub mod pause;
pub mod plan;
pub mod probe;
pub mod runtime;
pub mod server;
pub mod source;
pub mod static_pods;
pub mod status;
pub mod volumes;
pub mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, NodeCtx, PodIndex};
use crate::node::NodeIdentity;
use crate::runtime::Runtime;

pub use pause::pause_main;

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
    /// With the sim runtime: how many nodes this agent registers (`<node-name>-<i>` when > 1).
    pub sim_nodes: usize,
    /// The address the node reports as InternalIP (default: the host's main address).
    pub node_ip: Option<String>,
    /// The binary run as the sandbox holder and container shim (default: this executable).
    pub pause_binary: Option<PathBuf>,
    /// The docker runtime's settings.
    pub docker: DockerArgs,
}

/// The docker runtime's flags (`minik nodeagent`; `minik up` can flatten them too).
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct DockerArgs {
    /// The pause (sandbox) image; made locally from this binary when it is not present.
    #[arg(long, env = runtime::docker::PAUSE_IMAGE_ENV, default_value = runtime::docker::DEFAULT_PAUSE_IMAGE)]
    pub pause_image: String,
    /// The Docker network pause containers join (default: the engine's bridge).
    #[arg(long, env = runtime::docker::NETWORK_ENV)]
    pub docker_network: Option<String>,
}

impl DockerArgs {
    /// What the flags give when none is passed: `MINIK_PAUSE_IMAGE` and `MINIK_DOCKER_NETWORK`,
    /// else the defaults.
    pub fn from_env() -> DockerArgs {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        DockerArgs {
            pause_image: var(runtime::docker::PAUSE_IMAGE_ENV)
                .unwrap_or_else(|| runtime::docker::DEFAULT_PAUSE_IMAGE.to_owned()),
            docker_network: var(runtime::docker::NETWORK_ENV),
        }
    }
}

impl NodeAgentConfig {
    /// The single local node of `minik up`.
    pub fn local(
        node_name: String,
        runtime: RuntimeKind,
        data_dir: PathBuf,
        pod_manifest_path: Option<PathBuf>,
        kubelet_port: u16,
    ) -> Self {
        NodeAgentConfig {
            node_name,
            runtime,
            data_dir,
            pod_manifest_path,
            kubelet_port,
            sim_nodes: 1,
            node_ip: None,
            pause_binary: None,
            docker: DockerArgs::from_env(),
        }
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
    /// With `--runtime sim`: register and carry this many nodes (`<node-name>-<i>`).
    #[arg(long, default_value_t = 1)]
    pub sim_nodes: usize,
    /// The node's InternalIP (default: the host's main address).
    #[arg(long)]
    pub node_ip: Option<String>,
    /// The binary used as the pod sandbox holder and container shim (default: this one).
    #[arg(long)]
    pub pause_binary: Option<PathBuf>,
    #[command(flatten)]
    pub docker: DockerArgs,
}

impl NodeAgentArgs {
    pub fn into_config(self) -> NodeAgentConfig {
        let mut c = NodeAgentConfig::local(
            self.node_name,
            self.runtime,
            self.data_dir,
            self.pod_manifest_path,
            self.kubelet_port,
        );
        c.sim_nodes = self.sim_nodes.max(1);
        c.node_ip = self.node_ip;
        c.pause_binary = self.pause_binary;
        c.docker = self.docker;
        c
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeAgentError {
    #[error("node agent failed: {0}")]
    Failed(String),
    #[error("cannot {what}")]
    Api { what: String, source: Box<kube::Error> },
    #[error("cannot {what}")]
    Io { what: String, source: std::io::Error },
    #[error("runtime")]
    Runtime(#[from] runtime::RuntimeError),
}

/// The identities of the nodes this agent carries.
fn identities(config: &NodeAgentConfig, runtime: &str, port: u16) -> Vec<NodeIdentity> {
    let ip = config.node_ip.clone().unwrap_or_else(node::host_ip);
    let (cpu, memory, storage) = if config.runtime == RuntimeKind::Sim {
        (32_000, 256i128 << 30, 1i128 << 40)
    } else {
        let (cpu, memory) = node::host_cpu_memory();
        (cpu, memory, node::disk_bytes(&config.data_dir))
    };
    let count = if config.runtime == RuntimeKind::Sim { config.sim_nodes.max(1) } else { 1 };
    let process_cidr = (config.runtime == RuntimeKind::Process)
        .then(|| runtime::process::claim_pod_cidr(&config.data_dir.join("runtime")));
    (0..count)
        .map(|i| {
            let name = if count == 1 { config.node_name.clone() } else { format!("{}-{i}", config.node_name) };
            NodeIdentity {
                hostname: name.clone(),
                name,
                internal_ip: ip.clone(),
                pod_cidr: process_cidr.clone().unwrap_or_else(|| ipam::node_cidr(i)),
                kubelet_port: port,
                cpu_millis: cpu,
                memory_bytes: memory,
                ephemeral_storage_bytes: storage,
                max_pods: 110,
                runtime: runtime.to_owned(),
            }
        })
        .collect()
}

/// Runs until `shutdown` fires. Pods keep running when the agent stops; a restarted agent adopts
/// them.
pub async fn run(
    config: NodeAgentConfig,
    client: kube::Client,
    shutdown: CancellationToken,
) -> Result<(), NodeAgentError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| NodeAgentError::Io { what: format!("create {}", config.data_dir.display()), source })?;
    let runtime: Arc<dyn Runtime> = match config.runtime {
        RuntimeKind::Sim => Arc::new(runtime::sim::SimRuntime::new()),
        RuntimeKind::Process => {
            let binary = match &config.pause_binary {
                Some(b) => b.clone(),
                None => std::env::current_exe()
                    .map_err(|source| NodeAgentError::Io { what: "find the minik binary".into(), source })?,
            };
            Arc::new(runtime::process::ProcessRuntime::new(config.data_dir.join("runtime"), binary)?)
        }
        RuntimeKind::Docker => {
            let binary = match &config.pause_binary {
                Some(b) => b.clone(),
                None => std::env::current_exe()
                    .map_err(|source| NodeAgentError::Io { what: "find the minik binary".into(), source })?,
            };
            let docker = runtime::docker::DockerConfig::new(
                config.data_dir.join("runtime"),
                binary,
                config.docker.pause_image.clone(),
                config.docker.docker_network.clone(),
            );
            Arc::new(runtime::docker::DockerRuntime::connect(docker).await?)
        }
    };
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.kubelet_port))
        .await
        .map_err(|source| NodeAgentError::Io { what: format!("listen on port {}", config.kubelet_port), source })?;
    let port = listener
        .local_addr()
        .map_err(|source| NodeAgentError::Io { what: "read the listening address".into(), source })?
        .port();
    let nodes: Vec<Arc<NodeCtx>> =
        identities(&config, runtime.name(), port).into_iter().map(|id| Arc::new(NodeCtx::new(id))).collect();
    reserve_adopted_ips(&*runtime, &nodes).await;

    let node_api: Api<Node> = Api::all(client.clone());
    let registered: Vec<Result<_, NodeAgentError>> = futures::stream::iter(nodes.iter().cloned())
        .map(|n| {
            let api = node_api.clone();
            async move { node::register(&api, &n.identity).await.map(|since| (n.identity.name.clone(), since)) }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut ready_since = HashMap::new();
    for r in registered {
        let (name, since) = r?;
        ready_since.insert(name, since);
    }
    tracing::info!(
        "node agent: {} node(s) registered ({}), runtime {}, serving logs and exec on port {port}",
        nodes.len(),
        nodes.first().map(|n| n.identity.name.as_str()).unwrap_or_default(),
        runtime.name()
    );

    let agent = Arc::new(Agent {
        client: client.clone(),
        runtime: runtime.clone(),
        recorder: events::Recorder::start(client.clone()),
        data_dir: config.data_dir.clone(),
        index: PodIndex::default(),
        prepare_volumes: config.runtime != RuntimeKind::Sim,
    });

    let server = {
        let app = server::app(agent.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!("node agent server: {e}");
            }
        })
    };
    let heartbeat = tokio::spawn(heartbeat(client.clone(), nodes.clone(), ready_since, shutdown.clone()));
    if let (Some(dir), Some(first)) = (config.pod_manifest_path.clone(), nodes.first()) {
        tokio::spawn(static_pods::run(agent.clone(), first.clone(), dir, shutdown.clone()));
    }
    let by_name: HashMap<String, Arc<NodeCtx>> = nodes.iter().map(|n| (n.identity.name.clone(), n.clone())).collect();
    source::run(agent, by_name, shutdown.clone()).await;
    shutdown.cancel();
    let _ = server.await;
    let _ = heartbeat.await;
    Ok(())
}

/// Pod IPs already in use by sandboxes that survived an agent restart.
async fn reserve_adopted_ips(runtime: &dyn Runtime, nodes: &[Arc<NodeCtx>]) {
    let Ok(listing) = runtime.list().await else { return };
    for sb in listing.sandboxes {
        if let Some(ip) = sb.ip {
            for n in nodes {
                n.ipam().reserve(&ip);
            }
        }
    }
}

/// Renews every node's Lease each 10 s and refreshes node status each minute.
async fn heartbeat(
    client: kube::Client,
    nodes: Vec<Arc<NodeCtx>>,
    ready_since: HashMap<String, k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    shutdown: CancellationToken,
) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), node::LEASE_NAMESPACE);
    let node_api: Api<Node> = Api::all(client);
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    let mut round: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let status_round = round % 6 == 5;
        round += 1;
        futures::stream::iter(nodes.iter())
            .for_each_concurrent(32, |n| {
                let (leases, node_api, ready_since) = (&leases, &node_api, &ready_since);
                async move {
                    if let Err(e) = node::renew_lease(leases, &n.identity.name).await {
                        tracing::warn!("{e}: {}", error_chain(&e));
                    }
                    if status_round {
                        let since = ready_since
                            .get(&n.identity.name)
                            .cloned()
                            .unwrap_or(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
                        if let Err(e) = node::update_status(node_api, &n.identity, &since).await {
                            tracing::warn!("{e}: {}", error_chain(&e));
                        }
                    }
                }
            })
            .await;
    }
}

/// The whole chain of an error's sources, for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: NodeAgentArgs,
    }

    #[test]
    fn docker_flags_reach_the_config() {
        let cli = Cli::parse_from([
            "nodeagent",
            "--node-name",
            "n1",
            "--runtime",
            "docker",
            "--pause-image",
            "local/pause:1",
            "--docker-network",
            "lab",
        ]);
        let config = cli.args.into_config();
        assert_eq!(
            config.docker,
            DockerArgs { pause_image: "local/pause:1".into(), docker_network: Some("lab".into()) }
        );
    }
}
