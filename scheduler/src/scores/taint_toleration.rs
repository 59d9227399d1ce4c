//! TaintToleration (score): fewer untolerated PreferNoSchedule taints is better.

use super::normalize;
use crate::cache::NodeInfo;
use crate::filters::{untolerated_prefer_no_schedule, Candidate};

pub fn scores(pod: &Candidate<'_>, nodes: &[&NodeInfo]) -> Vec<i64> {
    let raw: Vec<i64> = nodes.iter().map(|n| untolerated_prefer_no_schedule(pod, n) as i64).collect();
    normalize(&raw, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filters::testutil::{node, pod};

    #[test]
    fn table() {
        let soft = |k: &str| json!({"key": k, "effect": "PreferNoSchedule"});
        let nodes = [
            node("clean", json!({})),
            node("one", json!({"spec": {"taints": [soft("a")]}})),
            node("two", json!({"spec": {"taints": [soft("a"), soft("b")]}})),
            node("hard", json!({"spec": {"taints": [{"key": "c", "effect": "NoSchedule"}]}})),
        ];
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let cases = [
            (json!([]), vec![100, 50, 0, 100]),
            (json!([{"key": "a", "operator": "Exists"}]), vec![100, 100, 0, 100]),
            (json!([{"operator": "Exists"}]), vec![100, 100, 100, 100]),
        ];
        for (tols, want) in cases {
            let p = pod(json!({"tolerations": tols}));
            assert_eq!(scores(&Candidate::new(&p), &refs), want, "{tols}");
        }
    }
}
