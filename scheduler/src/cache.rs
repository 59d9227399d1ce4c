//! The node-info cache: every Node with its allocatable resources and the running sums of what the
//! pods placed on it (bound or assumed) request, kept up to date from the watches, so a
//! scheduling cycle reads precomputed numbers instead of walking pods.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::podinfo::{HostPort, PodInfo, PodKey};
use crate::resources::Resources;

/// Taint the scheduler treats a node as having while its Ready condition is False or missing
/// (what Kubernetes' node lifecycle controller would add).
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Same, while Ready is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint `spec.unschedulable` stands for; tolerating it lets a pod onto a cordoned node.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// One node and what is placed on it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub node: Arc<Node>,
    pub unschedulable: bool,
    /// `spec.taints` plus the not-ready/unreachable taint derived from the Ready condition.
    pub taints: Vec<Taint>,
    pub allocatable: Resources,
    /// Sum of the requests of the pods on the node; `pods` is their count.
    pub requested: Resources,
    /// Same with kube-scheduler's default CPU/memory for pods that request none (for scores).
    pub non_zero_requested: Resources,
    pub used_ports: Vec<HostPort>,
    /// How many pods of each spread group (see [`PodInfo::spread_key`]) are on the node.
    pub spread: SpreadCounts,
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut info = NodeInfo {
            name,
            node: Arc::new(Node::default()),
            unschedulable: false,
            taints: Vec::new(),
            allocatable: Resources::default(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            used_ports: Vec::new(),
            spread: SpreadCounts::default(),
        };
        info.set_node(node);
        info
    }

    /// Replaces the Node object, keeping the pod accounting.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.unschedulable = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
        self.taints = effective_taints(&node);
        self.allocatable = Resources::node_allocatable(&node);
        self.node = node;
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.node.metadata.labels.as_ref().unwrap_or(&EMPTY)
    }

    pub fn add_pod(&mut self, pod: &PodInfo) {
        self.requested = self.requested + pod.requests;
        self.non_zero_requested = self.non_zero_requested + pod.non_zero;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if let Some(k) = pod.spread_key {
            self.spread.add(k);
        }
    }

    pub fn remove_pod(&mut self, pod: &PodInfo) {
        self.requested = self.requested - pod.requests;
        self.non_zero_requested = self.non_zero_requested - pod.non_zero;
        for port in &pod.host_ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        if let Some(k) = pod.spread_key {
            self.spread.remove(k);
        }
    }
}

/// Pod counts per spread group on one node. A node carries few groups, so a short vector scanned
/// in place beats hashing: the scorer reads it for hundreds of nodes per pod.
#[derive(Clone, Debug, Default)]
pub struct SpreadCounts(Vec<(u64, u32)>);

impl SpreadCounts {
    pub fn get(&self, key: u64) -> u32 {
        self.0.iter().find(|(k, _)| *k == key).map_or(0, |(_, n)| *n)
    }

    fn add(&mut self, key: u64) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => self.0.push((key, 1)),
        }
    }

    fn remove(&mut self, key: u64) {
        if let Some(i) = self.0.iter().position(|(k, _)| *k == key) {
            self.0[i].1 = self.0[i].1.saturating_sub(1);
            if self.0[i].1 == 0 {
                self.0.swap_remove(i);
            }
        }
    }
}

fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let derived = match ready {
        Some("True") => None,
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => Some(TAINT_NOT_READY),
    };
    if let Some(key) = derived {
        if !taints.iter().any(|t| t.key == key && (t.effect == "NoSchedule" || t.effect == "NoExecute")) {
            taints.push(Taint { key: key.into(), effect: "NoSchedule".into(), value: None, time_added: None });
        }
    }
    taints
}

/// What changed when a node was written into the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    Added,
    /// Labels, taints, readiness, cordon or allocatable changed: pods may fit now.
    Changed,
    /// Only things the scheduler ignores changed (status heartbeats, ...).
    Unchanged,
}

#[derive(Clone, Debug)]
struct PlacedPod {
    node: String,
    info: PodInfo,
    /// Placed by this scheduler, binding not yet seen through the watch.
    assumed: bool,
}

/// All nodes (in a stable order for round-robin evaluation) and the pods placed on them.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Accounting for pods whose node is not (or no longer) known.
    ghosts: HashMap<String, NodeInfo>,
    pods: HashMap<PodKey, PlacedPod>,
}

