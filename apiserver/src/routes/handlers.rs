//! HTTP ⇄ object verbs: parse the request's options, call `objects`, shape the response.

use std::io::Write;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use minik_store::RangeRequest;
use serde_json::{json, Value};

use crate::body::{self, negotiate, respond, respond_json_bytes, Output};
use crate::cache::{entry_from_kv, Entry};
use crate::error::{ApiError, ApiResult};
use crate::objects::{DeleteOptions, Target, WriteOptions, Written};
use crate::query::{ContinueToken, ListOptions, Query, RvMatch};
use crate::resources::KindTag;
use crate::strategy::FieldValidation;
use crate::table;
use crate::AppState;

fn write_options(q: &Query) -> ApiResult<WriteOptions> {
    Ok(WriteOptions { dry_run: q.dry_run()?, field_validation: FieldValidation::parse(q.get("fieldValidation"))? })
}

fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("Warning", v);
        }
    }
    resp
}

fn written(w: Written, output: Output) -> Response {
    let code = if w.created { StatusCode::CREATED } else { StatusCode::OK };
    with_warnings(respond(code, output, &w.object), &w.warnings)
}

/// GET: one object, a list, or a watch.
pub async fn get_or_list(state: &AppState, t: &Target, q: &Query, headers: &HeaderMap) -> ApiResult<Response> {
    let output = negotiate(headers, q.get("includeObject"))?;
    if t.name.is_some() {
        if matches!(t.sub.as_deref(), Some(s) if s != "status") {
            return Err(ApiError::MethodNotAllowed);
        }
        let rv = match q.get("resourceVersion") {
            None | Some("") => None,
            Some(v) => Some(v.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}")))?),
        };
        let entry = state.get_entry(t, rv).await?;
        return single(t, &entry, output);
    }
    let opts = ListOptions::parse(q, t.res)?;
    if opts.watch {
        return Ok(super::watch::watch(state, t, opts, output).await);
    }
    list(state, t, &opts, output).await
}

fn single(t: &Target, entry: &Entry, output: Output) -> ApiResult<Response> {
    match output {
        Output::Json => Ok(respond_json_bytes(StatusCode::OK, entry.json.clone())),
        Output::Yaml => Ok(respond(StatusCode::OK, output, &entry.value()?)),
        Output::Table { include_object } => {
            let t = table::table(t.res, &[entry.value()?], entry.rv, include_object, true, None);
            Ok(respond(StatusCode::OK, Output::Json, &t))
        }
        Output::PartialMetadata => Ok(respond(StatusCode::OK, output, &table::partial_metadata(&entry.value()?))),
    }
}

async fn list(state: &AppState, t: &Target, opts: &ListOptions, output: Output) -> ApiResult<Response> {
    let prefix = t.res.list_prefix(t.namespace.as_deref());
    let filter = |e: &Entry| opts.matches(e);
    let (entries, rv, remaining) = match (&opts.continue_token, opts.resource_version, opts.rv_match) {
        (Some(token), _, _) => page_at(state, &prefix, Some(&token.start_after), token.rv, opts, &filter).await?,
        (None, Some(n), Some(RvMatch::Exact)) if n > 0 && n != state.cache.revision() => {
            page_at(state, &prefix, None, n, opts, &filter).await?
        }
        (None, rv, _) => {
            state.sync_cache(rv).await?;
            state.cache.list(&prefix, None, opts.limit, &filter)
        }
    };
    let continue_token = (remaining > 0)
        .then(|| entries.last().map(|e| ContinueToken { rv, start_after: e.key.clone() }.encode()))
        .flatten();
    // Kubernetes reports remainingItemCount only when it is exact: no selectors.
    let count = (opts.labels.is_none() && opts.fields.is_none()).then_some(remaining);
    match output {
        Output::Json => Ok(respond_json_bytes(StatusCode::OK, list_json(t, &entries, rv, continue_token, count))),
        Output::Yaml => {
            let bytes = list_json(t, &entries, rv, continue_token, count);
            Ok(respond(StatusCode::OK, output, &body::parse_json(&bytes)?))
        }
        Output::Table { include_object } => {
            let tbl = tokio::task::block_in_place(|| {
                table::table_of_entries(t.res, &entries, rv, include_object, continue_token)
            })?;
            Ok(respond(StatusCode::OK, Output::Json, &tbl))
        }
        Output::PartialMetadata => {
            let items: Vec<Value> = table::parse_entries(&entries)?.iter().map(table::partial_metadata).collect();
            let mut meta = json!({ "resourceVersion": rv.to_string() });
            if let Some(c) = continue_token {
                meta["continue"] = json!(c);
            }
            let list = json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": items,
            });
            Ok(respond(StatusCode::OK, Output::Json, &list))
        }
    }
}

