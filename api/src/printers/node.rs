//! The node row: STATUS from the Ready condition and `spec.unschedulable`, ROLES from
//! `node-role.kubernetes.io/<role>` labels (and the legacy `kubernetes.io/role`).

use jiff::Timestamp;
use serde_json::Value;

use super::json::{items, string};

const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const LEGACY_ROLE_LABEL: &str = "kubernetes.io/role";

/// kubectl's node STATUS: "Ready", "NotReady" (Ready condition False or Unknown), "Unknown" (no
/// Ready condition), each followed by ",SchedulingDisabled" when cordoned.
pub fn node_status(node: &Value) -> String {
    let ready = items(&node["status"], "conditions").iter().rev().find(|c| string(c, "type") == "Ready");
    let mut status = match ready {
        Some(c) if string(c, "status") == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if node["spec"]["unschedulable"].as_bool() == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// kubectl's node ROLES: the sorted, comma-joined roles, or "<none>".
pub fn node_roles(node: &Value) -> String {
    let mut roles: Vec<&str> = Vec::new();
    if let Some(labels) = node["metadata"]["labels"].as_object() {
        for (key, value) in labels {
            let role = match key.strip_prefix(ROLE_PREFIX) {
                Some(role) => role,
                None if key == LEGACY_ROLE_LABEL => value.as_str().unwrap_or(""),
                None => "",
            };
            if !role.is_empty() && !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    roles.sort_unstable();
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    }
}

fn address(node: &Value, kind: &str) -> String {
    items(&node["status"], "addresses")
        .iter()
        .find(|a| string(a, "type") == kind)
        .map(|a| string(a, "address").to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

fn or_unknown(s: &str) -> String {
    if s.is_empty() {
        "<unknown>".to_string()
    } else {
        s.to_string()
    }
}

/// Name, Status, Roles, Age, Version, Internal-IP, External-IP, OS-Image, Kernel-Version,
/// Container-Runtime.
pub(crate) fn row(node: &Value, now: Timestamp) -> Vec<Value> {
    let info = &node["status"]["nodeInfo"];
    vec![
        Value::from(string(&node["metadata"], "name")),
        Value::from(node_status(node)),
        Value::from(node_roles(node)),
        Value::from(super::age(node["metadata"]["creationTimestamp"].as_str(), now)),
        Value::from(string(info, "kubeletVersion")),
        Value::from(address(node, "InternalIP")),
        Value::from(address(node, "ExternalIP")),
        Value::from(or_unknown(string(info, "osImage"))),
        Value::from(or_unknown(string(info, "kernelVersion"))),
        Value::from(or_unknown(string(info, "containerRuntimeVersion"))),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn statuses() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "Unknown"),
            (json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}), "Ready"),
            (json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}), "NotReady"),
            (json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}), "NotReady"),
            (json!({"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}]}}), "Unknown"),
            (
                json!({"spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                "Ready,SchedulingDisabled",
            ),
            (json!({"spec": {"unschedulable": true}}), "Unknown,SchedulingDisabled"),
        ];
        for (node, want) in cases {
            assert_eq!(node_status(&node), want, "{node}");
        }
    }

    #[test]
    fn roles() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "<none>"),
            (json!({"metadata": {"labels": {"kubernetes.io/hostname": "n1"}}}), "<none>"),
            (json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}}), "control-plane"),
            (
                json!({"metadata": {"labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "",
                                               "kubernetes.io/role": "master"}}}),
                "control-plane,master,worker",
            ),
            (json!({"metadata": {"labels": {"node-role.kubernetes.io/": "x"}}}), "<none>"),
            (json!({"metadata": {"labels": {"kubernetes.io/role": ""}}}), "<none>"),
        ];
        for (node, want) in cases {
            assert_eq!(node_roles(&node), want, "{node}");
        }
    }

    #[test]
    fn row_cells() {
        let now: Timestamp = "2024-05-06T12:00:00Z".parse().unwrap();
        let node = json!({
            "metadata": {"name": "node1", "creationTimestamp": "2024-05-01T02:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "Hostname", "address": "node1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "kernelVersion": "6.1.0", "containerRuntimeVersion": ""}}
        });
        assert_eq!(
            row(&node, now),
            vec![
                json!("node1"),
                json!("Ready"),
                json!("control-plane"),
                json!("5d10h"),
                json!("v1.32.0"),
                json!("10.0.0.5"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.1.0"),
                json!("<unknown>")
            ]
        );
    }
}
