//! Selectable fields: pulling a resource's field-selector values out of an object once.

use serde_json::Value;

use crate::resources::ResourceInfo;

/// The values of `resource.fields` in `obj` (missing fields read as Kubernetes reads them).
pub fn extract_fields(resource: &ResourceInfo, obj: &Value) -> Vec<(&'static str, String)> {
    resource.fields.iter().map(|f| (*f, field_value(obj, f))).collect()
}

fn field_value(obj: &Value, field: &str) -> String {
    let mut cur = obj;
    for part in path_of(field).split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return default_for(field).to_owned(),
        }
    }
    scalar_text(cur, field)
}

/// Where a selectable field lives in the object (dotted), where its name says otherwise.
pub(crate) fn path_of(field: &str) -> &str {
    match field {
        "source" => "source.component",
        other => other,
    }
}

/// How a field's value reads in a field selector.
pub(crate) fn scalar_text(value: &Value, field: &str) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => default_for(field).to_owned(),
        other => other.to_string(),
    }
}

/// What a missing field reads as.
pub(crate) fn default_for(field: &str) -> &'static str {
    match field {
        "spec.unschedulable" | "spec.hostNetwork" => "false",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;
    use serde_json::json;

    #[test]
    fn pod_fields_read_with_defaults() {
        let pods = find("", "v1", "pods").unwrap();
        let pod = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let f = extract_fields(pods, &pod);
        let get = |k: &str| f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("spec.nodeName"), Some("n1"));
        assert_eq!(get("status.phase"), Some("Running"));
        assert_eq!(get("spec.hostNetwork"), Some("false"));
        assert_eq!(get("spec.schedulerName"), Some(""));
    }

    #[test]
    fn event_source_is_the_component() {
        let events = find("", "v1", "events").unwrap();
        let ev = json!({"source": {"component": "kubelet"}, "involvedObject": {"name": "web", "uid": "u1"}});
        let f = extract_fields(events, &ev);
        assert!(f.contains(&("source", "kubelet".to_owned())));
        assert!(f.contains(&("involvedObject.name", "web".to_owned())));
        assert!(f.contains(&("involvedObject.namespace", String::new())));
    }
}