/// A page read from the store at an older revision (continue tokens, Exact reads).
async fn page_at(
    state: &AppState,
    prefix: &str,
    start_after: Option<&str>,
    rv: i64,
    opts: &ListOptions,
    filter: &(dyn Fn(&Entry) -> bool + Sync),
) -> ApiResult<(Vec<Arc<Entry>>, i64, usize)> {
    if rv == state.cache.revision() {
        return Ok(state.cache.list(prefix, start_after, opts.limit, filter));
    }
    let expired = |e| match e {
        minik_store::StoreError::Compacted { .. } => ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. \
             You can start a new list without the continue parameter.",
        ),
        other => other.into(),
    };
    let selective = opts.labels.is_some() || opts.fields.is_some();
    // Without selectors the store pages for us and counts what remains; with them, scan in
    // chunks until the page is full and one more match shows there is more.
    let chunk = if selective || opts.limit == 0 { opts.limit.max(256) } else { opts.limit };
    let mut out = Vec::new();
    let mut cursor = start_after.map(str::to_owned);
    loop {
        let req = RangeRequest { prefix: prefix.to_owned(), revision: rv, limit: chunk, start_after: cursor.clone() };
        let resp = state.store.range(req).await.map_err(expired)?;
        cursor = resp.kvs.last().map(|kv| kv.key.clone());
        for kv in &resp.kvs {
            let Some(e) = entry_from_kv(kv, kv.mod_revision) else { continue };
            if !filter(&e) {
                continue;
            }
            if opts.limit > 0 && out.len() >= opts.limit {
                return Ok((out, resp.revision, 1));
            }
            out.push(Arc::new(e));
        }
        if !resp.more {
            return Ok((out, resp.revision, 0));
        }
        if !selective && opts.limit > 0 && out.len() >= opts.limit {
            return Ok((out, resp.revision, resp.remaining as usize));
        }
    }
}

/// A `<Kind>List` assembled from the cached JSON without re-encoding items.
fn list_json(
    t: &Target,
    entries: &[Arc<Entry>],
    rv: i64,
    continue_token: Option<String>,
    remaining: Option<usize>,
) -> Bytes {
    let size: usize = entries.iter().map(|e| e.json.len() + 1).sum();
    let mut buf = Vec::with_capacity(size + 256);
    let _ = write!(
        buf,
        r#"{{"kind":"{}","apiVersion":"{}","metadata":{{"resourceVersion":"{}""#,
        t.res.list_kind,
        t.res.api_version(),
        rv
    );
    if let Some(c) = continue_token {
        let _ = write!(buf, r#","continue":"{c}""#);
        if let Some(n) = remaining {
            let _ = write!(buf, r#","remainingItemCount":{n}"#);
        }
    }
    buf.extend_from_slice(br#"},"items":["#);
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(&e.json);
    }
    buf.extend_from_slice(b"]}");
    Bytes::from(buf)
}

/// POST: create, or a subresource action (pods/binding).
pub async fn post(state: &AppState, t: &Target, q: &Query, headers: &HeaderMap, body: Bytes) -> ApiResult<Response> {
    let output = negotiate(headers, None)?;
    let opts = write_options(q)?;
    let obj = body::decode_object(headers, &body)?;
    match (t.name.as_deref(), t.sub.as_deref()) {
        (None, None) => Ok(written(state.create(t, obj, opts).await?, output)),
        (Some(_), Some("binding")) if t.res.tag == KindTag::Pod => {
            state.bind(t, &obj, opts).await?;
            let status =
                json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201 });
            Ok(respond(StatusCode::CREATED, output, &status))
        }
        (Some(_), None) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::MethodNotAllowed),
    }
}

