//! Kubernetes' strategic merge patch, as the API server applies it (apimachinery's
//! `strategicpatch.StrategicMergeMapPatch`, with parallel-list directives merged and unmatched
//! nulls ignored).
//!
//! - Maps merge recursively; `null` deletes a key.
//! - Lists named in [`Schema`] merge: lists of objects item by item on their merge key, lists of
//!   scalars as a set. Every other list is replaced by the patch's list.
//! - `$patch: replace` on a map replaces it; `$patch: delete` empties it; `$patch: merge` is the
//!   default behaviour (Kubernetes rejects it on maps; we accept it as a no-op).
//! - In a merging list, an item `{"$patch": "delete", <key>: v}` removes the item with that key and
//!   an item `{"$patch": "replace"}` makes the rest of the patch list replace the live list.
//! - `$retainKeys: [..]` drops the live map's keys not listed.
//! - `$setElementOrder/<field>: [..]` orders the merged list (the directive's order first, then
//!   the live order for items it does not name) and never reaches the output.
//! - `$deleteFromPrimitiveList/<field>: [..]` removes those scalars from the live list.
//!
//! Values new to the object (no live counterpart) are cleaned the same way: their directives are
//! applied against an empty value and their nulls dropped.

use serde_json::{Map, Value};

use super::schema::{child, ListStrategy, Schema};
use super::PatchError;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER_PREFIX: &str = "$setElementOrder/";
const DELETE_PRIMITIVE_PREFIX: &str = "$deleteFromPrimitiveList/";

type Object = Map<String, Value>;

/// Applies `patch` (which must be an object) to `original` for the kind described by `schema`.
pub(crate) fn merge_object(original: &Value, patch: &Value, schema: &Schema) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::InvalidDocument {
            message: "a strategic merge patch must be a JSON object".to_string(),
        });
    };
    let original = match original {
        Value::Object(map) => map.clone(),
        _ => Object::new(),
    };
    merge_map(original, patch.clone(), "", schema).map(Value::Object)
}

fn invalid(path: &str, message: impl Into<String>) -> PatchError {
    PatchError::InvalidDirective {
        path: if path.is_empty() { "<root>".to_string() } else { path.to_string() },
        message: message.into(),
    }
}

fn merge_map(mut original: Object, mut patch: Object, path: &str, schema: &Schema) -> Result<Object, PatchError> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => return merge_map(Object::new(), patch, path, schema),
            Some("delete") => return Ok(Object::new()),
            Some("merge") => {}
            _ => return Err(invalid(path, format!("unknown $patch directive {directive}"))),
        }
    }
    apply_retain_keys(&mut original, &mut patch, path)?;
    apply_set_element_order(&mut original, &mut patch, path, schema)?;

    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_PRIMITIVE_PREFIX) {
            delete_from_primitive_list(&mut original, field, value, path)?;
            continue;
        }
        if value.is_null() {
            original.remove(&key);
            continue;
        }
        let field_path = child(path, &key);
        match original.get_mut(&key) {
            Some(slot) => {
                let merged = match (slot.take(), value) {
                    (Value::Object(live), Value::Object(change)) => {
                        Value::Object(merge_map(live, change, &field_path, schema)?)
                    }
                    (Value::Array(live), Value::Array(change)) => {
                        Value::Array(merge_list_field(live, change, &field_path, schema)?)
                    }
                    (_, change) => fresh(change, &field_path, schema)?,
                };
                *slot = merged;
            }
            None => {
                let value = fresh(value, &field_path, schema)?;
                original.insert(key, value);
            }
        }
    }
    Ok(original)
}

/// A patch value with nothing live to merge into.
fn fresh(value: Value, path: &str, schema: &Schema) -> Result<Value, PatchError> {
    Ok(match value {
        Value::Object(map) => Value::Object(merge_map(Object::new(), map, path, schema)?),
        Value::Array(list) => Value::Array(merge_list_field(Vec::new(), list, path, schema)?),
        other => other,
    })
}

fn merge_list_field(
    live: Vec<Value>,
    patch: Vec<Value>,
    path: &str,
    schema: &Schema,
) -> Result<Vec<Value>, PatchError> {
    match schema.list_strategy(path) {
        None => Ok(patch),
        Some(strategy) => merge_list(live, patch, path, strategy, schema),
    }
}

fn is_scalar(value: &Value) -> bool {
    !value.is_object() && !value.is_array()
}

fn merge_list(
    live: Vec<Value>,
    patch: Vec<Value>,
    path: &str,
    strategy: ListStrategy,
    schema: &Schema,
) -> Result<Vec<Value>, PatchError> {
    if live.is_empty() && patch.is_empty() {
        return Ok(live);
    }
    if live.iter().chain(&patch).all(is_scalar) {
        let mut merged: Vec<Value> = Vec::with_capacity(live.len() + patch.len());
        for item in live.iter().chain(&patch) {
            if !merged.contains(item) {
                merged.push(item.clone());
            }
        }
        let (in_patch, live_only) = partition(merged, &patch, None);
        return Ok(normalize_order(in_patch, live_only, &patch, &live, None));
    }
    if !live.iter().chain(&patch).all(Value::is_object) {
        return Err(invalid(path, "list items must be all objects or all scalars"));
    }
    let ListStrategy::MergeByKey(key) = strategy else {
        return Err(invalid(path, "cannot merge a list of objects without a merge key"));
    };

    // Directive items first: deletions and a whole-list replace.
    let mut live = live;
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        match item.get(DIRECTIVE) {
            None => plain.push(item),
            Some(Value::String(d)) if d == "delete" => {
                let Some(wanted) = item.get(key) else {
                    return Err(invalid(path, format!("$patch: delete item has no merge key {key:?}")));
                };
                live.retain(|existing| existing.get(key) != Some(wanted));
            }
            Some(Value::String(d)) if d == "replace" => replace = true,
            Some(other) => return Err(invalid(path, format!("unsupported $patch directive {other} in a list"))),
        }
    }
    let (mut merged, patch) = if replace {
        let items = plain.into_iter().map(|item| fresh(item, path, schema)).collect::<Result<Vec<_>, _>>()?;
        (items, Vec::new())
    } else {
        (live, plain)
    };
    let live_order = merged.clone();

    for item in &patch {
        let Some(wanted) = item.get(key) else {
            return Err(invalid(path, format!("list item has no merge key {key:?}: {item}")));
        };
        match merged.iter().position(|existing| existing.get(key) == Some(wanted)) {
            Some(i) => {
                let existing = match merged[i].take() {
                    Value::Object(map) => map,
                    _ => Object::new(),
                };
                let change = match item {
                    Value::Object(map) => map.clone(),
                    _ => Object::new(),
                };
                merged[i] = Value::Object(merge_map(existing, change, path, schema)?);
            }
            None => merged.push(fresh(item.clone(), path, schema)?),
        }
    }
    let (in_patch, live_only) = partition(merged, &patch, Some(key));
    Ok(normalize_order(in_patch, live_only, &patch, &live_order, Some(key)))
}

