//! The Node object: what this host offers (from /proc), and the Node and Lease the agent keeps
//! up to date (registration, heartbeat).

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::env::Allocatable;
use crate::NodeAgentError;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
pub const LEASE_DURATION_SECONDS: i32 = 40;

/// What one node offers and where it is reached.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    pub name: String,
    pub internal_ip: String,
    pub hostname: String,
    pub pod_cidr: String,
    pub kubelet_port: u16,
    pub cpu_millis: i128,
    pub memory_bytes: i128,
    pub ephemeral_storage_bytes: i128,
    pub max_pods: i64,
    pub runtime: String,
}

impl NodeIdentity {
    pub fn allocatable(&self) -> Allocatable {
        Allocatable {
            cpu_millis: self.cpu_millis,
            memory_bytes: self.memory_bytes,
            ephemeral_storage_bytes: self.ephemeral_storage_bytes,
        }
    }
}

/// The host's CPUs (in millicores) and memory (bytes) from /proc.
pub fn host_cpu_memory() -> (i128, i128) {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| parse_meminfo_total(&s)).unwrap_or(1 << 30);
    (i128::try_from(cpus).unwrap_or(1) * 1000, memory)
}

/// `MemTotal:  16318284 kB` → bytes.
pub fn parse_meminfo_total(meminfo: &str) -> Option<i128> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: i128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Free bytes of the filesystem holding `path` (the node's ephemeral storage).
pub fn disk_bytes(path: &std::path::Path) -> i128 {
    nix::sys::statvfs::statvfs(path)
        .map(|s| i128::from(s.blocks()) * i128::from(s.fragment_size()))
        .unwrap_or(100 << 30)
}

/// The address other hosts reach this one on (the source address of the default route), or
/// loopback when there is no network.
pub fn host_ip() -> String {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| {
        s.connect("10.255.255.255:1")?;
        s.local_addr()
    });
    match probe {
        Ok(addr) if !addr.ip().is_unspecified() => addr.ip().to_string(),
        _ => "127.0.0.1".into(),
    }
}

fn quantity(s: String) -> K8sQuantity {
    K8sQuantity(s)
}

fn resources(id: &NodeIdentity) -> BTreeMap<String, K8sQuantity> {
    let cpu =
        if id.cpu_millis % 1000 == 0 { (id.cpu_millis / 1000).to_string() } else { format!("{}m", id.cpu_millis) };
    BTreeMap::from([
        ("cpu".to_string(), quantity(cpu)),
        ("memory".to_string(), quantity(format!("{}Ki", id.memory_bytes / 1024))),
        ("ephemeral-storage".to_string(), quantity(format!("{}Ki", id.ephemeral_storage_bytes / 1024))),
        ("pods".to_string(), quantity(id.max_pods.to_string())),
    ])
}

pub fn ready_condition(ready: bool, now: Timestamp, since: Option<Time>) -> NodeCondition {
    NodeCondition {
        type_: "Ready".into(),
        status: if ready { "True" } else { "False" }.into(),
        reason: Some(if ready { "KubeletReady" } else { "KubeletNotReady" }.into()),
        message: Some(if ready { "kubelet is posting ready status" } else { "kubelet is stopping" }.into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(since.unwrap_or(Time(now))),
    }
}

fn pressure(type_: &str, reason: &str, message: &str, now: Timestamp, since: &Time) -> NodeCondition {
    NodeCondition {
        type_: type_.into(),
        status: "False".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(since.clone()),
    }
}

/// The node's status as of `now`; `since` is when it became ready.
pub fn node_status(id: &NodeIdentity, now: Timestamp, since: &Time) -> NodeStatus {
    NodeStatus {
        capacity: Some(resources(id)),
        allocatable: Some(resources(id)),
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".into(), address: id.internal_ip.clone() },
            NodeAddress { type_: "Hostname".into(), address: id.hostname.clone() },
        ]),
        conditions: Some(vec![
            pressure(
                "MemoryPressure",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                now,
                since,
            ),
            pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now, since),
            pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now, since),
            ready_condition(true, now, Some(since.clone())),
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: i32::from(id.kubelet_port) }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: go_arch().into(),
            operating_system: "linux".into(),
            os_image: os_image(),
            kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().into(),
            kubelet_version: format!("v1.32.0-minik-{}", env!("CARGO_PKG_VERSION")),
            kube_proxy_version: String::new(),
            container_runtime_version: format!("{}://{}", id.runtime, env!("CARGO_PKG_VERSION")),
            machine_id: std::fs::read_to_string("/etc/machine-id").unwrap_or_default().trim().into(),
            system_uuid: String::new(),
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default().trim().into(),
        }),
        phase: None,
        ..Default::default()
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_else(|| "Linux".into())
}

