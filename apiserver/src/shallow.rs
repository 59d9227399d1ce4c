//! Reading a stored object without building its whole tree: the cache needs, per write, only the
//! metadata, the labels, a few selectable fields and the JSON with `metadata.resourceVersion` set.
//! Top-level values are kept as raw slices of the stored bytes and copied through untouched, so
//! the large parts (spec, status) are scanned once and never allocated.
//!
//! Objects written by this server are compact JSON with sorted keys, and the output keeps that
//! form. Anything this reader does not expect returns `None`, and the caller falls back to a
//! full parse.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::fields::{default_for, path_of, scalar_text};

/// One JSON object's members, each value left raw. Keys must be plain (unescaped) strings.
type RawMap<'a> = BTreeMap<&'a str, &'a RawValue>;

/// What the cache keeps of one stored object.
pub struct Shallow {
    pub name: String,
    pub namespace: Option<String>,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub fields: Vec<(&'static str, String)>,
    /// The object with `metadata.resourceVersion` set.
    pub json: Vec<u8>,
}

/// Reads `stored` and stamps `rv` into it; `None` when the bytes are not the expected shape.
pub fn read(stored: &[u8], fields: &[&'static str], rv: i64) -> Option<Shallow> {
    let top: RawMap<'_> = serde_json::from_slice(stored).ok()?;
    let meta: RawMap<'_> = serde_json::from_str(top.get("metadata")?.get()).ok()?;
    let name: String = serde_json::from_str(meta.get("name")?.get()).ok()?;
    let namespace = match meta.get("namespace") {
        Some(raw) => serde_json::from_str::<Option<String>>(raw.get()).ok()?,
        None => None,
    };
    let uid = match meta.get("uid") {
        Some(raw) => serde_json::from_str::<Option<String>>(raw.get()).ok()?.unwrap_or_default(),
        None => String::new(),
    };
    let labels = match meta.get("labels") {
        Some(raw) => serde_json::from_str::<Option<BTreeMap<String, String>>>(raw.get()).ok()?.unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let mut sections = Sections::default();
    let fields = fields.iter().map(|f| Some((*f, field_text(&top, &mut sections, f)?))).collect::<Option<Vec<_>>>()?;

    let rv = RawValue::from_string(format!("\"{rv}\"")).ok()?;
    let mut meta = meta;
    meta.insert("resourceVersion", &rv);
    let mut json = Vec::with_capacity(stored.len() + 32);
    json.push(b'{');
    for (i, (key, value)) in top.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        write_key(&mut json, key);
        if *key == "metadata" {
            write_object(&mut json, &meta);
        } else {
            json.extend_from_slice(value.get().as_bytes());
        }
    }
    json.push(b'}');
    Some(Shallow { name, namespace, uid, labels, fields, json })
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn write_object(out: &mut Vec<u8>, map: &RawMap<'_>) {
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(out, key);
        out.extend_from_slice(value.get().as_bytes());
    }
    out.push(b'}');
}

/// Top-level sections (`spec`, `status`, ...) already split into members: a pod's selectable
/// fields are mostly in two of them, each read once.
#[derive(Default)]
struct Sections<'a>(Vec<(&'a str, Option<RawMap<'a>>)>);

impl<'a> Sections<'a> {
    /// The members of section `name` of `top`; `Some(None)` when it is absent or null, `None`
    /// when it is not an object.
    fn get(&mut self, top: &RawMap<'a>, name: &'a str) -> Option<Option<&RawMap<'a>>> {
        let i = match self.0.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                let map = match top.get(name) {
                    Some(raw) => serde_json::from_str::<Option<RawMap<'a>>>(raw.get()).ok()?,
                    None => None,
                };
                self.0.push((name, map));
                self.0.len() - 1
            }
        };
        Some(self.0[i].1.as_ref())
    }
}

/// A selectable field's value as a field selector compares it (see `fields::extract_fields`).
fn field_text<'a>(top: &RawMap<'a>, sections: &mut Sections<'a>, field: &'static str) -> Option<String> {
    let mut parts = path_of(field).split('.');
    let first = parts.next()?;
    let Some(second) = parts.next() else {
        return match top.get(first) {
            Some(raw) => text(raw, field),
            None => Some(default_for(field).to_owned()),
        };
    };
    let Some(section) = sections.get(top, first)? else { return Some(default_for(field).to_owned()) };
    let mut raw: &RawValue = match section.get(second) {
        Some(r) => r,
        None => return Some(default_for(field).to_owned()),
    };
    for part in parts {
        let map: Option<RawMap<'_>> = serde_json::from_str(raw.get()).ok()?;
        match map.as_ref().and_then(|m| m.get(part)) {
            Some(r) => raw = r,
            None => return Some(default_for(field).to_owned()),
        }
    }
    text(raw, field)
}

fn text(raw: &RawValue, field: &str) -> Option<String> {
    let value: Value = serde_json::from_str(raw.get()).ok()?;
    Some(scalar_text(&value, field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::extract_fields;
    use crate::resources::find;
    use serde_json::json;

    /// The shallow reader gives exactly what a full parse gives.
    #[test]
    fn same_as_a_full_parse() {
        let pods = find("", "v1", "pods").expect("pods");
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "labels": {"app": "web", "tier": "a\"b"},
                "annotations": {"x": "y\n"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "n1", "hostNetwork": true, "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "podIP": null}
        });
        let stored = serde_json::to_vec(&pod).expect("encode");
        let got = read(&stored, pods.fields, 42).expect("shallow read");
        let mut full = pod.clone();
        full["metadata"]["resourceVersion"] = json!("42");
        assert_eq!(got.json, serde_json::to_vec(&full).expect("encode"));
        assert_eq!((got.name.as_str(), got.namespace.as_deref(), got.uid.as_str()), ("web", Some("default"), "u-1"));
        assert_eq!(got.labels.get("tier").map(String::as_str), Some("a\"b"));
        assert_eq!(got.fields, extract_fields(pods, &full));
    }

    #[test]
    fn missing_parts_read_as_defaults_and_odd_shapes_fall_back() {
        let nodes = find("", "v1", "nodes").expect("nodes");
        let node = serde_json::to_vec(&json!({"metadata": {"name": "n"}})).expect("encode");
        let got = read(&node, nodes.fields, 7).expect("shallow read");
        assert_eq!(got.fields, vec![("spec.unschedulable", "false".to_owned())]);
        assert_eq!(got.json, br#"{"metadata":{"name":"n","resourceVersion":"7"}}"#);
        // Non-string label values and objects without a name are left to the full parse.
        let odd = serde_json::to_vec(&json!({"metadata": {"name": "n", "labels": {"a": 1}}})).expect("encode");
        assert!(read(&odd, nodes.fields, 1).is_none());
        assert!(read(br#"{"metadata":{}}"#, nodes.fields, 1).is_none());
        assert!(read(b"[]", nodes.fields, 1).is_none());
    }
}
