//! The scheduling queue, as kube-scheduler's: an active heap (higher priority first, then
//! first-come), a backoff pool (1 s doubling per failed attempt up to 10 s) and an unschedulable
//! pool whose pods move back when a cluster event could change the answer, or after at most
//! [`QueueTimings::unschedulable_timeout`]. Pure: time is passed in, so tests drive it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use crate::podinfo::{pod_key, PodKey};

#[derive(Clone, Copy, Debug)]
pub struct QueueTimings {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest a pod waits in the unschedulable pool without any event.
    pub unschedulable_timeout: Duration,
}

impl Default for QueueTimings {
    fn default() -> Self {
        QueueTimings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            unschedulable_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    Active,
    Backoff,
    Unschedulable,
    /// Popped and being scheduled or bound.
    InFlight,
}

#[derive(Debug)]
struct Entry {
    pod: Arc<Pod>,
    pool: Pool,
    attempts: u32,
    /// When the last attempt failed (backoff is counted from here).
    last_failure: Option<Instant>,
    /// When the pod entered the unschedulable pool.
    unschedulable_since: Option<Instant>,
    /// Heap entries for other generations are stale.
    generation: u64,
    /// The move-request counter when the pod was popped.
    popped_at_cycle: u64,
}

/// A pod handed out for one scheduling attempt.
#[derive(Clone, Debug)]
pub struct QueuedPod {
    pub pod: Arc<Pod>,
    pub key: PodKey,
    pub attempts: u32,
}

#[derive(Debug)]
pub struct SchedulingQueue {
    timings: QueueTimings,
    entries: HashMap<PodKey, Entry>,
    /// (priority, first-come order, key, generation)
    active: BinaryHeap<(i32, Reverse<u64>, PodKey, u64)>,
    seq: u64,
    /// Bumped by every cluster event that may make pods schedulable.
    move_cycle: u64,
    /// Pods in the backoff or unschedulable pool, so periodic work skips the (many) others.
    waiting: HashSet<PodKey>,
}

impl SchedulingQueue {
    pub fn new(timings: QueueTimings) -> SchedulingQueue {
        SchedulingQueue {
            timings,
            entries: HashMap::new(),
            active: BinaryHeap::new(),
            seq: 0,
            move_cycle: 0,
            waiting: HashSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn pool(&self, key: &str) -> Option<Pool> {
        self.entries.get(key).map(|e| e.pool)
    }

    fn push_active(&mut self, key: &PodKey) {
        let Some(e) = self.entries.get_mut(key) else { return };
        self.waiting.remove(key);
        self.seq += 1;
        e.pool = Pool::Active;
        e.generation = self.seq;
        e.unschedulable_since = None;
        let priority = e.pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        self.active.push((priority, Reverse(self.seq), key.clone(), self.seq));
    }

    /// A pending pod appeared or changed. New pods go to active; a changed spec or labels of a
    /// waiting pod make it eligible again (to backoff if its backoff is still running); other
    /// changes (status, e.g. our own condition update) only refresh the stored object.
    pub fn add_or_update(&mut self, pod: Arc<Pod>, now: Instant) {
        let key = pod_key(&pod);
        let Some(e) = self.entries.get_mut(&key) else {
            self.entries.insert(
                key.clone(),
                Entry {
                    pod,
                    pool: Pool::Active,
                    attempts: 0,
                    last_failure: None,
                    unschedulable_since: None,
                    generation: 0,
                    popped_at_cycle: 0,
                },
            );
            self.push_active(&key);
            return;
        };
        let relevant = e.pod.spec != pod.spec || e.pod.metadata.labels != pod.metadata.labels;
        e.pod = pod;
        if relevant && e.pool == Pool::Unschedulable {
            self.requeue_after_event(&key, now);
        }
    }

    pub fn delete(&mut self, key: &str) {
        self.entries.remove(key);
        self.waiting.remove(key);
    }

    /// Takes the next pod from the active heap (it becomes in-flight).
    pub fn pop(&mut self) -> Option<QueuedPod> {
        while let Some((_, _, key, generation)) = self.active.pop() {
            let Some(e) = self.entries.get_mut(&key) else { continue };
            if e.pool != Pool::Active || e.generation != generation {
                continue;
            }
            e.pool = Pool::InFlight;
            e.attempts += 1;
            e.popped_at_cycle = self.move_cycle;
            return Some(QueuedPod { pod: e.pod.clone(), key, attempts: e.attempts });
        }
        None
    }

    /// The pod was bound (or handed to the binder for good): forget it.
    pub fn done(&mut self, key: &str) {
        if self.entries.get(key).is_some_and(|e| e.pool == Pool::InFlight) {
            self.entries.remove(key);
        }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(31);
        self.timings.initial_backoff.saturating_mul(1u32 << shift).min(self.timings.max_backoff)
    }

    fn backoff_expired(&self, e: &Entry, now: Instant) -> bool {
        match e.last_failure {
            Some(t) => now >= t + self.backoff(e.attempts),
            None => true,
        }
    }

    /// The attempt found no node. If a cluster event happened while it was in flight, the pod
    /// goes to backoff (the event may have changed the answer); otherwise it waits for one.
    pub fn unschedulable(&mut self, key: &str, now: Instant) {
        let cycle = self.move_cycle;
        let Some(e) = self.entries.get_mut(key) else { return };
        if e.pool != Pool::InFlight {
            return;
        }
        e.last_failure = Some(now);
        if e.popped_at_cycle < cycle {
            e.pool = Pool::Backoff;
        } else {
            e.pool = Pool::Unschedulable;
            e.unschedulable_since = Some(now);
        }
        self.waiting.insert(key.to_string());
    }

    /// The attempt failed for another reason (e.g. the binding call): retry after backoff.
    pub fn error(&mut self, key: &str, now: Instant) {
        let Some(e) = self.entries.get_mut(key) else { return };
        if e.pool == Pool::InFlight {
            e.last_failure = Some(now);
            e.pool = Pool::Backoff;
            self.waiting.insert(key.to_string());
        }
    }

    fn requeue_after_event(&mut self, key: &PodKey, now: Instant) {
        let Some(e) = self.entries.get(key) else { return };
        if self.backoff_expired(e, now) {
            self.push_active(key);
        } else if let Some(e) = self.entries.get_mut(key) {
            e.pool = Pool::Backoff;
            e.unschedulable_since = None;
        }
    }

    /// A cluster event that may make unschedulable pods fit (node added or changed, pod
    /// removed from a node): move them all to active, or to backoff while it lasts.
    pub fn move_all_unschedulable(&mut self, now: Instant) {
        self.move_cycle += 1;
        let keys: Vec<PodKey> = self
            .waiting
            .iter()
            .filter(|k| self.entries.get(*k).is_some_and(|e| e.pool == Pool::Unschedulable))
            .cloned()
            .collect();
        for key in keys {
            self.requeue_after_event(&key, now);
        }
    }

    /// Moves pods whose backoff ended to active, and pods unschedulable for too long back too.
    pub fn flush(&mut self, now: Instant) {
        let timeout = self.timings.unschedulable_timeout;
        let mut due = Vec::new();
        let mut stale = Vec::new();
        for (k, e) in self.waiting.iter().filter_map(|k| self.entries.get(k).map(|e| (k, e))) {
            match e.pool {
                Pool::Backoff if self.backoff_expired(e, now) => due.push(k.clone()),
                Pool::Unschedulable if e.unschedulable_since.is_some_and(|t| now >= t + timeout) => {
                    stale.push(k.clone())
                }
                _ => {}
            }
        }
        for k in due {
            self.push_active(&k);
        }
        for k in stale {
            self.requeue_after_event(&k, now);
        }
    }

    /// When [`SchedulingQueue::flush`] next has something to do, if anything waits.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.waiting
            .iter()
            .filter_map(|k| self.entries.get(k))
            .filter_map(|e| match e.pool {
                Pool::Backoff => Some(e.last_failure.map_or_else(Instant::now, |t| t + self.backoff(e.attempts))),
                Pool::Unschedulable => e.unschedulable_since.map(|t| t + self.timings.unschedulable_timeout),
                _ => None,
            })
            .min()
    }

    pub fn keys(&self) -> Vec<PodKey> {
        self.entries.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, priority: Option<i32>) -> Arc<Pod> {
        let mut spec = json!({"containers": [{"name": "c", "image": "i"}]});
        if let Some(p) = priority {
            spec["priority"] = json!(p);
        }
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns"}, "spec": spec})).unwrap())
    }

    fn q() -> SchedulingQueue {
        SchedulingQueue::new(QueueTimings::default())
    }

    fn pop_names(q: &mut SchedulingQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop()).map(|p| p.key).collect()
    }

