//! The `docker` runtime: pods as containers on a Docker Engine (API 1.41, Docker 20.10+) reached
//! on its unix socket with `bollard`. A pod's sandbox is a pause container holding the pod's
//! hostname and its network and IPC (and, with shareProcessNamespace, PID) namespaces; app and
//! init containers join them with `container:<pause>` modes. Everything the runtime makes is
//! labelled with this agent's identity (its runtime directory), the pod and the container, so a
//! restarted agent adopts what runs, and exit codes, times, OOM kills and attempts come from
//! Docker's own records.
//!
//! Settings: `--pause-image` / `MINIK_PAUSE_IMAGE` (default [`DEFAULT_PAUSE_IMAGE`], made locally
//! from this binary when missing), `--docker-network` / `MINIK_DOCKER_NETWORK` (the network pause
//! containers join; default Docker's bridge), `DOCKER_HOST` (a `unix://` socket; default
//! `/var/run/docker.sock`). Images are pulled only when the worker asks (imagePullPolicy).

pub mod config;
pub mod pause_image;
mod streams;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StatsOptions, StopContainerOptions,
};
use bollard::{ClientVersion, Docker};
use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::broadcast;

use self::config::{
    SandboxJoin, KIND_SANDBOX, LABEL_AGENT, LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_HOST_NETWORK, LABEL_KIND,
    LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, LABEL_SANDBOX, LABEL_SHARE_PID, LABEL_TERMINATION_LOG,
};
use super::{
    ContainerInfo, ContainerSpec, ContainerState, ContainerStats, ExecOutput, ExecRequest, ExecSession, ExitReason,
    Listing, LogOptions, LogStream, Runtime, RuntimeError, SandboxInfo, SandboxSpec,
};

pub const DEFAULT_PAUSE_IMAGE: &str = "minik/pause:latest";
pub const PAUSE_IMAGE_ENV: &str = "MINIK_PAUSE_IMAGE";
pub const NETWORK_ENV: &str = "MINIK_DOCKER_NETWORK";
/// The Engine API version spoken (Docker 20.10).
pub const API_VERSION: ClientVersion = ClientVersion { major_version: 1, minor_version: 41 };
/// How long a pull may take before it counts as failed (ErrImagePull).
const PULL_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of a termination message kept, as the kubelet does.
const MAX_MESSAGE: usize = 4096;

/// How the runtime is set up.
#[derive(Clone, Debug)]
pub struct DockerConfig {
    /// Holds this runtime's files (termination logs, the pause rootfs while it is built); its
    /// path also identifies this agent's containers on a shared engine.
    pub root: PathBuf,
    /// The binary the pause image is made from when `pause_image` is missing.
    pub binary: PathBuf,
    pub pause_image: String,
    /// The Docker network pause containers join (`None`: the engine's default bridge).
    pub network: Option<String>,
    /// The engine's socket.
    pub socket: String,
}

impl DockerConfig {
    /// The runtime's settings; the engine's socket comes from `DOCKER_HOST` (a `unix://` one)
    /// or is Docker's default.
    pub fn new(root: PathBuf, binary: PathBuf, pause_image: String, network: Option<String>) -> DockerConfig {
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| h.starts_with("unix://"))
            .unwrap_or_else(|| "/var/run/docker.sock".to_owned());
        DockerConfig { root, binary, pause_image, network: network.filter(|n| !n.is_empty()), socket }
    }
}

pub struct DockerRuntime {
    docker: Docker,
    config: DockerConfig,
    /// The value of [`LABEL_AGENT`] on everything this runtime makes.
    agent: String,
    exits: broadcast::Sender<String>,
    /// Ends the event watcher when the runtime goes.
    stop: tokio_util::sync::CancellationToken,
    /// Engine image id (`sha256:…`) → the pod status' imageID, looked up once per image.
    image_ids: std::sync::Mutex<HashMap<String, String>>,
}

