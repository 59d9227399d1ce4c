//! Events as kubelet emits them (Pulled, Created, Started, Killing, BackOff, Unhealthy, …), sent in
//! the background so a slow API never holds up a pod; dropped when the queue is full.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use tokio::sync::mpsc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub warning: bool,
    pub reason: String,
    pub message: String,
    /// `spec.containers{name}` and the like.
    pub field_path: Option<String>,
}

#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Event>,
}

impl Recorder {
    /// Starts the sender task.
    pub fn start(client: kube::Client) -> Recorder {
        let (tx, mut rx) = mpsc::channel::<Event>(4096);
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let ns = ev.metadata.namespace.clone().unwrap_or_else(|| "default".into());
                let api: Api<Event> = Api::namespaced(client.clone(), &ns);
                if let Err(e) = api.create(&PostParams::default(), &ev).await {
                    tracing::debug!("cannot record event {:?}: {e}", ev.reason);
                }
            }
        });
        Recorder { tx }
    }

    /// A recorder that drops everything (tests, benchmarks).
    pub fn disabled() -> Recorder {
        let (tx, _) = mpsc::channel(1);
        Recorder { tx }
    }

    pub fn pod_event(&self, pod: &Pod, node: &str, spec: EventSpec) {
        let _ = self.tx.try_send(event(pod, node, spec, Timestamp::now()));
    }
}

pub fn event(pod: &Pod, node: &str, spec: EventSpec, now: Timestamp) -> Event {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name),
            namespace: Some(ns),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            field_path: spec.field_path,
        },
        reason: Some(spec.reason),
        message: Some(spec.message),
        type_: Some(if spec.warning { "Warning" } else { "Normal" }.into()),
        source: Some(EventSource { component: Some("kubelet".into()), host: Some(node.to_owned()) }),
        reporting_component: Some("kubelet".into()),
        reporting_instance: Some(node.to_owned()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: None,
        count: Some(1),
        action: None,
        related: None,
        series: None,
    }
}

/// `spec.containers{name}` or `spec.initContainers{name}`.
pub fn field_path(init: bool, container: &str) -> Option<String> {
    Some(format!("spec.{}{{{container}}}", if init { "initContainers" } else { "containers" }))
}

pub fn normal(reason: &str, message: impl Into<String>, field_path: Option<String>) -> EventSpec {
    EventSpec { warning: false, reason: reason.into(), message: message.into(), field_path }
}

pub fn warning(reason: &str, message: impl Into<String>, field_path: Option<String>) -> EventSpec {
    EventSpec { warning: true, reason: reason.into(), message: message.into(), field_path }
}
