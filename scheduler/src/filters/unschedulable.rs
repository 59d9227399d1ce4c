//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods tolerating
//! `node.kubernetes.io/unschedulable:NoSchedule`.

use k8s_openapi::api::core::v1::Taint;

use super::{tolerates, Candidate, Reason};
use crate::cache::{NodeInfo, TAINT_UNSCHEDULABLE};

pub fn filter(pod: &Candidate<'_>, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    if !node.unschedulable {
        return Ok(());
    }
    let taint = Taint { key: TAINT_UNSCHEDULABLE.into(), effect: "NoSchedule".into(), value: None, time_added: None };
    if pod.tolerations.iter().any(|t| tolerates(t, &taint)) {
        Ok(())
    } else {
        Err(vec![Reason::Unschedulable])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filters::testutil::{node, pod};

    #[test]
    fn table() {
        let cases = [
            ("schedulable node", json!({}), json!({}), Ok(())),
            ("cordoned node", json!({"spec": {"unschedulable": true}}), json!({}), Err(vec![Reason::Unschedulable])),
            (
                "cordoned node, pod tolerates it",
                json!({"spec": {"unschedulable": true}}),
                json!({"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
                Ok(()),
            ),
            (
                "cordoned node, pod tolerates everything",
                json!({"spec": {"unschedulable": true}}),
                json!({"tolerations": [{"operator": "Exists"}]}),
                Ok(()),
            ),
        ];
        for (name, n, p, want) in cases {
            let p = pod(p);
            assert_eq!(filter(&Candidate::new(&p), &node("n1", n)), want, "{name}");
        }
    }
}