impl Cache {
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.name.as_str())
    }

    /// Node a pod is placed on (bound or assumed).
    pub fn pod_node(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|p| p.node.as_str())
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    pub fn upsert_node(&mut self, node: Arc<Node>) -> NodeChange {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(&i) = self.index.get(&name) {
            let n = &mut self.nodes[i];
            let old = n.node.clone();
            let (old_unschedulable, old_taints, old_allocatable) =
                (n.unschedulable, std::mem::take(&mut n.taints), n.allocatable);
            n.set_node(node);
            let same = old_unschedulable == n.unschedulable
                && old_taints == n.taints
                && old_allocatable == n.allocatable
                && old.metadata.labels == n.node.metadata.labels;
            return if same { NodeChange::Unchanged } else { NodeChange::Changed };
        }
        let mut info = match self.ghosts.remove(&name) {
            Some(mut ghost) => {
                ghost.set_node(node);
                ghost
            }
            None => NodeInfo::new(node),
        };
        info.name = name.clone();
        self.index.insert(name, self.nodes.len());
        self.nodes.push(info);
        NodeChange::Added
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else { return };
        let info = self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
        if info.requested.pods > 0 {
            self.ghosts.insert(info.name.clone(), info);
        }
    }

    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        match self.index.get(name) {
            Some(&i) => &mut self.nodes[i],
            None => self.ghosts.entry(name.to_string()).or_insert_with(|| {
                let mut n = NodeInfo::new(Arc::new(Node::default()));
                n.name = name.to_string();
                n
            }),
        }
    }

    fn unplace(&mut self, placed: &PlacedPod) {
        let node = self.node_mut(&placed.node);
        node.remove_pod(&placed.info);
        if node.requested.pods <= 0 && !self.index.contains_key(&placed.node) {
            self.ghosts.remove(&placed.node);
        }
    }

    /// Records a pod the API server says is bound to `node` (confirming an assumption).
    pub fn add_bound_pod(&mut self, info: PodInfo, node: &str) {
        if let Some(old) = self.pods.remove(&info.key) {
            if old.node == node && old.info == info {
                self.pods.insert(info.key.clone(), PlacedPod { assumed: false, ..old });
                return;
            }
            self.unplace(&old);
        }
        self.node_mut(node).add_pod(&info);
        self.pods.insert(info.key.clone(), PlacedPod { node: node.to_string(), info, assumed: false });
    }

    /// Drops a pod (deleted or finished). Returns whether it was placed on a node.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        match self.pods.remove(key) {
            Some(old) => {
                self.unplace(&old);
                true
            }
            None => false,
        }
    }

    /// Places a pod on a node before its binding is confirmed, so the next cycle sees it.
    pub fn assume(&mut self, info: PodInfo, node: &str) {
        self.remove_pod(&info.key);
        self.node_mut(node).add_pod(&info);
        self.pods.insert(info.key.clone(), PlacedPod { node: node.to_string(), info, assumed: true });
    }

    /// Undoes [`Cache::assume`] after a failed binding; a pod confirmed meanwhile stays.
    pub fn forget(&mut self, key: &str) {
        if self.is_assumed(key) {
            self.remove_pod(key);
        }
    }

    /// Bound pods currently known (for relisting).
    pub fn pod_keys(&self) -> Vec<PodKey> {
        self.pods.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filters::testutil::pod_requesting;

    fn node(name: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                           "conditions": [{"type": "Ready", "status": "True"}]}
            }))
            .unwrap(),
        )
    }

    fn info(name: &str, cpu: &str) -> PodInfo {
        let mut p = pod_requesting(cpu, "1Gi");
        p.metadata.name = Some(name.into());
        PodInfo::new(&p)
    }

    #[test]
    fn assume_confirm_forget_keep_sums_right() {
        let mut c = Cache::default();
        assert_eq!(c.upsert_node(node("n1")), NodeChange::Added);
        c.assume(info("a", "1"), "n1");
        c.assume(info("b", "2"), "n1");
        assert_eq!(
            c.node("n1").unwrap().requested,
            Resources { milli_cpu: 3000, memory: 2 << 30, ephemeral_storage: 0, pods: 2 }
        );
        c.add_bound_pod(info("a", "1"), "n1");
        assert!(!c.is_assumed("default/a"));
        c.forget("default/a");
        c.forget("default/b");
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 1000);
        assert_eq!(c.node("n1").unwrap().requested.pods, 1);
        // Bound somewhere else than assumed: moves.
        c.assume(info("x", "1"), "n1");
        c.upsert_node(node("n2"));
        c.add_bound_pod(info("x", "1"), "n2");
        assert_eq!(c.node("n1").unwrap().requested.pods, 1);
        assert_eq!(c.node("n2").unwrap().requested.pods, 1);
        assert!(c.remove_pod("default/x"));
        assert!(!c.remove_pod("default/x"));
        assert_eq!(c.node("n2").unwrap().requested, Resources::default());
    }

    #[test]
    fn pods_seen_before_their_node_are_kept() {
        let mut c = Cache::default();
        c.add_bound_pod(info("early", "1"), "late-node");
        assert!(c.node("late-node").is_none());
        c.upsert_node(node("late-node"));
        assert_eq!(c.node("late-node").unwrap().requested.milli_cpu, 1000);
        c.remove_node("late-node");
        assert!(c.node("late-node").is_none());
        c.upsert_node(node("late-node"));
        assert_eq!(c.node("late-node").unwrap().requested.milli_cpu, 1000);
    }

    #[test]
    fn removing_a_node_keeps_the_index_consistent() {
        let mut c = Cache::default();
        for n in ["a", "b", "c"] {
            c.upsert_node(node(n));
        }
        c.remove_node("a");
        let names: Vec<&str> = c.node_names().collect();
        assert_eq!(names.len(), 2);
        for n in ["b", "c"] {
            assert_eq!(c.node(n).map(|i| i.name.as_str()), Some(n));
        }
    }

    #[test]
    fn node_changes() {
        let mut c = Cache::default();
        c.upsert_node(node("n1"));
        assert_eq!(c.upsert_node(node("n1")), NodeChange::Unchanged);
        let mut tainted = (*node("n1")).clone();
        tainted.spec = Some(serde_json::from_value(json!({"taints": [{"key": "k", "effect": "NoSchedule"}]})).unwrap());
        assert_eq!(c.upsert_node(Arc::new(tainted)), NodeChange::Changed);
        assert_eq!(c.node("n1").unwrap().taints.len(), 1);
    }
}