impl Drop for DockerRuntime {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn engine(what: impl Into<String>, e: DockerError) -> RuntimeError {
    RuntimeError::Io { what: what.into(), source: std::io::Error::other(e.to_string()) }
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(e, DockerError::DockerResponseServerError { status_code: 404, .. })
}

fn parse_time(s: Option<&str>) -> Option<Timestamp> {
    s.and_then(|s| s.parse::<Timestamp>().ok()).filter(|t| t.as_second() > 0)
}

impl DockerRuntime {
    /// Connects to the engine, makes the runtime directory and the pause image if missing, and
    /// starts watching the engine's events for container exits.
    pub async fn connect(config: DockerConfig) -> Result<DockerRuntime, RuntimeError> {
        std::fs::create_dir_all(config.root.join("termination"))
            .map_err(|e| RuntimeError::io(format!("create {}", config.root.display()), e))?;
        let agent = std::fs::canonicalize(&config.root)
            .map_err(|e| RuntimeError::io(format!("resolve {}", config.root.display()), e))?
            .display()
            .to_string();
        let docker = Docker::connect_with_unix(&config.socket, 120, &API_VERSION)
            .map_err(|e| engine(format!("connect to the Docker engine at {}", config.socket), e))?;
        let version = docker.version().await.map_err(|e| engine("ask the Docker engine its version", e))?;
        tracing::info!(
            "docker runtime: engine {} (API {}), pause image {}",
            version.version.unwrap_or_default(),
            version.api_version.unwrap_or_default(),
            config.pause_image
        );
        let (exits, _) = broadcast::channel(1024);
        let stop = tokio_util::sync::CancellationToken::new();
        let image_ids = std::sync::Mutex::new(HashMap::new());
        let rt = DockerRuntime { docker, config, agent, exits, stop, image_ids };
        rt.ensure_pause_image().await?;
        rt.watch_events();
        Ok(rt)
    }

    /// The label value that marks this agent's containers (for tests and cleanup tools).
    pub fn agent_label(&self) -> &str {
        &self.agent
    }

