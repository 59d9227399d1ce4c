//! NodeAffinity: `spec.nodeSelector` and required node affinity (terms ORed, requirements within
//! a term ANDed; operators In, NotIn, Exists, DoesNotExist, Gt, Lt; matchFields on
//! `metadata.name`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};

use super::{Candidate, Reason};
use crate::cache::NodeInfo;

/// Whether one requirement holds for the value of its key (`None`: the key is absent).
pub fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    let as_int = |s: &str| s.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value.and_then(as_int), values) else { return false };
            let Some(bound) = as_int(bound) else { return false };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A term matches when all its expressions (on labels) and fields (`metadata.name`) match; an
/// empty term matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, labels: &BTreeMap<String, String>, node_name: &str) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| r.key == "metadata.name" && requirement_matches(r, Some(node_name)))
}

pub fn matches(pod: &Candidate<'_>, node: &NodeInfo) -> bool {
    if pod.node_selector.is_none() && pod.required_affinity.is_none() {
        // Most pods ask nothing: don't touch the node's labels (a cache miss per node).
        return true;
    }
    let labels = node.labels();
    if let Some(sel) = pod.node_selector {
        if !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    match pod.required_affinity {
        Some(required) => required.node_selector_terms.iter().any(|t| term_matches(t, labels, &node.name)),
        None => true,
    }
}

pub fn filter(pod: &Candidate<'_>, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    if matches(pod, node) {
        Ok(())
    } else {
        Err(vec![Reason::NodeAffinity])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::filters::testutil::{node, pod};

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn requirement_table() {
        let cases = [
            (req("k", "In", &["a", "b"]), Some("a"), true),
            (req("k", "In", &["a", "b"]), Some("c"), false),
            (req("k", "In", &["a"]), None, false),
            (req("k", "NotIn", &["a"]), Some("a"), false),
            (req("k", "NotIn", &["a"]), Some("b"), true),
            (req("k", "NotIn", &["a"]), None, true),
            (req("k", "Exists", &[]), Some(""), true),
            (req("k", "Exists", &[]), None, false),
            (req("k", "DoesNotExist", &[]), None, true),
            (req("k", "DoesNotExist", &[]), Some("x"), false),
            (req("k", "Gt", &["5"]), Some("6"), true),
            (req("k", "Gt", &["5"]), Some("5"), false),
            (req("k", "Gt", &["5"]), Some("x"), false),
            (req("k", "Gt", &["5"]), None, false),
            (req("k", "Gt", &["5", "6"]), Some("9"), false),
            (req("k", "Lt", &["5"]), Some("-1"), true),
            (req("k", "Lt", &["5"]), Some("5"), false),
            (req("k", "Lt", &["x"]), Some("1"), false),
            (req("k", "Foo", &["a"]), Some("a"), false),
        ];
        for (r, value, want) in cases {
            assert_eq!(requirement_matches(&r, value), want, "{} {:?} {:?} on {value:?}", r.key, r.operator, r.values);
        }
    }

    fn affinity(terms: Value) -> Value {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
    }

    #[test]
    fn filter_table() {
        let labels = json!({"metadata": {"labels": {"zone": "a", "disk": "ssd", "cores": "8"}}});
        let cases = [
            ("no constraints", json!({}), true),
            ("nodeSelector matches", json!({"nodeSelector": {"zone": "a", "disk": "ssd"}}), true),
            ("nodeSelector value differs", json!({"nodeSelector": {"zone": "b"}}), false),
            ("nodeSelector key missing", json!({"nodeSelector": {"gpu": "true"}}), false),
            (
                "In matches",
                affinity(json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}])),
                true,
            ),
            (
                "expressions in a term are ANDed",
                affinity(json!([{"matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]},
                    {"key": "cores", "operator": "Gt", "values": ["16"]}
                ]}])),
                false,
            ),
            (
                "terms are ORed",
                affinity(json!([
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z"]}]},
                    {"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["16"]}]}
                ])),
                true,
            ),
            ("empty term matches nothing", affinity(json!([{}])), false),
            ("no terms match nothing", affinity(json!([])), false),
            (
                "DoesNotExist",
                affinity(json!([{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}])),
                true,
            ),
            (
                "matchFields name In",
                affinity(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])),
                true,
            ),
            (
                "matchFields name NotIn",
                affinity(json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}])),
                false,
            ),
            (
                "matchFields other field",
                affinity(json!([{"matchFields": [{"key": "metadata.uid", "operator": "Exists"}]}])),
                false,
            ),
            (
                "selector and affinity both needed",
                {
                    let mut v = affinity(json!([{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]));
                    v["nodeSelector"] = json!({"disk": "hdd"});
                    v
                },
                false,
            ),
        ];
        for (name, spec, want) in cases {
            let p = pod(spec);
            let n = node("n1", labels.clone());
            let got = filter(&Candidate::new(&p), &n);
            assert_eq!(got.is_ok(), want, "{name}");
            if !want {
                assert_eq!(got, Err(vec![Reason::NodeAffinity]), "{name}");
            }
        }
    }
}
