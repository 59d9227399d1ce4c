//! The state the watchers write and the scheduling loop reads: the node cache and the queue
//! behind one lock, plus how pod and node events change them (pure, so tests drive it).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};
use tokio::sync::Notify;

use crate::cache::{Cache, NodeChange};
use crate::podinfo::{is_terminated, pod_key, PodInfo, PodKey};
use crate::queue::{QueueTimings, SchedulingQueue};

pub struct State {
    pub cache: Cache,
    pub queue: SchedulingQueue,
    scheduler_name: String,
}

impl State {
    pub fn new(scheduler_name: &str, timings: QueueTimings) -> State {
        State { cache: Cache::default(), queue: SchedulingQueue::new(timings), scheduler_name: scheduler_name.into() }
    }

    /// A pod was added or changed. Returns whether the scheduling loop should look at the queue.
    pub fn pod_applied(&mut self, pod: Pod, now: Instant) -> bool {
        let key = pod_key(&pod);
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty());
        if let Some(node) = node {
            self.queue.delete(&key);
            if is_terminated(&pod) {
                return self.pod_gone(&key, now);
            }
            let node = node.to_string();
            self.cache.add_bound_pod(PodInfo::new(&pod), &node);
            return false;
        }
        if self.cache.is_assumed(&key) {
            // Our binding is in flight; this is an older or status-only version.
            self.queue.add_or_update(Arc::new(pod), now);
            return false;
        }
        let ours = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).unwrap_or("default-scheduler")
            == self.scheduler_name;
        if ours && !is_terminated(&pod) && pod.metadata.deletion_timestamp.is_none() {
            self.queue.add_or_update(Arc::new(pod), now);
            true
        } else {
            self.queue.delete(&key);
            false
        }
    }

    /// A pod was deleted (or finished): its node has room again.
    pub fn pod_gone(&mut self, key: &str, now: Instant) -> bool {
        self.queue.delete(key);
        if self.cache.remove_pod(key) {
            self.queue.move_all_unschedulable(now);
            return true;
        }
        false
    }

    pub fn node_applied(&mut self, node: Node, now: Instant) -> bool {
        match self.cache.upsert_node(Arc::new(node)) {
            NodeChange::Added | NodeChange::Changed => {
                self.queue.move_all_unschedulable(now);
                true
            }
            NodeChange::Unchanged => false,
        }
    }

    pub fn node_gone(&mut self, name: &str) {
        self.cache.remove_node(name);
    }

    /// After a relist: forget pods the API server no longer has.
    pub fn pods_relisted(&mut self, seen: &HashSet<PodKey>, now: Instant) -> bool {
        let mut wake = false;
        for key in self.cache.pod_keys().into_iter().chain(self.queue.keys()) {
            if !seen.contains(&key) && !self.cache.is_assumed(&key) {
                wake |= self.pod_gone(&key, now);
            }
        }
        wake
    }

    /// After a relist: forget nodes the API server no longer has.
    pub fn nodes_relisted(&mut self, seen: &HashSet<String>) {
        let gone: Vec<String> = self.cache.node_names().filter(|n| !seen.contains(*n)).map(String::from).collect();
        for name in gone {
            self.node_gone(&name);
        }
    }
}

/// [`State`] shared between the watchers, the scheduling loop and the binders.
pub struct Shared {
    state: Mutex<State>,
    /// Signalled when the queue may have work.
    pub wake: Notify,
}

impl Shared {
    pub fn new(state: State) -> Shared {
        Shared { state: Mutex::new(state), wake: Notify::new() }
    }

    /// Locks the state; a panic elsewhere while holding it does not make it unusable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::queue::Pool;

