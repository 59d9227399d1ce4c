//! What the scheduler extracts from a Pod once, so that filters, scores and the node cache never
//! look at (or clone) the whole object again.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::Pod;

use crate::resources::Resources;

/// `namespace/name`, the identity the queue and the cache use.
pub type PodKey = String;

pub fn pod_key(pod: &Pod) -> PodKey {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or("default"), pod.metadata.name.as_deref().unwrap_or(""))
}

/// A host port a container asks for (`hostIP` defaults to 0.0.0.0, protocol to TCP).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Two host ports conflict on the same protocol and port when either binds all addresses or
    /// both bind the same one.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// The scheduling-relevant summary of one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub key: PodKey,
    pub uid: String,
    pub requests: Resources,
    /// Requests with kube-scheduler's defaults for CPU and memory, for the scores.
    pub non_zero: Resources,
    pub host_ports: Vec<HostPort>,
    /// Pods with the same key are spread across nodes: the controller owner's UID, or else the
    /// label set; `None` for a pod with neither.
    pub spread_key: Option<u64>,
}

impl PodInfo {
    pub fn new(pod: &Pod) -> PodInfo {
        let (requests, host_ports) = match &pod.spec {
            Some(spec) => {
                let ports = spec
                    .containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                    .flat_map(|c| c.ports.iter().flatten())
                    .filter_map(|p| {
                        let port = p.host_port.filter(|hp| *hp > 0)?;
                        Some(HostPort {
                            ip: p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into()),
                            protocol: p.protocol.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "TCP".into()),
                            port,
                        })
                    })
                    .collect();
                (Resources::pod_requests(spec), ports)
            }
            None => (Resources { pods: 1, ..Resources::default() }, Vec::new()),
        };
        PodInfo {
            key: pod_key(pod),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            requests,
            non_zero: requests.non_zero(),
            host_ports,
            spread_key: spread_key(pod),
        }
    }
}

fn spread_key(pod: &Pod) -> Option<u64> {
    let mut h = DefaultHasher::new();
    pod.metadata.namespace.hash(&mut h);
    let owner = pod.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true));
    if let Some(owner) = owner {
        ("owner", &owner.uid).hash(&mut h);
        return Some(h.finish());
    }
    let labels = pod.metadata.labels.as_ref().filter(|l| !l.is_empty())?;
    ("labels", labels).hash(&mut h);
    Some(h.finish())
}

/// Succeeded and Failed pods hold no resources.
pub fn is_terminated(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded") | Some("Failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(ip: &str, proto: &str, port: i32) -> HostPort {
        HostPort { ip: ip.into(), protocol: proto.into(), port }
    }

    #[test]
    fn host_port_conflicts() {
        let cases = [
            (hp("0.0.0.0", "TCP", 80), hp("0.0.0.0", "TCP", 80), true),
            (hp("0.0.0.0", "TCP", 80), hp("10.0.0.1", "TCP", 80), true),
            (hp("10.0.0.2", "TCP", 80), hp("10.0.0.1", "TCP", 80), false),
            (hp("10.0.0.1", "TCP", 80), hp("10.0.0.1", "TCP", 80), true),
            (hp("0.0.0.0", "TCP", 80), hp("0.0.0.0", "UDP", 80), false),
            (hp("0.0.0.0", "TCP", 80), hp("0.0.0.0", "TCP", 81), false),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.conflicts(&b), want, "{a:?} vs {b:?}");
            assert_eq!(b.conflicts(&a), want, "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn spread_key_prefers_controller_owner_then_labels() {
        let with = |owner: Option<&str>, label: Option<&str>| {
            let mut p: Pod =
                serde_json::from_value(serde_json::json!({"metadata": {"name": "p", "namespace": "ns"}})).unwrap();
            if let Some(uid) = owner {
                p.metadata.owner_references = Some(vec![serde_json::from_value(serde_json::json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": true
                }))
                .unwrap()]);
            }
            if let Some(l) = label {
                p.metadata.labels = Some([("app".to_string(), l.to_string())].into());
            }
            spread_key(&p)
        };
        assert_eq!(with(None, None), None);
        assert_eq!(with(Some("u1"), Some("a")), with(Some("u1"), Some("b")));
        assert_ne!(with(Some("u1"), None), with(Some("u2"), None));
        assert_eq!(with(None, Some("a")), with(None, Some("a")));
        assert_ne!(with(None, Some("a")), with(None, Some("b")));
    }
}
