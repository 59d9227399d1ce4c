//! Patch semantics for the PATCH verb, on plain JSON values: JSON merge patch (RFC 7386), JSON
//! patch (RFC 6902), Kubernetes' strategic merge patch, and server-side apply.
//!
//! Server-side apply here is a strategic merge of the applied configuration over the live object.
//! There is no field-ownership tracking (`managedFields`): a field the applier stops sending is
//! not removed, and conflicts between managers are never reported.

mod schema;
mod strategic;

use serde_json::{Map, Value};

pub use schema::{ListStrategy, Schema};

/// Why a patch could not be applied. [`PatchError::http_status`] says how the API server answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a document of its patch type (not an object, not a list of operations).
    #[error("invalid patch document: {message}")]
    InvalidDocument { message: String },
    /// A strategic merge patch directive or list is malformed (bad `$patch` value, a list item
    /// without its merge key, a `$setElementOrder` that is not a list, ...).
    #[error("invalid strategic merge patch at {path}: {message}")]
    InvalidDirective { path: String, message: String },
    /// A field set by the patch is missing from its map's `$retainKeys` list.
    #[error("patch content does not match $retainKeys at {path}: {key:?} is not retained")]
    RetainKeysMismatch { path: String, key: String },
    /// A JSON patch `test` operation found a different value.
    #[error("json patch operation {operation} (test) failed at {path:?}: value did not match")]
    TestFailed { operation: usize, path: String },
    /// A JSON patch operation's `path` (or `from`) does not exist in the document.
    #[error("json patch operation {operation} failed: path {path:?} not found")]
    PathNotFound { operation: usize, path: String },
    /// A JSON patch operation is impossible for another reason (e.g. moving a value into itself).
    #[error("json patch operation {operation} failed at {path:?}: {message}")]
    OperationFailed { operation: usize, path: String, message: String },
    /// The patched result is not a JSON object.
    #[error("the patched object must be a JSON object")]
    NotAnObject,
}

impl PatchError {
    /// The HTTP status kube-apiserver answers with for this error: 400 (BadRequest) for a patch
    /// body it cannot use, 422 (Invalid) for a well-formed patch that cannot apply.
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::InvalidDocument { .. } | PatchError::InvalidDirective { .. } => 400,
            PatchError::RetainKeysMismatch { .. }
            | PatchError::TestFailed { .. }
            | PatchError::PathNotFound { .. }
            | PatchError::OperationFailed { .. }
            | PatchError::NotAnObject => 422,
        }
    }
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces.
pub fn json_merge_patch(target: &Value, patch: &Value) -> Value {
    merge_owned(target.clone(), patch)
}

fn merge_owned(target: Value, patch: &Value) -> Value {
    let Value::Object(changes) = patch else {
        return patch.clone();
    };
    let mut result = match target {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, change) in changes {
        if change.is_null() {
            result.remove(key);
            continue;
        }
        match result.get_mut(key) {
            Some(slot) => {
                let merged = merge_owned(slot.take(), change);
                *slot = merged;
            }
            None => {
                result.insert(key.clone(), merge_owned(Value::Null, change));
            }
        }
    }
    Value::Object(result)
}

/// RFC 6902 JSON patch: a list of add/remove/replace/move/copy/test operations, all or nothing.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError::InvalidDocument { message: e.to_string() })?;
    let mut doc = target.clone();
    // The document is our own copy, so a failed patch can leave it half-applied.
    json_patch::patch_unsafe(&mut doc, &operations).map_err(|e| {
        let operation = e.operation;
        let path = e.path.to_string();
        match e.kind {
            json_patch::PatchErrorKind::TestFailed => PatchError::TestFailed { operation, path },
            json_patch::PatchErrorKind::InvalidPointer | json_patch::PatchErrorKind::InvalidFromPointer => {
                PatchError::PathNotFound { operation, path }
            }
            other => PatchError::OperationFailed { operation, path, message: other.to_string() },
        }
    })?;
    Ok(doc)
}

/// Kubernetes' strategic merge patch of `original` (an object of `kind`, e.g. "Pod") by `patch`.
/// See the `strategic` module docs for the directives; list merge keys come from [`Schema`].
pub fn strategic_merge_patch(original: &Value, patch: &Value, kind: &str) -> Result<Value, PatchError> {
    strategic::merge_object(original, patch, &Schema::for_kind(kind))
}

/// Server-side apply (`application/apply-patch+yaml`) of `applied` to the live object of `kind`.
/// Without a live object the applied configuration (minus its nulls) is the result; otherwise it
/// is merged over the live object with strategic-merge list semantics. No field ownership is
/// tracked (see the module docs).
pub fn apply_patch(live: Option<&Value>, applied: &Value, kind: &str) -> Result<Value, PatchError> {
    if !applied.is_object() {
        return Err(PatchError::InvalidDocument { message: "an applied configuration must be an object".to_string() });
    }
    match live {
        None => Ok(without_nulls(applied.clone())),
        Some(live) if live.is_object() => strategic_merge_patch(live, applied, kind),
        Some(_) => Err(PatchError::NotAnObject),
    }
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
        }
        Value::Array(list) => Value::Array(list.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests;
