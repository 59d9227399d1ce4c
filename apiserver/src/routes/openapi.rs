//! A minimal OpenAPI v3: enough for kubectl to see that every kind supports server-side field
//! validation (`fieldValidation` on its PATCH operation), so it skips client-side schema checks.

use serde_json::{json, Map, Value};

use crate::resources::{GROUPS, RESOURCES};

const HASH: &str = concat!("MINIK", env!("CARGO_PKG_VERSION"));

fn group_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`
pub fn root() -> Value {
    let mut paths = Map::new();
    let groups = std::iter::once(("", "v1")).chain(GROUPS.iter().copied());
    for (g, v) in groups {
        let p = group_path(g, v);
        paths.insert(p.clone(), json!({ "serverRelativeURL": format!("/openapi/v3/{p}?hash={HASH}") }));
    }
    json!({ "paths": paths })
}

/// `GET /openapi/v3/<api/v1 | apis/group/version>`
pub fn group_document(path: &str) -> Option<Value> {
    let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let mut paths = Map::new();
    let base = format!("/{}", group_path(group, version));
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        let item_path = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let op = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "x-kubernetes-group-version-kind": { "group": r.group, "version": r.version, "kind": r.kind },
                "x-kubernetes-action": verb,
                "parameters": [
                    { "name": "dryRun", "in": "query", "schema": { "type": "string" } },
                    { "name": "fieldManager", "in": "query", "schema": { "type": "string" } },
                    { "name": "fieldValidation", "in": "query", "schema": { "type": "string" } },
                ],
                "responses": { "200": { "description": "OK" } },
            })
        };
        paths.insert(item_path, json!({ "patch": op("patch"), "put": op("put") }));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": format!("v{}.{}.0", crate::KUBERNETES_VERSION.0, crate::KUBERNETES_VERSION.1) },
        "paths": paths,
        "components": { "schemas": {} },
    }))
}
