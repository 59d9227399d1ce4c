//! Small readers over object JSON: absent or mistyped fields read as empty, never panic.

use serde_json::Value;

/// The string at `obj[key]`, or "" when absent or not a string.
pub(crate) fn string<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `obj[key]`, or 0.
pub(crate) fn int(obj: &Value, key: &str) -> i64 {
    obj.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// The list at `obj[key]`, or an empty slice.
pub(crate) fn items<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// `s`, or "<none>" when empty.
pub(crate) fn none_if_empty(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// A label-style map rendered as kubectl does (`a=b,c=d`, sorted by key), or "<none>".
pub(crate) fn format_map(map: &Value) -> String {
    let Some(map) = map.as_object() else {
        return "<none>".to_string();
    };
    let mut pairs: Vec<(&String, &str)> = map.iter().map(|(k, v)| (k, v.as_str().unwrap_or(""))).collect();
    pairs.sort();
    let joined = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    none_if_empty(&joined)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn readers() {
        let v = json!({"s": "x", "n": 3, "l": [1], "m": {"b": "2", "a": "1"}, "bad": 5});
        assert_eq!(string(&v, "s"), "x");
        assert_eq!(string(&v, "bad"), "");
        assert_eq!(string(&json!(null), "s"), "");
        assert_eq!(int(&v, "n"), 3);
        assert_eq!(int(&v, "s"), 0);
        assert_eq!(items(&v, "l").len(), 1);
        assert!(items(&v, "m").is_empty());
        assert_eq!(none_if_empty(""), "<none>");
        assert_eq!(format_map(&v["m"]), "a=1,b=2");
        assert_eq!(format_map(&json!({})), "<none>");
        assert_eq!(format_map(&Value::Null), "<none>");
    }
}
