//! The verbs on objects — create, get, update, patch, delete — kind-independent JSON logic over the
//! store (writes) and the watch cache (reads). Kind-specific admission lives in `strategy`.

use std::sync::Arc;

use bytes::Bytes;
use minik_store::{Revision, StoreError};
use serde_json::{json, Map, Value};

use crate::body::PatchKind;
use crate::cache::Entry;
use crate::error::{ApiError, ApiResult};
use crate::resources::{KindTag, ResourceInfo};
use crate::strategy::{ops, FieldValidation};
use crate::AppState;

/// Where a request points.
#[derive(Clone, Debug)]
pub struct Target {
    pub res: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Target {
    pub fn key(&self) -> ApiResult<String> {
        let name = self.name.as_deref().ok_or(ApiError::MethodNotAllowed)?;
        Ok(self.res.key(self.namespace.as_deref(), name))
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    pub fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.res.qualified(), self.name())
    }
}

/// Options common to writes.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
}

/// A written object and what to tell the client.
pub struct Written {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn rfc3339_in(seconds: i64) -> String {
    let ts = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds);
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn meta_mut(obj: &mut Value) -> ApiResult<&mut Map<String, Value>> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    let meta = obj.as_object_mut().ok_or_else(|| ApiError::bad_request("object expected"))?.entry("metadata");
    let meta = meta.or_insert_with(|| Value::Object(Map::new()));
    if meta.is_null() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The bytes kept in the store: the object without its resourceVersion (that is the revision).
/// The object is left as it was (its resourceVersion is taken out for the encoding only).
pub(crate) fn store_bytes(obj: &mut Value) -> ApiResult<Bytes> {
    let rv = obj.get_mut("metadata").and_then(Value::as_object_mut).and_then(|m| m.remove("resourceVersion"));
    let bytes = serde_json::to_vec(obj).map(Bytes::from).map_err(ApiError::internal);
    if let (Some(rv), Some(m)) = (rv, obj.get_mut("metadata").and_then(Value::as_object_mut)) {
        m.insert("resourceVersion".into(), rv);
    }
    bytes
}

fn set_rv(obj: &mut Value, rv: Revision) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// Checks `kind`/`apiVersion` when given and fills them in.
fn check_type_meta(obj: &mut Value, res: &ResourceInfo) -> ApiResult<()> {
    let api_version = res.api_version();
    let map = obj.as_object_mut().ok_or_else(|| ApiError::bad_request("the request body must be a JSON object"))?;
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != res.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind {k:?} in the request body does not match the resource {} ({})",
                res.plural, res.kind
            )))
        }
        _ => {}
    }
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if !v.is_empty() && v != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )))
        }
        _ => {}
    }
    map.insert("kind".into(), Value::String(res.kind.into()));
    map.insert("apiVersion".into(), Value::String(api_version));
    Ok(())
}

fn has_status_subresource(res: &ResourceInfo) -> bool {
    res.subresources.iter().any(|s| s.name == "status")
}

const GENERATE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generate_name(base: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let base: String = base.chars().take(63 - 5).collect();
    let suffix: String = (0..5).map(|_| GENERATE_CHARS[rng.random_range(0..GENERATE_CHARS.len())] as char).collect();
    format!("{base}{suffix}")
}

impl AppState {
    /// Waits until the cache reflects every write acknowledged so far (a consistent read), or
    /// the revision asked for.
    pub async fn sync_cache(&self, rv: Option<Revision>) -> ApiResult<()> {
        match rv {
            Some(0) => Ok(()),
            Some(n) => self.cache.wait_for(n).await,
            None => self.cache.wait_for(self.store.current_revision()).await,
        }
    }

    pub async fn get_entry(&self, target: &Target, rv: Option<Revision>) -> ApiResult<Arc<Entry>> {
        self.sync_cache(rv).await?;
        self.cache.get(&target.key()?).ok_or_else(|| target.not_found())
    }

    async fn ensure_namespace(&self, ns: &str, creating: bool) -> ApiResult<()> {
        let key = format!("/registry/namespaces/{ns}");
        // The cache as it is answers almost always; only a miss needs a consistent read.
        let entry = match self.cache.get(&key) {
            Some(e) => e,
            None => {
                self.sync_cache(None).await?;
                self.cache.get(&key).ok_or_else(|| ApiError::not_found("namespaces", ns))?
            }
        };
        if creating && entry.fields.iter().any(|(f, v)| *f == "status.phase" && v == "Terminating") {
            return Err(ApiError::Forbidden {
                kind: "namespaces".into(),
                name: ns.into(),
                message: format!("unable to create new content in namespace {ns} because it is being terminated"),
            });
        }
        Ok(())
    }