    async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(engine(format!("inspect image {image}"), e)),
        }
    }

    async fn ensure_pause_image(&self) -> Result<(), RuntimeError> {
        let image = &self.config.pause_image;
        if self.has_image(image).await? {
            return Ok(());
        }
        tracing::info!("docker runtime: pause image {image} missing: making it from {}", self.config.binary.display());
        let tar = self.config.root.join(format!("pause-rootfs-{}.tar", std::process::id()));
        let binary = self.config.binary.clone();
        let out = tar.clone();
        tokio::task::spawn_blocking(move || pause_image::write_rootfs_tar(&binary, &out))
            .await
            .map_err(|e| RuntimeError::io("write the pause rootfs", std::io::Error::other(e.to_string())))?
            .map_err(|e| RuntimeError::io("write the pause rootfs", e))?;
        let result = self.import(&tar, image).await;
        let _ = std::fs::remove_file(&tar);
        result
    }

    async fn import(&self, tar: &Path, image: &str) -> Result<(), RuntimeError> {
        let file = tokio::fs::File::open(tar).await.map_err(|e| RuntimeError::io("open the pause rootfs", e))?;
        let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
        let (repo, tag) = config::split_image(image);
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo),
            tag: Some(tag),
            changes: vec![format!("ENTRYPOINT [\"{}\", \"pause\"]", pause_image::PAUSE_PATH)],
            ..Default::default()
        };
        let mut progress = self.docker.create_image(Some(options), Some(body), None);
        while let Some(item) = progress.next().await {
            item.map_err(|e| engine(format!("import the pause image {image}"), e))?;
        }
        if !self.has_image(image).await? {
            return Err(RuntimeError::Unsupported(format!("the pause image {image} was imported but is not there")));
        }
        Ok(())
    }

    /// Pulls `image` from its registry; a failure (or no answer within [`PULL_TIMEOUT`]) is
    /// [`RuntimeError::Image`] with reason `ErrImagePull` and the kubelet's message.
    async fn pull(&self, image: &str) -> Result<(), RuntimeError> {
        let (repo, tag) = config::split_image(image);
        let options =
            CreateImageOptions { from_image: Some(repo), tag: (!tag.is_empty()).then_some(tag), ..Default::default() };
        let pull = async {
            let mut progress = self.docker.create_image(Some(options), None, None);
            while let Some(item) = progress.next().await {
                item?;
            }
            Ok::<(), DockerError>(())
        };
        let failed = |why: String| RuntimeError::Image {
            reason: crate::image::ERR_IMAGE_PULL.into(),
            message: crate::image::pull_failed_message(image, &why),
        };
        match tokio::time::timeout(PULL_TIMEOUT, pull).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failed(docker_message(&e))),
            Err(_) => Err(failed(format!("no answer within {}s", PULL_TIMEOUT.as_secs()))),
        }
    }

    /// The engine's events for this agent's containers: every `die` wakes the pod's worker.
    fn watch_events(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let docker = self.docker.clone();
        let exits = self.exits.clone();
        let agent = self.agent.clone();
        let stop = self.stop.clone();
        handle.spawn(async move {
            while !stop.is_cancelled() {
                let filters = HashMap::from([
                    ("type".to_owned(), vec!["container".to_owned()]),
                    ("event".to_owned(), vec!["die".to_owned(), "oom".to_owned()]),
                    ("label".to_owned(), vec![format!("{LABEL_AGENT}={agent}")]),
                ]);
                let options = EventsOptions { filters: Some(filters), ..Default::default() };
                let mut events = docker.events(Some(options));
                loop {
                    let ev = tokio::select! {
                        _ = stop.cancelled() => return,
                        ev = events.next() => ev,
                    };
                    let Some(ev) = ev else { break };
                    match ev {
                        Ok(ev) => {
                            let uid = ev.actor.and_then(|a| a.attributes).and_then(|mut a| a.remove(LABEL_POD_UID));
                            if let Some(uid) = uid {
                                let _ = exits.send(uid);
                            }
                        }
                        Err(e) => {
                            tracing::warn!("docker runtime: the engine's event stream failed: {e}");
                            break;
                        }
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse, RuntimeError> {
        match self.docker.inspect_container(id, None).await {
            Ok(c) => Ok(c),
            Err(e) if is_not_found(&e) => Err(RuntimeError::NoContainer(id.to_owned())),
            Err(e) => Err(engine(format!("inspect container {id}"), e)),
        }
    }

    /// This agent's containers (all states), optionally of one pod.
    async fn ids(&self, pod_uid: Option<&str>) -> Result<Vec<String>, RuntimeError> {
        let mut labels = vec![format!("{LABEL_AGENT}={}", self.agent)];
        if let Some(uid) = pod_uid {
            labels.push(format!("{LABEL_POD_UID}={uid}"));
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), labels)])),
            ..Default::default()
        };
        let list = self.docker.list_containers(Some(options)).await.map_err(|e| engine("list containers", e))?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    async fn listing(&self, pod_uid: Option<&str>) -> Result<Listing, RuntimeError> {
        let ids = self.ids(pod_uid).await?;
        let inspected = futures::future::join_all(ids.iter().map(|id| self.inspect(id))).await;
        let mut listing = Listing::default();
        for c in inspected {
            let c = match c {
                Ok(c) => c,
                // Removed between the list and the inspect.
                Err(RuntimeError::NoContainer(_)) => continue,
                Err(e) => return Err(e),
            };
            let labels = c.config.as_ref().and_then(|cfg| cfg.labels.clone()).unwrap_or_default();
            if labels.get(LABEL_KIND).map(String::as_str) == Some(KIND_SANDBOX) {
                listing.sandboxes.push(sandbox_info(&c, &labels));
            } else if let Some(mut info) = container_info(&c, &labels) {
                if let Some(image) = c.image.as_deref().filter(|i| !i.is_empty()) {
                    info.image_id = Some(self.status_image_id(image).await);
                }
                listing.containers.push(info);
            }
        }
        Ok(listing)
    }

    /// The imageID the kubelet's dockershim shows: `docker-pullable://<repo>@<digest>` for an image
    /// that came from a registry, else `docker://sha256:…` (e.g. an imported image).
    async fn status_image_id(&self, image: &str) -> String {
        if let Some(known) = self.image_ids.lock().ok().and_then(|m| m.get(image).cloned()) {
            return known;
        }
        let id = match self.docker.inspect_image(image).await {
            Ok(i) => config::status_image_id(image, i.repo_digests.as_deref().unwrap_or_default()),
            // Removed meanwhile: the engine's id is all there is (not remembered).
            Err(_) => return format!("docker://{image}"),
        };
        if let Ok(mut m) = self.image_ids.lock() {
            m.insert(image.to_owned(), id.clone());
        }
        id
    }

    async fn force_remove(&self, id: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // Already being removed by someone else.
            Err(DockerError::DockerResponseServerError { status_code: 409, .. }) => Ok(()),
            Err(e) => Err(engine(format!("remove container {id}"), e)),
        }
    }

    fn termination_file(&self, spec: &ContainerSpec) -> Result<Option<PathBuf>, RuntimeError> {
        if spec.termination_message_path.as_deref().is_none_or(str::is_empty) {
            return Ok(None);
        }
        let path =
            self.config.root.join("termination").join(format!("{}_{}_{}", spec.pod_uid, spec.name, spec.attempt));
        std::fs::write(&path, b"").map_err(|e| RuntimeError::io(format!("create {}", path.display()), e))?;
        Ok(Some(path))
    }
}

/// The engine's message of an error, without bollard's wrapping.
fn docker_message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        DockerError::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