    fn pod(name: &str, node: Option<&str>, extra: serde_json::Value) -> Pod {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "1"}}}]},
            "status": {"phase": "Pending"}
        });
        if let Some(n) = node {
            v["spec"]["nodeName"] = json!(n);
        }
        if let Some(obj) = extra.as_object() {
            for (k, val) in obj {
                if k == "schedulerName" {
                    v["spec"][k] = val.clone();
                } else {
                    v[k] = val.clone();
                }
            }
        }
        serde_json::from_value(v).unwrap()
    }

    fn node(name: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "10"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    }

    #[test]
    fn pending_pods_of_other_schedulers_are_ignored() {
        let now = Instant::now();
        let mut s = State::new("default-scheduler", QueueTimings::default());
        assert!(s.pod_applied(pod("a", None, json!({})), now));
        assert!(!s.pod_applied(pod("b", None, json!({"schedulerName": "other"})), now));
        assert!(!s.pod_applied(
            pod(
                "c",
                None,
                json!({"metadata": {"name": "c", "namespace": "ns", "deletionTimestamp": "2026-01-01T00:00:00Z"}})
            ),
            now
        ));
        assert_eq!(s.queue.pool("ns/a"), Some(Pool::Active));
        assert_eq!(s.queue.pool("ns/b"), None);
        assert_eq!(s.queue.pool("ns/c"), None);
    }

    #[test]
    fn bound_pods_fill_nodes_and_deletion_wakes_waiting_pods() {
        let now = Instant::now();
        let mut s = State::new("default-scheduler", QueueTimings::default());
        s.node_applied(node("n1"), now);
        s.pod_applied(pod("bound", Some("n1"), json!({})), now);
        assert_eq!(s.cache.node("n1").unwrap().requested.milli_cpu, 1000);
        s.pod_applied(pod("waiting", None, json!({})), now);
        s.queue.pop();
        s.queue.unschedulable("ns/waiting", now);
        // Status-only change of a bound pod: nothing moves.
        assert!(!s.pod_applied(pod("bound", Some("n1"), json!({"status": {"phase": "Running"}})), now));
        assert_eq!(s.queue.pool("ns/waiting"), Some(Pool::Unschedulable));
        // The bound pod finishes: room again, the waiting pod moves.
        let later = now + std::time::Duration::from_secs(5);
        assert!(s.pod_applied(pod("bound", Some("n1"), json!({"status": {"phase": "Succeeded"}})), later));
        assert_eq!(s.cache.node("n1").unwrap().requested.milli_cpu, 0);
        assert_eq!(s.queue.pool("ns/waiting"), Some(Pool::Active));
    }

    #[test]
    fn assumed_pod_is_confirmed_by_the_watch() {
        let now = Instant::now();
        let mut s = State::new("default-scheduler", QueueTimings::default());
        s.node_applied(node("n1"), now);
        s.pod_applied(pod("a", None, json!({})), now);
        let qp = s.queue.pop().unwrap();
        s.cache.assume(PodInfo::new(&qp.pod), "n1");
        // Our own status patch comes back while binding: stays assumed, not requeued.
        assert!(!s.pod_applied(pod("a", None, json!({"status": {"phase": "Pending", "conditions": []}})), now));
        assert!(s.cache.is_assumed("ns/a"));
        s.pod_applied(pod("a", Some("n1"), json!({})), now);
        assert!(!s.cache.is_assumed("ns/a"));
        assert_eq!(s.cache.node("n1").unwrap().requested.pods, 1);
        s.cache.forget("ns/a");
        assert_eq!(s.cache.node("n1").unwrap().requested.pods, 1, "confirmed pods are not forgotten");
        assert_eq!(s.queue.pool("ns/a"), None);
    }

    #[test]
    fn node_changes_wake_only_when_relevant() {
        let now = Instant::now();
        let mut s = State::new("default-scheduler", QueueTimings::default());
        assert!(s.node_applied(node("n1"), now));
        assert!(!s.node_applied(node("n1"), now));
        let mut cordoned = node("n1");
        cordoned.spec = Some(k8s_openapi::api::core::v1::NodeSpec { unschedulable: Some(true), ..Default::default() });
        assert!(s.node_applied(cordoned, now));
        assert!(s.cache.node("n1").unwrap().unschedulable);
    }

    #[test]
    fn relist_forgets_vanished_objects() {
        let now = Instant::now();
        let mut s = State::new("default-scheduler", QueueTimings::default());
        s.node_applied(node("n1"), now);
        s.node_applied(node("n2"), now);
        s.pod_applied(pod("bound", Some("n1"), json!({})), now);
        s.pod_applied(pod("pending", None, json!({})), now);
        s.pods_relisted(&HashSet::new(), now);
        s.nodes_relisted(&["n2".to_string()].into());
        assert!(s.cache.node("n1").is_none());
        assert!(s.cache.node("n2").is_some());
        assert_eq!(s.cache.pod_node("ns/bound"), None);
        assert!(s.queue.is_empty());
    }
}
