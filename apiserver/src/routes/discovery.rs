//! Discovery: `/version`, `/api`, `/apis`, `/api/v1`, `/apis/<group>[/<version>]`, in the legacy and
//! the aggregated (`apidiscovery.k8s.io` v2 / v2beta1) forms, chosen by the exact Accept asked for.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::resources::{ResourceInfo, GROUPS, RESOURCES, VERBS};
use crate::KUBERNETES_VERSION;

pub fn version() -> Value {
    let (major, minor) = KUBERNETES_VERSION;
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": format!("v{major}.{minor}.0-minik.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Which aggregated discovery version the client asked for, if any.
fn aggregated_version(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let is_discovery = params.contains(&"g=apidiscovery.k8s.io") && params.contains(&"as=APIGroupDiscoveryList");
        if !is_discovery {
            continue;
        }
        if params.contains(&"v=v2") {
            return Some("v2");
        }
        if params.contains(&"v=v2beta1") {
            return Some("v2beta1");
        }
    }
    None
}

fn json_response(body: Value, content_type: &str) -> Response {
    let mut resp = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn aggregated(version: &str, items: Vec<Value>) -> Response {
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    });
    json_response(body, &format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"))
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut v = json!({
        "resource": r.plural,
        "responseKind": { "group": r.group, "version": r.version, "kind": r.kind },
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        v["subresources"] = r
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": { "group": s.group, "version": "v1", "kind": s.kind },
                    "verbs": s.verbs,
                })
            })
            .collect();
    }
    v
}

fn aggregated_group(group: &str, version: &str) -> Value {
    let resources: Vec<Value> =
        RESOURCES.iter().filter(|r| r.group == group && r.version == version).map(aggregated_resource).collect();
    let mut item = json!({
        "metadata": { "creationTimestamp": null },
        "versions": [{ "version": version, "freshness": "Current", "resources": resources }],
    });
    if !group.is_empty() {
        item["metadata"]["name"] = json!(group);
    }
    item
}

/// `GET /api`
pub fn api(headers: &HeaderMap) -> Response {
    match aggregated_version(headers) {
        Some(v) => aggregated(v, vec![aggregated_group("", "v1")]),
        None => json_response(
            json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1" }],
            }),
            "application/json",
        ),
    }
}

fn legacy_group(group: &str, version: &str) -> Value {
    let gv = format!("{group}/{version}");
    json!({
        "name": group,
        "versions": [{ "groupVersion": gv, "version": version }],
        "preferredVersion": { "groupVersion": gv, "version": version },
    })
}

/// `GET /apis`
pub fn apis(headers: &HeaderMap) -> Response {
    match aggregated_version(headers) {
        Some(v) => aggregated(v, GROUPS.iter().map(|(g, ver)| aggregated_group(g, ver)).collect()),
        None => json_response(
            json!({
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": GROUPS.iter().map(|(g, v)| legacy_group(g, v)).collect::<Vec<_>>(),
            }),
            "application/json",
        ),
    }
}

/// `GET /apis/<group>`
pub fn group(group: &str) -> Option<Value> {
    let (g, v) = GROUPS.iter().find(|(g, _)| *g == group)?;
    let mut body = legacy_group(g, v);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Some(body)
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`: an APIResourceList.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let known = (group.is_empty() && version == "v1") || GROUPS.contains(&(group, version));
    if !known {
        return None;
    }
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        resources.push(v);
        for s in r.subresources {
            resources.push(json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            }));
        }
    }
    let gv = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Some(json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources }))
}