pub async fn put(state: &AppState, t: &Target, q: &Query, headers: &HeaderMap, body: Bytes) -> ApiResult<Response> {
    let output = negotiate(headers, None)?;
    if t.name.is_none() || matches!(t.sub.as_deref(), Some(s) if s != "status") {
        return Err(ApiError::MethodNotAllowed);
    }
    let obj = body::decode_object(headers, &body)?;
    Ok(written(state.update(t, obj, write_options(q)?).await?, output))
}

pub async fn patch(state: &AppState, t: &Target, q: &Query, headers: &HeaderMap, body: Bytes) -> ApiResult<Response> {
    let output = negotiate(headers, None)?;
    if t.name.is_none() || matches!(t.sub.as_deref(), Some(s) if s != "status") {
        return Err(ApiError::MethodNotAllowed);
    }
    if body.len() > body::MAX_BODY {
        return Err(ApiError::TooLarge { limit: body::MAX_BODY });
    }
    let kind = body::patch_kind(headers)?;
    let mut opts = write_options(q)?;
    let patch = match kind {
        body::PatchKind::Apply => {
            if q.get("fieldManager").is_none_or(str::is_empty) {
                return Err(ApiError::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            if opts.field_validation == FieldValidation::Warn && q.get("fieldValidation").is_none() {
                opts.field_validation = FieldValidation::Strict;
            }
            body::parse_yaml(&body)?
        }
        _ => body::parse_json(&body)?,
    };
    Ok(written(state.patch(t, kind, patch, opts).await?, output))
}

pub async fn delete(state: &AppState, t: &Target, q: &Query, headers: &HeaderMap, body: Bytes) -> ApiResult<Response> {
    let output = negotiate(headers, None)?;
    if t.sub.is_some() {
        return Err(ApiError::MethodNotAllowed);
    }
    let opts = DeleteOptions::parse(&body, q)?;
    if t.name.is_none() {
        return delete_collection(state, t, q, &opts, output).await;
    }
    let deleted = state.delete(t, &opts).await?;
    if !deleted.finished || t.res.tag == KindTag::Pod {
        return Ok(respond(StatusCode::OK, output, &deleted.object));
    }
    Ok(respond(StatusCode::OK, output, &success_status(t.res.plural, t.name(), &deleted.object)))
}

fn success_status(plural: &str, name: &str, obj: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": name,
            "kind": plural,
            "uid": obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
        },
    })
}

async fn delete_collection(
    state: &AppState,
    t: &Target,
    q: &Query,
    opts: &DeleteOptions,
    output: Output,
) -> ApiResult<Response> {
    let list_opts = ListOptions::parse(q, t.res)?;
    state.sync_cache(None).await?;
    let prefix = t.res.list_prefix(t.namespace.as_deref());
    let (entries, rv, _) = state.cache.list(&prefix, None, 0, &|e| list_opts.matches(e));
    let mut items = Vec::with_capacity(entries.len());
    for e in entries {
        let target = Target { res: t.res, namespace: e.namespace.clone(), name: Some(e.name.clone()), sub: None };
        match state.delete(&target, opts).await {
            Ok(d) => items.push(d.object),
            Err(ApiError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    let list = json!({
        "kind": t.res.list_kind,
        "apiVersion": t.res.api_version(),
        "metadata": { "resourceVersion": rv.to_string() },
        "items": items,
    });
    Ok(respond(StatusCode::OK, output, &list))
}

impl IntoResponse for Written {
    fn into_response(self) -> Response {
        written(self, Output::Json)
    }
}