    /// POST: create an object.
    pub async fn create(&self, target: &Target, mut obj: Value, opts: WriteOptions) -> ApiResult<Written> {
        let res = target.res;
        check_type_meta(&mut obj, res)?;
        let meta = meta_mut(&mut obj)?;
        if res.namespaced {
            let url_ns = target.namespace.clone().ok_or(ApiError::MethodNotAllowed)?;
            match meta.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => {}
            }
            meta.insert("namespace".into(), Value::String(url_ns));
        } else {
            meta.remove("namespace");
        }
        let generate = meta.get("generateName").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let has_name = meta.get("name").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !has_name {
            match &generate {
                Some(base) => {
                    meta.insert("name".into(), Value::String(generate_name(base)));
                }
                None => {
                    return Err(ApiError::Invalid {
                        kind: res.kind.into(),
                        group: res.group.into(),
                        name: String::new(),
                        causes: vec![minik_api::validation::FieldError::required(
                            "metadata.name",
                            "name or generateName is required",
                        )],
                    })
                }
            }
        }
        for f in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            meta.remove(f);
        }
        meta.insert("uid".into(), Value::String(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        let has_spec = obj.get("spec").is_some() || res.tag == KindTag::Pod;
        if has_spec {
            meta_mut(&mut obj)?.insert("generation".into(), json!(1));
        }
        if res.tag == KindTag::Pod {
            if let Some(map) = obj.as_object_mut() {
                map.insert("status".into(), json!({}));
            }
        }
        if let (true, Some(ns)) = (res.namespaced, target.namespace.as_deref()) {
            self.ensure_namespace(ns, true).await?;
        }
        let admitted = ops(res.tag).admit(res, obj, None, opts.field_validation)?;
        let mut obj = admitted.object;
        if opts.dry_run {
            return Ok(Written { object: obj, created: true, warnings: admitted.warnings });
        }
        for attempt in 0..8 {
            let name = meta_str(&obj, "name").unwrap_or_default().to_owned();
            let key = res.key(target.namespace.as_deref(), &name);
            match self.store.create(&key, store_bytes(&mut obj)?).await {
                Ok(kv) => {
                    set_rv(&mut obj, kv.mod_revision);
                    return Ok(Written { object: obj, created: true, warnings: admitted.warnings });
                }
                Err(StoreError::AlreadyExists { .. }) => match (&generate, has_name) {
                    (Some(base), false) if attempt < 7 => {
                        meta_mut(&mut obj)?.insert("name".into(), Value::String(generate_name(base)));
                    }
                    _ => return Err(ApiError::AlreadyExists { kind: res.qualified(), name }),
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::internal("could not generate a unique name"))
    }

    /// PUT: replace an object (or its status with `sub == "status"`).
    pub async fn update(&self, target: &Target, mut obj: Value, opts: WriteOptions) -> ApiResult<Written> {
        let res = target.res;
        check_type_meta(&mut obj, res)?;
        let name = target.name().to_owned();
        {
            let meta = meta_mut(&mut obj)?;
            match meta.get("name").and_then(Value::as_str) {
                Some(n) if n != name => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )))
                }
                _ => {}
            }
            meta.insert("name".into(), Value::String(name.clone()));
            if let Some(ns) = &target.namespace {
                match meta.get("namespace").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() && n != ns => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ))
                    }
                    _ => {}
                }
                meta.insert("namespace".into(), Value::String(ns.clone()));
            }
        }
        let client_rv = meta_str(&obj, "resourceVersion").filter(|s| !s.is_empty()).map(str::to_owned);
        let allow_create = matches!(res.tag, KindTag::Event | KindTag::Lease);
        loop {
            self.sync_cache(None).await?;
            let Some(current) = self.cache.get(&target.key()?) else {
                if allow_create && target.sub.is_none() {
                    return self.create(target, obj, opts).await;
                }
                return Err(target.not_found());
            };
            if let Some(rv) = &client_rv {
                if *rv != current.rv.to_string() {
                    return Err(ApiError::conflict_modified(&res.qualified(), &name));
                }
            }
            match self.replace(target, &current, obj.clone(), opts).await {
                Err(ApiError::Conflict { .. }) if client_rv.is_none() => continue,
                other => return other,
            }
        }
    }

    /// Writes `new` over `current` with a compare-and-swap on its revision. Shared by update,
    /// patch and the subresources. A Conflict means `current` is stale.
    pub async fn replace(
        &self,
        target: &Target,
        current: &Entry,
        new: Value,
        opts: WriteOptions,
    ) -> ApiResult<Written> {
        let res = target.res;
        let old = current.value()?;
        let status_only = target.sub.as_deref() == Some("status");
        let mut new = if status_only {
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            merged
        } else {
            let mut new = new;
            preserve_system_meta(&mut new, &old)?;
            if has_status_subresource(res) {
                if let Some(map) = new.as_object_mut() {
                    match old.get("status") {
                        Some(s) => map.insert("status".into(), s.clone()),
                        None => map.remove("status"),
                    };
                }
            }
            if new.get("spec") != old.get("spec") {
                let gen = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
                meta_mut(&mut new)?.insert("generation".into(), json!(gen + 1));
            }
            new
        };
        check_type_meta(&mut new, res)?;
        let admitted = ops(res.tag).admit(res, new, Some(&old), opts.field_validation)?;
        let mut new = admitted.object;
        set_rv(&mut new, current.rv);
        if new == old {
            return Ok(Written { object: old, created: false, warnings: admitted.warnings });
        }
        if opts.dry_run {
            return Ok(Written { object: new, created: false, warnings: admitted.warnings });
        }
        // An object being deleted whose last finalizer is gone is removed now.
        let finalized = res.tag != KindTag::Pod
            && res.tag != KindTag::Namespace
            && new.pointer("/metadata/deletionTimestamp").is_some()
            && new.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(|f| f.is_empty());
        if finalized {
            let (_, rev) = self.store.delete(&current.key, Some(current.rv)).await.map_err(|e| map_cas(e, target))?;
            set_rv(&mut new, rev);
            return Ok(Written { object: new, created: false, warnings: admitted.warnings });
        }
        let kv = self
            .store
            .update(&current.key, store_bytes(&mut new)?, current.rv)
            .await
            .map_err(|e| map_cas(e, target))?;
        set_rv(&mut new, kv.mod_revision);
        Ok(Written { object: new, created: false, warnings: admitted.warnings })
    }

    /// PATCH, in any of the four patch types; server-side apply creates when absent.
    pub async fn patch(
        &self,
        target: &Target,
        kind: PatchKind,
        patch: Value,
        opts: WriteOptions,
    ) -> ApiResult<Written> {
        let res = target.res;
        let precondition = patch.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_owned);
        for _ in 0..16 {
            self.sync_cache(None).await?;
            let Some(current) = self.cache.get(&target.key()?) else {
                if kind == PatchKind::Apply && target.sub.is_none() {
                    let obj = minik_api::patch::apply_patch(None, &patch, res.kind).map_err(patch_error)?;
                    return self.create(target, obj, opts).await;
                }
                return Err(target.not_found());
            };
            if let Some(rv) = &precondition {
                if *rv != current.rv.to_string() {
                    return Err(ApiError::conflict_modified(&res.qualified(), target.name()));
                }
            }
            let old = current.value()?;
            let new = match kind {
                PatchKind::Json => minik_api::patch::json_patch(&old, &patch).map_err(patch_error)?,
                PatchKind::Merge => minik_api::patch::json_merge_patch(&old, &patch),
                PatchKind::Strategic => {
                    minik_api::patch::strategic_merge_patch(&old, &patch, res.kind).map_err(patch_error)?
                }
                PatchKind::Apply => minik_api::patch::apply_patch(Some(&old), &patch, res.kind).map_err(patch_error)?,
            };
            if let (Some(a), Some(b)) = (meta_str(&new, "name"), meta_str(&old, "name")) {
                if a != b {
                    return Err(ApiError::bad_request("metadata.name cannot be changed by a patch"));
                }
            }
            match self.replace(target, &current, new, opts).await {
                Err(ApiError::Conflict { .. }) if precondition.is_none() => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict_modified(&res.qualified(), target.name()))
    }

    /// DELETE. Pods bound to a node are deleted gracefully (the node agent finishes them);
    /// objects with finalizers wait for them; namespaces are emptied first.
    pub async fn delete(&self, target: &Target, opts: &DeleteOptions) -> ApiResult<Deleted> {
        let res = target.res;
        loop {
            self.sync_cache(None).await?;
            let Some(current) = self.cache.get(&target.key()?) else {
                return Err(target.not_found());
            };
            let old = current.value()?;
            if let Some(uid) = &opts.precondition_uid {
                if *uid != current.uid {
                    return Err(ApiError::Conflict {
                        kind: res.qualified(),
                        name: target.name().into(),
                        detail: format!(
                            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                            current.uid
                        ),
                    });
                }
            }
            if let Some(rv) = &opts.precondition_rv {
                if *rv != current.rv.to_string() {
                    return Err(ApiError::Conflict {
                        kind: res.qualified(),
                        name: target.name().into(),
                        detail: format!(
                            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                            current.rv
                        ),
                    });
                }
            }
            if res.tag == KindTag::Namespace {
                return self.delete_namespace(target, &current, old, opts).await;
            }
            let mut marked = old.clone();
            let pending = match res.tag {
                KindTag::Pod => mark_pod_graceful(&mut marked, opts.grace_period_seconds)?,
                _ => mark_finalizing(&mut marked)?,
            };
            match pending {
                Pending::Unchanged => return Ok(Deleted { object: old, finished: false }),
                Pending::Mark => {
                    if opts.dry_run {
                        return Ok(Deleted { object: marked, finished: false });
                    }
                    match self.store.update(&current.key, store_bytes(&mut marked)?, current.rv).await {
                        Ok(kv) => {
                            set_rv(&mut marked, kv.mod_revision);
                            return Ok(Deleted { object: marked, finished: false });
                        }
                        Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Pending::Now => {
                    if opts.dry_run {
                        return Ok(Deleted { object: old, finished: true });
                    }
                    match self.store.delete(&current.key, Some(current.rv)).await {
                        Ok((_, rev)) => {
                            let mut object = old;
                            set_rv(&mut object, rev);
                            return Ok(Deleted { object, finished: true });
                        }
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(StoreError::NotFound { .. }) => return Err(target.not_found()),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }

    async fn delete_namespace(
        &self,
        target: &Target,
        current: &Entry,
        old: Value,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        let name = target.name();
        if matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::Forbidden {
                kind: "namespaces".into(),
                name: name.into(),
                message: format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            });
        }
        if old.pointer("/metadata/deletionTimestamp").is_some() || opts.dry_run {
            return Ok(Deleted { object: old, finished: false });
        }
        let mut marked = old;
        meta_mut(&mut marked)?.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
        marked["status"] = json!({ "phase": "Terminating" });
        let kv = self
            .store
            .update(&current.key, store_bytes(&mut marked)?, current.rv)
            .await
            .map_err(|e| map_cas(e, target))?;
        set_rv(&mut marked, kv.mod_revision);
        self.namespaces.wake();
        Ok(Deleted { object: marked, finished: false })
    }
}

/// The result of a DELETE: the object, and whether it is gone already.
pub struct Deleted {
    pub object: Value,
    pub finished: bool,
}

#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn parse(body: &[u8], query: &crate::query::Query) -> ApiResult<DeleteOptions> {
        let mut opts = DeleteOptions::default();
        if !body.iter().all(u8::is_ascii_whitespace) {
            let v: Value = crate::body::parse_json(body)?;
            opts.grace_period_seconds = v.get("gracePeriodSeconds").and_then(Value::as_i64);
            opts.precondition_uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_owned);
            opts.precondition_rv =
                v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_owned);
            opts.dry_run = v.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|d| d == "All"));
        }
        if let Some(g) = query.int("gracePeriodSeconds")? {
            opts.grace_period_seconds = Some(g);
        }
        opts.dry_run |= query.dry_run()?;
        Ok(opts)
    }
}