fn delete_from_primitive_list(original: &mut Object, field: &str, value: Value, path: &str) -> Result<(), PatchError> {
    let Value::Array(remove) = value else {
        return Err(invalid(path, format!("{DELETE_PRIMITIVE_PREFIX}{field} must be a list")));
    };
    if let Some(Value::Array(list)) = original.get_mut(field) {
        list.retain(|v| !remove.contains(v));
    }
    Ok(())
}

fn apply_retain_keys(original: &mut Object, patch: &mut Object, path: &str) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(list) = retain else {
        return Err(invalid(path, "$retainKeys must be a list of field names"));
    };
    let keep = list
        .iter()
        .map(|v| v.as_str().ok_or_else(|| invalid(path, "$retainKeys must be a list of field names")))
        .collect::<Result<Vec<&str>, _>>()?;
    for (key, value) in patch.iter() {
        let directive = key.starts_with(DELETE_PRIMITIVE_PREFIX) || key.starts_with(SET_ORDER_PREFIX);
        if value.is_null() || directive {
            continue;
        }
        if !keep.contains(&key.as_str()) {
            return Err(PatchError::RetainKeysMismatch {
                path: if path.is_empty() { "<root>".to_string() } else { path.to_string() },
                key: key.clone(),
            });
        }
    }
    original.retain(|k, _| keep.contains(&k.as_str()));
    Ok(())
}

fn apply_set_element_order(
    original: &mut Object,
    patch: &mut Object,
    path: &str,
    schema: &Schema,
) -> Result<(), PatchError> {
    let directives: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ORDER_PREFIX)).cloned().collect();
    for directive in directives {
        let Some(order) = patch.remove(&directive) else {
            continue;
        };
        let field = &directive[SET_ORDER_PREFIX.len()..];
        if field.is_empty() {
            return Err(invalid(path, "$setElementOrder needs a field name"));
        }
        let Value::Array(order) = order else {
            return Err(invalid(path, format!("{directive} must be a list")));
        };
        let field_path = child(path, field);
        let key = match schema.list_strategy(&field_path) {
            Some(ListStrategy::MergeByKey(key)) => Some(key),
            _ => None,
        };
        let live = match original.get(field) {
            None => None,
            Some(Value::Array(list)) => Some(list.clone()),
            Some(_) => return Err(invalid(&field_path, "$setElementOrder applies to a field that is not a list")),
        };
        let change = match patch.remove(field) {
            None => None,
            Some(Value::Array(list)) => Some(list),
            Some(_) => return Err(invalid(&field_path, "$setElementOrder applies to a field that is not a list")),
        };
        let merged = match (live.clone(), change) {
            (Some(live), None) => live,
            (None, Some(change)) => merge_list_field(Vec::new(), change, &field_path, schema)?,
            (Some(live), Some(change)) => merge_list_field(live, change, &field_path, schema)?,
            (None, None) => continue,
        };
        let (ordered, live_only) = partition(merged, &order, key);
        let live_order = live.unwrap_or_default();
        let result = normalize_order(ordered, live_only, &order, &live_order, key);
        original.insert(field.to_string(), Value::Array(result));
    }
    Ok(())
}

/// Position of `item` in `list`: by merge key when both have it, else by equality.
fn index(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    if let Some(wanted) = key.and_then(|k| item.get(k)) {
        let key = key.unwrap_or_default();
        return list.iter().position(|v| v.get(key) == Some(wanted));
    }
    list.iter().position(|v| v == item)
}

/// Splits `items` into those present in `by` and the rest, keeping relative order.
fn partition(items: Vec<Value>, by: &[Value], key: Option<&str>) -> (Vec<Value>, Vec<Value>) {
    items.into_iter().partition(|item| index(by, item, key).is_some())
}

/// Sorts the patch's items by the patch order and the live-only items by the live order, then
/// interleaves the two as apimachinery's `normalizeElementOrder` does: a live-only item goes
/// before the next patch item only when the live list had it before that item.
fn normalize_order(
    mut from_patch: Vec<Value>,
    mut live_only: Vec<Value>,
    patch_order: &[Value],
    live_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    from_patch.sort_by_key(|item| index(patch_order, item, key).unwrap_or(usize::MAX));
    live_only.sort_by_key(|item| index(live_order, item, key).unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(from_patch.len() + live_only.len());
    let mut left = live_only.into_iter().peekable();
    let mut right = from_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (index(live_order, l, key), index(live_order, r, key)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}
