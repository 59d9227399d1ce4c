//! Server-side printing: `meta.k8s.io/v1` Tables built from the shared printing rules in
//! `minik_api::printers`, and PartialObjectMetadata views.

use std::sync::Arc;

use minik_api::printers;
use minik_store::Revision;
use serde_json::{json, Value};

use crate::body::IncludeObject;
use crate::cache::Entry;
use crate::error::ApiResult;
use crate::resources::ResourceInfo;

pub fn column_definitions(res: &ResourceInfo) -> Value {
    printers::columns(res.plural).iter().map(|c| c.to_json()).collect()
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

pub fn row(res: &ResourceInfo, obj: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
    let cells = printers::row(res.plural, obj, now);
    let mut row = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(obj),
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A Table of `entries`. `with_columns` is false for watch events after the first.
pub fn table(
    res: &ResourceInfo,
    objects: &[Value],
    rv: Revision,
    include: IncludeObject,
    with_columns: bool,
    continue_token: Option<String>,
) -> Value {
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objects.iter().map(|o| row(res, o, include, now)).collect();
    let mut meta = json!({});
    if rv > 0 {
        meta["resourceVersion"] = json!(rv.to_string());
    }
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": if with_columns { column_definitions(res) } else { json!([]) },
        "rows": rows,
    })
}

pub fn parse_entries(entries: &[Arc<Entry>]) -> ApiResult<Vec<Value>> {
    entries.iter().map(|e| e.value()).collect()
}
