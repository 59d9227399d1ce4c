//! Pod status, derived in one place from the spec, what the runtime holds, what the agent
//! remembers and the plan (for back-off). Pure.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState as K8sState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::plan::{self, InitProgress, Memory, Observed, Plan, RestartPolicy};
use crate::runtime::{ContainerInfo, ContainerState, ExitReason};

/// Inputs besides the pod that status derivation needs.
pub struct StatusInputs<'a> {
    pub observed: &'a Observed,
    pub memory: &'a Memory,
    pub plan: &'a Plan,
    pub host_ip: &'a str,
    pub now: Timestamp,
    /// The scheme of containerIDs (`docker`), from [`crate::runtime::Runtime::container_id_scheme`].
    pub id_scheme: Option<&'a str>,
}

/// The status the pod should have now. Keeps transition times and startTime from the previous
/// status where nothing changed.
pub fn derive(pod: &Pod, input: &StatusInputs<'_>) -> PodStatus {
    let previous = pod.status.clone().unwrap_or_default();
    let init = plan::init_progress(pod, input.observed, input.memory);
    let init_statuses: Vec<ContainerStatus> =
        plan::init_containers(pod).iter().map(|c| container_status(pod, c, true, &init, input)).collect();
    let statuses: Vec<ContainerStatus> =
        plan::containers(pod).iter().map(|c| container_status(pod, c, false, &init, input)).collect();

    let mut phase = phase(pod, &init, &statuses);
    if matches!(previous.phase.as_deref(), Some("Succeeded" | "Failed")) {
        phase = previous.phase.clone().unwrap_or(phase);
    }

    let sandbox_ready = input.observed.sandbox.as_ref().is_some_and(|s| s.ready);
    let initialized = init == InitProgress::Done;
    let containers_ready = !statuses.is_empty() && statuses.iter().all(|s| s.ready);
    let terminal = phase == "Succeeded" || phase == "Failed";
    let (ready_reason, initialized_reason) = (
        if containers_ready { None } else { Some(if terminal { "PodCompleted" } else { "ContainersNotReady" }) },
        if initialized { None } else { Some("ContainersNotInitialized") },
    );
    let not_ready_names: Vec<&str> = statuses.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
    let not_init_names: Vec<&str> = init_statuses
        .iter()
        .filter(|s| !matches!(&s.state, Some(K8sState { terminated: Some(t), .. }) if t.exit_code == 0))
        .filter(|s| !s.started.unwrap_or(false))
        .map(|s| s.name.as_str())
        .collect();
    let ready_message =
        ready_reason.map(|_| format!("containers with unready status: [{}]", not_ready_names.join(" ")));
    let init_message =
        initialized_reason.map(|_| format!("containers with incomplete status: [{}]", not_init_names.join(" ")));

    let mut conditions = vec![
        condition(&previous, "PodReadyToStartContainers", sandbox_ready && !terminal, None, None, input.now),
        condition(&previous, "Initialized", initialized, initialized_reason, init_message, input.now),
        condition(&previous, "Ready", containers_ready && !terminal, ready_reason, ready_message.clone(), input.now),
        condition(&previous, "ContainersReady", containers_ready && !terminal, ready_reason, ready_message, input.now),
    ];
    // Keep conditions others own (PodScheduled is the scheduler's).
    for c in previous.conditions.iter().flatten() {
        if !conditions.iter().any(|mine| mine.type_ == c.type_) {
            conditions.insert(0, c.clone());
        }
    }

    let pod_ip = input.observed.sandbox.as_ref().map(|s| s.ip.clone().unwrap_or_else(|| input.host_ip.to_owned()));
    let pod_ip = pod_ip.or(previous.pod_ip.clone());
    PodStatus {
        phase: Some(phase),
        conditions: Some(conditions),
        host_ip: Some(input.host_ip.to_owned()),
        host_ips: Some(vec![HostIP { ip: input.host_ip.to_owned() }]),
        pod_ips: pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        pod_ip,
        start_time: previous.start_time.clone().or(Some(Time(input.now))),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        qos_class: previous.qos_class.clone().or_else(|| Some(qos_class(pod).to_owned())),
        message: previous.message.clone(),
        reason: previous.reason.clone(),
        nominated_node_name: previous.nominated_node_name.clone(),
        ..Default::default()
    }
}

