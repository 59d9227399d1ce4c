//! Server-side printing: the columns and cells of `meta.k8s.io/v1` Tables, computed the way
//! kube-apiserver's printers (kubernetes/pkg/printers/internalversion) compute them, so
//! `kubectl get` shows the same STATUS, AGE and RESTARTS against minik as against Kubernetes.
//!
//! Everything here is pure: objects are JSON values, the current time is an argument. The API
//! server builds Tables from [`columns`] and [`row`]; miniktl's `describe` reuses the helpers.
//! Rows always carry every column (kube-apiserver prints "wide"); clients hide priority 1 columns.

mod basic;
mod columns;
mod duration;
mod event;
mod json;
mod node;
mod pod;
mod service;

use jiff::Timestamp;
use serde_json::Value;

pub use basic::{configmap_data_count, secret_data_count};
pub use columns::Column;
pub use duration::{age, human_duration, parse_time};
pub use event::{event_object, event_source, event_times};
pub use node::{node_roles, node_status};
pub use pod::{pod_status, summarize as pod_summary, PodSummary};
pub use service::{service_external_ip, service_ports};

/// The Table columns for a resource ("pods", "nodes", "namespaces", "configmaps", "secrets",
/// "events", "services", "leases"); any other resource gets kube-apiserver's default
/// (Name, Created At).
pub fn columns(resource: &str) -> &'static [Column] {
    match resource {
        "pods" => columns::PODS,
        "nodes" => columns::NODES,
        "namespaces" => columns::NAMESPACES,
        "configmaps" => columns::CONFIGMAPS,
        "secrets" => columns::SECRETS,
        "events" => columns::EVENTS,
        "services" => columns::SERVICES,
        "leases" => columns::LEASES,
        _ => columns::DEFAULT,
    }
}

/// The cells of one Table row for `obj`, one per entry of [`columns`]`(resource)`. Cells are
/// strings, except ConfigMap and Secret Data and Event Count, which are integers as in Kubernetes.
pub fn row(resource: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    match resource {
        "pods" => pod::row(obj, now),
        "nodes" => node::row(obj, now),
        "namespaces" => basic::namespace_row(obj, now),
        "configmaps" => basic::configmap_row(obj, now),
        "secrets" => basic::secret_row(obj, now),
        "events" => event::row(obj, now),
        "services" => service::row(obj, now),
        "leases" => basic::lease_row(obj, now),
        _ => basic::default_row(obj),
    }
}

/// The Table row's `conditions`: kube-apiserver marks finished pods with a `Completed` row
/// condition (reason Succeeded or Failed); every other row has none.
pub fn row_conditions(resource: &str, obj: &Value) -> Vec<Value> {
    if resource != "pods" {
        return Vec::new();
    }
    let (reason, message) = match obj["status"]["phase"].as_str() {
        Some("Succeeded") => ("Succeeded", "The pod has completed successfully."),
        Some("Failed") => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![serde_json::json!({"type": "Completed", "status": "True", "reason": reason, "message": message})]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn column_names_and_priorities() {
        let cases: &[(&str, &[(&str, i32)])] = &[
            (
                "pods",
                &[
                    ("Name", 0),
                    ("Ready", 0),
                    ("Status", 0),
                    ("Restarts", 0),
                    ("Age", 0),
                    ("IP", 1),
                    ("Node", 1),
                    ("Nominated Node", 1),
                    ("Readiness Gates", 1),
                ],
            ),
            (
                "nodes",
                &[
                    ("Name", 0),
                    ("Status", 0),
                    ("Roles", 0),
                    ("Age", 0),
                    ("Version", 0),
                    ("Internal-IP", 1),
                    ("External-IP", 1),
                    ("OS-Image", 1),
                    ("Kernel-Version", 1),
                    ("Container-Runtime", 1),
                ],
            ),
            ("namespaces", &[("Name", 0), ("Status", 0), ("Age", 0)]),
            ("configmaps", &[("Name", 0), ("Data", 0), ("Age", 0)]),
            ("secrets", &[("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)]),
            (
                "services",
                &[
                    ("Name", 0),
                    ("Type", 0),
                    ("Cluster-IP", 0),
                    ("External-IP", 0),
                    ("Port(s)", 0),
                    ("Age", 0),
                    ("Selector", 1),
                ],
            ),
            (
                "events",
                &[
                    ("Last Seen", 0),
                    ("Type", 0),
                    ("Reason", 0),
                    ("Object", 0),
                    ("Subobject", 1),
                    ("Source", 1),
                    ("Message", 0),
                    ("First Seen", 1),
                    ("Count", 1),
                    ("Name", 1),
                ],
            ),
            ("leases", &[("Name", 0), ("Holder", 0), ("Age", 0)]),
            ("widgets", &[("Name", 0), ("Created At", 0)]),
        ];
        for (resource, want) in cases {
            let got: Vec<(&str, i32)> = columns(resource).iter().map(|c| (c.name, c.priority)).collect();
            assert_eq!(got, *want, "{resource}");
            for c in columns(resource) {
                assert!(!c.description.is_empty(), "{resource} {}", c.name);
                assert_eq!(c.format, if c.name == "Name" { "name" } else { "" }, "{resource} {}", c.name);
            }
        }
        assert_eq!(columns("widgets")[1].type_, "date");
        assert_eq!(
            columns("pods")[5].to_json(),
            json!({"name": "IP", "type": "string", "format": "",
                   "description": "IP address allocated to the pod. Routable at least within the cluster.", "priority": 1})
        );
        assert!(columns("pods").iter().all(|c| c.type_ == "string"));
    }

    #[test]
    fn every_row_matches_its_columns() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let empty = json!({});
        for resource in
            ["pods", "nodes", "namespaces", "configmaps", "secrets", "events", "services", "leases", "widgets"]
        {
            assert_eq!(row(resource, &empty, now).len(), columns(resource).len(), "{resource}");
            assert_eq!(row(resource, &json!("garbage"), now).len(), columns(resource).len(), "{resource}");
        }
    }

    #[test]
    fn row_conditions_mark_finished_pods() {
        let cases: Vec<(&str, Value, Vec<Value>)> = vec![
            ("pods", json!({"status": {"phase": "Running"}}), vec![]),
            (
                "pods",
                json!({"status": {"phase": "Succeeded"}}),
                vec![json!({"type": "Completed", "status": "True", "reason": "Succeeded",
                            "message": "The pod has completed successfully."})],
            ),
            (
                "pods",
                json!({"status": {"phase": "Failed"}}),
                vec![json!({"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."})],
            ),
            ("nodes", json!({"status": {"phase": "Failed"}}), vec![]),
        ];
        for (resource, obj, want) in cases {
            assert_eq!(row_conditions(resource, &obj), want, "{resource} {obj}");
        }
    }

    #[test]
    fn pod_row_through_the_entry_point() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let pod = json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node1"},
            "status": {"phase": "Running", "podIP": "10.244.0.85", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        assert_eq!(
            row("pods", &pod, now),
            vec![
                json!("web"),
                json!("2/2"),
                json!("Running"),
                json!("0"),
                json!("60m"),
                json!("10.244.0.85"),
                json!("node1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }
}
