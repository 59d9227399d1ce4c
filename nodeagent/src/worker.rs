//! One task per pod: observe the runtime, plan, execute the plan (the thin executor below), derive
//! and write status; then wait for a change (the pod, a container exit, a probe, a timer).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodStatus, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, NodeCtx};
use crate::env::{self, Placement, Sources};
use crate::events::{self, field_path};
use crate::image::{self, ImageFailure};
use crate::plan::{self, Action, Memory, Observed, StopReason};
use crate::probe::{self, ProbeEvent, ProbeKind, Target};
use crate::runtime::{ContainerSpec, PortMapping, PullPolicy, ResourceLimits, RuntimeError, SandboxSpec};
use crate::status::{self, StatusInputs};
use crate::volumes;

/// How a worker learns about its pod: `None` means the pod left the API.
pub type PodRx = watch::Receiver<Option<Pod>>;

/// Where the pod's status goes.
#[derive(Clone, Debug)]
pub enum StatusSink {
    /// The pod itself (pods from the API).
    Api,
    /// The mirror pod of a static pod, by name.
    Mirror(String),
}

pub struct Worker {
    agent: Arc<Agent>,
    node: Arc<NodeCtx>,
    uid: String,
    sink: StatusSink,
    memory: Memory,
    probes: HashMap<String, CancellationToken>,
    probe_tx: mpsc::UnboundedSender<ProbeEvent>,
    volume_paths: Option<BTreeMap<String, PathBuf>>,
    last_written: Option<PodStatus>,
    last_write: Instant,
    backoff_reported: HashSet<(String, u32)>,
    retry_at: Option<Instant>,
    generation: Arc<AtomicU64>,
    written_generation: u64,
}

/// Runs one pod until it is deleted (or gone and torn down).
pub async fn run(
    agent: Arc<Agent>,
    node: Arc<NodeCtx>,
    uid: String,
    mut rx: PodRx,
    notify: Arc<Notify>,
    generation: Arc<AtomicU64>,
    sink: StatusSink,
) {
    let (probe_tx, mut probe_rx) = mpsc::unbounded_channel();
    let mut w = Worker {
        agent,
        node,
        uid,
        sink,
        memory: Memory::default(),
        probes: HashMap::new(),
        probe_tx,
        volume_paths: None,
        last_written: None,
        last_write: Instant::now(),
        backoff_reported: HashSet::new(),
        retry_at: None,
        generation,
        written_generation: 0,
    };
    let Some(mut pod) = rx.borrow_and_update().clone() else { return };
    let mut gone = false;
    loop {
        if let Some(p) = rx.borrow_and_update().clone() {
            pod = p;
        } else {
            gone = true;
        }
        w.agent.index.put(&pod);
        match w.round(&pod, gone).await {
            Round::Finished => break,
            Round::Again => continue,
            Round::Wait(wake_at) => {
                let sleep = wake_at.map(|t| {
                    let d = t.duration_since(Timestamp::now());
                    Duration::try_from(d).unwrap_or(Duration::ZERO)
                });
                let sleep = sleep.unwrap_or(Duration::from_secs(30)).min(Duration::from_secs(30));
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            // The source went away (agent shutting down): leave the pod running.
                            break;
                        }
                    }
                    _ = notify.notified() => {}
                    Some(ev) = probe_rx.recv() => {
                        w.apply_probe_event(&pod, ev);
                        while let Ok(ev) = probe_rx.try_recv() {
                            w.apply_probe_event(&pod, ev);
                        }
                    }
                    _ = tokio::time::sleep(sleep) => {}
                }
            }
        }
    }
    for (_, token) in w.probes.drain() {
        token.cancel();
    }
    w.agent.index.remove(&pod, &w.uid);
}

enum Round {
    Finished,
    Again,
    Wait(Option<Timestamp>),
}

