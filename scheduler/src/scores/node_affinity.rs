//! NodeAffinity (preferred): the sum of the weights of the preferred terms a node matches,
//! normalized so the best node gets 100.

use super::normalize;
use crate::cache::NodeInfo;
use crate::filters::{term_matches, Candidate};

pub fn scores(pod: &Candidate<'_>, nodes: &[&NodeInfo]) -> Vec<i64> {
    let raw: Vec<i64> = nodes
        .iter()
        .map(|n| {
            pod.preferred_affinity
                .iter()
                .filter(|t| t.weight != 0 && term_matches(&t.preference, n.labels(), &n.name))
                .map(|t| i64::from(t.weight))
                .sum()
        })
        .collect();
    normalize(&raw, false)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filters::testutil::{node, pod};

    #[test]
    fn table() {
        let p = pod(json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 80, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
            {"weight": 20, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}
        ]}}}));
        let nodes = [
            node("both", json!({"metadata": {"labels": {"zone": "a", "disk": "ssd"}}})),
            node("zone", json!({"metadata": {"labels": {"zone": "a"}}})),
            node("disk", json!({"metadata": {"labels": {"disk": "ssd"}}})),
            node("none", json!({})),
        ];
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        assert_eq!(scores(&Candidate::new(&p), &refs), vec![100, 80, 20, 0]);
        let only_disk: Vec<&NodeInfo> = vec![&nodes[2], &nodes[3]];
        assert_eq!(scores(&Candidate::new(&p), &only_disk), vec![100, 0]);
    }
}
