//! `minik`: the whole control plane in one binary. This file only wires subcommands to the
//! library crates; each service is a library with a `run(config, client, shutdown)` entry point.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

// The API server's work is mostly short-lived JSON allocations; mimalloc serves them faster and
// with less fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "minik", version, about = "A Kubernetes-compatible pod control plane in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: API server, scheduler and a local node agent.
    Up(UpArgs),
    /// Run the API server alone.
    Apiserver(ApiserverArgs),
    /// Run the scheduler against an API server.
    Scheduler {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        args: minik_scheduler::SchedulerArgs,
    },
    /// Run a node agent against an API server.
    Nodeagent {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        args: minik_nodeagent::NodeAgentArgs,
    },
    /// Internal: the pod sandbox holder process (the "pause" container of the process runtime).
    #[command(hide = true)]
    Pause,
}

#[derive(clap::Args)]
struct ConnArgs {
    /// The API server's URL.
    #[arg(long, default_value = minik_client::DEFAULT_SERVER)]
    server: String,
}

#[derive(clap::Args)]
struct ApiserverArgs {
    /// Where the store keeps its data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

#[derive(clap::Args)]
struct UpArgs {
    #[command(flatten)]
    server: ApiserverArgs,
    /// How the local node runs containers.
    #[arg(long, value_enum, default_value = "process")]
    runtime: minik_nodeagent::RuntimeKind,
    /// Name of the local node (default: the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// Directory of static pod manifests for the local node.
    #[arg(long)]
    pod_manifest_path: Option<PathBuf>,
    /// The local node agent's port for logs and exec (0 picks a free one).
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    #[command(flatten)]
    docker: minik_nodeagent::DockerArgs,
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let cli = Cli::parse();
    if let Command::Pause = cli.command {
        return minik_nodeagent::pause_main().map_err(anyhow::Error::from);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async_main(cli.command, started))
}

async fn async_main(command: Command, started: Instant) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    match command {
        Command::Up(args) => up(args, started, shutdown).await,
        Command::Apiserver(args) => {
            let server = start_apiserver(&args, started).await?;
            server.serve(shutdown).await.context("API server failed")
        }
        Command::Scheduler { conn, args } => {
            let client = connect(&conn.server).await?;
            minik_scheduler::run(args.into_config(), client, shutdown).await.context("scheduler failed")
        }
        Command::Nodeagent { conn, args } => {
            let client = connect(&conn.server).await?;
            minik_nodeagent::run(args.into_config(), client, shutdown).await.context("node agent failed")
        }
        Command::Pause => unreachable!("handled before the runtime starts"),
    }
}

async fn up(args: UpArgs, started: Instant, shutdown: CancellationToken) -> anyhow::Result<()> {
    let server = start_apiserver(&args.server, started).await?;
    let url = format!("http://{}", server.local_addr());
    let data_dir = server.data_dir().to_path_buf();
    let client = connect(&url).await?;
    let node_name = args.node_name.unwrap_or_else(default_node_name);
    let mut agent_config = minik_nodeagent::NodeAgentConfig::local(
        node_name,
        args.runtime,
        data_dir.join("agent"),
        args.pod_manifest_path,
        args.kubelet_port,
    );
    agent_config.docker = args.docker;
    let api = tokio::spawn(server.serve(shutdown.clone()));
    let scheduler = tokio::spawn(minik_scheduler::run(Default::default(), client.clone(), shutdown.clone()));
    let agent = tokio::spawn(minik_nodeagent::run(agent_config, client, shutdown.clone()));
    let (api, scheduler, agent) = tokio::join!(api, scheduler, agent);
    shutdown.cancel();
    api?.context("API server failed")?;
    scheduler?.context("scheduler failed")?;
    agent?.context("node agent failed")?;
    Ok(())
}

async fn start_apiserver(args: &ApiserverArgs, started: Instant) -> anyhow::Result<minik_apiserver::ApiServer> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let config = minik_apiserver::ApiServerConfig { data_dir, listen: args.listen };
    let server = minik_apiserver::ApiServer::bind(config).await.context("cannot start the API server")?;
    let url = format!("http://{}", server.local_addr());
    let kubeconfig = server.write_kubeconfig(&url).context("cannot write kubeconfig")?;
    eprintln!(
        "minik: API server listening on {url} (ready in {} ms); kubectl: export KUBECONFIG={}",
        started.elapsed().as_millis(),
        kubeconfig.display()
    );
    Ok(server)
}

async fn connect(server: &str) -> anyhow::Result<kube::Client> {
    let opts = minik_client::ConnectOptions { server: Some(server.to_owned()), ..Default::default() };
    minik_client::connect(&opts).await.context("cannot connect to the API server")
}

fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".minik"),
        None => PathBuf::from(".minik"),
    }
}

fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_lowercase())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "minik-node".to_owned())
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot install SIGTERM handler: {e}");
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        shutdown.cancel();
    });
}
