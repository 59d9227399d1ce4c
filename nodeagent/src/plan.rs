//! The pure planner: from what a pod should be and what the runtime holds, the next actions.
//! No IO; the executor runs the actions, and it runs again whenever anything changes
//! (level-triggered: it is never told why it runs).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};

use crate::backoff;
use crate::image::ImageFailure;
use crate::runtime::{ContainerInfo, ContainerState, SandboxInfo};

/// What the runtime holds for one pod.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub sandbox: Option<SandboxInfo>,
    pub containers: Vec<ContainerInfo>,
}

impl Observed {
    /// The newest instance of the named container.
    pub fn latest(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().filter(|c| c.name == name).max_by_key(|c| (c.attempt, c.created_at))
    }

    /// The newest exited instance other than `latest` (the source of lastState and `logs --previous`).
    pub fn previous(&self, name: &str) -> Option<&ContainerInfo> {
        let latest = self.latest(name)?;
        self.containers
            .iter()
            .filter(|c| c.name == name && c.id != latest.id && c.exit_code().is_some())
            .max_by_key(|c| (c.attempt, c.created_at))
    }
}

/// Facts the agent learned and the runtime cannot tell: probe results, back-off, config errors.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    /// Restarts since the last back-off reset, per container name.
    pub backoff_level: HashMap<String, u32>,
    /// Container ids whose startup probe succeeded (containers without one are started when running).
    pub startup_passed: HashSet<String>,
    /// Container ids whose readiness probe currently succeeds.
    pub ready: HashSet<String>,
    /// Running containers to kill, and why (a failed liveness/startup probe or postStart hook).
    pub unhealthy: HashMap<String, StopReason>,
    /// Per container name: its image could not be had (the image back-off runs).
    pub image_failures: HashMap<String, ImageFailure>,
    /// Per container name: why it could not be created, and when to try again.
    pub config_errors: HashMap<String, (String, Timestamp)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The pod is being deleted.
    Deleting,
    LivenessFailed,
    StartupFailed,
    PostStartFailed,
    /// The pod finished: sidecars go.
    PodFinished,
    /// Not part of the spec (any more).
    Orphaned,
    /// The sandbox died: every container goes with it.
    SandboxGone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    CreateSandbox,
    /// Create and start the next instance (with `attempt`), then run its postStart hook.
    StartContainer {
        name: String,
        init: bool,
        attempt: u32,
    },
    /// preStop (when deleting or unhealthy), then SIGTERM, then SIGKILL after the grace period.
    StopContainer {
        id: String,
        name: String,
        reason: StopReason,
    },
    RemoveContainer {
        id: String,
    },
    RemoveSandbox {
        id: String,
    },
    /// Delete the pod from the API (gracePeriodSeconds=0 with a uid precondition).
    FinishDeletion,
}

/// A restart that waits for its back-off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackingOff {
    pub until: Timestamp,
    pub delay: Duration,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// When to look again even if nothing changes (the earliest back-off end or config retry).
    pub wake_at: Option<Timestamp>,
    /// Containers waiting in CrashLoopBackOff, by name.
    pub backing_off: BTreeMap<String, BackingOff>,
}

impl Plan {
    fn wake(&mut self, at: Timestamp) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

/// The pod-level restart policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn of(pod: &Pod) -> RestartPolicy {
        match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// A native sidecar: an init container with `restartPolicy: Always`.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

pub fn init_containers(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().and_then(|s| s.init_containers.as_deref()).unwrap_or_default()
}

pub fn containers(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default()
}

/// Whether a running container counts as started (its startup probe passed, or it has none).
pub fn is_started(c: &Container, info: &ContainerInfo, memory: &Memory) -> bool {
    info.is_running() && (c.startup_probe.is_none() || memory.startup_passed.contains(&info.id))
}

/// How far the init containers got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitProgress {
    Done,
    /// Waiting on the init container at this index.
    Waiting(usize),
    /// An init container failed and the pod does not restart it.
    Failed(usize),
}