/// Kubernetes' phase rules (kubelet `getPhase`).
fn phase(pod: &Pod, init: &InitProgress, statuses: &[ContainerStatus]) -> String {
    match init {
        InitProgress::Failed(_) => return "Failed".into(),
        InitProgress::Waiting(_) => return "Pending".into(),
        InitProgress::Done => {}
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in statuses {
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if s.last_state.as_ref().is_some_and(|l| l.terminated.is_some()) {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    let phase = if waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped == statuses.len() && stopped > 0 {
        match RestartPolicy::of(pod) {
            RestartPolicy::Always => "Running",
            _ if stopped == succeeded => "Succeeded",
            RestartPolicy::Never => "Failed",
            RestartPolicy::OnFailure => "Running",
        }
    } else {
        "Pending"
    };
    phase.into()
}

fn container_status(
    pod: &Pod,
    c: &Container,
    init: bool,
    progress: &InitProgress,
    input: &StatusInputs<'_>,
) -> ContainerStatus {
    let latest = input.observed.latest(&c.name);
    let previous = input.observed.previous(&c.name);
    let mut last_state = previous.map(|p| terminated_state(p, input.id_scheme));
    let state = match latest {
        None => {
            let (reason, message) = if let Some((msg, _)) = input.memory.config_errors.get(&c.name) {
                ("CreateContainerConfigError", Some(msg.clone()))
            } else if let Some(f) = input.memory.image_failures.get(&c.name) {
                let (reason, message) = f.waiting(input.now);
                (reason, Some(message))
            } else if !init && *progress != InitProgress::Done {
                ("PodInitializing", None)
            } else {
                ("ContainerCreating", None)
            };
            waiting(reason, message)
        }
        Some(info) => match &info.state {
            ContainerState::Created => waiting("ContainerCreating", None),
            ContainerState::Running => K8sState {
                running: Some(ContainerStateRunning { started_at: info.started_at.map(Time) }),
                ..Default::default()
            },
            ContainerState::Exited { .. } => {
                if let Some(b) = input.plan.backing_off.get(&c.name) {
                    last_state = Some(terminated_state(info, input.id_scheme));
                    waiting(
                        "CrashLoopBackOff",
                        Some(format!(
                            "back-off {}s restarting failed container={} pod={}_{}({})",
                            b.delay.as_secs(),
                            c.name,
                            pod.metadata.name.as_deref().unwrap_or_default(),
                            pod.metadata.namespace.as_deref().unwrap_or_default(),
                            pod.metadata.uid.as_deref().unwrap_or_default(),
                        )),
                    )
                } else if let Some((msg, _)) = input.memory.config_errors.get(&c.name) {
                    last_state = Some(terminated_state(info, input.id_scheme));
                    waiting("CreateContainerConfigError", Some(msg.clone()))
                } else if let Some(f) = input.memory.image_failures.get(&c.name) {
                    last_state = Some(terminated_state(info, input.id_scheme));
                    let (reason, message) = f.waiting(input.now);
                    waiting(reason, Some(message))
                } else {
                    terminated_state(info, input.id_scheme)
                }
            }
        },
    };
    let started = latest.is_some_and(|l| plan::is_started(c, l, input.memory));
    let ready = latest.is_some_and(|l| {
        l.is_running() && started && (c.readiness_probe.is_none() || input.memory.ready.contains(&l.id))
    });
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: latest
            .and_then(|l| l.image_id.clone())
            .or_else(|| c.image.as_ref().map(|i| format!("minik://{i}")))
            .unwrap_or_default(),
        container_id: latest.map(|l| status_id(input.id_scheme, &l.id)),
        restart_count: latest.map(|l| i32::try_from(l.attempt).unwrap_or(i32::MAX)).unwrap_or(0),
        ready,
        started: Some(started),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ..Default::default()
    }
}

/// A container's id as the pod status shows it.
fn status_id(scheme: Option<&str>, id: &str) -> String {
    match scheme {
        Some(s) => format!("{s}://{id}"),
        None => id.to_owned(),
    }
}

fn waiting(reason: &str, message: Option<String>) -> K8sState {
    K8sState { waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message }), ..Default::default() }
}

