//! Rows of the simple kinds: namespaces, configmaps, secrets, leases, and kube-apiserver's
//! default Table (Name, Created At) for anything else.

use jiff::Timestamp;
use serde_json::Value;

use super::json::string;

fn name(obj: &Value) -> Value {
    Value::from(string(&obj["metadata"], "name"))
}

fn age(obj: &Value, now: Timestamp) -> Value {
    Value::from(super::age(obj["metadata"]["creationTimestamp"].as_str(), now))
}

fn key_count(map: &Value) -> usize {
    map.as_object().map_or(0, |m| m.len())
}

/// Name, Status, Age.
pub(crate) fn namespace_row(ns: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(ns), Value::from(string(&ns["status"], "phase")), age(ns, now)]
}

/// DATA of a ConfigMap: keys in `data` plus keys in `binaryData`.
pub fn configmap_data_count(cm: &Value) -> i64 {
    (key_count(&cm["data"]) + key_count(&cm["binaryData"])) as i64
}

/// Name, Data, Age.
pub(crate) fn configmap_row(cm: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(cm), Value::from(configmap_data_count(cm)), age(cm, now)]
}

/// DATA of a Secret: its keys. The API server folds `stringData` into `data` on write; a stored
/// object that still has `stringData` counts the union of both.
pub fn secret_data_count(secret: &Value) -> i64 {
    let data = secret["data"].as_object();
    let extra = secret["stringData"]
        .as_object()
        .map_or(0, |s| s.keys().filter(|k| data.is_none_or(|d| !d.contains_key(*k))).count());
    (data.map_or(0, |d| d.len()) + extra) as i64
}

/// Name, Type, Data, Age.
pub(crate) fn secret_row(secret: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(secret), Value::from(string(secret, "type")), Value::from(secret_data_count(secret)), age(secret, now)]
}

/// Name, Holder, Age.
pub(crate) fn lease_row(lease: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(lease), Value::from(string(&lease["spec"], "holderIdentity")), age(lease, now)]
}

/// Name, Created At (the timestamp itself, as kube-apiserver's default table prints it).
pub(crate) fn default_row(obj: &Value) -> Vec<Value> {
    vec![name(obj), obj["metadata"]["creationTimestamp"].clone()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let created = json!({"name": "x", "creationTimestamp": "2024-05-01T11:00:00Z"});
        let cases: Vec<(Vec<Value>, Vec<Value>)> = vec![
            (
                namespace_row(&json!({"metadata": created, "status": {"phase": "Active"}}), now),
                vec![json!("x"), json!("Active"), json!("60m")],
            ),
            (
                configmap_row(
                    &json!({"metadata": created, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
                    now,
                ),
                vec![json!("x"), json!(3), json!("60m")],
            ),
            (configmap_row(&json!({"metadata": {"name": "e"}}), now), vec![json!("e"), json!(0), json!("<unknown>")]),
            (
                secret_row(
                    &json!({"metadata": created, "type": "Opaque", "data": {"a": "MQ=="},
                                   "stringData": {"a": "1", "b": "2"}}),
                    now,
                ),
                vec![json!("x"), json!("Opaque"), json!(2), json!("60m")],
            ),
            (
                secret_row(
                    &json!({"metadata": created, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
                    now,
                ),
                vec![json!("x"), json!("kubernetes.io/tls"), json!(2), json!("60m")],
            ),
            (
                lease_row(&json!({"metadata": created, "spec": {"holderIdentity": "node1"}}), now),
                vec![json!("x"), json!("node1"), json!("60m")],
            ),
            (lease_row(&json!({"metadata": created, "spec": {}}), now), vec![json!("x"), json!(""), json!("60m")]),
            (default_row(&json!({"metadata": created})), vec![json!("x"), json!("2024-05-01T11:00:00Z")]),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
