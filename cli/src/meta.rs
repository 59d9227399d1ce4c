//! `label`, `annotate`, `cordon` and `uncordon`: read the object, check, then a JSON merge patch.

use serde_json::{json, Map, Value};

use crate::args::MetaArgs;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::output::name_of;
use crate::resource::{self, Resource};

/// A requested change: set `key=value`, or remove `key-`.
#[derive(Debug, PartialEq)]
pub enum Change {
    Set(String, String),
    Remove(String),
}

/// The objects a command names: type and name.
pub type Named = Vec<(&'static Resource, String)>;

/// Splits `TYPE NAME... k=v k-` or `TYPE/NAME... k=v` into the objects and the changes.
pub fn parse(args: &[String]) -> Result<(Named, Vec<Change>), CliError> {
    let is_change = |a: &str| a.contains('=') || (a.ends_with('-') && !a.contains('/'));
    let split = args.iter().position(|a| is_change(a)).unwrap_or(args.len());
    let (objs, changes) = args.split_at(split);
    let mut targets = Vec::new();
    let unknown = |t: &str| CliError::usage(format!("the server doesn't have a resource type \"{t}\""));
    if objs.first().is_some_and(|o| o.contains('/')) {
        for o in objs {
            let (t, n) = o.split_once('/').ok_or_else(|| CliError::usage(format!("invalid resource {o}")))?;
            targets.push((resource::lookup(t).ok_or_else(|| unknown(t))?, n.to_string()));
        }
    } else if let Some((t, names)) = objs.split_first() {
        let r = resource::lookup(t).ok_or_else(|| unknown(t))?;
        targets.extend(names.iter().map(|n| (r, n.clone())));
    }
    let mut out = Vec::new();
    for c in changes {
        if let Some((k, v)) = c.split_once('=') {
            out.push(Change::Set(k.to_string(), v.to_string()));
        } else if let Some(k) = c.strip_suffix('-') {
            out.push(Change::Remove(k.to_string()));
        } else {
            return Err(CliError::usage(format!("invalid change {c}")));
        }
    }
    if out.is_empty() {
        return Err(CliError::usage("at least one label update is required"));
    }
    Ok((targets, out))
}

/// `field` is `labels` or `annotations`. Returns the merge patch, or kubectl's refusal.
pub fn patch_for(
    field: &str,
    current: Option<&Map<String, Value>>,
    changes: &[Change],
    overwrite: bool,
) -> Result<Value, CliError> {
    let mut m = Map::new();
    for c in changes {
        match c {
            Change::Set(k, v) => {
                if let Some(old) = current.and_then(|c| c.get(k)).and_then(Value::as_str) {
                    if !overwrite {
                        return Err(CliError::usage(if field == "annotations" {
                            format!("--overwrite is false but found the following declared annotation(s): '{k}' already has a value ({old})")
                        } else {
                            format!("'{k}' already has a value ({old}), and --overwrite is false")
                        }));
                    }
                }
                m.insert(k.clone(), Value::String(v.clone()));
            }
            Change::Remove(k) => {
                m.insert(k.clone(), Value::Null);
            }
        }
    }
    Ok(json!({"metadata": {field: m}}))
}

pub async fn label_or_annotate(ctx: &Ctx, a: MetaArgs, field: &str) -> Result<(), CliError> {
    let (mut targets, changes) = parse(&a.args)?;
    if targets.is_empty() {
        return Err(CliError::usage(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>",
        ));
    }
    if a.selector.is_some() || a.all {
        let r = targets[0].0;
        targets.clear();
        let mut q = Vec::new();
        if let Some(l) = &a.selector {
            q.push(("labelSelector", l.clone()));
        }
        let list = ctx.list_all(&r.collection_path(Some(&ctx.namespace)), &q, "application/json", 500).await?;
        for o in list.get("items").and_then(Value::as_array).into_iter().flatten() {
            targets.push((r, name_of(o).to_string()));
        }
    }
    let (manager, done, undone) = if field == "labels" {
        ("kubectl-label", "labeled", "unlabeled")
    } else {
        ("kubectl-annotate", "annotated", "annotated")
    };
    let only_removals = changes.iter().all(|c| matches!(c, Change::Remove(_)));
    for (r, name) in targets {
        let path = r.object_path(&ctx.namespace, &name);
        let obj = ctx.get_json(&path, &[]).await?;
        let current = obj.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_object);
        let p = patch_for(field, current, &changes, a.overwrite)?;
        ctx.send_json(
            http::Method::PATCH,
            &path,
            &[("fieldManager", manager.to_string())],
            "application/merge-patch+json",
            &p,
        )
        .await?;
        println!("{}/{name} {}", r.qualified_singular(), if only_removals { undone } else { done });
    }
    Ok(())
}

pub async fn cordon(ctx: &Ctx, node: &str, on: bool) -> Result<(), CliError> {
    let r = resource::lookup("nodes").ok_or_else(|| CliError::usage("nodes unknown"))?;
    let path = r.object_path("", node);
    let obj = ctx.get_json(&path, &[]).await?;
    let now = obj.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
    let word = if on { "cordoned" } else { "uncordoned" };
    if now == on {
        println!("node/{node} already {word}");
        return Ok(());
    }
    let p = json!({"spec": {"unschedulable": if on { json!(true) } else { Value::Null }}});
    ctx.send_json(http::Method::PATCH, &path, &[], "application/strategic-merge-patch+json", &p).await?;
    println!("node/{node} {word}");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parse_forms() {
        let (t, c) = parse(&s(&["pod", "web", "a=b", "c-"])).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].1, "web");
        assert_eq!(c, [Change::Set("a".into(), "b".into()), Change::Remove("c".into())]);
        let (t, _) = parse(&s(&["pod/web", "node/n1", "a=b"])).unwrap();
        assert_eq!(t[1].0.kind, "Node");
        assert!(parse(&s(&["pod", "web"])).is_err());
    }

    #[test]
    fn overwrite_rules() {
        let cur: Map<String, Value> = serde_json::from_value(json!({"a": "b"})).unwrap();
        let e = patch_for("labels", Some(&cur), &[Change::Set("a".into(), "c".into())], false).unwrap_err();
        assert_eq!(e.message().unwrap(), "error: 'a' already has a value (b), and --overwrite is false");
        let e = patch_for("annotations", Some(&cur), &[Change::Set("a".into(), "c".into())], false).unwrap_err();
        assert_eq!(
            e.message().unwrap(),
            "error: --overwrite is false but found the following declared annotation(s): 'a' already has a value (b)"
        );
        let p = patch_for("labels", Some(&cur), &[Change::Set("a".into(), "c".into())], true).unwrap();
        assert_eq!(p, json!({"metadata": {"labels": {"a": "c"}}}));
        let p = patch_for("annotations", None, &[Change::Remove("a".into())], false).unwrap();
        assert_eq!(p, json!({"metadata": {"annotations": {"a": null}}}));
    }
}
