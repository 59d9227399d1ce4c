//! NodePorts: a pod's host ports must not collide with those already used on the node.

use super::{Candidate, Reason};
use crate::cache::NodeInfo;

pub fn filter(pod: &Candidate<'_>, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    let clash = pod.info.host_ports.iter().any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
    if clash {
        Err(vec![Reason::HostPorts])
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::filters::testutil::{node, pod, with_pods};

    fn ports(p: Value) -> Value {
        json!({"containers": [{"name": "c", "image": "i", "ports": p}]})
    }

    #[test]
    fn table() {
        let cases = [
            ("no host ports", json!([{"containerPort": 80}]), json!([{"containerPort": 80, "hostPort": 80}]), true),
            (
                "same port",
                json!([{"containerPort": 80, "hostPort": 8080}]),
                json!([{"containerPort": 81, "hostPort": 8080}]),
                false,
            ),
            (
                "other port",
                json!([{"containerPort": 80, "hostPort": 8080}]),
                json!([{"containerPort": 80, "hostPort": 8081}]),
                true,
            ),
            (
                "other protocol",
                json!([{"containerPort": 53, "hostPort": 53, "protocol": "UDP"}]),
                json!([{"containerPort": 53, "hostPort": 53}]),
                true,
            ),
            (
                "different host IPs",
                json!([{"containerPort": 80, "hostPort": 80, "hostIP": "10.0.0.1"}]),
                json!([{"containerPort": 80, "hostPort": 80, "hostIP": "10.0.0.2"}]),
                true,
            ),
            (
                "wildcard vs specific IP",
                json!([{"containerPort": 80, "hostPort": 80}]),
                json!([{"containerPort": 80, "hostPort": 80, "hostIP": "10.0.0.2"}]),
                false,
            ),
        ];
        for (name, wanted, existing, ok) in cases {
            let p = pod(ports(wanted));
            let n = with_pods(node("n1", json!({})), &[pod(ports(existing))]);
            let want = if ok { Ok(()) } else { Err(vec![Reason::HostPorts]) };
            assert_eq!(filter(&Candidate::new(&p), &n), want, "{name}");
        }
    }
}
