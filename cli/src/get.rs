//! `get`: server-side Tables for human output (kubectl's columns, filled by the server), the
//! object formats for `-o`, and `-w`/`--watch-only` streaming rows with stable column widths.

use std::io::Write;

use futures::StreamExt;
use serde_json::Value;

use crate::args::GetArgs;
use crate::ctx::{Ctx, TABLE_ACCEPT};
use crate::error::CliError;
use crate::jsonpath::Template;
use crate::output::{self, cell_text, labels_text, Format};
use crate::resource::{self, Resource};
use crate::tabwriter::{self, TabWriter};

/// What one `get` asks for: a type and either some names or everything.
#[derive(Debug, PartialEq)]
pub struct Target {
    pub resource: &'static Resource,
    pub names: Vec<String>,
}

/// Parses `pods`, `pods a b`, `pod/a svc/b`, `pods,svc`, `all`.
pub fn parse_targets(args: &[String]) -> Result<Vec<Target>, CliError> {
    let unknown = |t: &str| CliError::usage(format!("the server doesn't have a resource type \"{t}\""));
    let Some(first) = args.first() else {
        return Err(CliError::usage(
            "You must specify the type of resource to get. Use \"miniktl api-resources\" for a complete list of supported resources.",
        ));
    };
    if first.contains('/') {
        let mut out: Vec<Target> = Vec::new();
        for a in args {
            let (t, name) = a.split_once('/').ok_or_else(|| {
                CliError::usage(format!("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'miniktl get resource/<resource_name>' instead of 'miniktl get resource resource/<resource_name>'): {a}"))
            })?;
            let r = resource::lookup(t).ok_or_else(|| unknown(t))?;
            match out.iter_mut().find(|x| x.resource == r) {
                Some(x) => x.names.push(name.to_string()),
                None => out.push(Target { resource: r, names: vec![name.to_string()] }),
            }
        }
        return Ok(out);
    }
    let types = resource::expand(first).map_err(|t| unknown(&t))?;
    let names: Vec<String> = args[1..].to_vec();
    Ok(types.into_iter().map(|r| Target { resource: r, names: names.clone() }).collect())
}

struct RowOptions<'a> {
    wide: bool,
    namespace_column: bool,
    kind_prefix: Option<String>,
    show_labels: bool,
    label_columns: &'a [String],
}

/// Headers and rows of a server-side Table, with kubectl's client-side additions.
fn table_lines(table: &Value, o: &RowOptions) -> (Vec<String>, Vec<Vec<String>>) {
    let defs: Vec<&Value> =
        table.get("columnDefinitions").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    let shown: Vec<usize> = (0..defs.len())
        .filter(|&i| o.wide || defs[i].get("priority").and_then(Value::as_i64).unwrap_or(0) == 0)
        .collect();
    let name_col = defs.iter().position(|d| d.get("format").and_then(Value::as_str) == Some("name")).unwrap_or(0);
    let mut headers: Vec<String> = Vec::new();
    if o.namespace_column {
        headers.push("NAMESPACE".into());
    }
    headers.extend(shown.iter().map(|&i| defs[i].get("name").and_then(Value::as_str).unwrap_or("").to_uppercase()));
    headers.extend(o.label_columns.iter().map(|l| l.rsplit('/').next().unwrap_or(l).to_uppercase()));
    if o.show_labels {
        headers.push("LABELS".into());
    }
    let mut rows = Vec::new();
    for row in table.get("rows").and_then(Value::as_array).into_iter().flatten() {
        let cells: Vec<&Value> =
            row.get("cells").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
        let meta = row.pointer("/object/metadata");
        let mut line = Vec::new();
        if o.namespace_column {
            line.push(meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("").to_string());
        }
        for &i in &shown {
            let mut text = cells.get(i).map(|c| cell_text(c)).unwrap_or_default();
            if i == name_col {
                if let Some(p) = &o.kind_prefix {
                    text = format!("{p}/{text}");
                }
            }
            line.push(text);
        }
        let labels = meta.and_then(|m| m.get("labels"));
        for l in o.label_columns {
            line.push(labels.and_then(|m| m.get(l)).and_then(Value::as_str).unwrap_or("").to_string());
        }
        if o.show_labels {
            line.push(labels_text(labels));
        }
        rows.push(line);
    }
    (headers, rows)
}

