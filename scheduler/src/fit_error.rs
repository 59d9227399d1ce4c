//! Why a pod fits nowhere, in kube-scheduler's words: `0/3 nodes are available: 1 node(s) didn't
//! match Pod's node affinity/selector, 2 Insufficient cpu.` (counts per reason, the
//! "count reason" strings sorted as strings, as kube-scheduler's `FitError.Error()` does).

use std::collections::HashMap;
use std::fmt;

use crate::filters::Reason;

/// What kube-scheduler says when there are no nodes at all.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitError {
    pub num_all_nodes: usize,
    /// How many nodes failed for each reason (a node may count under several).
    pub reasons: HashMap<Reason, usize>,
}

impl FitError {
    pub fn add(&mut self, reasons: Vec<Reason>) {
        for r in reasons {
            *self.reasons.entry(r).or_insert(0) += 1;
        }
    }

    pub fn merge(&mut self, other: FitError) {
        for (r, n) in other.reasons {
            *self.reasons.entry(r).or_insert(0) += n;
        }
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num_all_nodes == 0 {
            return f.write_str(NO_NODES_AVAILABLE);
        }
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        let mut parts: Vec<String> = self.reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        parts.sort();
        if !parts.is_empty() {
            write!(f, " {}.", parts.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(num_all_nodes: usize, reasons: &[(Reason, usize)], want: &str) {
        let e = FitError { num_all_nodes, reasons: reasons.iter().cloned().collect() };
        assert_eq!(e.to_string(), want);
    }

    #[test]
    fn messages() {
        check(0, &[], "no nodes available to schedule pods");
        check(
            3,
            &[(Reason::Insufficient("cpu"), 2), (Reason::NodeAffinity, 1)],
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.",
        );
        check(
            5,
            &[
                (Reason::UntoleratedTaint { key: "node.kubernetes.io/not-ready".into(), value: "".into() }, 1),
                (Reason::Unschedulable, 1),
                (Reason::Insufficient("memory"), 3),
                (Reason::Insufficient("cpu"), 3),
            ],
            "0/5 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, \
             1 node(s) were unschedulable, 3 Insufficient cpu, 3 Insufficient memory.",
        );
        // Sorted as strings, like Go's sort.Strings: "10 ..." before "2 ...".
        check(
            12,
            &[(Reason::TooManyPods, 10), (Reason::HostPorts, 2)],
            "0/12 nodes are available: 10 Too many pods, 2 node(s) didn't have free ports for the requested pod ports.",
        );
    }

    #[test]
    fn add_counts_each_reason() {
        let mut e = FitError { num_all_nodes: 2, ..Default::default() };
        e.add(vec![Reason::Insufficient("cpu"), Reason::Insufficient("memory")]);
        e.add(vec![Reason::Insufficient("cpu")]);
        assert_eq!(e.to_string(), "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.");
    }
}
