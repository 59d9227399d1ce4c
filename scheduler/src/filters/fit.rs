//! NodeResourcesFit: the pod's requests must fit in allocatable minus what the node's pods
//! already request; the pod count must stay within `pods`. All shortfalls are reported.

use super::{Candidate, Reason};
use crate::cache::NodeInfo;

pub fn filter(pod: &Candidate<'_>, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    let want = pod.info.requests;
    let alloc = node.allocatable;
    let used = node.requested;
    let mut reasons = Vec::new();
    if used.pods + 1 > alloc.pods {
        reasons.push(Reason::TooManyPods);
    }
    if want.milli_cpu > 0 && want.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        reasons.push(Reason::Insufficient("cpu"));
    }
    if want.memory > 0 && want.memory > alloc.memory - used.memory {
        reasons.push(Reason::Insufficient("memory"));
    }
    if want.ephemeral_storage > 0 && want.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage {
        reasons.push(Reason::Insufficient("ephemeral-storage"));
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filters::testutil::{node, pod, pod_requesting, with_pods};

    #[test]
    fn table() {
        use Reason::*;
        let cases: Vec<(&str, k8s_openapi::api::core::v1::Pod, Vec<k8s_openapi::api::core::v1::Pod>, Vec<Reason>)> = vec![
            ("fits on empty node", pod_requesting("1", "1Gi"), vec![], vec![]),
            ("exactly fills the node", pod_requesting("4", "8Gi"), vec![], vec![]),
            ("too much cpu", pod_requesting("4100m", "1Gi"), vec![], vec![Insufficient("cpu")]),
            (
                "cpu used by others",
                pod_requesting("2", "1Gi"),
                vec![pod_requesting("3", "1Gi")],
                vec![Insufficient("cpu")],
            ),
            (
                "cpu and memory short",
                pod_requesting("2", "5Gi"),
                vec![pod_requesting("3", "4Gi")],
                vec![Insufficient("cpu"), Insufficient("memory")],
            ),
            ("no requests always fit resources", pod(json!({})), vec![pod_requesting("4", "8Gi")], vec![]),
            (
                "ephemeral storage",
                pod(
                    json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"ephemeral-storage": "200Gi"}}}]}),
                ),
                vec![],
                vec![Insufficient("ephemeral-storage")],
            ),
            (
                "init container max vs sum of containers",
                pod(json!({
                    "initContainers": [{"name": "init", "image": "i", "resources": {"requests": {"cpu": "3"}}}],
                    "containers": [
                        {"name": "a", "image": "i", "resources": {"requests": {"cpu": "1"}}},
                        {"name": "b", "image": "i", "resources": {"requests": {"cpu": "1"}}}
                    ]
                })),
                vec![pod_requesting("1500m", "0")],
                vec![Insufficient("cpu")],
            ),
            (
                "overhead counts",
                pod(json!({
                    "overhead": {"cpu": "1"},
                    "containers": [{"name": "a", "image": "i", "resources": {"requests": {"cpu": "3500m"}}}]
                })),
                vec![],
                vec![Insufficient("cpu")],
            ),
        ];
        for (name, p, existing, want) in cases {
            let n = with_pods(node("n1", json!({})), &existing);
            let want = if want.is_empty() { Ok(()) } else { Err(want) };
            assert_eq!(filter(&Candidate::new(&p), &n), want, "{name}");
        }
    }

    #[test]
    fn pod_count_limit() {
        let n =
            with_pods(node("n1", json!({"status": {"allocatable": {"pods": "2"}}})), &[pod(json!({})), pod(json!({}))]);
        let p = pod_requesting("5", "1Gi");
        assert_eq!(filter(&Candidate::new(&p), &n), Err(vec![Reason::TooManyPods, Reason::Insufficient("cpu")]));
        let n = node("n1", json!({"status": {"allocatable": {"pods": "3"}}}));
        assert_eq!(filter(&Candidate::new(&pod(json!({}))), &n), Ok(()));
    }
}