pub fn init_progress(pod: &Pod, observed: &Observed, memory: &Memory) -> InitProgress {
    // Once a main container has run, initialization is over (also after an agent restart).
    if containers(pod).iter().any(|c| observed.latest(&c.name).is_some()) {
        return InitProgress::Done;
    }
    let policy = RestartPolicy::of(pod);
    for (i, c) in init_containers(pod).iter().enumerate() {
        let Some(latest) = observed.latest(&c.name) else { return InitProgress::Waiting(i) };
        if is_sidecar(c) {
            if !is_started(c, latest, memory) {
                return InitProgress::Waiting(i);
            }
            continue;
        }
        match latest.exit_code() {
            Some(0) => continue,
            Some(_) if policy == RestartPolicy::Never => return InitProgress::Failed(i),
            _ => return InitProgress::Waiting(i),
        }
    }
    InitProgress::Done
}

/// Whether the pod is finished: its main containers all exited and none will be restarted.
pub fn pod_finished(pod: &Pod, observed: &Observed, memory: &Memory) -> bool {
    if let InitProgress::Failed(_) = init_progress(pod, observed, memory) {
        return true;
    }
    let policy = RestartPolicy::of(pod);
    let main = containers(pod);
    !main.is_empty()
        && main
            .iter()
            .all(|c| observed.latest(&c.name).and_then(|l| l.exit_code()).is_some_and(|code| !policy.restarts(code)))
}

pub fn is_deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The next actions for one pod. `gone` means the pod left the API (or its static manifest went).
pub fn plan(pod: &Pod, gone: bool, observed: &Observed, memory: &Memory, now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    if gone || is_deleting(pod) {
        tear_down(observed, !gone, StopReason::Deleting, &mut plan);
        return plan;
    }
    if matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed")) {
        // A finished pod never runs again (also not after an agent restart).
        for c in observed.containers.iter().filter(|c| c.is_running()) {
            plan.actions.push(Action::StopContainer {
                id: c.id.clone(),
                name: c.name.clone(),
                reason: StopReason::PodFinished,
            });
        }
        return plan;
    }
    let Some(sandbox) = &observed.sandbox else {
        if pod_finished(pod, observed, memory) {
            return plan;
        }
        plan.actions.push(Action::CreateSandbox);
        return plan;
    };
    if !sandbox.ready && !pod_finished(pod, observed, memory) {
        // The sandbox died: everything in it goes, and a new one is made on the next round.
        tear_down(observed, false, StopReason::SandboxGone, &mut plan);
        return plan;
    }

    let spec_names: HashSet<&str> =
        init_containers(pod).iter().chain(containers(pod)).map(|c| c.name.as_str()).collect();
    for c in &observed.containers {
        if !spec_names.contains(c.name.as_str()) {
            if c.is_running() {
                plan.actions.push(Action::StopContainer {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    reason: StopReason::Orphaned,
                });
            } else {
                plan.actions.push(Action::RemoveContainer { id: c.id.clone() });
            }
        }
    }
    kill_unhealthy(observed, memory, &mut plan);
    garbage_collect(pod, observed, &mut plan);

    let policy = RestartPolicy::of(pod);
    let finished = pod_finished(pod, observed, memory);
    match init_progress(pod, observed, memory) {
        InitProgress::Failed(_) => {}
        InitProgress::Waiting(i) => {
            // Sidecars before `i` keep running; the init container at `i` is started or waited on.
            for c in &init_containers(pod)[..i] {
                if is_sidecar(c) {
                    keep_running(c, false, RestartPolicy::Always, observed, memory, now, &mut plan);
                }
            }
            let c = &init_containers(pod)[i];
            let restart = if is_sidecar(c) { RestartPolicy::Always } else { policy.max(RestartPolicy::OnFailure) };
            keep_running(c, true, restart, observed, memory, now, &mut plan);
        }
        InitProgress::Done => {
            for c in init_containers(pod).iter().filter(|c| is_sidecar(c)) {
                if finished {
                    stop_if_running(c, observed, StopReason::PodFinished, &mut plan);
                } else {
                    keep_running(c, true, RestartPolicy::Always, observed, memory, now, &mut plan);
                }
            }
            for c in containers(pod) {
                keep_running(c, false, policy, observed, memory, now, &mut plan);
            }
        }
    }
    plan
}