impl Worker {
    async fn round(&mut self, pod: &Pod, gone: bool) -> Round {
        let observed = match self.agent.observe(&self.uid).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(pod = %pod_key(pod), "cannot list the runtime: {e}");
                return Round::Wait(Some(Timestamp::now() + Duration::from_secs(2)));
            }
        };
        self.forget_gone_containers(&observed);
        self.ensure_probes(pod, &observed);
        let now = Timestamp::now();
        let plan = plan::plan(pod, gone, &observed, &self.memory, now);
        self.report_backoff(pod, &plan);
        self.report_image_backoff(pod, now);

        let stable = plan.actions.is_empty();
        if !gone
            && !plan.actions.contains(&Action::FinishDeletion)
            && (stable || self.last_write.elapsed() > Duration::from_secs(1))
        {
            self.write_status(pod, &observed, &plan, now).await;
        }
        if stable {
            if gone {
                return Round::Finished;
            }
            if let Some(retry) = self.retry_at.take() {
                if retry > Instant::now() {
                    let d = retry - Instant::now();
                    return Round::Wait(Some(Timestamp::now() + d));
                }
            }
            return Round::Wait(plan.wake_at);
        }
        if let Some(retry) = self.retry_at {
            if retry > Instant::now() {
                let d = retry - Instant::now();
                return Round::Wait(Some(Timestamp::now() + d));
            }
            self.retry_at = None;
        }
        match self.execute(pod, &observed, plan.actions).await {
            Executed::Finished => Round::Finished,
            Executed::Continue => Round::Again,
        }
    }

    fn forget_gone_containers(&mut self, observed: &Observed) {
        let live: HashSet<&str> =
            observed.containers.iter().filter(|c| c.is_running()).map(|c| c.id.as_str()).collect();
        self.memory.ready.retain(|id| live.contains(id.as_str()));
        self.memory.unhealthy.retain(|id, _| live.contains(id.as_str()));
        let known: HashSet<&str> = observed.containers.iter().map(|c| c.id.as_str()).collect();
        self.memory.startup_passed.retain(|id| known.contains(id.as_str()));
        self.probes.retain(|id, token| {
            let keep = live.contains(id.as_str());
            if !keep {
                token.cancel();
            }
            keep
        });
    }

    /// Probes every running container that has probes (also adopted ones).
    fn ensure_probes(&mut self, pod: &Pod, observed: &Observed) {
        if plan::is_deleting(pod) {
            return;
        }
        let pod_ip = self.pod_ip(observed);
        for info in observed.containers.iter().filter(|c| c.is_running()) {
            if self.probes.contains_key(&info.id) {
                continue;
            }
            let Some(c) = find_container(pod, &info.name) else { continue };
            if c.startup_probe.is_none() && c.liveness_probe.is_none() && c.readiness_probe.is_none() {
                continue;
            }
            let token = CancellationToken::new();
            let target =
                Target { runtime: self.agent.runtime.clone(), container_id: info.id.clone(), pod_ip: pod_ip.clone() };
            tokio::spawn(probe::probe_container(c.clone(), target, self.probe_tx.clone(), token.clone()));
            self.probes.insert(info.id.clone(), token);
        }
    }

    fn apply_probe_event(&mut self, pod: &Pod, ev: ProbeEvent) {
        match ev {
            ProbeEvent::Started { id } => {
                self.memory.startup_passed.insert(id);
            }
            ProbeEvent::Ready { id, ready } => {
                if ready {
                    self.memory.ready.insert(id);
                } else {
                    self.memory.ready.remove(&id);
                }
            }
            ProbeEvent::Unhealthy { id, kind } => {
                let reason =
                    if kind == ProbeKind::Startup { StopReason::StartupFailed } else { StopReason::LivenessFailed };
                self.memory.unhealthy.insert(id, reason);
            }
            ProbeEvent::Failed { container, kind, message, .. } => {
                let init = plan::init_containers(pod).iter().any(|c| c.name == container);
                self.event(
                    pod,
                    events::warning(
                        "Unhealthy",
                        format!("{} probe failed: {message}", kind.title()),
                        field_path(init, &container),
                    ),
                );
            }
        }
    }

    fn report_backoff(&mut self, pod: &Pod, plan: &plan::Plan) {
        for (name, b) in &plan.backing_off {
            let key = (name.clone(), u32::try_from(b.delay.as_secs()).unwrap_or(u32::MAX));
            if self.backoff_reported.insert(key) {
                let init = plan::init_containers(pod).iter().any(|c| &c.name == name);
                let msg = format!("Back-off restarting failed container {name} in pod {}", pod_key(pod));
                self.event(pod, events::warning("BackOff", msg, field_path(init, name)));
            }
        }
    }

    fn pod_ip(&self, observed: &Observed) -> String {
        observed.sandbox.as_ref().and_then(|s| s.ip.clone()).unwrap_or_else(|| self.node.identity.internal_ip.clone())
    }

    async fn write_status(&mut self, pod: &Pod, observed: &Observed, plan: &plan::Plan, now: Timestamp) {
        let mut base = pod.clone();
        if let Some(last) = &self.last_written {
            let mut last = last.clone();
            // Keep conditions others wrote since (PodScheduled).
            for c in pod.status.iter().flat_map(|s| s.conditions.iter().flatten()) {
                let conds = last.conditions.get_or_insert_with(Vec::new);
                if !conds.iter().any(|mine| mine.type_ == c.type_) {
                    conds.insert(0, c.clone());
                }
            }
            base.status = Some(last);
        }
        let input = StatusInputs {
            observed,
            memory: &self.memory,
            plan,
            host_ip: &self.node.identity.internal_ip,
            now,
            id_scheme: self.agent.runtime.container_id_scheme(),
        };
        let status = status::derive(&base, &input);
        let generation = self.generation.load(Ordering::Relaxed);
        let unchanged = self.last_written.as_ref() == Some(&status)
            || (self.last_written.is_none() && pod.status.as_ref() == Some(&status));
        if unchanged && generation == self.written_generation {
            return;
        }
        let (ns, name) = match &self.sink {
            StatusSink::Api => (namespace(pod), pod.metadata.name.clone().unwrap_or_default()),
            StatusSink::Mirror(name) => (namespace(pod), name.clone()),
        };
        let api: Api<Pod> = Api::namespaced(self.agent.client.clone(), &ns);
        let body = serde_json::json!({ "status": status });
        match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&body)).await {
            Ok(_) => {
                self.last_written = Some(status);
                self.last_write = Instant::now();
                self.written_generation = generation;
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => tracing::warn!(pod = %pod_key(pod), "cannot write pod status: {e}"),
        }
    }

    fn event(&self, pod: &Pod, spec: events::EventSpec) {
        self.agent.recorder.pod_event(pod, &self.node.identity.name, spec);
    }

    async fn execute(&mut self, pod: &Pod, observed: &Observed, actions: Vec<Action>) -> Executed {
        let mut stops = Vec::new();
        for action in actions {
            match action {
                Action::StopContainer { id, name, reason } => stops.push((id, name, reason)),
                Action::CreateSandbox => {
                    if let Err(msg) = self.create_sandbox(pod).await {
                        self.event(pod, events::warning("FailedCreatePodSandBox", msg, None));
                        self.retry_at = Some(Instant::now() + Duration::from_secs(5));
                        return Executed::Continue;
                    }
                }
                Action::StartContainer { name, init, attempt } => {
                    self.start_container(pod, observed, &name, init, attempt).await;
                }
                Action::RemoveContainer { id } => {
                    if let Err(e) = self.agent.runtime.remove_container(&id).await {
                        tracing::warn!(pod = %pod_key(pod), "cannot remove container {id}: {e}");
                    }
                }
                Action::RemoveSandbox { id } => {
                    if let Err(e) = self.agent.runtime.remove_sandbox(&id).await {
                        tracing::warn!(pod = %pod_key(pod), "cannot remove sandbox {id}: {e}");
                    }
                    if let Some(ip) = observed.sandbox.as_ref().and_then(|s| s.ip.clone()) {
                        self.node.ipam().release(&ip);
                    }
                    if self.agent.prepare_volumes {
                        volumes::remove(&self.agent.pod_dir(&self.uid));
                    }
                    self.volume_paths = None;
                }
                Action::FinishDeletion => {
                    self.finish_deletion(pod).await;
                    return Executed::Finished;
                }
            }
        }
        if !stops.is_empty() {
            let futures = stops.into_iter().map(|(id, name, reason)| self.stop_container(pod, id, name, reason));
            let stopped: Vec<String> = futures::future::join_all(futures).await.into_iter().flatten().collect();
            for id in stopped {
                self.memory.unhealthy.remove(&id);
                if let Some(token) = self.probes.remove(&id) {
                    token.cancel();
                }
            }
        }
        Executed::Continue
    }

    async fn create_sandbox(&mut self, pod: &Pod) -> Result<(), String> {
        let spec = pod.spec.clone().unwrap_or_default();
        let host_network = spec.host_network.unwrap_or(false);
        let ip = if host_network { None } else { self.node.ipam().allocate().map(|ip| ip.to_string()) };
        if !host_network && ip.is_none() {
            return Err("no free IP in the node's podCIDR".into());
        }
        let sandbox = SandboxSpec {
            pod_uid: self.uid.clone(),
            namespace: namespace(pod),
            name: pod.metadata.name.clone().unwrap_or_default(),
            hostname: spec.hostname.clone().unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default()),
            host_network,
            share_process_namespace: spec.share_process_namespace.unwrap_or(false),
            ip: ip.clone(),
            annotations: pod.metadata.annotations.clone().unwrap_or_default(),
            ports: host_ports(pod),
        };
        if self.agent.prepare_volumes {
            let pod_ip = ip.clone().unwrap_or_else(|| self.node.identity.internal_ip.clone());
            if let Err(msg) = self.prepare_volumes(pod, &pod_ip).await {
                if let Some(ip) = &ip {
                    self.node.ipam().release(ip);
                }
                return Err(msg);
            }
        }
        match self.agent.runtime.create_sandbox(&sandbox).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(ip) = &ip {
                    self.node.ipam().release(ip);
                }
                Err(format!("Failed to create pod sandbox: {e}"))
            }
        }
    }

    async fn prepare_volumes(&mut self, pod: &Pod, pod_ip: &str) -> Result<(), String> {
        let (cms, secrets) = volumes::referenced(pod);
        let ns = namespace(pod);
        let mut sources = volumes::VolumeSources::default();
        for name in cms {
            let data = self.config_map(&ns, &name).await?.map(|cm| {
                let mut data: BTreeMap<String, Vec<u8>> =
                    cm.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
                data.extend(cm.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
                data
            });
            sources.config_maps.insert(name, data);
        }
        for name in secrets {
            let data = self.secret(&ns, &name).await?;
            sources.secrets.insert(name, data);
        }
        let placement = Placement { host_ip: self.node.identity.internal_ip.clone(), pod_ip: pod_ip.to_owned() };
        let dir = self.agent.pod_dir(&self.uid);
        let allocatable = self.node.identity.allocatable();
        let paths = volumes::prepare(pod, &dir, &sources, &placement, &allocatable).map_err(|e| {
            let msg = format!("MountVolume.SetUp failed for {e}");
            self.event(pod, events::warning("FailedMount", msg.clone(), None));
            msg
        })?;
        self.volume_paths = Some(paths);
        Ok(())
    }

    async fn config_map(&self, ns: &str, name: &str) -> Result<Option<ConfigMap>, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.agent.client.clone(), ns);
        api.get_opt(name).await.map_err(|e| format!("cannot read configmap {ns}/{name}: {e}"))
    }

    async fn secret(&self, ns: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<Secret> = Api::namespaced(self.agent.client.clone(), ns);
        let secret = api.get_opt(name).await.map_err(|e| format!("cannot read secret {ns}/{name}: {e}"))?;
        Ok(secret.map(|s| {
            let mut data: BTreeMap<String, Vec<u8>> =
                s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            for (k, v) in s.string_data.unwrap_or_default() {
                data.insert(k, v.into_bytes());
            }
            data
        }))
    }

    async fn env_sources(&self, pod: &Pod, c: &Container) -> Result<Sources, String> {
        let (cms, secrets) = env::referenced(c);
        let ns = namespace(pod);
        let mut sources = Sources::default();
        for name in cms {
            let data = self.config_map(&ns, &name).await?.map(|cm| {
                let mut data = cm.data.unwrap_or_default();
                for (k, v) in cm.binary_data.unwrap_or_default() {
                    data.insert(k, base64::engine::general_purpose::STANDARD.encode(v.0));
                }
                data
            });
            sources.config_maps.insert(name, data);
        }
        for name in secrets {
            let data = self
                .secret(&ns, &name)
                .await?
                .map(|d| d.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect());
            sources.secrets.insert(name, data);
        }
        Ok(sources)
    }

    fn config_error(&mut self, pod: &Pod, name: &str, init: bool, msg: String) {
        self.event(pod, events::warning("Failed", format!("Error: {msg}"), field_path(init, name)));
        self.memory.config_errors.insert(name.to_owned(), (msg, Timestamp::now() + Duration::from_secs(5)));
    }

    async fn start_container(&mut self, pod: &Pod, observed: &Observed, name: &str, init: bool, attempt: u32) {
        let Some(c) = find_container(pod, name).cloned() else { return };
        let Some(sandbox) = observed.sandbox.clone() else { return };
        let pod_ip = self.pod_ip(observed);
        let env = match self.env_sources(pod, &c).await {
            Ok(sources) => {
                let placement = Placement { host_ip: self.node.identity.internal_ip.clone(), pod_ip: pod_ip.clone() };
                env::build(pod, &c, &sources, &placement, &self.node.identity.allocatable()).map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        let env = match env {
            Ok(env) => env,
            Err(msg) => return self.config_error(pod, name, init, msg),
        };
        if self.agent.prepare_volumes && self.volume_paths.is_none() {
            // An adopted pod: its volumes exist; recompute where they are (and refresh files).
            if let Err(msg) = self.prepare_volumes(pod, &pod_ip).await {
                return self.config_error(pod, name, init, msg);
            }
        }
        let mounts = match &self.volume_paths {
            Some(paths) => match volumes::mounts(&c, paths) {
                Ok(m) => m,
                Err(e) => return self.config_error(pod, name, init, e.to_string()),
            },
            None => Vec::new(),
        };
        let (command, args) = env::command_and_args(&c, &env);
        let spec = ContainerSpec {
            sandbox_id: sandbox.id.clone(),
            pod_uid: self.uid.clone(),
            pod_namespace: namespace(pod),
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            name: name.to_owned(),
            attempt,
            image: c.image.clone().unwrap_or_default(),
            image_pull_policy: PullPolicy::parse(c.image_pull_policy.as_deref()),
            command,
            args,
            env,
            working_dir: c.working_dir.clone(),
            mounts,
            tty: c.tty.unwrap_or(false),
            stdin: c.stdin.unwrap_or(false),
            limits: limits(&c),
            termination_message_path: Some(
                c.termination_message_path.clone().unwrap_or_else(|| "/dev/termination-log".into()),
            ),
            annotations: pod.metadata.annotations.clone().unwrap_or_default(),
        };
        let fp = field_path(init, name);
        if spec.image.is_empty() {
            return self.config_error(pod, name, init, "the container has no image".into());
        }
        let pulled = match self.ensure_image(pod, &spec, fp.clone()).await {
            Ok(pulled) => pulled,
            Err(RuntimeError::Image { reason, message }) => return self.image_failed(pod, &spec, fp, &reason, message),
            Err(e) => return self.config_error(pod, name, init, format!("failed to inspect image: {e}")),
        };
        let id = match self.agent.runtime.create_container(&spec).await {
            Ok(id) => id,
            Err(RuntimeError::InvalidSpec(msg)) => return self.config_error(pod, name, init, msg),
            Err(RuntimeError::Image { reason, message }) => return self.image_failed(pod, &spec, fp, &reason, message),
            Err(e) => return self.config_error(pod, name, init, format!("failed to create container: {e}")),
        };
        self.memory.config_errors.remove(name);
        self.memory.image_failures.remove(name);
        if attempt > 0 {
            let previous = observed.latest(name);
            let ran = previous
                .and_then(|p| match (&p.started_at, &p.state) {
                    (Some(s), crate::runtime::ContainerState::Exited { finished_at, .. }) => {
                        Some(finished_at.duration_since(*s).unsigned_abs())
                    }
                    _ => None,
                })
                .unwrap_or_default();
            let level = self.memory.backoff_level.get(name).copied().unwrap_or(0);
            self.memory.backoff_level.insert(name.to_owned(), crate::backoff::effective_level(level, ran) + 1);
        } else {
            self.memory.backoff_level.entry(name.to_owned()).or_insert(0);
        }
        if !pulled {
            let image = &spec.image;
            self.event(
                pod,
                events::normal("Pulled", format!("Container image \"{image}\" already present on machine"), fp.clone()),
            );
        }
        self.event(pod, events::normal("Created", format!("Created container {name}"), fp.clone()));
        if let Err(e) = self.agent.runtime.start_container(&id).await {
            self.event(pod, events::warning("Failed", format!("Error: failed to start container {name}: {e}"), fp));
            return;
        }
        self.event(pod, events::normal("Started", format!("Started container {name}"), fp.clone()));
        if let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            let target = Target { runtime: self.agent.runtime.clone(), container_id: id.clone(), pod_ip };
            let handler = probe::Handler::of_lifecycle(hook);
            if let Err(msg) = probe::run_handler(&handler, &c, &target, Duration::from_secs(30)).await {
                self.event(pod, events::warning("FailedPostStartHook", msg, fp.clone()));
                self.event(
                    pod,
                    events::normal("Killing", format!("FailedPostStartHook: stopping container {name}"), fp),
                );
                let _ = self.agent.runtime.stop_container(&id, Duration::from_secs(2)).await;
            }
        }
    }

    /// Makes sure the container's image is on the node as its pull policy says; `Ok(true)` when
    /// it was pulled now (the Pulling and Pulled events are sent).
    async fn ensure_image(&self, pod: &Pod, spec: &ContainerSpec, fp: Option<String>) -> Result<bool, RuntimeError> {
        let image = &spec.image;
        if !self.agent.runtime.pulls_images() {
            return Ok(false);
        }
        let present = self.agent.runtime.image_present(image).await?;
        match image::decide(spec.image_pull_policy, present, image) {
            image::Decision::UsePresent => Ok(false),
            image::Decision::NeverPull(message) => {
                Err(RuntimeError::Image { reason: image::ERR_IMAGE_NEVER_PULL.into(), message })
            }
            image::Decision::Pull => {
                self.event(pod, events::normal("Pulling", format!("Pulling image \"{image}\""), fp.clone()));
                let started = Instant::now();
                self.agent.runtime.pull_image(image).await?;
                let took = started.elapsed().as_secs_f64();
                self.event(
                    pod,
                    events::normal("Pulled", format!("Successfully pulled image \"{image}\" in {took:.3}s"), fp),
                );
                Ok(true)
            }
        }
    }

    /// Remembers an image failure (the image back-off starts or grows) and sends the events the
    /// kubelet sends.
    fn image_failed(&mut self, pod: &Pod, spec: &ContainerSpec, fp: Option<String>, reason: &str, message: String) {
        let name = &spec.name;
        if reason == image::ERR_IMAGE_NEVER_PULL {
            self.event(pod, events::warning(image::ERR_IMAGE_NEVER_PULL, message.clone(), fp.clone()));
        } else {
            self.event(pod, events::warning("Failed", message.clone(), fp.clone()));
        }
        self.event(pod, events::warning("Failed", format!("Error: {reason}"), fp));
        let failure =
            ImageFailure::next(self.memory.image_failures.get(name), &spec.image, reason, message, Timestamp::now());
        self.memory.image_failures.insert(name.clone(), failure);
    }

    /// The BackOff event once a failed pull's status turns to ImagePullBackOff.
    fn report_image_backoff(&mut self, pod: &Pod, now: Timestamp) {
        let mut due = Vec::new();
        for (name, f) in &mut self.memory.image_failures {
            if !f.backoff_reported && f.backing_off(now) {
                f.backoff_reported = true;
                due.push((name.clone(), f.image.clone()));
            }
        }
        for (name, img) in due {
            let init = plan::init_containers(pod).iter().any(|c| c.name == name);
            let fp = field_path(init, &name);
            self.event(pod, events::normal("BackOff", image::backoff_message(&img), fp.clone()));
            self.event(pod, events::warning("Failed", format!("Error: {}", image::IMAGE_PULL_BACK_OFF), fp));
        }
    }

    /// preStop, then SIGTERM, then SIGKILL when the grace period ends. Returns the stopped id.
    async fn stop_container(&self, pod: &Pod, id: String, name: String, reason: StopReason) -> Option<String> {
        let spec = pod.spec.clone().unwrap_or_default();
        let default_grace = spec.termination_grace_period_seconds.unwrap_or(30);
        let grace_secs = match reason {
            StopReason::Deleting => pod.metadata.deletion_grace_period_seconds.unwrap_or(default_grace),
            StopReason::LivenessFailed | StopReason::StartupFailed => {
                let c = find_container(pod, &name);
                let probe = c.and_then(|c| {
                    if reason == StopReason::LivenessFailed {
                        c.liveness_probe.clone()
                    } else {
                        c.startup_probe.clone()
                    }
                });
                probe.and_then(|p| p.termination_grace_period_seconds).unwrap_or(default_grace)
            }
            StopReason::Orphaned | StopReason::SandboxGone => 2,
            _ => default_grace,
        };
        let grace = Duration::from_secs(u64::try_from(grace_secs).unwrap_or(0));
        let init = plan::init_containers(pod).iter().any(|c| c.name == name);
        let fp = field_path(init, &name);
        let message = match reason {
            StopReason::LivenessFailed => format!("Container {name} failed liveness probe, will be restarted"),
            StopReason::StartupFailed => format!("Container {name} failed startup probe, will be restarted"),
            _ => format!("Stopping container {name}"),
        };
        self.event(pod, events::normal("Killing", message, fp.clone()));
        let started = Instant::now();
        let c = find_container(pod, &name);
        let pre_stop = c.and_then(|c| c.lifecycle.as_ref().and_then(|l| l.pre_stop.clone()));
        if let (Some(hook), Some(c)) = (pre_stop, c) {
            if matches!(reason, StopReason::Deleting | StopReason::LivenessFailed | StopReason::StartupFailed) {
                let target = Target {
                    runtime: self.agent.runtime.clone(),
                    container_id: id.clone(),
                    pod_ip: pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
                };
                let handler = probe::Handler::of_lifecycle(&hook);
                match tokio::time::timeout(
                    grace,
                    probe::run_handler(&handler, c, &target, grace.max(Duration::from_secs(1))),
                )
                .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(msg)) => self.event(pod, events::warning("FailedPreStopHook", msg, fp.clone())),
                    Err(_) => self.event(
                        pod,
                        events::warning(
                            "FailedPreStopHook",
                            format!("PreStopHook did not finish in {grace_secs}s"),
                            fp.clone(),
                        ),
                    ),
                }
            }
        }
        // Whatever the hook used, the container gets at least two seconds to stop.
        let remaining = grace.saturating_sub(started.elapsed()).max(Duration::from_secs(2).min(grace));
        match self.agent.runtime.stop_container(&id, remaining).await {
            Ok(()) => Some(id),
            Err(e) => {
                tracing::warn!(pod = %pod_key(pod), "cannot stop container {name}: {e}");
                None
            }
        }
    }

    async fn finish_deletion(&self, pod: &Pod) {
        if let StatusSink::Mirror(_) = self.sink {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.agent.client.clone(), &namespace(pod));
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        match api.delete(pod.metadata.name.as_deref().unwrap_or_default(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => tracing::warn!(pod = %pod_key(pod), "cannot finish deleting the pod: {e}"),
        }
    }
}

