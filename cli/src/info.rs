//! `api-resources` (from the server's discovery documents) and `version`.

use serde_json::{json, Value};

use crate::args::{ApiResourcesArgs, VersionArgs};
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::output::to_json;
use crate::tabwriter::{self, TabWriter};
use crate::yaml::to_yaml;

/// One row of `api-resources`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResourceRow {
    pub name: String,
    pub short_names: Vec<String>,
    pub api_version: String,
    pub namespaced: bool,
    pub kind: String,
    pub verbs: Vec<String>,
    pub categories: Vec<String>,
}

/// Rows from a legacy `APIResourceList`, subresources left out, sorted by name.
pub fn rows_from_list(list: &Value) -> Vec<ApiResourceRow> {
    let gv = list.get("groupVersion").and_then(Value::as_str).unwrap_or("v1").to_string();
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
    };
    let mut rows: Vec<ApiResourceRow> = list
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let name = r.get("name").and_then(Value::as_str)?;
            if name.contains('/') {
                return None;
            }
            Some(ApiResourceRow {
                name: name.to_string(),
                short_names: strings(r.get("shortNames")),
                api_version: gv.clone(),
                namespaced: r.get("namespaced").and_then(Value::as_bool).unwrap_or(false),
                kind: r.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
                verbs: strings(r.get("verbs")),
                categories: strings(r.get("categories")),
            })
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// The text kubectl prints for these rows.
pub fn render_rows(rows: &[ApiResourceRow], output: Option<&str>, no_headers: bool) -> String {
    if output == Some("name") {
        return rows
            .iter()
            .map(|r| match r.api_version.split_once('/') {
                Some((group, _)) => format!("{}.{group}\n", r.name),
                None => format!("{}\n", r.name),
            })
            .collect();
    }
    let wide = output == Some("wide");
    let mut table = Vec::new();
    if !no_headers {
        let mut h: Vec<String> = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"].map(String::from).to_vec();
        if wide {
            h.extend(["VERBS".to_string(), "CATEGORIES".to_string()]);
        }
        table.push(h);
    }
    for r in rows {
        let mut line = vec![
            r.name.clone(),
            r.short_names.join(","),
            r.api_version.clone(),
            r.namespaced.to_string(),
            r.kind.clone(),
        ];
        if wide {
            line.push(r.verbs.join(","));
            line.push(r.categories.join(","));
        }
        table.push(line);
    }
    TabWriter::new(tabwriter::GET).format(&tabwriter::join_rows(&table))
}

pub async fn api_resources(ctx: &Ctx, a: ApiResourcesArgs) -> Result<(), CliError> {
    let mut rows = rows_from_list(&ctx.get_json("/api/v1", &[]).await?);
    let groups = ctx.get_json("/apis", &[]).await?;
    let mut gvs: Vec<String> = groups
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.pointer("/preferredVersion/groupVersion").and_then(Value::as_str).map(String::from))
        .collect();
    gvs.sort();
    for gv in gvs {
        rows.extend(rows_from_list(&ctx.get_json(&format!("/apis/{gv}"), &[]).await?));
    }
    if let Some(ns) = a.namespaced {
        rows.retain(|r| r.namespaced == ns);
    }
    print!("{}", render_rows(&rows, a.output.as_deref(), a.no_headers));
    Ok(())
}

pub async fn version(ctx: Option<&Ctx>, a: VersionArgs) -> Result<(), CliError> {
    let client = json!({"gitVersion": format!("v{}", env!("CARGO_PKG_VERSION")), "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)});
    let server = match ctx {
        Some(ctx) if !a.client => Some(ctx.get_json("/version", &[]).await),
        _ => None,
    };
    let mut doc = json!({"clientVersion": client});
    if let Some(Ok(s)) = &server {
        doc["serverVersion"] = s.clone();
    }
    match a.output.as_deref() {
        Some("json") => print!("{}", to_json(&doc)),
        Some("yaml") => print!("{}", to_yaml(&doc)),
        Some(other) => return Err(CliError::usage(format!("--output must be 'yaml' or 'json', got {other}"))),
        None => {
            println!("Client Version: v{}", env!("CARGO_PKG_VERSION"));
            if let Some(Ok(s)) = &server {
                println!("Server Version: {}", s.get("gitVersion").and_then(Value::as_str).unwrap_or(""));
            }
        }
    }
    match server {
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn legacy_list_to_table() {
        let list = json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "verbs": ["get", "list"], "shortNames": ["po"], "categories": ["all"]},
            {"name": "pods/log", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
            {"name": "configmaps", "namespaced": true, "kind": "ConfigMap", "verbs": ["get"], "shortNames": ["cm"]},
            {"name": "nodes", "namespaced": false, "kind": "Node", "verbs": ["get"], "shortNames": ["no"]}]});
        let rows = rows_from_list(&list);
        assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["configmaps", "nodes", "pods"]);
        let out = render_rows(&rows, None, false);
        assert_eq!(
            out,
            "NAME         SHORTNAMES   APIVERSION   NAMESPACED   KIND\nconfigmaps   cm           v1           true         ConfigMap\nnodes        no           v1           false        Node\npods         po           v1           true         Pod\n"
        );
        let lease = json!({"groupVersion": "coordination.k8s.io/v1", "resources": [{"name": "leases", "namespaced": true, "kind": "Lease"}]});
        assert_eq!(render_rows(&rows_from_list(&lease), Some("name"), false), "leases.coordination.k8s.io\n");
    }
}
