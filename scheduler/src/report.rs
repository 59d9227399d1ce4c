//! Outcomes users see, as Kubernetes shows them: `Scheduled` / `FailedScheduling` Events and the
//! PodScheduled=False condition. The scheduling loop hands reports to a background task so API
//! calls never slow a scheduling cycle; the objects themselves are built by pure functions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

/// Reports queued beyond this are dropped (and logged): events are best effort, as in Kubernetes.
const QUEUE_CAPACITY: usize = 65_536;
/// Event and status calls in flight at once.
const CONCURRENCY: usize = 16;

#[derive(Debug)]
pub enum Report {
    Scheduled {
        pod: Arc<Pod>,
        node: String,
    },
    Unschedulable {
        pod: Arc<Pod>,
        message: String,
    },
    /// A binding call failed for a reason other than the pod being gone or already bound.
    BindFailed {
        pod: Arc<Pod>,
        message: String,
    },
}

/// Sends reports to the background task.
#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::Sender<Report>,
}

impl Reporter {
    pub fn send(&self, report: Report) {
        if let Err(e) = self.tx.try_send(report) {
            tracing::warn!(error = %e, "dropping a scheduling event: too many queued");
        }
    }
}

/// Who writes the events.
#[derive(Clone, Debug)]
pub struct Source {
    pub component: String,
    pub instance: String,
}

/// Starts the task that writes reports through `client`; it ends when every [`Reporter`] is gone.
pub fn start(client: kube::Client, source: Source) -> (Reporter, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(QUEUE_CAPACITY);
    let handle = tokio::spawn(async move {
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let source = Arc::new(source);
        while let Some(report) = rx.recv().await {
            let Ok(permit) = limit.clone().acquire_owned().await else { break };
            let client = client.clone();
            let source = source.clone();
            tokio::spawn(async move {
                write(client, &source, report).await;
                drop(permit);
            });
        }
        // Wait for the writes in flight.
        let _ = limit.acquire_many(CONCURRENCY as u32).await;
    });
    (Reporter { tx }, handle)
}

async fn write(client: kube::Client, source: &Source, report: Report) {
    let (pod, event) = match &report {
        Report::Scheduled { pod, node } => {
            let msg = format!("Successfully assigned {} to {node}", crate::podinfo::pod_key(pod));
            (pod, event(pod, "Normal", "Scheduled", "Binding", &msg, source))
        }
        Report::Unschedulable { pod, message } => {
            if let Some(patch) = unschedulable_condition_patch(pod, message, jiff::Timestamp::now()) {
                let api: Api<Pod> = Api::namespaced(client.clone(), namespace(pod));
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                if let Err(e) = api.patch_status(name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                    tracing::warn!(pod = name, error = %e, "cannot set the PodScheduled condition");
                }
            }
            (pod, event(pod, "Warning", "FailedScheduling", "Scheduling", message, source))
        }
        Report::BindFailed { pod, message } => (
            pod,
            event(pod, "Warning", "FailedScheduling", "Scheduling", &format!("Binding rejected: {message}"), source),
        ),
    };
    let api: Api<Event> = Api::namespaced(client, namespace(pod));
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        tracing::warn!(pod = pod.metadata.name.as_deref().unwrap_or_default(), error = %e, "cannot record an event");
    }
}

fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// A core/v1 Event about `pod`, as kube-scheduler's recorder writes it.
pub fn event(pod: &Pod, type_: &str, reason: &str, action: &str, message: &str, source: &Source) -> Event {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = jiff::Timestamp::now();
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let unique = (now.as_nanosecond() as u64).wrapping_add(SEQ.fetch_add(1, Ordering::Relaxed));
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{pod_name}.{unique:x}")),
            namespace: Some(namespace(pod).to_string()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(pod_name),
            namespace: Some(namespace(pod).to_string()),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            field_path: None,
        },
        type_: Some(type_.into()),
        reason: Some(reason.into()),
        action: Some(action.into()),
        message: Some(message.into()),
        source: Some(EventSource { component: Some(source.component.clone()), host: None }),
        reporting_component: Some(source.component.clone()),
        reporting_instance: Some(source.instance.clone()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        ..Default::default()
    }
}

/// The strategic-merge status patch setting PodScheduled=False (reason Unschedulable), or `None`
/// when the pod already says exactly that. The transition time moves only when the status changes.
pub fn unschedulable_condition_patch(pod: &Pod, message: &str, now: jiff::Timestamp) -> Option<Value> {
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
    if let Some(c) = current {
        if c.status == "False" && c.reason.as_deref() == Some("Unschedulable") && c.message.as_deref() == Some(message)
        {
            return None;
        }
    }
    let transition = match current {
        Some(c) if c.status == "False" => c.last_transition_time.as_ref().map(|t| t.0).unwrap_or(now),
        _ => now,
    };
    Some(json!({"status": {"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": Time(transition),
    }]}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(conditions: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "prod", "uid": "u1", "resourceVersion": "7"},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Pending", "conditions": conditions}
        }))
        .unwrap()
    }

    #[test]
    fn condition_patch() {
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let p = unschedulable_condition_patch(&pod(json!([])), "0/1 nodes are available: 1 Insufficient cpu.", now);
        assert_eq!(
            p,
            Some(json!({"status": {"conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient cpu.",
                "lastProbeTime": null, "lastTransitionTime": "2026-01-02T03:04:05Z"
            }]}}))
        );
        let same = pod(json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]));
        assert_eq!(unschedulable_condition_patch(&same, "m", now), None);
        let changed = unschedulable_condition_patch(&same, "other", now).unwrap();
        assert_eq!(changed["status"]["conditions"][0]["lastTransitionTime"], "2026-01-01T00:00:00Z");
        assert_eq!(changed["status"]["conditions"][0]["message"], "other");
    }

    #[test]
    fn scheduled_event_shape() {
        let source = Source { component: "default-scheduler".into(), instance: "me".into() };
        let e =
            event(&pod(json!([])), "Normal", "Scheduled", "Binding", "Successfully assigned prod/web to n1", &source);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v["involvedObject"],
            json!({"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "prod", "uid": "u1", "resourceVersion": "7"})
        );
        assert_eq!(v["source"]["component"], "default-scheduler");
        assert_eq!(
            (v["type"].as_str(), v["reason"].as_str(), v["count"].as_i64()),
            (Some("Normal"), Some("Scheduled"), Some(1))
        );
        assert!(v["metadata"]["name"].as_str().unwrap().starts_with("web."));
        assert_eq!(v["metadata"]["namespace"], "prod");
        assert!(v["firstTimestamp"].is_string() && v["lastTimestamp"].is_string());
        let other = event(&pod(json!([])), "Normal", "Scheduled", "Binding", "x", &source);
        assert_ne!(e.metadata.name, other.metadata.name);
    }
}