enum Pending {
    /// Nothing to change (already being deleted with a shorter or equal grace period).
    Unchanged,
    /// Write the deletion marks and wait (for the node agent or the finalizers).
    Mark,
    /// Remove from the store now.
    Now,
}

fn mark_pod_graceful(pod: &mut Value, requested: Option<i64>) -> ApiResult<Pending> {
    let bound = pod.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let terminal = matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
    let grace = requested
        .or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
        .unwrap_or(30)
        .max(0);
    if !bound || terminal || grace == 0 {
        return Ok(Pending::Now);
    }
    let existing = pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
    if pod.pointer("/metadata/deletionTimestamp").is_some() && existing.is_some_and(|e| e <= grace) {
        return Ok(Pending::Unchanged);
    }
    let meta = meta_mut(pod)?;
    meta.insert("deletionTimestamp".into(), Value::String(rfc3339_in(grace)));
    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
    Ok(Pending::Mark)
}

fn mark_finalizing(obj: &mut Value) -> ApiResult<Pending> {
    let has_finalizers = obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    if !has_finalizers {
        return Ok(Pending::Now);
    }
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Pending::Unchanged);
    }
    let meta = meta_mut(obj)?;
    meta.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    Ok(Pending::Mark)
}

/// Fields clients cannot change on update: identity, creation and deletion marks.
fn preserve_system_meta(new: &mut Value, old: &Value) -> ApiResult<()> {
    let old_meta = old.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    let meta = meta_mut(new)?;
    for f in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
        match old_meta.get(f) {
            Some(v) => meta.insert(f.into(), v.clone()),
            None => meta.remove(f),
        };
    }
    Ok(())
}

fn map_cas(e: StoreError, target: &Target) -> ApiError {
    match e {
        StoreError::Conflict { .. } => ApiError::conflict_modified(&target.res.qualified(), target.name()),
        StoreError::NotFound { .. } => target.not_found(),
        other => other.into(),
    }
}

fn patch_error(e: minik_api::patch::PatchError) -> ApiError {
    match e.http_status() {
        422 => ApiError::Unprocessable { message: e.to_string() },
        _ => ApiError::bad_request(e.to_string()),
    }
}