pub fn node_object(id: &NodeIdentity, now: Timestamp) -> Node {
    let labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), id.hostname.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), go_arch().to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), go_arch().to_string()),
    ]);
    Node {
        metadata: ObjectMeta { name: Some(id.name.clone()), labels: Some(labels), ..Default::default() },
        spec: Some(NodeSpec {
            pod_cidr: Some(id.pod_cidr.clone()),
            pod_cidrs: Some(vec![id.pod_cidr.clone()]),
            ..Default::default()
        }),
        status: Some(node_status(id, now, &Time(now))),
    }
}

/// Creates the Node, or takes over an existing one (a restarted agent) and refreshes its status.
pub async fn register(nodes: &Api<Node>, id: &NodeIdentity) -> Result<Time, NodeAgentError> {
    let now = Timestamp::now();
    let node = node_object(id, now);
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let patch = serde_json::json!({
                "metadata": {"labels": node.metadata.labels},
                "spec": {"podCIDR": id.pod_cidr, "podCIDRs": [id.pod_cidr]},
            });
            nodes.patch(&id.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|source| {
                NodeAgentError::Api { what: format!("update node {}", id.name), source: Box::new(source) }
            })?;
        }
        Err(source) => {
            return Err(NodeAgentError::Api { what: format!("register node {}", id.name), source: Box::new(source) })
        }
    }
    // The status subresource is written separately, as kubelet does.
    let since = Time(now);
    update_status(nodes, id, &since).await?;
    Ok(since)
}

pub async fn update_status(nodes: &Api<Node>, id: &NodeIdentity, since: &Time) -> Result<(), NodeAgentError> {
    let status = node_status(id, Timestamp::now(), since);
    nodes
        .patch_status(&id.name, &PatchParams::default(), &Patch::Merge(&serde_json::json!({ "status": status })))
        .await
        .map_err(|source| NodeAgentError::Api {
            what: format!("update status of node {}", id.name),
            source: Box::new(source),
        })?;
    Ok(())
}

pub fn lease_object(node: &str, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.to_owned()),
            namespace: Some(LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_owned()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        }),
    }
}

/// Renews the node's Lease (creating it the first time).
pub async fn renew_lease(leases: &Api<Lease>, node: &str) -> Result<(), NodeAgentError> {
    let now = Timestamp::now();
    let patch = serde_json::json!({"spec": {
        "holderIdentity": node,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": MicroTime(now),
    }});
    match leases.patch(node, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            leases.create(&PostParams::default(), &lease_object(node, now)).await.map(|_| ()).map_err(|source| {
                NodeAgentError::Api { what: format!("create lease {node}"), source: Box::new(source) }
            })
        }
        Err(source) => Err(NodeAgentError::Api { what: format!("renew lease {node}"), source: Box::new(source) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> NodeIdentity {
        NodeIdentity {
            name: "n1".into(),
            internal_ip: "192.168.1.5".into(),
            hostname: "n1".into(),
            pod_cidr: "10.244.0.0/24".into(),
            kubelet_port: 10250,
            cpu_millis: 2000,
            memory_bytes: 4 << 30,
            ephemeral_storage_bytes: 50 << 30,
            max_pods: 110,
            runtime: "process".into(),
        }
    }

    #[test]
    fn meminfo() {
        assert_eq!(parse_meminfo_total("MemTotal:       16318284 kB\nMemFree: 1 kB\n"), Some(16318284 * 1024));
        assert_eq!(parse_meminfo_total("nothing"), None);
    }

    #[test]
    fn node_object_has_what_the_scheduler_and_kubectl_read() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let n = node_object(&identity(), now);
        let labels = n.metadata.labels.clone().unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "n1");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        let st = n.status.unwrap();
        let cap = st.capacity.unwrap();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "4194304Ki");
        assert_eq!(cap["pods"].0, "110");
        assert_eq!(st.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port, 10250);
        let ready = st.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("True", Some("KubeletReady")));
        assert_eq!(n.spec.unwrap().pod_cidr.as_deref(), Some("10.244.0.0/24"));
        let addrs = st.addresses.unwrap();
        assert_eq!(addrs[0].type_, "InternalIP");
        assert_eq!(addrs[0].address, "192.168.1.5");
    }

    #[test]
    fn lease_shape() {
        let l = lease_object("n1", Timestamp::UNIX_EPOCH);
        assert_eq!(l.metadata.namespace.as_deref(), Some("kube-node-lease"));
        let spec = l.spec.unwrap();
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(spec.holder_identity.as_deref(), Some("n1"));
    }
}