impl RestartPolicy {
    /// The more restarting of two policies (init containers restart unless the pod says Never).
    fn max(self, other: RestartPolicy) -> RestartPolicy {
        match (self, other) {
            (RestartPolicy::Always, _) | (_, RestartPolicy::Always) => RestartPolicy::Always,
            (RestartPolicy::OnFailure, _) | (_, RestartPolicy::OnFailure) => RestartPolicy::OnFailure,
            _ => RestartPolicy::Never,
        }
    }
}

fn tear_down(observed: &Observed, finish: bool, reason: StopReason, plan: &mut Plan) {
    let running: Vec<&ContainerInfo> = observed
        .containers
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Created))
        .collect();
    if !running.is_empty() {
        for c in running {
            plan.actions.push(Action::StopContainer { id: c.id.clone(), name: c.name.clone(), reason });
        }
        return;
    }
    if let Some(sandbox) = &observed.sandbox {
        plan.actions.push(Action::RemoveSandbox { id: sandbox.id.clone() });
    }
    if finish {
        plan.actions.push(Action::FinishDeletion);
    }
}

fn kill_unhealthy(observed: &Observed, memory: &Memory, plan: &mut Plan) {
    for c in observed.containers.iter().filter(|c| c.is_running()) {
        if let Some(reason) = memory.unhealthy.get(&c.id) {
            plan.actions.push(Action::StopContainer { id: c.id.clone(), name: c.name.clone(), reason: *reason });
        }
    }
}

/// Keeps the newest and the previous instance of each container; older exited ones go.
fn garbage_collect(pod: &Pod, observed: &Observed, plan: &mut Plan) {
    for c in init_containers(pod).iter().chain(containers(pod)) {
        let keep: Vec<&str> = [observed.latest(&c.name), observed.previous(&c.name)]
            .into_iter()
            .flatten()
            .map(|i| i.id.as_str())
            .collect();
        for info in observed.containers.iter().filter(|i| i.name == c.name) {
            if !keep.contains(&info.id.as_str()) && info.exit_code().is_some() {
                plan.actions.push(Action::RemoveContainer { id: info.id.clone() });
            }
        }
    }
}

fn stop_if_running(c: &Container, observed: &Observed, reason: StopReason, plan: &mut Plan) {
    if let Some(latest) = observed.latest(&c.name) {
        if latest.is_running() {
            plan.actions.push(Action::StopContainer { id: latest.id.clone(), name: c.name.clone(), reason });
        }
    }
}

