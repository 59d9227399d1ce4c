//! Server-side printing: `meta.k8s.io/v1` Tables built from the shared printing rules in
//! `minik_api::printers`, and PartialObjectMetadata views.

use std::sync::Arc;

use minik_api::printers;
use minik_store::Revision;
use serde_json::{json, Value};

use crate::body::IncludeObject;
use crate::cache::Entry;
use crate::error::{ApiError, ApiResult};
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

/// A Table of `objects`. `with_columns` is false for watch events after the first.
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
    assemble(res, rows, rv, with_columns, continue_token)
}

/// Lists at least this long are printed on several threads.
const PARALLEL_ROWS: usize = 2_000;

/// A Table of cached entries: parsing and printing, the costly part, spread over the cores for
/// long lists (`kubectl get` of thousands of pods).
pub fn table_of_entries(
    res: &ResourceInfo,
    entries: &[Arc<Entry>],
    rv: Revision,
    include: IncludeObject,
    continue_token: Option<String>,
) -> ApiResult<Value> {
    let now = jiff::Timestamp::now();
    let print = |chunk: &[Arc<Entry>]| -> ApiResult<Vec<Value>> {
        chunk.iter().map(|e| Ok(row(res, &e.value()?, include, now))).collect()
    };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let rows = if entries.len() < PARALLEL_ROWS || threads == 1 {
        print(entries)?
    } else {
        let chunk = entries.len().div_ceil(threads);
        let parts: Vec<ApiResult<Vec<Value>>> = std::thread::scope(|s| {
            let handles: Vec<_> = entries.chunks(chunk).map(|c| s.spawn(move || print(c))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(ApiError::internal("table printer panicked"))))
                .collect()
        });
        let mut rows = Vec::with_capacity(entries.len());
        for part in parts {
            rows.extend(part?);
        }
        rows
    };
    Ok(assemble(res, rows, rv, true, continue_token))
}

fn assemble(
    res: &ResourceInfo,
    rows: Vec<Value>,
    rv: Revision,
    with_columns: bool,
    continue_token: Option<String>,
) -> Value {
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
