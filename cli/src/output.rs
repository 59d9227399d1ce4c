//! Printing objects the way kubectl does for `-o json|yaml|name|jsonpath=|custom-columns=`, and
//! the cell text of tables.

use serde_json::{json, Value};

use crate::error::CliError;
use crate::jsonpath::Template;
use crate::resource::Resource;
use crate::yaml::to_yaml;

/// What `-o` asked for.
#[derive(Debug)]
pub enum Format {
    Table { wide: bool },
    Json,
    Yaml,
    Name,
    JsonPath(Template),
    CustomColumns(Vec<(String, Template)>),
}

impl Format {
    pub fn parse(output: Option<&str>) -> Result<Format, CliError> {
        let Some(o) = output else { return Ok(Format::Table { wide: false }) };
        let bad = |e: crate::jsonpath::TemplateError| CliError::usage(format!("error parsing jsonpath {o}, {e}"));
        Ok(match o {
            "" => Format::Table { wide: false },
            "wide" => Format::Table { wide: true },
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            "name" => Format::Name,
            _ => {
                if let Some(t) = o.strip_prefix("jsonpath=").or_else(|| o.strip_prefix("jsonpath-as-json=")) {
                    Format::JsonPath(Template::parse(t).map_err(bad)?)
                } else if let Some(spec) = o.strip_prefix("custom-columns=") {
                    Format::CustomColumns(parse_custom_columns(spec)?)
                } else {
                    return Err(CliError::usage(format!(
                        "unable to match a printer suitable for the output format \"{o}\", allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml"
                    )));
                }
            }
        })
    }

    pub fn is_table(&self) -> bool {
        matches!(self, Format::Table { .. })
    }
}

/// `NAME:.metadata.name,IMAGE:.spec.containers[*].image`
pub fn parse_custom_columns(spec: &str) -> Result<Vec<(String, Template)>, CliError> {
    let mut cols = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (header, path) = part.split_once(':').ok_or_else(|| {
            CliError::usage(format!("unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"))
        })?;
        let t = Template::parse_relaxed(path).map_err(|e| CliError::usage(format!("{e}")))?;
        cols.push((header.to_string(), t));
    }
    if cols.is_empty() {
        return Err(CliError::usage("custom-columns format specified but no custom columns given"));
    }
    Ok(cols)
}

/// One custom-columns cell: the selected values joined by commas, `<none>` when there are none.
/// Values print as Go's `%v` prints them (`map[k:v]`, `[a b]`), as in kubectl.
pub fn custom_cell(t: &Template, obj: &Value) -> String {
    let vals: Vec<String> = t.values(obj).into_iter().filter(|v| !v.is_null()).map(go_value).collect();
    if vals.is_empty() {
        "<none>".into()
    } else {
        vals.join(",")
    }
}

/// Go's `fmt` `%v` of a decoded JSON value.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", go_value(v))).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