/// Starts the container if it has no instance yet, or restarts it per `policy` once its back-off
/// has passed.
fn keep_running(
    c: &Container,
    init: bool,
    policy: RestartPolicy,
    observed: &Observed,
    memory: &Memory,
    now: Timestamp,
    plan: &mut Plan,
) {
    if let Some((_, retry_at)) = memory.config_errors.get(&c.name) {
        if *retry_at > now {
            plan.wake(*retry_at);
            return;
        }
    }
    if let Some(failure) = memory.image_failures.get(&c.name) {
        if failure.retry_at() > now {
            plan.wake(failure.retry_at());
            if failure.reason == crate::image::ERR_IMAGE_PULL && failure.backoff_from() > now {
                // Look again when the status turns from ErrImagePull to ImagePullBackOff.
                plan.wake(failure.backoff_from());
            }
            return;
        }
    }
    let Some(latest) = observed.latest(&c.name) else {
        plan.actions.push(Action::StartContainer { name: c.name.clone(), init, attempt: 0 });
        return;
    };
    let ContainerState::Exited { exit_code, finished_at, .. } = latest.state else { return };
    if !policy.restarts(exit_code) {
        return;
    }
    let ran = latest.started_at.map(|s| finished_at.duration_since(s).unsigned_abs()).unwrap_or_default();
    let level = backoff::effective_level(memory.backoff_level.get(&c.name).copied().unwrap_or(0), ran);
    let delay = backoff::delay(level);
    let until = finished_at + delay;
    if until > now {
        plan.backing_off.insert(c.name.clone(), BackingOff { until, delay });
        plan.wake(until);
        return;
    }
    plan.actions.push(Action::StartContainer { name: c.name.clone(), init, attempt: latest.attempt + 1 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use serde_json::json;

    fn t(secs: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1_000_000 + secs)
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default", "uid": "u"}, "spec": spec}))
            .unwrap()
    }

    fn sandbox(ready: bool) -> SandboxInfo {
        SandboxInfo {
            id: "sb".into(),
            pod_uid: "u".into(),
            namespace: "default".into(),
            name: "p".into(),
            ip: Some("10.244.0.2".into()),
            created_at: t(0),
            ready,
        }
    }

    /// A container instance: `state` is "created", "running", or an exit code.
    fn inst(name: &str, attempt: u32, state: &str, started: i64, finished: i64) -> ContainerInfo {
        let state = match state {
            "created" => ContainerState::Created,
            "running" => ContainerState::Running,
            code => ContainerState::Exited {
                exit_code: code.parse().unwrap(),
                finished_at: t(finished),
                reason: crate::runtime::ExitReason::Normal,
                message: None,
            },
        };
        ContainerInfo {
            id: format!("{name}-{attempt}"),
            sandbox_id: "sb".into(),
            pod_uid: "u".into(),
            name: name.into(),
            attempt,
            image: "img".into(),
            image_id: None,
            state,
            created_at: t(started),
            started_at: Some(t(started)),
        }
    }

    fn start(name: &str, init: bool, attempt: u32) -> Action {
        Action::StartContainer { name: name.into(), init, attempt }
    }

    fn stop(name: &str, attempt: u32, reason: StopReason) -> Action {
        Action::StopContainer { id: format!("{name}-{attempt}"), name: name.into(), reason }
    }

    struct Case {
        name: &'static str,
        spec: serde_json::Value,
        deleting: bool,
        sandbox: Option<bool>,
        containers: Vec<ContainerInfo>,
        memory: Memory,
        now: i64,
        expect: Vec<Action>,
        backing_off: Vec<&'static str>,
    }

    impl Default for Case {
        fn default() -> Self {
            Case {
                name: "",
                spec: json!({"containers": [{"name": "app"}]}),
                deleting: false,
                sandbox: Some(true),
                containers: vec![],
                memory: Memory::default(),
                now: 100,
                expect: vec![],
                backing_off: vec![],
            }
        }
    }

    fn check(case: Case) {
        let mut p = pod(case.spec.clone());
        if case.deleting {
            p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(50)));
        }
        let observed = Observed { sandbox: case.sandbox.map(sandbox), containers: case.containers };
        let got = plan(&p, false, &observed, &case.memory, t(case.now));
        assert_eq!(got.actions, case.expect, "case {}", case.name);
        let backing: Vec<&str> = got.backing_off.keys().map(String::as_str).collect();
        assert_eq!(backing, case.backing_off, "case {} (back-off)", case.name);
    }

    #[test]
    fn plan_table() {
        let inits = json!({
            "initContainers": [{"name": "i1"}, {"name": "i2"}],
            "containers": [{"name": "app"}, {"name": "side"}]
        });
        let cases = vec![
            Case {
                name: "new pod gets a sandbox first",
                sandbox: None,
                expect: vec![Action::CreateSandbox],
                ..Default::default()
            },
            Case { name: "then its container", expect: vec![start("app", false, 0)], ..Default::default() },
            Case {
                name: "running: nothing to do",
                containers: vec![inst("app", 0, "running", 1, 0)],
                ..Default::default()
            },
            Case {
                name: "init containers go first, one at a time",
                spec: inits.clone(),
                expect: vec![start("i1", true, 0)],
                ..Default::default()
            },
            Case {
                name: "second init waits for the first",
                spec: inits.clone(),
                containers: vec![inst("i1", 0, "running", 1, 0)],
                ..Default::default()
            },
            Case {
                name: "second init after the first exits 0",
                spec: inits.clone(),
                containers: vec![inst("i1", 0, "0", 1, 2)],
                expect: vec![start("i2", true, 0)],
                ..Default::default()
            },
            Case {
                name: "main containers together after all inits",
                spec: inits.clone(),
                containers: vec![inst("i1", 0, "0", 1, 2), inst("i2", 0, "0", 3, 4)],
                expect: vec![start("app", false, 0), start("side", false, 0)],
                ..Default::default()
            },
            Case {
                name: "failed init restarts at once the first time",
                spec: inits.clone(),
                containers: vec![inst("i1", 0, "1", 1, 99)],
                expect: vec![start("i1", true, 1)],
                ..Default::default()
            },
            Case {
                name: "failed init backs off the second time",
                spec: inits.clone(),
                containers: vec![inst("i1", 0, "1", 1, 2), inst("i1", 1, "1", 90, 95)],
                memory: Memory { backoff_level: [("i1".to_string(), 1)].into(), ..Default::default() },
                backing_off: vec!["i1"],
                ..Default::default()
            },
            Case {
                name: "failed init with restartPolicy Never: pod failed, nothing runs",
                spec: json!({"restartPolicy": "Never", "initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}),
                containers: vec![inst("i1", 0, "1", 1, 2)],
                ..Default::default()
            },
            Case {
                name: "Always restarts a clean exit",
                containers: vec![inst("app", 0, "0", 1, 2)],
                expect: vec![start("app", false, 1)],
                ..Default::default()
            },
            Case {
                name: "OnFailure does not restart a clean exit",
                spec: json!({"restartPolicy": "OnFailure", "containers": [{"name": "app"}]}),
                containers: vec![inst("app", 0, "0", 1, 2)],
                ..Default::default()
            },
            Case {
                name: "OnFailure restarts a failure",
                spec: json!({"restartPolicy": "OnFailure", "containers": [{"name": "app"}]}),
                containers: vec![inst("app", 0, "2", 1, 2)],
                expect: vec![start("app", false, 1)],
                ..Default::default()
            },
            Case {
                name: "Never does not restart",
                spec: json!({"restartPolicy": "Never", "containers": [{"name": "app"}]}),
                containers: vec![inst("app", 0, "2", 1, 2)],
                ..Default::default()
            },
            Case {
                name: "back-off over: restart, older instances collected",
                containers: vec![inst("app", 0, "1", 1, 2), inst("app", 1, "1", 3, 4), inst("app", 2, "1", 10, 20)],
                memory: Memory { backoff_level: [("app".to_string(), 2)].into(), ..Default::default() },
                now: 41,
                expect: vec![Action::RemoveContainer { id: "app-0".into() }, start("app", false, 3)],
                ..Default::default()
            },
            Case {
                name: "a ten-minute run resets the back-off",
                containers: vec![inst("app", 4, "1", 0, 700)],
                memory: Memory { backoff_level: [("app".to_string(), 5)].into(), ..Default::default() },
                now: 700,
                expect: vec![start("app", false, 5)],
                ..Default::default()
            },
            Case {
                name: "liveness failure kills",
                containers: vec![inst("app", 0, "running", 1, 0)],
                memory: Memory {
                    unhealthy: [("app-0".to_string(), StopReason::LivenessFailed)].into(),
                    ..Default::default()
                },
                expect: vec![stop("app", 0, StopReason::LivenessFailed)],
                ..Default::default()
            },
            Case {
                name: "deletion stops what runs",
                deleting: true,
                containers: vec![inst("app", 0, "running", 1, 0)],
                expect: vec![stop("app", 0, StopReason::Deleting)],
                ..Default::default()
            },
            Case {
                name: "deletion then removes the sandbox and finishes",
                deleting: true,
                containers: vec![inst("app", 0, "143", 1, 60)],
                expect: vec![Action::RemoveSandbox { id: "sb".into() }, Action::FinishDeletion],
                ..Default::default()
            },
            Case {
                name: "deletion without sandbox just finishes",
                deleting: true,
                sandbox: None,
                expect: vec![Action::FinishDeletion],
                ..Default::default()
            },
            Case {
                name: "dead sandbox: containers stop",
                sandbox: Some(false),
                containers: vec![inst("app", 0, "running", 1, 0)],
                expect: vec![stop("app", 0, StopReason::SandboxGone)],
                ..Default::default()
            },
            Case {
                name: "dead sandbox, nothing running: removed",
                sandbox: Some(false),
                expect: vec![Action::RemoveSandbox { id: "sb".into() }],
                ..Default::default()
            },
            Case {
                name: "sidecar starts and the next init waits until it is started",
                spec: json!({"initContainers": [{"name": "sc", "restartPolicy": "Always", "startupProbe": {"exec": {"command": ["true"]}}}, {"name": "i2"}], "containers": [{"name": "app"}]}),
                containers: vec![inst("sc", 0, "running", 1, 0)],
                ..Default::default()
            },
            Case {
                name: "started sidecar lets the next init run",
                spec: json!({"initContainers": [{"name": "sc", "restartPolicy": "Always"}, {"name": "i2"}], "containers": [{"name": "app"}]}),
                containers: vec![inst("sc", 0, "running", 1, 0)],
                expect: vec![start("i2", true, 0)],
                ..Default::default()
            },
            Case {
                name: "sidecar restarts after initialization",
                spec: json!({"initContainers": [{"name": "sc", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}),
                containers: vec![inst("sc", 0, "1", 1, 2), inst("app", 0, "running", 1, 0)],
                expect: vec![start("sc", true, 1)],
                ..Default::default()
            },
            Case {
                name: "sidecar stops when the pod finishes",
                spec: json!({"restartPolicy": "Never", "initContainers": [{"name": "sc", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}),
                containers: vec![inst("sc", 0, "running", 1, 0), inst("app", 0, "0", 1, 2)],
                expect: vec![stop("sc", 0, StopReason::PodFinished)],
                ..Default::default()
            },
            Case {
                name: "config error waits before retrying",
                memory: Memory {
                    config_errors: [("app".to_string(), ("no key".to_string(), t(105)))].into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            Case {
                name: "image back-off waits before pulling again",
                memory: Memory {
                    image_failures: [(
                        "app".to_string(),
                        ImageFailure::next(None, "img", crate::image::ERR_IMAGE_PULL, "no".into(), t(95)),
                    )]
                    .into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            Case {
                name: "image back-off over: pull again",
                memory: Memory {
                    image_failures: [(
                        "app".to_string(),
                        ImageFailure::next(None, "img", crate::image::ERR_IMAGE_PULL, "no".into(), t(80)),
                    )]
                    .into(),
                    ..Default::default()
                },
                expect: vec![start("app", false, 0)],
                ..Default::default()
            },
            Case {
                name: "unknown container is stopped",
                containers: vec![inst("app", 0, "running", 1, 0), inst("old", 0, "running", 1, 0)],
                expect: vec![stop("old", 0, StopReason::Orphaned)],
                ..Default::default()
            },
        ];
        for case in cases {
            check(case);
        }
    }

    #[test]
    fn gone_pods_are_torn_down_without_finishing() {
        let p = pod(json!({"containers": [{"name": "app"}]}));
        let observed = Observed { sandbox: Some(sandbox(true)), containers: vec![] };
        let got = plan(&p, true, &observed, &Memory::default(), t(0));
        assert_eq!(got.actions, vec![Action::RemoveSandbox { id: "sb".into() }]);
    }

    #[test]
    fn finished_pods_never_start_again() {
        let mut p = pod(json!({"restartPolicy": "Never", "containers": [{"name": "app"}]}));
        p.status =
            Some(k8s_openapi::api::core::v1::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        let got = plan(&p, false, &Observed::default(), &Memory::default(), t(0));
        assert_eq!(got.actions, vec![]);
        let observed = Observed { sandbox: Some(sandbox(true)), containers: vec![inst("app", 0, "running", 1, 0)] };
        let got = plan(&p, false, &observed, &Memory::default(), t(0));
        assert_eq!(got.actions, vec![stop("app", 0, StopReason::PodFinished)]);
    }

    #[test]
    fn backoff_wakes_at_its_end() {
        let p = pod(json!({"containers": [{"name": "app"}]}));
        let observed = Observed { sandbox: Some(sandbox(true)), containers: vec![inst("app", 3, "1", 10, 20)] };
        let memory = Memory { backoff_level: [("app".to_string(), 3)].into(), ..Default::default() };
        let got = plan(&p, false, &observed, &memory, t(30));
        assert_eq!(got.wake_at, Some(t(60)));
        assert_eq!(got.backing_off["app"], BackingOff { until: t(60), delay: Duration::from_secs(40) });
    }
}