enum Executed {
    Finished,
    Continue,
}

pub fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    plan::containers(pod).iter().chain(plan::init_containers(pod)).find(|c| c.name == name)
}

pub fn namespace(pod: &Pod) -> String {
    pod.metadata.namespace.clone().unwrap_or_else(|| "default".into())
}

pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// The pod's ports that ask for a host port (init containers' too, as the kubelet does).
pub fn host_ports(pod: &Pod) -> Vec<PortMapping> {
    plan::init_containers(pod)
        .iter()
        .chain(plan::containers(pod))
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = u16::try_from(p.host_port?).ok().filter(|h| *h > 0)?;
            Some(PortMapping {
                container_port: u16::try_from(p.container_port).ok()?,
                host_port,
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                host_ip: p.host_ip.clone().filter(|ip| !ip.is_empty()),
            })
        })
        .collect()
}

fn limits(c: &Container) -> ResourceLimits {
    let limits = c.resources.as_ref().and_then(|r| r.limits.clone()).unwrap_or_default();
    let parse = |k: &str| limits.get(k).and_then(|q| minik_api::quantity::Quantity::parse(&q.0).ok());
    ResourceLimits {
        memory_bytes: parse("memory").and_then(|q| u64::try_from(q.value()).ok()),
        cpu_millis: parse("cpu").and_then(|q| u64::try_from(q.milli_value()).ok()),
    }
}