fn no_resources(ns: Option<&str>, any_namespaced: bool) -> String {
    match ns {
        Some(ns) if any_namespaced => format!("No resources found in {ns} namespace."),
        _ => "No resources found".to_string(),
    }
}

fn selectors(a: &GetArgs) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(l) = &a.selector {
        q.push(("labelSelector", l.clone()));
    }
    if let Some(f) = &a.field_selector {
        q.push(("fieldSelector", f.clone()));
    }
    q
}

/// Sorts Table rows (which carry full objects) or objects by a JSONPath.
fn sort_values(items: &mut [Value], by: &Template, object_of: impl Fn(&Value) -> &Value) {
    items.sort_by(|a, b| {
        let ka = by.values(object_of(a)).first().map(|v| (*v).clone()).unwrap_or(Value::Null);
        let kb = by.values(object_of(b)).first().map(|v| (*v).clone()).unwrap_or(Value::Null);
        compare(&ka, &kb)
    });
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(std::cmp::Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

pub async fn run(ctx: &Ctx, a: GetArgs) -> Result<(), CliError> {
    let format = Format::parse(a.output.as_deref())?;
    let targets = parse_targets(&a.args)?;
    let sort_by = match &a.sort_by {
        Some(s) => {
            Some(Template::parse_relaxed(s).map_err(|e| CliError::usage(format!("couldn't parse sort-by: {e}")))?)
        }
        None => None,
    };
    let ns: Option<&str> = if a.all_namespaces { None } else { Some(ctx.namespace.as_str()) };
    if (a.watch || a.watch_only) && targets.len() > 1 {
        return Err(CliError::usage("you may only specify a single resource type"));
    }
    let stdout = std::io::stdout();
    let mut errors: Vec<CliError> = Vec::new();
    let multi = targets.len() > 1 || a.show_kind;
    let mut tw = TabWriter::new(tabwriter::GET);
    let mut printed_any = false;
    let mut last_rv = String::new();
    let mut objects: Vec<(&'static Resource, Value)> = Vec::new();
    let single = targets.len() == 1 && targets[0].names.len() == 1;

    for t in &targets {
        let r = t.resource;
        let path_ns = if r.namespaced { ns } else { None };
        let coll = r.collection_path(path_ns);
        if format.is_table() {
            let wide = matches!(format, Format::Table { wide: true });
            let mut tables: Vec<Value> = Vec::new();
            if t.names.is_empty() {
                let mut q = selectors(&a);
                if sort_by.is_some() {
                    q.push(("includeObject", "Object".into()));
                }
                let table =
                    ctx.list_all(&coll, &q, TABLE_ACCEPT, if sort_by.is_some() { 0 } else { a.chunk_size }).await?;
                last_rv = table.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
                tables.push(table);
            } else {
                for name in &t.names {
                    let path = r.object_path(path_ns.unwrap_or(&ctx.namespace), name);
                    match ctx.get(&path, &[], TABLE_ACCEPT).await {
                        Ok(tb) => tables.push(tb),
                        Err(e) => errors.push(e),
                    }
                }
            }
            let Some(mut table) = merge_tables(tables) else { continue };
            if let (Some(by), Some(Value::Array(rows))) = (&sort_by, table.get_mut("rows")) {
                sort_values(rows, by, |row| row.get("object").unwrap_or(&Value::Null));
            }
            let opts = RowOptions {
                wide,
                namespace_column: a.all_namespaces && r.namespaced,
                kind_prefix: multi.then(|| r.qualified_singular()),
                show_labels: a.show_labels,
                label_columns: &a.label_columns,
            };
            let (headers, rows) = table_lines(&table, &opts);
            if rows.is_empty() || a.watch_only {
                continue;
            }
            let mut all = Vec::with_capacity(rows.len() + 1);
            if !a.no_headers {
                all.push(headers);
            }
            all.extend(rows);
            if printed_any {
                tw = TabWriter::new(tabwriter::GET);
            }
            let text = tw.format(&tabwriter::join_rows(&all));
            let mut out = stdout.lock();
            if printed_any {
                let _ = out.write_all(b"\n");
            }
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            printed_any = true;
        } else if t.names.is_empty() {
            let list = ctx.list_all(&coll, &selectors(&a), "application/json", a.chunk_size).await?;
            last_rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
            let mut items: Vec<Value> = list.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
            if let Some(by) = &sort_by {
                sort_values(&mut items, by, |o| o);
            }
            objects.extend(items.into_iter().map(|o| (r, o)));
        } else {
            for name in &t.names {
                match ctx.get_json(&r.object_path(path_ns.unwrap_or(&ctx.namespace), name), &[]).await {
                    Ok(o) => objects.push((r, o)),
                    Err(e) => errors.push(e),
                }
            }
        }
    }

    if !format.is_table() && !a.watch_only {
        let empty = objects.is_empty();
        let list_wanted = !single;
        if !(empty && (matches!(format, Format::Name | Format::CustomColumns(_)) || !list_wanted && !errors.is_empty()))
        {
            let text = output::render_objects(&format, objects, single);
            let mut out = stdout.lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        if empty && errors.is_empty() && matches!(format, Format::Name | Format::CustomColumns(_)) {
            eprintln!("{}", no_resources(ns, targets.iter().any(|t| t.resource.namespaced)));
        }
    } else if format.is_table() && !printed_any && errors.is_empty() && !a.watch_only && !a.watch {
        eprintln!("{}", no_resources(ns, targets.iter().any(|t| t.resource.namespaced)));
    }

    if !errors.is_empty() {
        for e in &errors {
            if let Some(m) = e.message() {
                eprintln!("{m}");
            }
        }
        return Err(CliError::Reported);
    }
    if a.watch || a.watch_only {
        if let Some(t) = targets.first() {
            watch(ctx, &a, &format, t, ns, &last_rv, tw, printed_any).await?;
        }
    }
    Ok(())
}

fn merge_tables(tables: Vec<Value>) -> Option<Value> {
    let mut it = tables.into_iter();
    let mut first = it.next()?;
    for t in it {
        if let (Some(Value::Array(dst)), Some(Value::Array(src))) = (first.get_mut("rows"), t.get("rows")) {
            dst.extend(src.iter().cloned());
        }
    }
    Some(first)
}

#[allow(clippy::too_many_arguments)]
async fn watch(
    ctx: &Ctx,
    a: &GetArgs,
    format: &Format,
    t: &Target,
    ns: Option<&str>,
    list_rv: &str,
    mut tw: TabWriter,
    mut header_printed: bool,
) -> Result<(), CliError> {
    let r = t.resource;
    let path_ns = if r.namespaced { ns } else { None };
    let coll = r.collection_path(path_ns);
    let mut q = selectors(a);
    let mut skip_first = false;
    if let [name] = t.names.as_slice() {
        q.retain(|(k, _)| *k != "fieldSelector");
        q.push(("fieldSelector", format!("metadata.name={name}")));
        q.push(("resourceVersion", "0".into()));
        skip_first = true;
    } else if !list_rv.is_empty() {
        q.push(("resourceVersion", list_rv.to_string()));
    }
    let accept = if format.is_table() { TABLE_ACCEPT } else { "application/json" };
    let mut events = Box::pin(ctx.watch(&coll, &q, accept).await?);
    let wide = matches!(format, Format::Table { wide: true });
    let opts = RowOptions {
        wide,
        namespace_column: a.all_namespaces && r.namespaced,
        kind_prefix: a.show_kind.then(|| r.qualified_singular()),
        show_labels: a.show_labels,
        label_columns: &a.label_columns,
    };
    let mut columns: Option<Value> = None;
    while let Some(ev) = events.next().await {
        let ev = ev?;
        let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
        let obj = ev.get("object").cloned().unwrap_or(Value::Null);
        if kind == "BOOKMARK" {
            continue;
        }
        if skip_first {
            skip_first = false;
            if a.watch && !a.watch_only {
                if let Some(defs) = obj.get("columnDefinitions").filter(|d| d.as_array().is_some_and(|d| !d.is_empty()))
                {
                    columns = Some(defs.clone());
                }
                continue;
            }
        }
        let text = if kind == "ERROR" {
            let status = |k: &str| obj.get(k).map(cell_text).unwrap_or_default();
            let rows = vec![
                vec!["STATUS".into(), "REASON".into(), "MESSAGE".into()],
                vec![status("status"), status("reason"), status("message")],
            ];
            TabWriter::new(tabwriter::GET).format(&tabwriter::join_rows(&rows))
        } else if format.is_table() {
            let mut table = obj;
            match table.get("columnDefinitions").and_then(Value::as_array) {
                Some(d) if !d.is_empty() => columns = Some(Value::Array(d.clone())),
                _ => {
                    if let (Some(defs), Some(m)) = (&columns, table.as_object_mut()) {
                        m.insert("columnDefinitions".into(), defs.clone());
                    }
                }
            }
            let (headers, rows) = table_lines(&table, &opts);
            let mut all = Vec::new();
            if !header_printed && !a.no_headers {
                all.push(headers);
            }
            header_printed = true;
            all.extend(rows);
            tw.format(&tabwriter::join_rows(&all))
        } else {
            output::render_objects(format, vec![(r, obj)], true)
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets() {
        let t = parse_targets(&strings(&["pods", "a", "b"])).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].names, ["a", "b"]);
        let t = parse_targets(&strings(&["po/a", "svc/b", "pod/c"])).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].names, ["a", "c"]);
        assert_eq!(t[1].resource.plural, "services");
        let e = parse_targets(&strings(&["foo"])).unwrap_err();
        assert_eq!(e.message().unwrap(), "error: the server doesn't have a resource type \"foo\"");
        assert!(parse_targets(&[]).is_err());
    }

    fn pods_table() -> Value {
        json!({"kind": "Table", "metadata": {"resourceVersion": "7"},
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "priority": 0},
                {"name": "Ready", "type": "string", "priority": 0},
                {"name": "Status", "type": "string", "priority": 0},
                {"name": "Restarts", "type": "string", "priority": 0},
                {"name": "Age", "type": "string", "priority": 0},
                {"name": "IP", "type": "string", "priority": 1},
                {"name": "Node", "type": "string", "priority": 1}],
            "rows": [
                {"cells": ["web", "1/1", "Running", "1 (3m49s ago)", "5d10h", "10.0.0.1", "n1"],
                 "object": {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "app.kubernetes.io/tier": "fe"}}}},
                {"cells": ["db", "0/1", "Pending", 0, "3s", "<none>", "<none>"],
                 "object": {"metadata": {"name": "db", "namespace": "other"}}}]})
    }

    fn render(o: &RowOptions) -> String {
        let (h, rows) = table_lines(&pods_table(), o);
        let mut all = vec![h];
        all.extend(rows);
        TabWriter::new(tabwriter::GET).format(&tabwriter::join_rows(&all))
    }

    #[test]
    fn default_columns_hide_priority_one() {
        let o = RowOptions {
            wide: false,
            namespace_column: false,
            kind_prefix: None,
            show_labels: false,
            label_columns: &[],
        };
        assert_eq!(
            render(&o),
            "NAME   READY   STATUS    RESTARTS        AGE\nweb    1/1     Running   1 (3m49s ago)   5d10h\ndb     0/1     Pending   0               3s\n"
        );
    }

    #[test]
    fn wide_namespace_labels_and_prefix() {
        let cols = strings(&["app", "app.kubernetes.io/tier"]);
        let o = RowOptions {
            wide: true,
            namespace_column: true,
            kind_prefix: Some("pod".into()),
            show_labels: true,
            label_columns: &cols,
        };
        let out = render(&o);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "NAMESPACE   NAME      READY   STATUS    RESTARTS        AGE     IP         NODE     APP   TIER   LABELS"
        );
        assert_eq!(lines[1], "default     pod/web   1/1     Running   1 (3m49s ago)   5d10h   10.0.0.1   n1       web   fe     app.kubernetes.io/tier=fe,app=web");
        assert_eq!(
            lines[2],
            "other       pod/db    0/1     Pending   0               3s      <none>     <none>                <none>"
        );
    }

    #[test]
    fn sorting_by_jsonpath() {
        let by = Template::parse_relaxed(".metadata.name").unwrap();
        let mut rows = pods_table()["rows"].as_array().unwrap().clone();
        sort_values(&mut rows, &by, |r| &r["object"]);
        assert_eq!(rows[0]["cells"][0], "db");
        let by = Template::parse_relaxed(".n").unwrap();
        let mut nums = vec![json!({"n": 10}), json!({"n": 9}), json!({})];
        sort_values(&mut nums, &by, |o| o);
        assert_eq!(nums, vec![json!({}), json!({"n": 9}), json!({"n": 10})]);
    }

    #[test]
    fn no_resources_message() {
        assert_eq!(no_resources(Some("default"), true), "No resources found in default namespace.");
        assert_eq!(no_resources(None, true), "No resources found");
        assert_eq!(no_resources(Some("default"), false), "No resources found");
    }
}
