//! Scores: among feasible nodes, which is best? Each score gives 0..=100 per node; [`total`]
//! combines them with kube-scheduler's default weights (NodeResourcesFit 1, BalancedAllocation 1,
//! NodeAffinity 2, TaintToleration 3, spreading 2).

mod balanced;
mod least_allocated;
mod node_affinity;
mod spread;
mod taint_toleration;

use crate::cache::NodeInfo;
use crate::filters::Candidate;

pub const MAX_NODE_SCORE: i64 = 100;

const WEIGHT_FIT: i64 = 1;
const WEIGHT_BALANCED: i64 = 1;
const WEIGHT_NODE_AFFINITY: i64 = 2;
const WEIGHT_TAINTS: i64 = 3;
const WEIGHT_SPREAD: i64 = 2;

/// The weighted sum of all scores for each of `nodes` (same order).
pub fn total(pod: &Candidate<'_>, nodes: &[&NodeInfo]) -> Vec<i64> {
    let mut totals: Vec<i64> = nodes
        .iter()
        .map(|n| WEIGHT_FIT * least_allocated::score(pod, n) + WEIGHT_BALANCED * balanced::score(pod, n))
        .collect();
    let mut add = |scores: Vec<i64>, weight: i64| {
        for (t, s) in totals.iter_mut().zip(scores) {
            *t += weight * s;
        }
    };
    if !pod.preferred_affinity.is_empty() {
        add(node_affinity::scores(pod, nodes), WEIGHT_NODE_AFFINITY);
    }
    add(taint_toleration::scores(pod, nodes), WEIGHT_TAINTS);
    add(spread::scores(pod, nodes), WEIGHT_SPREAD);
    totals
}

/// Scales raw scores so the highest becomes [`MAX_NODE_SCORE`]; with `reverse`, the lowest raw
/// score wins instead (kube-scheduler's `DefaultNormalizeScore`).
pub fn normalize(raw: &[i64], reverse: bool) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return raw.iter().map(|_| if reverse { MAX_NODE_SCORE } else { 0 }).collect();
    }
    raw.iter()
        .map(|&s| {
            let scaled = MAX_NODE_SCORE * s / max;
            if reverse {
                MAX_NODE_SCORE - scaled
            } else {
                scaled
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        let cases: [(&[i64], bool, &[i64]); 5] = [
            (&[0, 0], false, &[0, 0]),
            (&[0, 0], true, &[100, 100]),
            (&[1, 2, 4], false, &[25, 50, 100]),
            (&[1, 2, 4], true, &[75, 50, 0]),
            (&[], false, &[]),
        ];
        for (raw, reverse, want) in cases {
            assert_eq!(normalize(raw, reverse), want, "{raw:?} reverse={reverse}");
        }
    }
}
