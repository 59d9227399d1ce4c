//! Spreading: prefer nodes carrying fewer pods of the same group (same controller owner, or same
//! labels when there is no owner), like kube-scheduler's default spreading.

use super::normalize;
use crate::cache::NodeInfo;
use crate::filters::Candidate;

pub fn scores(pod: &Candidate<'_>, nodes: &[&NodeInfo]) -> Vec<i64> {
    let Some(key) = pod.info.spread_key else { return normalize(&vec![0; nodes.len()], true) };
    let raw: Vec<i64> = nodes.iter().map(|n| i64::from(n.spread.get(key))).collect();
    normalize(&raw, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filters::testutil::{node, pod, with_pods};

    #[test]
    fn table() {
        let web = || {
            let mut p = pod(json!({}));
            p.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
            p
        };
        let db = || {
            let mut p = pod(json!({}));
            p.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
            p
        };
        let nodes = [
            with_pods(node("a", json!({})), &[web(), web()]),
            with_pods(node("b", json!({})), &[web()]),
            with_pods(node("c", json!({})), &[db(), db(), db()]),
        ];
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        assert_eq!(scores(&Candidate::new(&web()), &refs), vec![0, 50, 100]);
        assert_eq!(scores(&Candidate::new(&db()), &refs), vec![100, 100, 0]);
        assert_eq!(scores(&Candidate::new(&pod(json!({}))), &refs), vec![100, 100, 100]);
    }
}
