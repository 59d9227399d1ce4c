//! The pod row: READY, STATUS and RESTARTS computed as kube-apiserver's `printPod`
//! (kubernetes/pkg/printers/internalversion/printers.go) does, native sidecars included.

use jiff::Timestamp;
use serde_json::Value;

use super::duration::{parse_time, since};
use super::json::{int, items, none_if_empty, string};

/// What `printPod` derives from a pod's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSummary {
    /// Ready containers (regular ones, plus started native sidecars that are ready).
    pub ready: usize,
    /// Regular containers plus native sidecars (init containers with `restartPolicy: Always`).
    pub total: usize,
    /// The STATUS column.
    pub status: String,
    /// The restart count shown in RESTARTS.
    pub restarts: i64,
    /// When the most recently restarted container last terminated, if known.
    pub last_restart: Option<Timestamp>,
}

impl PodSummary {
    /// The READY column, e.g. "1/2".
    pub fn ready_column(&self) -> String {
        format!("{}/{}", self.ready, self.total)
    }

    /// The RESTARTS column: "0", or "2 (3m49s ago)" when the last restart time is known.
    pub fn restarts_column(&self, now: Timestamp) -> String {
        match self.last_restart {
            Some(t) if self.restarts != 0 => format!("{} ({} ago)", self.restarts, since(Some(t), now)),
            _ => self.restarts.to_string(),
        }
    }
}

/// kubectl's STATUS for a pod: the phase or status reason, `Init:N/M`, `Init:<reason>`,
/// `Init:ExitCode:N`, `PodInitializing`, `ContainerCreating`, `CrashLoopBackOff`, `Completed`,
/// `Error`, `NotReady`, `Terminating`, `Unknown`, ...
pub fn pod_status(pod: &Value) -> String {
    summarize(pod).status
}