    #[test]
    fn priority_then_first_come() {
        let now = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), now);
        q.add_or_update(pod("b", Some(10)), now);
        q.add_or_update(pod("c", None), now);
        q.add_or_update(pod("d", Some(10)), now);
        assert_eq!(pop_names(&mut q), ["ns/b", "ns/d", "ns/a", "ns/c"]);
        assert_eq!(q.pool("ns/a"), Some(Pool::InFlight));
    }

    #[test]
    fn duplicate_adds_pop_once_and_deleted_pods_never() {
        let now = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), now);
        q.add_or_update(pod("a", None), now);
        q.add_or_update(pod("b", None), now);
        q.delete("ns/b");
        assert_eq!(pop_names(&mut q), ["ns/a"]);
    }

    #[test]
    fn unschedulable_waits_for_an_event_then_respects_backoff() {
        let t0 = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), t0);
        assert!(q.pop().is_some());
        q.unschedulable("ns/a", t0);
        assert_eq!(q.pool("ns/a"), Some(Pool::Unschedulable));
        q.flush(t0 + Duration::from_secs(30));
        assert!(q.pop().is_none(), "no event, no timeout yet");
        // An event within the first backoff second: to backoff, then active once it ends.
        q.move_all_unschedulable(t0 + Duration::from_millis(500));
        assert_eq!(q.pool("ns/a"), Some(Pool::Backoff));
        q.flush(t0 + Duration::from_millis(900));
        assert!(q.pop().is_none());
        q.flush(t0 + Duration::from_secs(1));
        assert_eq!(q.pop().map(|p| p.attempts), Some(2));
    }

    #[test]
    fn event_after_backoff_goes_straight_to_active() {
        let t0 = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), t0);
        q.pop();
        q.unschedulable("ns/a", t0);
        q.move_all_unschedulable(t0 + Duration::from_secs(5));
        assert_eq!(q.pool("ns/a"), Some(Pool::Active));
    }

    #[test]
    fn backoff_doubles_up_to_ten_seconds() {
        let t0 = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), t0);
        let mut now = t0;
        for (attempt, want_secs) in [(1u32, 1u64), (2, 2), (3, 4), (4, 8), (5, 10), (6, 10)] {
            let p = q.pop().expect("active");
            assert_eq!(p.attempts, attempt);
            q.error("ns/a", now);
            q.flush(now + Duration::from_millis(want_secs * 1000 - 1));
            assert!(q.pop().is_none(), "attempt {attempt}: too early");
            assert_eq!(q.next_wakeup(), Some(now + Duration::from_secs(want_secs)));
            now += Duration::from_secs(want_secs);
            q.flush(now);
        }
    }

    #[test]
    fn unschedulable_pods_retry_after_timeout() {
        let t0 = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), t0);
        q.pop();
        q.unschedulable("ns/a", t0);
        assert_eq!(q.next_wakeup(), Some(t0 + Duration::from_secs(60)));
        q.flush(t0 + Duration::from_secs(59));
        assert!(q.pop().is_none());
        q.flush(t0 + Duration::from_secs(60));
        assert!(q.pop().is_some());
    }

    #[test]
    fn event_during_attempt_sends_failed_pod_to_backoff() {
        let t0 = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), t0);
        q.pop();
        q.move_all_unschedulable(t0);
        q.unschedulable("ns/a", t0);
        assert_eq!(q.pool("ns/a"), Some(Pool::Backoff));
    }

    #[test]
    fn only_spec_or_label_updates_requeue() {
        let t0 = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), t0);
        q.pop();
        q.unschedulable("ns/a", t0);
        let mut status_only = (*pod("a", None)).clone();
        status_only.status = Some(Default::default());
        q.add_or_update(Arc::new(status_only), t0 + Duration::from_secs(5));
        assert_eq!(q.pool("ns/a"), Some(Pool::Unschedulable));
        let mut relabeled = (*pod("a", None)).clone();
        relabeled.metadata.labels = Some([("x".to_string(), "y".to_string())].into());
        q.add_or_update(Arc::new(relabeled), t0 + Duration::from_secs(5));
        assert_eq!(q.pool("ns/a"), Some(Pool::Active));
    }

    #[test]
    fn done_forgets_in_flight_pods() {
        let t0 = Instant::now();
        let mut q = q();
        q.add_or_update(pod("a", None), t0);
        q.pop();
        q.done("ns/a");
        assert!(q.is_empty());
    }
}
