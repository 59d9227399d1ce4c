//! kubectl's client-side apply patch: a three-way strategic merge patch from the last-applied
//! configuration (original), the file (modified) and the live object (current). Lists of objects
//! merge by key (containers by name, volumeMounts by mountPath, ports by containerPort, ...);
//! other lists are replaced whole. An empty patch means "unchanged".

use serde_json::{json, Map, Value};

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The merge key of a list field, as in Kubernetes' strategic merge patch for core/v1.
pub fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "volumeMounts" | "volumeDevices" => Some("mountPath"),
        "ports" => Some("containerPort"),
        "hostAliases" => Some("ip"),
        _ => None,
    }
}

/// The patch that turns `current` into `modified`, deleting what `original` had and `modified`
/// dropped. `original` is `None` when the object has no last-applied annotation.
pub fn three_way(original: Option<&Value>, modified: &Value, current: &Value) -> Map<String, Value> {
    match (modified, current) {
        (Value::Object(m), Value::Object(c)) => maps(original.and_then(Value::as_object), m, Some(c)),
        _ => Map::new(),
    }
}

fn maps(o: Option<&Map<String, Value>>, m: &Map<String, Value>, c: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut patch = Map::new();
    for (k, mv) in m {
        let cv = c.and_then(|c| c.get(k));
        let ov = o.and_then(|o| o.get(k));
        match (mv, cv) {
            (Value::Object(mm), Some(Value::Object(cm))) => {
                let sub = maps(ov.and_then(Value::as_object), mm, Some(cm));
                if !sub.is_empty() {
                    patch.insert(k.clone(), Value::Object(sub));
                }
            }
            (Value::Array(ml), Some(Value::Array(cl))) if merge_key(k).is_some() && ml.iter().all(Value::is_object) => {
                let key = merge_key(k).unwrap_or("name");
                let ol = ov.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
                let entries = keyed_list(key, ol, ml, cl);
                if !entries.is_empty() {
                    let order: Vec<Value> = ml.iter().filter_map(|i| i.get(key)).map(|v| json!({ key: v })).collect();
                    patch.insert(format!("$setElementOrder/{k}"), Value::Array(order));
                    patch.insert(k.clone(), Value::Array(entries));
                }
            }
            _ => {
                if cv != Some(mv) {
                    patch.insert(k.clone(), mv.clone());
                }
            }
        }
    }
    if let Some(o) = o {
        for k in o.keys() {
            if !m.contains_key(k) && c.is_some_and(|c| c.contains_key(k)) {
                patch.insert(k.clone(), Value::Null);
            }
        }
    }
    patch
}

fn keyed_list(key: &str, o: &[Value], m: &[Value], c: &[Value]) -> Vec<Value> {
    let find =
        |list: &'_ [Value], k: &Value| list.iter().find(|i| i.get(key) == Some(k)).and_then(Value::as_object).cloned();
    let mut entries = Vec::new();
    for item in m {
        let Some(k) = item.get(key) else { continue };
        let Some(mi) = item.as_object() else { continue };
        match find(c, k) {
            None => entries.push(item.clone()),
            Some(ci) => {
                let oi = find(o, k);
                let mut sub = maps(oi.as_ref(), mi, Some(&ci));
                if !sub.is_empty() {
                    sub.insert(key.to_string(), k.clone());
                    entries.push(Value::Object(sub));
                }
            }
        }
    }
    for item in o {
        let Some(k) = item.get(key) else { continue };
        let in_modified = m.iter().any(|i| i.get(key) == Some(k));
        if !in_modified && find(c, k).is_some() {
            entries.push(json!({"$patch": "delete", key: k}));
        }
    }
    entries
}

/// The object as kubectl records it in the last-applied annotation: the manifest (namespace
/// filled in) with an `annotations` map that leaves the annotation itself out, as compact JSON
/// with a trailing newline.
pub fn last_applied(manifest: &Value) -> String {
    let mut copy = manifest.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.remove(LAST_APPLIED);
        }
    }
    format!("{copy}\n")
}

/// The manifest with its last-applied annotation set.
pub fn with_last_applied(manifest: &Value) -> Value {
    let text = last_applied(manifest);
    let mut out = manifest.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.insert(LAST_APPLIED.into(), Value::String(text));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn pod(image: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a1", "namespace": "default", "labels": labels},
               "spec": {"containers": [{"name": "main", "image": image}]}})
    }

    /// What the server would hold after creating `m`: plus defaults and server fields.
    fn live(m: &Value) -> Value {
        let mut c = with_last_applied(m);
        c["metadata"]["uid"] = json!("u1");
        c["metadata"]["resourceVersion"] = json!("5");
        c["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
        c["spec"]["restartPolicy"] = json!("Always");
        c["status"] = json!({"phase": "Pending"});
        c
    }

    #[test]
    fn unchanged_when_the_file_did_not_change() {
        let m = pod("busybox:1.36", json!({"app": "a"}));
        let current = live(&m);
        let original: Value = serde_json::from_str(&last_applied(&m)).unwrap();
        assert!(three_way(Some(&original), &with_last_applied(&m), &current).is_empty());
    }

    #[test]
    fn changed_image_and_label_like_kubectl() {
        let m1 = pod("busybox:1.36", json!({"app": "a"}));
        let current = live(&m1);
        let original: Value = serde_json::from_str(&last_applied(&m1)).unwrap();
        let m2 = pod("busybox:1.37", json!({"tier": "backend"}));
        let patch = Value::Object(three_way(Some(&original), &with_last_applied(&m2), &current));
        assert_eq!(
            patch["spec"],
            json!({"$setElementOrder/containers": [{"name": "main"}], "containers": [{"image": "busybox:1.37", "name": "main"}]})
        );
        assert_eq!(patch["metadata"]["labels"], json!({"app": null, "tier": "backend"}));
        assert_eq!(patch["metadata"]["annotations"][LAST_APPLIED], json!(last_applied(&m2)));
        assert!(patch["metadata"].get("uid").is_none());
    }

    #[test]
    fn removed_container_is_a_delete_directive() {
        let mut m1 = pod("a", json!({}));
        m1["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "side", "image": "b"}));
        let current = live(&m1);
        let original: Value = serde_json::from_str(&last_applied(&m1)).unwrap();
        let m2 = pod("a", json!({}));
        let patch = Value::Object(three_way(Some(&original), &with_last_applied(&m2), &current));
        assert_eq!(patch["spec"]["containers"], json!([{"$patch": "delete", "name": "side"}]));
    }

    #[test]
    fn last_applied_has_empty_annotations_and_newline() {
        let m = pod("x", json!({"app": "a"}));
        let text = last_applied(&m);
        assert!(text.ends_with("}\n"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["metadata"]["annotations"], json!({}));
    }

    #[test]
    fn primitive_lists_are_replaced() {
        let o = json!({"spec": {"args": ["a", "b"]}});
        let m = json!({"spec": {"args": ["a"]}});
        let p = three_way(Some(&o), &m, &o);
        assert_eq!(Value::Object(p), json!({"spec": {"args": ["a"]}}));
    }
}