fn later(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn object(v: &Value) -> Option<&Value> {
    v.as_object().map(|_| v)
}

fn condition_true(status: &Value, kind: &str) -> bool {
    items(status, "conditions").iter().any(|c| string(c, "type") == kind && string(c, "status") == "True")
}

/// Computes READY, STATUS and RESTARTS for a pod.
pub fn summarize(pod: &Value) -> PodSummary {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let init_containers = items(spec, "initContainers");
    let is_sidecar = |name: &str| {
        init_containers.iter().any(|c| string(c, "name") == name && string(c, "restartPolicy") == "Always")
    };

    let mut total = items(spec, "containers").len();
    total += init_containers.iter().filter(|c| string(c, "restartPolicy") == "Always").count();
    let phase = string(status, "phase");
    let mut reason = match string(status, "reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let gated = items(status, "conditions")
        .iter()
        .any(|c| string(c, "type") == "PodScheduled" && string(c, "reason") == "SchedulingGated");
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart = None;
    let mut sidecar_restarts = 0;
    let mut sidecar_last_restart = None;
    let mut initializing = false;
    for (i, cs) in items(status, "initContainerStatuses").iter().enumerate() {
        let count = int(cs, "restartCount");
        let finished = object(&cs["lastState"]["terminated"]).and_then(|t| parse_time(t["finishedAt"].as_str()));
        restarts += count;
        last_restart = later(last_restart, finished);
        let sidecar = is_sidecar(string(cs, "name"));
        if sidecar {
            sidecar_restarts += count;
            sidecar_last_restart = later(sidecar_last_restart, finished);
        }
        let terminated = object(&cs["state"]["terminated"]);
        let waiting = object(&cs["state"]["waiting"]);
        if terminated.is_some_and(|t| int(t, "exitCode") == 0) {
            continue;
        }
        if sidecar && cs["started"].as_bool() == Some(true) {
            if cs["ready"].as_bool() == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            match string(t, "reason") {
                "" if int(t, "signal") != 0 => format!("Init:Signal:{}", int(t, "signal")),
                "" => format!("Init:ExitCode:{}", int(t, "exitCode")),
                r => format!("Init:{r}"),
            }
        } else if let Some(r) =
            waiting.map(|w| string(w, "reason")).filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{}", init_containers.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(status, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for cs in items(status, "containerStatuses").iter().rev() {
            restarts += int(cs, "restartCount");
            let finished = object(&cs["lastState"]["terminated"]).and_then(|t| parse_time(t["finishedAt"].as_str()));
            last_restart = later(last_restart, finished);
            let waiting = object(&cs["state"]["waiting"]);
            let terminated = object(&cs["state"]["terminated"]);
            if let Some(r) = waiting.map(|w| string(w, "reason")).filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                reason = match string(t, "reason") {
                    "" if int(t, "signal") != 0 => format!("Signal:{}", int(t, "signal")),
                    "" => format!("ExitCode:{}", int(t, "exitCode")),
                    r => r.to_string(),
                };
            } else if cs["ready"].as_bool() == Some(true) && object(&cs["state"]["running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(status, "Ready") { "Running" } else { "NotReady" }.to_string();
        }
    }

    let deleting = pod["metadata"]["deletionTimestamp"].as_str().is_some();
    if deleting && string(status, "reason") == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    PodSummary { ready, total, status: reason, restarts, last_restart }
}

/// The cells of a pod row: Name, Ready, Status, Restarts, Age, IP, Node, Nominated Node,
/// Readiness Gates.
pub(crate) fn row(pod: &Value, now: Timestamp) -> Vec<Value> {
    let summary = summarize(pod);
    let status = &pod["status"];
    let ip = items(status, "podIPs")
        .first()
        .map(|p| string(p, "ip"))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| string(status, "podIP"));
    let gates = items(&pod["spec"], "readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = items(status, "conditions");
        let met = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| string(c, "type") == string(g, "conditionType"))
                    .is_some_and(|c| string(c, "status") == "True")
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        Value::from(string(&pod["metadata"], "name")),
        Value::from(summary.ready_column()),
        Value::from(summary.status.clone()),
        Value::from(summary.restarts_column(now)),
        Value::from(super::age(pod["metadata"]["creationTimestamp"].as_str(), now)),
        Value::from(none_if_empty(ip)),
        Value::from(none_if_empty(string(&pod["spec"], "nodeName"))),
        Value::from(none_if_empty(string(status, "nominatedNodeName"))),
        Value::from(readiness_gates),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:00:00Z"}, "spec": spec, "status": status})
    }

    fn running(name: &str) -> Value {
        json!({"name": name, "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2024-05-01T11:00:00Z"}}})
    }

    #[test]
    fn statuses() {
        let two = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let one = json!({"containers": [{"name": "a"}]});
        let init2 = json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]});
        let sidecar =
            json!({"initContainers": [{"name": "s", "restartPolicy": "Always"}], "containers": [{"name": "a"}]});
        let ready_true = json!([{"type": "Ready", "status": "True"}]);
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            ("pending, nothing reported", pod(one.clone(), json!({"phase": "Pending"})), "Pending", "0/1"),
            ("no status at all", pod(one.clone(), json!(null)), "", "0/1"),
            (
                "running and ready",
                pod(two.clone(), json!({"phase": "Running", "containerStatuses": [running("a"), running("b")]})),
                "Running",
                "2/2",
            ),
            (
                "container creating",
                pod(
                    one.clone(),
                    json!({"phase": "Pending", "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                ),
                "ContainerCreating",
                "0/1",
            ),
            (
                "crash loop",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "containerStatuses": [
                    running("a"),
                    {"name": "b", "ready": false, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
                ),
                "CrashLoopBackOff",
                "1/2",
            ),
            (
                "image pull error",
                pod(
                    one.clone(),
                    json!({"phase": "Pending", "containerStatuses": [
                    {"name": "a", "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
                ),
                "ErrImagePull",
                "0/1",
            ),
            (
                "completed",
                pod(
                    one.clone(),
                    json!({"phase": "Succeeded", "containerStatuses": [
                    {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                "Completed",
                "0/1",
            ),
            (
                "error",
                pod(
                    one.clone(),
                    json!({"phase": "Failed", "containerStatuses": [
                    {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                "Error",
                "0/1",
            ),
            (
                "terminated without reason: exit code",
                pod(
                    one.clone(),
                    json!({"phase": "Failed", "containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": 3}}}]}),
                ),
                "ExitCode:3",
                "0/1",
            ),
            (
                "terminated without reason: signal",
                pod(
                    one.clone(),
                    json!({"phase": "Failed", "containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
                ),
                "Signal:9",
                "0/1",
            ),
            (
                "one completed, one still running and pod ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "conditions": ready_true.clone(), "containerStatuses": [
                    running("a"),
                    {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                "Running",
                "1/2",
            ),
            (
                "one completed, one still running, pod not ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [
                    running("a"),
                    {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                "NotReady",
                "1/2",
            ),
            (
                "init containers not started",
                pod(
                    init2.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}},
                    {"name": "i2", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                "Init:0/2",
                "0/1",
            ),
            (
                "first init done, second running",
                pod(
                    init2.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "i2", "state": {"running": {}}}]}),
                ),
                "Init:1/2",
                "0/1",
            ),
            (
                "init crash loop",
                pod(
                    init2.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
                ),
                "Init:CrashLoopBackOff",
                "0/1",
            ),
            (
                "init error",
                pod(
                    init2.clone(),
                    json!({"phase": "Failed", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                "Init:Error",
                "0/1",
            ),
            (
                "init exit code",
                pod(
                    init2.clone(),
                    json!({"phase": "Failed", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 2}}}]}),
                ),
                "Init:ExitCode:2",
                "0/1",
            ),
            (
                "an init container that exited 0 counts as done, even with a signal",
                pod(
                    init2.clone(),
                    json!({"phase": "Failed", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 0, "signal": 15}}}]}),
                ),
                "Failed",
                "0/1",
            ),
            (
                "init signal with non-zero exit",
                pod(
                    init2.clone(),
                    json!({"phase": "Failed", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 143, "signal": 15}}}]}),
                ),
                "Init:Signal:15",
                "0/1",
            ),
            (
                "init done, main waiting",
                pod(
                    init2.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "i2", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
                    "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                "PodInitializing",
                "0/1",
            ),
            (
                "native sidecar started and ready",
                pod(
                    sidecar.clone(),
                    json!({"phase": "Running", "initContainerStatuses": [
                    {"name": "s", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
                    "containerStatuses": [running("a")]}),
                ),
                "Running",
                "2/2",
            ),
            (
                "native sidecar not started yet",
                pod(
                    sidecar.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "s", "started": false, "state": {"running": {}}}],
                    "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                "Init:0/1",
                "0/2",
            ),
            (
                "scheduling gated",
                pod(
                    one.clone(),
                    json!({"phase": "Pending",
                    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                "SchedulingGated",
                "0/1",
            ),
            (
                "status reason wins over phase",
                pod(one.clone(), json!({"phase": "Failed", "reason": "Evicted"})),
                "Evicted",
                "0/1",
            ),
        ];
        for (name, p, status, ready) in cases {
            let s = summarize(&p);
            assert_eq!(s.status, status, "{name}");
            assert_eq!(s.ready_column(), ready, "{name}");
            assert_eq!(pod_status(&p), status, "{name}");
        }
    }

    #[test]
    fn terminating_and_unknown() {
        let mut p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Running", "containerStatuses": [running("a")]}),
        );
        p["metadata"]["deletionTimestamp"] = json!("2024-05-01T12:00:00Z");
        assert_eq!(pod_status(&p), "Terminating");
        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(pod_status(&p), "Unknown");
        // A pod that already finished is not shown as Terminating.
        let mut done = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
        );
        done["metadata"]["deletionTimestamp"] = json!("2024-05-01T12:00:00Z");
        assert_eq!(pod_status(&done), "Completed");
    }

    #[test]
    fn restarts() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let spec = json!({"initContainers": [{"name": "i"}, {"name": "s", "restartPolicy": "Always"}],
                          "containers": [{"name": "a"}, {"name": "b"}]});
        let status = json!({"phase": "Running",
            "initContainerStatuses": [
                {"name": "i", "restartCount": 5, "state": {"terminated": {"exitCode": 0}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:59:00Z"}}},
                {"name": "s", "restartCount": 1, "started": true, "ready": true, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:00:00Z"}}}],
            "containerStatuses": [
                {"name": "a", "restartCount": 1, "ready": true, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 2, "finishedAt": "2024-05-01T11:56:11Z"}}},
                {"name": "b", "restartCount": 0, "ready": true, "state": {"running": {}}}]});
        let s = summarize(&pod(spec, status));
        // Regular init container restarts stop counting once the pod is initialized.
        assert_eq!(s.restarts, 2);
        assert_eq!(s.restarts_column(now), "2 (3m49s ago)");
        assert_eq!(s.ready_column(), "3/3");

        let plain =
            summarize(&pod(json!({"containers": [{"name": "a"}]}), json!({"containerStatuses": [running("a")]})));
        assert_eq!(plain.restarts_column(now), "0");
        let unknown_time = summarize(&pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"containerStatuses": [{"name": "a", "restartCount": 3, "state": {"running": {}}}]}),
        ));
        assert_eq!(unknown_time.restarts_column(now), "3");
    }

    #[test]
    fn row_cells() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let mut p = pod(
            json!({"containers": [{"name": "a"}], "nodeName": "node1", "readinessGates": [{"conditionType": "x/ok"}, {"conditionType": "x/no"}]}),
            json!({"phase": "Running", "podIPs": [{"ip": "10.244.0.85"}], "podIP": "10.244.0.85",
                   "conditions": [{"type": "x/ok", "status": "True"}, {"type": "x/no", "status": "False"}],
                   "containerStatuses": [running("a")]}),
        );
        assert_eq!(
            row(&p, now),
            vec![
                json!("web"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("60m"),
                json!("10.244.0.85"),
                json!("node1"),
                json!("<none>"),
                json!("1/2")
            ]
        );
        p["spec"] = json!({"containers": [{"name": "a"}]});
        p["status"] = json!({"phase": "Pending", "podIP": "10.0.0.9"});
        let cells = row(&p, now);
        assert_eq!(cells[5], json!("10.0.0.9"));
        assert_eq!(cells[6], json!("<none>"));
        assert_eq!(cells[8], json!("<none>"));
    }
}