fn terminated_state(info: &ContainerInfo, id_scheme: Option<&str>) -> K8sState {
    let ContainerState::Exited { exit_code, finished_at, reason, message } = &info.state else {
        return K8sState::default();
    };
    let reason = match (reason, exit_code) {
        (ExitReason::OomKilled, _) => "OOMKilled",
        (_, 0) => "Completed",
        _ => "Error",
    };
    K8sState {
        terminated: Some(ContainerStateTerminated {
            exit_code: *exit_code,
            reason: Some(reason.into()),
            message: message.clone(),
            started_at: info.started_at.map(Time),
            finished_at: Some(Time(*finished_at)),
            container_id: Some(status_id(id_scheme, &info.id)),
            signal: None,
        }),
        ..Default::default()
    }
}

fn condition(
    previous: &PodStatus,
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let before = previous.conditions.iter().flatten().find(|c| c.type_ == type_);
    let since = match before {
        Some(b) if b.status == status => b.last_transition_time.clone().unwrap_or(Time(now)),
        _ => Time(now),
    };
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        last_transition_time: Some(since),
        reason: if ok { None } else { reason.map(str::to_owned) },
        message: if ok { None } else { message },
        ..Default::default()
    }
}

/// Guaranteed when every container has equal cpu and memory requests and limits, BestEffort
/// when none has any, Burstable otherwise.
pub fn qos_class(pod: &Pod) -> &'static str {
    let all: Vec<&Container> = plan::init_containers(pod).iter().chain(plan::containers(pod)).collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let r = c.resources.clone().unwrap_or_default();
        let requests = r.requests.unwrap_or_default();
        let limits = r.limits.unwrap_or_default();
        if !requests.is_empty() || !limits.is_empty() {
            any = true;
        }
        for k in ["cpu", "memory"] {
            let limit = limits.get(k);
            let request = requests.get(k).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan;
    use crate::runtime::SandboxInfo;
    use jiff::SignedDuration;
    use serde_json::json;

    fn t(secs: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1_000_000 + secs)
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": spec})).unwrap()
    }

    fn inst(name: &str, attempt: u32, exit: Option<i32>) -> ContainerInfo {
        ContainerInfo {
            id: format!("{name}-{attempt}"),
            sandbox_id: "sb".into(),
            pod_uid: "u".into(),
            name: name.into(),
            attempt,
            image: "img".into(),
            image_id: None,
            state: match exit {
                None => ContainerState::Running,
                Some(code) => ContainerState::Exited {
                    exit_code: code,
                    finished_at: t(10 + i64::from(attempt)),
                    reason: ExitReason::Normal,
                    message: None,
                },
            },
            created_at: t(i64::from(attempt)),
            started_at: Some(t(i64::from(attempt))),
        }
    }

    fn observed(containers: Vec<ContainerInfo>) -> Observed {
        Observed {
            sandbox: Some(SandboxInfo {
                id: "sb".into(),
                pod_uid: "u".into(),
                namespace: "ns".into(),
                name: "p".into(),
                ip: Some("10.244.0.5".into()),
                created_at: t(0),
                ready: true,
            }),
            containers,
        }
    }

    fn derive_at(p: &Pod, obs: &Observed, memory: &Memory, now: i64) -> PodStatus {
        let pl = plan(p, false, obs, memory, t(now));
        derive(
            p,
            &StatusInputs { observed: obs, memory, plan: &pl, host_ip: "192.168.1.2", now: t(now), id_scheme: None },
        )
    }

    fn cond<'a>(s: &'a PodStatus, type_: &str) -> &'a str {
        s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == type_).map(|c| c.status.as_str()).unwrap()
    }

    fn reason(s: &ContainerStatus) -> String {
        let st = s.state.clone().unwrap();
        st.waiting.and_then(|w| w.reason).or(st.terminated.and_then(|t| t.reason)).unwrap_or_else(|| {
            if st.running.is_some() {
                "Running".into()
            } else {
                "?".into()
            }
        })
    }

    #[test]
    fn phases_table() {
        // (restartPolicy, main containers' exit codes (None = running), expected phase)
        let table: &[(&str, &[Option<i32>], &str)] = &[
            ("Always", &[None], "Running"),
            ("Always", &[None, Some(0)], "Running"),
            ("Never", &[Some(0)], "Succeeded"),
            ("Never", &[Some(0), Some(1)], "Failed"),
            ("Never", &[None, Some(1)], "Running"),
            ("OnFailure", &[Some(0), Some(0)], "Succeeded"),
        ];
        for (policy, exits, want) in table {
            let names: Vec<String> = (0..exits.len()).map(|i| format!("c{i}")).collect();
            let containers: Vec<_> = names.iter().map(|n| json!({"name": n})).collect();
            let p = pod(json!({"restartPolicy": policy, "containers": containers}));
            let obs = observed(names.iter().zip(exits.iter()).map(|(n, e)| inst(n, 0, *e)).collect());
            let s = derive_at(&p, &obs, &Memory::default(), 11);
            assert_eq!(s.phase.as_deref(), Some(*want), "{policy} {exits:?}");
        }
    }

    #[test]
    fn running_pod_is_ready() {
        let p = pod(json!({"containers": [{"name": "app", "image": "nginx"}]}));
        let s = derive_at(&p, &observed(vec![inst("app", 0, None)]), &Memory::default(), 5);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Ready"), "True");
        assert_eq!(cond(&s, "ContainersReady"), "True");
        assert_eq!(cond(&s, "Initialized"), "True");
        assert_eq!(cond(&s, "PodReadyToStartContainers"), "True");
        assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.5"));
        assert_eq!(s.host_ip.as_deref(), Some("192.168.1.2"));
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready);
        assert_eq!(cs.image, "nginx");
        assert_eq!(cs.container_id.as_deref(), Some("app-0"));
        assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    }

    #[test]
    fn container_and_image_ids_follow_the_runtime() {
        let p = pod(json!({"restartPolicy": "Always", "containers": [{"name": "app", "image": "nginx"}]}));
        let mut latest = inst("app", 1, None);
        latest.image_id = Some("docker://sha256:ab".into());
        let obs = observed(vec![inst("app", 0, Some(1)), latest]);
        let memory = Memory::default();
        let pl = plan(&p, false, &obs, &memory, t(30));
        let input = StatusInputs {
            observed: &obs,
            memory: &memory,
            plan: &pl,
            host_ip: "h",
            now: t(30),
            id_scheme: Some("docker"),
        };
        let s = derive(&p, &input);
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(cs.container_id.as_deref(), Some("docker://app-1"));
        assert_eq!(cs.image_id, "docker://sha256:ab");
        let last = cs.last_state.clone().unwrap().terminated.unwrap();
        assert_eq!(last.container_id.as_deref(), Some("docker://app-0"));
        // Without an image id from the runtime, the image name stands in.
        let s = derive_at(&p, &observed(vec![inst("app", 0, None)]), &memory, 5);
        assert_eq!(s.container_statuses.as_ref().unwrap()[0].image_id, "minik://nginx");
    }

    #[test]
    fn readiness_probe_gates_ready() {
        let p = pod(json!({"containers": [{"name": "app", "readinessProbe": {"exec": {"command": ["true"]}}}]}));
        let obs = observed(vec![inst("app", 0, None)]);
        let s = derive_at(&p, &obs, &Memory::default(), 5);
        assert_eq!(cond(&s, "Ready"), "False");
        assert!(!s.container_statuses.as_ref().unwrap()[0].ready);
        let memory = Memory { ready: ["app-0".to_string()].into(), ..Default::default() };
        let s = derive_at(&p, &obs, &memory, 5);
        assert_eq!(cond(&s, "Ready"), "True");
    }

    #[test]
    fn crash_loop_shows_backoff_and_last_state() {
        let p = pod(json!({"containers": [{"name": "app"}]}));
        let obs = observed(vec![inst("app", 0, Some(1)), inst("app", 1, Some(1))]);
        let memory = Memory { backoff_level: [("app".to_string(), 1)].into(), ..Default::default() };
        let s = derive_at(&p, &obs, &memory, 12);
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(reason(cs), "CrashLoopBackOff");
        assert_eq!(cs.restart_count, 1);
        let last = cs.last_state.clone().unwrap().terminated.unwrap();
        assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
        assert!(cs
            .state
            .clone()
            .unwrap()
            .waiting
            .unwrap()
            .message
            .unwrap()
            .starts_with("back-off 10s restarting failed container=app pod=p_ns(u)"));
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Ready"), "False");
    }

    #[test]
    fn init_containers_hold_the_pod_pending() {
        let p = pod(json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "app"}]}));
        let s = derive_at(&p, &observed(vec![inst("i1", 0, None)]), &Memory::default(), 5);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        assert_eq!(cond(&s, "Initialized"), "False");
        assert_eq!(reason(&s.init_container_statuses.as_ref().unwrap()[1]), "ContainerCreating");
        assert_eq!(reason(&s.container_statuses.as_ref().unwrap()[0]), "PodInitializing");
        let s = derive_at(
            &p,
            &observed(vec![inst("i1", 0, Some(0)), inst("i2", 0, Some(0)), inst("app", 0, None)]),
            &Memory::default(),
            20,
        );
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Initialized"), "True");
        assert_eq!(reason(&s.init_container_statuses.as_ref().unwrap()[0]), "Completed");
    }

    #[test]
    fn failed_init_with_never_fails_the_pod() {
        let p =
            pod(json!({"restartPolicy": "Never", "initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}));
        let s = derive_at(&p, &observed(vec![inst("i1", 0, Some(2))]), &Memory::default(), 20);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
    }

    #[test]
    fn config_errors_show_as_waiting() {
        let p = pod(json!({"containers": [{"name": "app"}]}));
        let memory = Memory {
            config_errors: [("app".to_string(), ("missing key".to_string(), t(30)))].into(),
            ..Default::default()
        };
        let s = derive_at(&p, &observed(vec![]), &memory, 20);
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(reason(cs), "CreateContainerConfigError");
        assert_eq!(s.phase.as_deref(), Some("Pending"));
    }

    #[test]
    fn image_failures_show_err_image_pull_then_back_off() {
        use crate::image::{ImageFailure, ERR_IMAGE_PULL};
        let p = pod(json!({"containers": [{"name": "app"}]}));
        let failure = ImageFailure::next(None, "x:1", ERR_IMAGE_PULL, "Failed to pull image \"x:1\": no".into(), t(20));
        let memory = Memory { image_failures: [("app".to_string(), failure)].into(), ..Default::default() };
        let s = derive_at(&p, &observed(vec![]), &memory, 21);
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(reason(cs), "ErrImagePull");
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let s = derive_at(&p, &observed(vec![]), &memory, 25);
        let w = s.container_statuses.as_ref().unwrap()[0].state.clone().unwrap().waiting.unwrap();
        assert_eq!(w.reason.as_deref(), Some("ImagePullBackOff"));
        assert_eq!(w.message.as_deref(), Some("Back-off pulling image \"x:1\""));
    }

    #[test]
    fn transition_times_are_kept() {
        let p = pod(json!({"containers": [{"name": "app"}]}));
        let obs = observed(vec![inst("app", 0, None)]);
        let first = derive_at(&p, &obs, &Memory::default(), 5);
        let mut p2 = p.clone();
        p2.status = Some(first.clone());
        let second = derive_at(&p2, &obs, &Memory::default(), 50);
        assert_eq!(first.conditions, second.conditions);
        assert_eq!(second.start_time, Some(Time(t(5))));
    }

    #[test]
    fn terminal_phase_sticks() {
        let p = pod(json!({"restartPolicy": "Never", "containers": [{"name": "app"}]}));
        let mut p2 = p.clone();
        p2.status = Some(PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        let s = derive_at(&p2, &observed(vec![]), &Memory::default(), 5);
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    }

    #[test]
    fn qos_classes() {
        let g = pod(json!({"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}));
        let b = pod(json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}));
        assert_eq!(qos_class(&g), "Guaranteed");
        assert_eq!(qos_class(&b), "Burstable");
    }
}
