//! Filters: can this pod run on this node? Each filter is a small pure function over a
//! [`Candidate`] and a [`NodeInfo`]; [`run`] applies them in kube-scheduler's order and stops at
//! the first that fails, returning the reasons users see in `FailedScheduling` messages.

mod fit;
mod node_affinity;
mod ports;
mod taints;
mod unschedulable;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{NodeSelector, Pod, PreferredSchedulingTerm, Toleration};

use crate::cache::NodeInfo;
use crate::podinfo::PodInfo;

pub use node_affinity::{requirement_matches, term_matches};
pub use taints::tolerates;

/// Why a node cannot take a pod. `Display` gives kube-scheduler's wording.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Unschedulable,
    UntoleratedTaint {
        key: String,
        value: String,
    },
    NodeAffinity,
    HostPorts,
    TooManyPods,
    /// `Insufficient <resource>`
    Insufficient(&'static str),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unschedulable => f.write_str("node(s) were unschedulable"),
            Reason::UntoleratedTaint { key, value } => write!(f, "node(s) had untolerated taint {{{key}: {value}}}"),
            Reason::NodeAffinity => f.write_str("node(s) didn't match Pod's node affinity/selector"),
            Reason::HostPorts => f.write_str("node(s) didn't have free ports for the requested pod ports"),
            Reason::TooManyPods => f.write_str("Too many pods"),
            Reason::Insufficient(resource) => write!(f, "Insufficient {resource}"),
        }
    }
}

/// The pod being scheduled, with the parts of its spec the filters and scores read.
pub struct Candidate<'a> {
    pub info: PodInfo,
    pub tolerations: &'a [Toleration],
    pub node_selector: Option<&'a BTreeMap<String, String>>,
    pub required_affinity: Option<&'a NodeSelector>,
    pub preferred_affinity: &'a [PreferredSchedulingTerm],
}

impl<'a> Candidate<'a> {
    pub fn new(pod: &'a Pod) -> Candidate<'a> {
        let spec = pod.spec.as_ref();
        let node_affinity = spec.and_then(|s| s.affinity.as_ref()).and_then(|a| a.node_affinity.as_ref());
        Candidate {
            info: PodInfo::new(pod),
            tolerations: spec.and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]),
            node_selector: spec.and_then(|s| s.node_selector.as_ref()).filter(|s| !s.is_empty()),
            required_affinity: node_affinity
                .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref()),
            preferred_affinity: node_affinity
                .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_deref())
                .unwrap_or(&[]),
        }
    }
}

/// Runs the filters in kube-scheduler's order (NodeUnschedulable, TaintToleration, NodeAffinity,
/// NodePorts, NodeResourcesFit); the first failing filter's reasons are returned.
pub fn run(pod: &Candidate<'_>, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    unschedulable::filter(pod, node)?;
    taints::filter(pod, node)?;
    node_affinity::filter(pod, node)?;
    ports::filter(pod, node)?;
    fit::filter(pod, node)
}

/// The PreferNoSchedule taints of `node` that `pod` does not tolerate (used by the scores).
pub fn untolerated_prefer_no_schedule(pod: &Candidate<'_>, node: &NodeInfo) -> usize {
    taints::count_untolerated_prefer_no_schedule(pod.tolerations, &node.taints)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Builders for filter and score tables.
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::{json, Value};

    use crate::cache::NodeInfo;
    use crate::podinfo::PodInfo;

    pub fn pod(spec: Value) -> Pod {
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "c", "image": "i"}]);
        }
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default", "uid": "u-p"}, "spec": spec}))
            .unwrap()
    }

    pub fn pod_requesting(cpu: &str, memory: &str) -> Pod {
        pod(
            json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}),
        )
    }

    /// A Ready node with 4 CPUs, 8Gi, 100Gi ephemeral storage and room for 110 pods, plus `extra`
    /// merged into the object.
    pub fn node(name: &str, extra: Value) -> NodeInfo {
        let mut v = json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        });
        merge(&mut v, extra);
        let node: Node = serde_json::from_value(v).unwrap();
        NodeInfo::new(Arc::new(node))
    }

    pub fn with_pods(mut node: NodeInfo, pods: &[Pod]) -> NodeInfo {
        for p in pods {
            node.add_pod(&PodInfo::new(p));
        }
        node
    }

    fn merge(base: &mut Value, extra: Value) {
        match (base, extra) {
            (Value::Object(b), Value::Object(e)) => {
                for (k, v) in e {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
            (b, e) => *b = e,
        }
    }
}
