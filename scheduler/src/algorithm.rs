//! One scheduling decision, as kube-scheduler's `schedulePod`: filter nodes (round-robin from
//! where the last cycle stopped, only until enough feasible nodes are found, fanning out over
//! threads for large clusters), score the feasible ones and pick the best, ties at random.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cache::NodeInfo;
use crate::filters::{self, Candidate};
use crate::fit_error::FitError;
use crate::scores;

/// Below this many nodes every node is evaluated (kube-scheduler's `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
/// Nodes filtered on the calling thread before fanning out: thread hand-off costs more than
/// filtering a few hundred nodes.
const SEQUENTIAL_PREFIX: usize = 1024;

/// How many feasible nodes to look for before scoring: all nodes in small clusters, else
/// `percentage` of them (0 = adaptive: 50% minus 1% per 125 nodes, at least 5%), at least 100.
pub fn num_feasible_nodes_to_find(percentage: u32, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut pct = percentage as usize;
    if pct == 0 {
        pct = 50usize.saturating_sub(num_all_nodes / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    if pct >= 100 {
        return num_all_nodes;
    }
    (num_all_nodes * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Knobs of the algorithm (from the command line).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// 0 = adaptive, as kube-scheduler.
    pub percentage_of_nodes_to_score: u32,
    /// Threads used to filter large clusters.
    pub parallelism: usize,
}

/// The decision-making state kept between cycles: where the next round-robin scan starts and the
/// random source for ties.
pub struct Algorithm {
    opts: Options,
    next_start: usize,
    rng: StdRng,
}

impl Algorithm {
    pub fn new(opts: Options) -> Algorithm {
        Algorithm { opts, next_start: 0, rng: StdRng::from_os_rng() }
    }

    pub fn with_seed(opts: Options, seed: u64) -> Algorithm {
        Algorithm { opts, next_start: 0, rng: StdRng::seed_from_u64(seed) }
    }

    /// Picks a node for the pod: its index in `nodes`, or why none fits.
    pub fn schedule(&mut self, pod: &Candidate<'_>, nodes: &[NodeInfo]) -> Result<usize, FitError> {
        if nodes.is_empty() {
            return Err(FitError::default());
        }
        let (feasible, diagnosis) = self.find_feasible(pod, nodes);
        match feasible.len() {
            0 => Err(diagnosis),
            1 => Ok(feasible[0]),
            _ => {
                let refs: Vec<&NodeInfo> = feasible.iter().map(|&i| &nodes[i]).collect();
                let totals = scores::total(pod, &refs);
                Ok(feasible[self.pick_best(&totals)])
            }
        }
    }

    /// Index of the highest score; among equal scores each is equally likely (reservoir sampling).
    fn pick_best(&mut self, totals: &[i64]) -> usize {
        let mut best = 0;
        let mut ties = 0u32;
        for (i, &s) in totals.iter().enumerate() {
            if s > totals[best] {
                best = i;
                ties = 1;
            } else if s == totals[best] {
                ties += 1;
                if self.rng.random_range(0..ties) == 0 {
                    best = i;
                }
            }
        }
        best
    }

    fn find_feasible(&mut self, pod: &Candidate<'_>, nodes: &[NodeInfo]) -> (Vec<usize>, FitError) {
        let n = nodes.len();
        let want = num_feasible_nodes_to_find(self.opts.percentage_of_nodes_to_score, n);
        let start = self.next_start % n;
        let mut diagnosis = FitError { num_all_nodes: n, ..Default::default() };
        let mut feasible = Vec::with_capacity(want.min(n));
        let sequential = if self.opts.parallelism > 1 { SEQUENTIAL_PREFIX.min(n) } else { n };
        let mut processed = 0;
        while processed < sequential && feasible.len() < want {
            let i = (start + processed) % n;
            match filters::run(pod, &nodes[i]) {
                Ok(()) => feasible.push(i),
                Err(reasons) => diagnosis.add(reasons),
            }
            processed += 1;
        }
        if feasible.len() < want && processed < n {
            let (more, diag, count) = self.filter_parallel(pod, nodes, start, processed, want - feasible.len());
            feasible.extend(more);
            feasible.truncate(want);
            diagnosis.merge(diag);
            processed += count;
        }
        self.next_start = (start + processed) % n;
        (feasible, diagnosis)
    }

    /// Filters positions `from..n` of the round-robin order over `parallelism` threads, stopping
    /// once `want` feasible nodes are found. Returns feasible indices (in round-robin order), the
    /// reasons of the others and how many positions were evaluated.
    fn filter_parallel(
        &self,
        pod: &Candidate<'_>,
        nodes: &[NodeInfo],
        start: usize,
        from: usize,
        want: usize,
    ) -> (Vec<usize>, FitError, usize) {
        let n = nodes.len();
        let remaining = n - from;
        let threads = self.opts.parallelism.clamp(1, remaining);
        let chunk = remaining.div_ceil(threads);
        let found = AtomicUsize::new(0);
        let results: Vec<(Vec<usize>, FitError, usize)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let found = &found;
                    s.spawn(move || {
                        let lo = from + t * chunk;
                        let hi = (lo + chunk).min(n);
                        let mut feasible = Vec::new();
                        let mut diag = FitError::default();
                        let mut count = 0;
                        for pos in lo..hi {
                            if found.load(Ordering::Relaxed) >= want {
                                break;
                            }
                            let i = (start + pos) % n;
                            match filters::run(pod, &nodes[i]) {
                                Ok(()) => {
                                    feasible.push(i);
                                    found.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(reasons) => diag.add(reasons),
                            }
                            count += 1;
                        }
                        (feasible, diag, count)
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let mut feasible = Vec::new();
        let mut diagnosis = FitError::default();
        let mut processed = 0;
        for (f, d, c) in results {
            feasible.extend(f);
            diagnosis.merge(d);
            processed += c;
        }
        (feasible, diagnosis, processed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::filters::testutil::{node, pod, pod_requesting, with_pods};
    use crate::filters::Reason;

    #[test]
    fn feasible_nodes_to_find() {
        let cases = [
            (0, 0, 0),
            (0, 50, 50),
            (0, 99, 99),
            (0, 100, 100),
            (0, 1000, 420),    // 50 - 8 = 42%
            (0, 5000, 500),    // 50 - 40 = 10%
            (0, 6000, 300),    // 50 - 48 = 2% -> 5%
            (0, 100000, 5000), // 5%
            (10, 500, 100),    // 50 -> at least 100
            (50, 1000, 500),
            (100, 1000, 1000),
            (150, 1000, 1000),
        ];
        for (pct, all, want) in cases {
            assert_eq!(num_feasible_nodes_to_find(pct, all), want, "{pct}% of {all}");
        }
    }

    fn opts(parallelism: usize) -> Options {
        Options { percentage_of_nodes_to_score: 0, parallelism }
    }

    #[test]
    fn no_nodes() {
        let p = pod(json!({}));
        let err = Algorithm::with_seed(opts(1), 1).schedule(&Candidate::new(&p), &[]).unwrap_err();
        assert_eq!(err.to_string(), "no nodes available to schedule pods");
    }

    #[test]
    fn reports_every_node_when_nothing_fits() {
        let nodes = vec![
            node("small-1", json!({"status": {"allocatable": {"cpu": "1"}}})),
            node("small-2", json!({"status": {"allocatable": {"cpu": "1"}}})),
            node("gpu", json!({"spec": {"taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]}})),
            node("cordoned", json!({"spec": {"unschedulable": true}})),
        ];
        let p = pod_requesting("2", "1Gi");
        let err = Algorithm::with_seed(opts(1), 1).schedule(&Candidate::new(&p), &nodes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/4 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 1 node(s) were unschedulable, \
             2 Insufficient cpu."
        );
    }

    #[test]
    fn prefers_least_allocated_node() {
        let nodes = vec![
            with_pods(node("busy", json!({})), &[pod_requesting("3", "6Gi")]),
            node("idle", json!({})),
            with_pods(node("half", json!({})), &[pod_requesting("2", "4Gi")]),
        ];
        let p = pod_requesting("500m", "512Mi");
        let mut algo = Algorithm::with_seed(opts(1), 7);
        for _ in 0..10 {
            assert_eq!(nodes[algo.schedule(&Candidate::new(&p), &nodes).unwrap()].name, "idle");
        }
    }

    #[test]
    fn single_feasible_node_is_chosen() {
        let nodes = vec![node("a", json!({})), node("b", json!({"metadata": {"labels": {"disk": "ssd"}}}))];
        let p = pod(json!({"nodeSelector": {"disk": "ssd"}}));
        assert_eq!(Algorithm::with_seed(opts(1), 1).schedule(&Candidate::new(&p), &nodes), Ok(1));
    }

    #[test]
    fn ties_are_broken_at_random() {
        let nodes: Vec<NodeInfo> = (0..4).map(|i| node(&format!("n{i}"), json!({}))).collect();
        let p = pod_requesting("1", "1Gi");
        let mut algo = Algorithm::with_seed(opts(1), 42);
        let mut seen: HashMap<usize, usize> = HashMap::new();
        for _ in 0..400 {
            *seen.entry(algo.schedule(&Candidate::new(&p), &nodes).unwrap()).or_default() += 1;
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen.values().all(|&c| c > 50), "{seen:?}");
    }

    #[test]
    fn samples_only_enough_nodes_and_rotates() {
        // 1000 identical nodes: 420 are examined per cycle, the next cycle starts after them.
        let nodes: Vec<NodeInfo> = (0..1000).map(|i| node(&format!("n{i}"), json!({}))).collect();
        let p = pod_requesting("1", "1Gi");
        let mut algo = Algorithm::with_seed(opts(1), 1);
        let first = algo.schedule(&Candidate::new(&p), &nodes).unwrap();
        assert!(first < 420, "{first}");
        assert_eq!(algo.next_start, 420);
        let second = algo.schedule(&Candidate::new(&p), &nodes).unwrap();
        assert!((420..840).contains(&second), "{second}");
        assert_eq!(algo.next_start, 840);
    }

    #[test]
    fn parallel_filtering_agrees_with_sequential() {
        // 3000 nodes, only every 7th has the label: the sequential prefix cannot find enough.
        let nodes: Vec<NodeInfo> = (0..3000)
            .map(|i| {
                let labels = if i % 7 == 0 { json!({"pool": "a"}) } else { json!({"pool": "b"}) };
                node(&format!("n{i}"), json!({"metadata": {"labels": labels}}))
            })
            .collect();
        let p = pod(json!({"nodeSelector": {"pool": "a"}}));
        for parallelism in [1, 4] {
            let mut algo = Algorithm::with_seed(opts(parallelism), 3);
            let picked = algo.schedule(&Candidate::new(&p), &nodes).unwrap();
            assert_eq!(picked % 7, 0, "parallelism {parallelism}");
        }
        let none = pod(json!({"nodeSelector": {"pool": "c"}}));
        for parallelism in [1, 4] {
            let err = Algorithm::with_seed(opts(parallelism), 3).schedule(&Candidate::new(&none), &nodes).unwrap_err();
            assert_eq!(err.reasons.get(&Reason::NodeAffinity), Some(&3000), "parallelism {parallelism}");
            assert_eq!(
                err.to_string(),
                "0/3000 nodes are available: 3000 node(s) didn't match Pod's node affinity/selector."
            );
        }
    }
}