/// JSON the way kubectl prints it: four-space indent, `<`, `>` and `&` escaped as Go does.
pub fn to_json(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if serde::Serialize::serialize(v, &mut ser).is_err() {
        return v.to_string();
    }
    let s = String::from_utf8_lossy(&buf);
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// Sets `apiVersion` and `kind` on a list item (the server leaves them out of lists).
pub fn with_type(mut obj: Value, r: &Resource) -> Value {
    if let Value::Object(m) = &mut obj {
        m.entry("apiVersion").or_insert_with(|| Value::String(r.api_version()));
        m.entry("kind").or_insert_with(|| Value::String(r.kind.to_string()));
    }
    obj
}

/// kubectl's wrapper for several objects.
pub fn list_of(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// Prints objects in one of the object formats (not tables). A single object that was asked for by
/// name prints on its own; anything else is wrapped in a `List`.
pub fn render_objects(format: &Format, items: Vec<(&'static Resource, Value)>, single: bool) -> String {
    match format {
        Format::Name => items.iter().map(|(r, o)| format!("{}/{}\n", r.qualified_singular(), name_of(o))).collect(),
        Format::CustomColumns(cols) => {
            let mut rows = vec![cols.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>()];
            for (_, o) in &items {
                rows.push(cols.iter().map(|(_, t)| custom_cell(t, o)).collect());
            }
            crate::tabwriter::TabWriter::new(crate::tabwriter::GET).format(&crate::tabwriter::join_rows(&rows))
        }
        _ => {
            let doc = if single && items.len() == 1 {
                items.into_iter().next().map(|(r, o)| with_type(o, r)).unwrap_or(Value::Null)
            } else {
                list_of(items.into_iter().map(|(r, o)| with_type(o, r)).collect())
            };
            match format {
                Format::Json => to_json(&doc),
                Format::Yaml => to_yaml(&doc),
                Format::JsonPath(t) => t.render(&doc),
                _ => String::new(),
            }
        }
    }
}

pub fn name_of(o: &Value) -> &str {
    o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

pub fn namespace_of(o: &Value) -> &str {
    o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")
}

/// The text of one Table cell.
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

/// `a=b,c=d` (sorted) or `<none>`.
pub fn labels_text(labels: Option<&Value>) -> String {
    let Some(Value::Object(m)) = labels else { return "<none>".into() };
    if m.is_empty() {
        return "<none>".into();
    }
    let mut pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
    pairs.sort();
    pairs.join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn json_like_kubectl() {
        assert_eq!(
            to_json(&json!({"b": "x && y", "a": [1]})),
            "{\n    \"a\": [\n        1\n    ],\n    \"b\": \"x \\u0026\\u0026 y\"\n}\n"
        );
    }

    #[test]
    fn formats_parse() {
        assert!(matches!(Format::parse(Some("wide")).unwrap(), Format::Table { wide: true }));
        assert!(matches!(Format::parse(Some("jsonpath={.a}")).unwrap(), Format::JsonPath(_)));
        assert!(Format::parse(Some("xml")).is_err());
        assert!(Format::parse(Some("custom-columns=")).is_err());
    }

    #[test]
    fn custom_columns_cells() {
        let cols =
            parse_custom_columns("NAME:.metadata.name,IMAGES:.spec.containers[*].image,NODE:.spec.nodeName").unwrap();
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        let r = crate::resource::lookup("pods").unwrap();
        let out = render_objects(&Format::CustomColumns(cols), vec![(r, pod)], false);
        assert_eq!(out, "NAME   IMAGES   NODE\np      a,b      <none>\n");
        let cols = parse_custom_columns("L:.metadata.labels,C:.spec.containers[0].command").unwrap();
        let pod =
            json!({"metadata": {"labels": {"b": "2", "a": "1"}}, "spec": {"containers": [{"command": ["sh", "-c"]}]}});
        let out = render_objects(&Format::CustomColumns(cols), vec![(r, pod)], false);
        assert_eq!(out, "L              C\nmap[a:1 b:2]   [sh -c]\n");
    }

    #[test]
    fn names_and_lists() {
        let r = crate::resource::lookup("pods").unwrap();
        let items = vec![(r, json!({"metadata": {"name": "a"}})), (r, json!({"metadata": {"name": "b"}}))];
        assert_eq!(render_objects(&Format::Name, items, false), "pod/a\npod/b\n");
        let one = vec![(r, json!({"metadata": {"name": "a"}}))];
        let doc = render_objects(&Format::Yaml, one, true);
        assert_eq!(doc, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n");
        let none = render_objects(&Format::Json, vec![], false);
        assert!(none.contains("\"kind\": \"List\""));
    }

    #[test]
    fn labels() {
        assert_eq!(labels_text(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(labels_text(None), "<none>");
        assert_eq!(
            labels_text(Some(&json!({"app": "web", "app.kubernetes.io/name": "seed"}))),
            "app.kubernetes.io/name=seed,app=web"
        );
    }
}