fn sandbox_info(c: &ContainerInspectResponse, labels: &HashMap<String, String>) -> SandboxInfo {
    let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    let host_network = labels.get(LABEL_HOST_NETWORK).map(String::as_str) == Some("true");
    let ip = if host_network {
        None
    } else {
        c.network_settings.as_ref().and_then(|n| {
            n.networks
                .as_ref()
                .and_then(|nets| nets.values().filter_map(|e| e.ip_address.clone()).find(|ip| !ip.is_empty()))
        })
    };
    SandboxInfo {
        id: c.id.clone().unwrap_or_default(),
        pod_uid: label(LABEL_POD_UID),
        namespace: label(LABEL_POD_NAMESPACE),
        name: label(LABEL_POD_NAME),
        ip,
        created_at: parse_time(c.created.as_deref()).unwrap_or_else(Timestamp::now),
        ready: running,
    }
}

fn container_info(c: &ContainerInspectResponse, labels: &HashMap<String, String>) -> Option<ContainerInfo> {
    let state = c.state.as_ref()?;
    let started_at = parse_time(state.started_at.as_deref());
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    let state = if state.running.unwrap_or(false) || status == "paused" || status == "restarting" {
        ContainerState::Running
    } else if status == "created" && started_at.is_none() {
        ContainerState::Created
    } else {
        let message = labels
            .get(LABEL_TERMINATION_LOG)
            .and_then(|path| std::fs::read(path).ok())
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(MAX_MESSAGE)]).into_owned())
            .filter(|m| !m.is_empty())
            .or_else(|| state.error.clone().filter(|e| !e.is_empty()));
        ContainerState::Exited {
            exit_code: state.exit_code.and_then(|c| i32::try_from(c).ok()).unwrap_or(128),
            finished_at: parse_time(state.finished_at.as_deref()).unwrap_or_else(Timestamp::now),
            reason: if state.oom_killed.unwrap_or(false) { ExitReason::OomKilled } else { ExitReason::Normal },
            message,
        }
    };
    Some(ContainerInfo {
        id: c.id.clone().unwrap_or_default(),
        sandbox_id: labels.get(LABEL_SANDBOX).cloned().unwrap_or_default(),
        pod_uid: labels.get(LABEL_POD_UID).cloned().unwrap_or_default(),
        name: labels.get(LABEL_CONTAINER).cloned().unwrap_or_default(),
        attempt: labels.get(LABEL_ATTEMPT).and_then(|a| a.parse().ok()).unwrap_or(0),
        image: c.config.as_ref().and_then(|cfg| cfg.image.clone()).unwrap_or_default(),
        // Filled in by the listing (it needs the image's record).
        image_id: None,
        state,
        created_at: parse_time(c.created.as_deref()).unwrap_or_else(Timestamp::now),
        started_at,
    })
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn network_probes(&self) -> bool {
        true
    }

    fn container_id_scheme(&self) -> Option<&'static str> {
        Some("docker")
    }

    fn pulls_images(&self) -> bool {
        true
    }

    async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        self.has_image(image).await
    }

    async fn pull_image(&self, image: &str) -> Result<(), RuntimeError> {
        self.pull(image).await
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<SandboxInfo, RuntimeError> {
        self.ensure_pause_image().await?;
        let name = config::sandbox_name(spec);
        // A leftover of an earlier try under the same name goes first.
        self.force_remove(&name).await?;
        let body = config::sandbox_body(&self.agent, spec, &self.config.pause_image, self.config.network.as_deref());
        let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| engine(format!("create the pause container {name}"), e))?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let _ = self.force_remove(&created.id).await;
            return Err(engine(format!("start the pause container {name}"), e));
        }
        let c = self.inspect(&created.id).await?;
        let labels = c.config.as_ref().and_then(|cfg| cfg.labels.clone()).unwrap_or_default();
        Ok(sandbox_info(&c, &labels))
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("{LABEL_AGENT}={}", self.agent), format!("{LABEL_SANDBOX}={sandbox_id}")],
            )])),
            ..Default::default()
        };
        let members = self.docker.list_containers(Some(options)).await.map_err(|e| engine("list containers", e))?;
        for c in members.into_iter().filter_map(|c| c.id) {
            self.remove_container(&c).await?;
        }
        self.force_remove(sandbox_id).await
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let pause = match self.docker.inspect_container(&spec.sandbox_id, None).await {
            Ok(p) => p,
            Err(e) if is_not_found(&e) => return Err(RuntimeError::NoSandbox(spec.sandbox_id.clone())),
            Err(e) => return Err(engine("inspect the pause container", e)),
        };
        if !pause.state.as_ref().and_then(|s| s.running).unwrap_or(false) {
            return Err(RuntimeError::NotRunning(spec.sandbox_id.clone()));
        }
        let share_pid = pause
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(LABEL_SHARE_PID))
            .is_some_and(|v| v == "true");
        let join = SandboxJoin { id: spec.sandbox_id.clone(), share_pid };
        let term = self.termination_file(spec)?;
        let body = config::container_body(&self.agent, spec, &join, term.as_deref());
        let name = config::container_name(spec);
        self.force_remove(&name).await?;
        let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(created.id),
            // The engine refuses what the spec asks for (a bad mount, a bad working dir, ...).
            Err(e @ DockerError::DockerResponseServerError { status_code: 400, .. }) => {
                Err(RuntimeError::InvalidSpec(docker_message(&e)))
            }
            // The image went between the worker's check and the create.
            Err(e @ DockerError::DockerResponseServerError { status_code: 404, .. }) => Err(RuntimeError::Image {
                reason: crate::image::ERR_IMAGE_PULL.into(),
                message: crate::image::pull_failed_message(&spec.image, &docker_message(&e)),
            }),
            Err(e) => Err(engine(format!("create container {name}"), e)),
        }
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        match self.docker.start_container(id, None).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Err(RuntimeError::NoContainer(id.to_owned())),
            // The command cannot run (not found, not executable): Docker records exit code 127/126
            // and the container shows as terminated with that reason.
            Err(e @ DockerError::DockerResponseServerError { .. }) => {
                Err(RuntimeError::InvalidSpec(docker_message(&e)))
            }
            Err(e) => Err(engine(format!("start container {id}"), e)),
        }
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        // Docker's timeout is whole seconds; round up so the grace period is never cut short.
        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let options = StopContainerOptions { t: Some(i32::try_from(secs).unwrap_or(i32::MAX)), ..Default::default() };
        // The engine answers once the container has stopped: wait past the grace period.
        let docker = self.docker.clone().with_timeout(Duration::from_secs(secs.saturating_add(60)));
        match docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 304: already stopped.
            Err(DockerError::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(engine(format!("stop container {id}"), e)),
        }
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let term = match self.docker.inspect_container(id, None).await {
            Ok(c) => c.config.and_then(|c| c.labels).and_then(|mut l| l.remove(LABEL_TERMINATION_LOG)),
            Err(_) => None,
        };
        self.force_remove(id).await?;
        if let Some(path) = term {
            let path = PathBuf::from(path);
            if path.starts_with(self.config.root.join("termination")) {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }

    async fn list(&self) -> Result<Listing, RuntimeError> {
        self.listing(None).await
    }

    async fn list_pod(&self, pod_uid: &str) -> Result<Listing, RuntimeError> {
        self.listing(Some(pod_uid)).await
    }

    async fn exec_sync(&self, id: &str, argv: &[String], timeout: Duration) -> Result<ExecOutput, RuntimeError> {
        streams::exec_sync(&self.docker, id, argv, timeout).await
    }

    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecSession, RuntimeError> {
        streams::exec(&self.docker, id, request).await
    }

    async fn logs(&self, id: &str, options: &LogOptions) -> Result<LogStream, RuntimeError> {
        self.inspect(id).await?;
        let docker_options = LogsOptions {
            follow: options.follow,
            stdout: true,
            stderr: true,
            since: options.since.map(|t| i32::try_from(t.as_second()).unwrap_or(0)).unwrap_or(0),
            until: 0,
            timestamps: options.timestamps,
            tail: options.tail_lines.map_or_else(|| "all".to_owned(), |n| n.to_string()),
        };
        let stream = self.docker.logs(id, Some(docker_options));
        Ok(streams::log_stream(stream, options.limit_bytes))
    }

    async fn stats(&self, id: &str) -> Result<ContainerStats, RuntimeError> {
        let options = StatsOptions { stream: false, one_shot: true };
        let mut stream = self.docker.stats(id, Some(options));
        match stream.next().await {
            Some(Ok(s)) => Ok(ContainerStats {
                memory_bytes: s.memory_stats.and_then(|m| m.usage).unwrap_or(0),
                cpu_usage_nanos: s.cpu_stats.and_then(|c| c.cpu_usage).and_then(|u| u.total_usage).unwrap_or(0),
            }),
            Some(Err(e)) if is_not_found(&e) => Err(RuntimeError::NoContainer(id.to_owned())),
            Some(Err(e)) => Err(engine(format!("read stats of {id}"), e)),
            None => Err(RuntimeError::NotRunning(id.to_owned())),
        }
    }

    fn watch_exits(&self) -> broadcast::Receiver<String> {
        self.exits.subscribe()
    }
}
