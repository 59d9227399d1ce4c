//! NodeResourcesBalancedAllocation: prefer nodes where CPU and memory would be used in similar
//! proportions after placing the pod. Pods requesting neither get the same score everywhere.

use super::MAX_NODE_SCORE;
use crate::cache::NodeInfo;
use crate::filters::Candidate;

fn fraction(requested: i64, capacity: i64) -> f64 {
    if capacity <= 0 {
        return 1.0;
    }
    (requested as f64 / capacity as f64).min(1.0)
}

pub fn score(pod: &Candidate<'_>, node: &NodeInfo) -> i64 {
    let want = pod.info.requests;
    if want.milli_cpu == 0 && want.memory == 0 {
        return 0;
    }
    let cpu = fraction(node.requested.milli_cpu + want.milli_cpu, node.allocatable.milli_cpu);
    let mem = fraction(node.requested.memory + want.memory, node.allocatable.memory);
    // The standard deviation of two values is half their distance.
    let std = (cpu - mem).abs() / 2.0;
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
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
            ("same share of both", pod_requesting("2", "4Gi"), vec![], 100),
            ("cpu only", pod_requesting("4", "0"), vec![], 50),
            ("25% vs 75%", pod_requesting("1", "6Gi"), vec![], 75),
            ("existing pods count", pod_requesting("1", "0"), vec![pod_requesting("0", "4Gi")], 87),
            ("no requests", pod(json!({})), vec![pod_requesting("4", "0")], 0),
        ];
        for (name, p, existing, want) in cases {
            let n = with_pods(node("n1", json!({})), &existing);
            assert_eq!(score(&Candidate::new(&p), &n), want, "{name}");
        }
    }
}
