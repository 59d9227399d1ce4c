//! NodeResourcesFit's LeastAllocated strategy: prefer nodes with the most free CPU and memory
//! after placing the pod (non-zero requests, equal weights).

use super::MAX_NODE_SCORE;
use crate::cache::NodeInfo;
use crate::filters::Candidate;

fn free_share(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

pub fn score(pod: &Candidate<'_>, node: &NodeInfo) -> i64 {
    let cpu = free_share(node.non_zero_requested.milli_cpu + pod.info.non_zero.milli_cpu, node.allocatable.milli_cpu);
    let mem = free_share(node.non_zero_requested.memory + pod.info.non_zero.memory, node.allocatable.memory);
    (cpu + mem) / 2
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filters::testutil::{node, pod, pod_requesting, with_pods};

    #[test]
    fn table() {
        // Node: 4 CPUs, 8Gi.
        let cases = [
            ("1 cpu 2Gi on empty node", pod_requesting("1", "2Gi"), vec![], 75),
            ("2 cpu 2Gi on empty node", pod_requesting("2", "2Gi"), vec![], (50 + 75) / 2),
            ("fills node", pod_requesting("4", "8Gi"), vec![], 0),
            ("half used already", pod_requesting("1", "2Gi"), vec![pod_requesting("1", "2Gi")], 50),
            // 100m and 200Mi assumed: cpu (4000-100)*100/4000 = 97, mem (8192-200)*100/8192 = 97.
            ("no requests counts as defaults", pod(json!({})), vec![], 97),
            ("over capacity scores 0", pod_requesting("8", "16Gi"), vec![], 0),
        ];
        for (name, p, existing, want) in cases {
            let n = with_pods(node("n1", json!({})), &existing);
            assert_eq!(score(&Candidate::new(&p), &n), want, "{name}");
        }
    }
}
