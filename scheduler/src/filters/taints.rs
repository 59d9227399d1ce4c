//! TaintToleration: a node's NoSchedule and NoExecute taints keep off pods that do not tolerate
//! them; PreferNoSchedule taints only lower the score.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use super::{Candidate, Reason};
use crate::cache::NodeInfo;

/// Kubernetes' `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => key == taint.key && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

pub fn filter(pod: &Candidate<'_>, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    let untolerated = node
        .taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|taint| !pod.tolerations.iter().any(|t| tolerates(t, taint)));
    match untolerated {
        None => Ok(()),
        Some(t) => {
            Err(vec![Reason::UntoleratedTaint { key: t.key.clone(), value: t.value.clone().unwrap_or_default() }])
        }
    }
}

pub fn count_untolerated_prefer_no_schedule(tolerations: &[Toleration], taints: &[Taint]) -> usize {
    taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule")
        .filter(|taint| {
            !tolerations
                .iter()
                .filter(|t| matches!(t.effect.as_deref(), None | Some("") | Some("PreferNoSchedule")))
                .any(|t| tolerates(t, taint))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::filters::testutil::{node, pod};

    fn taint(key: &str, value: &str, effect: &str) -> Value {
        json!({"key": key, "value": value, "effect": effect})
    }

    #[test]
    fn tolerates_table() {
        let cases = [
            (
                json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}),
                taint("k", "v", "NoSchedule"),
                true,
            ),
            (json!({"key": "k", "value": "v"}), taint("k", "v", "NoSchedule"), true),
            (json!({"key": "k", "value": "other"}), taint("k", "v", "NoSchedule"), false),
            (json!({"key": "k", "operator": "Exists"}), taint("k", "v", "NoExecute"), true),
            (json!({"key": "k", "operator": "Exists", "effect": "NoExecute"}), taint("k", "v", "NoSchedule"), false),
            (json!({"operator": "Exists"}), taint("any", "thing", "NoSchedule"), true),
            (json!({"key": "other", "operator": "Exists"}), taint("k", "", "NoSchedule"), false),
            (json!({"key": "k", "operator": "Equal"}), taint("k", "", "NoSchedule"), true),
            (json!({"key": "k", "operator": "Bogus"}), taint("k", "", "NoSchedule"), false),
        ];
        for (t, ta, want) in cases {
            let tol: Toleration = serde_json::from_value(t.clone()).unwrap();
            let tai: Taint = serde_json::from_value(ta.clone()).unwrap();
            assert_eq!(tolerates(&tol, &tai), want, "{t} vs {ta}");
        }
    }

    #[test]
    fn filter_table() {
        let untolerated = |k: &str, v: &str| Err(vec![Reason::UntoleratedTaint { key: k.into(), value: v.into() }]);
        let cases = [
            ("no taints", json!([]), json!([]), Ok(())),
            (
                "NoSchedule not tolerated",
                json!([taint("gpu", "true", "NoSchedule")]),
                json!([]),
                untolerated("gpu", "true"),
            ),
            ("NoExecute not tolerated", json!([taint("gpu", "", "NoExecute")]), json!([]), untolerated("gpu", "")),
            ("PreferNoSchedule is only a score", json!([taint("gpu", "", "PreferNoSchedule")]), json!([]), Ok(())),
            (
                "tolerated",
                json!([taint("gpu", "true", "NoSchedule")]),
                json!([{"key": "gpu", "value": "true", "effect": "NoSchedule"}]),
                Ok(()),
            ),
            (
                "second taint not tolerated",
                json!([taint("a", "1", "NoSchedule"), taint("b", "2", "NoSchedule")]),
                json!([{"key": "a", "operator": "Exists"}]),
                untolerated("b", "2"),
            ),
        ];
        for (name, taints, tols, want) in cases {
            let p = pod(json!({"tolerations": tols}));
            let n = node("n1", json!({"spec": {"taints": taints}}));
            assert_eq!(filter(&Candidate::new(&p), &n), want, "{name}");
        }
    }

    #[test]
    fn not_ready_node_has_not_ready_taint() {
        let p = pod(json!({}));
        let n = node("n1", json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        let want = Err(vec![Reason::UntoleratedTaint { key: "node.kubernetes.io/not-ready".into(), value: "".into() }]);
        assert_eq!(filter(&Candidate::new(&p), &n), want);
        let n = node("n1", json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}));
        let want =
            Err(vec![Reason::UntoleratedTaint { key: "node.kubernetes.io/unreachable".into(), value: "".into() }]);
        assert_eq!(filter(&Candidate::new(&p), &n), want);
        let n = node("n1", json!({"status": {"conditions": []}}));
        assert!(filter(&Candidate::new(&p), &n).is_err());
        let tolerant = pod(json!({"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]}));
        let n = node("n1", json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        assert_eq!(filter(&Candidate::new(&tolerant), &n), Ok(()));
    }

    #[test]
    fn prefer_no_schedule_count() {
        let taints: Vec<Taint> = serde_json::from_value(json!([
            taint("a", "", "PreferNoSchedule"),
            taint("b", "", "PreferNoSchedule"),
            taint("c", "", "NoSchedule")
        ]))
        .unwrap();
        let cases = [
            (json!([]), 2),
            (json!([{"key": "a", "operator": "Exists"}]), 1),
            (json!([{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]), 2),
            (json!([{"operator": "Exists", "effect": "PreferNoSchedule"}]), 0),
        ];
        for (tols, want) in cases {
            let tols: Vec<Toleration> = serde_json::from_value(tols).unwrap();
            assert_eq!(count_untolerated_prefer_no_schedule(&tols, &taints), want);
        }
    }
}
