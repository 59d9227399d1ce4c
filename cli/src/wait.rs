//! `wait --for=condition=Ready|delete|jsonpath={...}=value [--timeout]`.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::args::WaitArgs;
use crate::ctx::Ctx;
use crate::delete::{parse_duration, wait_gone};
use crate::error::CliError;
use crate::get::parse_targets;
use crate::jsonpath::{text_of, Template};
use crate::output::name_of;
use crate::resource::Resource;

/// What to wait for.
#[derive(Debug)]
pub enum For {
    Condition { name: String, value: String },
    Delete,
    JsonPath { path: Template, value: Option<String> },
}

impl For {
    pub fn parse(s: &str) -> Result<For, CliError> {
        if s == "delete" {
            return Ok(For::Delete);
        }
        if let Some(rest) = s.strip_prefix("condition=") {
            let (name, value) = match rest.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (rest.to_string(), "True".to_string()),
            };
            return Ok(For::Condition { name, value });
        }
        if let Some(rest) = s.strip_prefix("jsonpath=") {
            let (expr, value) = match rest.rfind("}=") {
                Some(i) => (&rest[..=i], Some(rest[i + 2..].to_string())),
                None => (rest, None),
            };
            let path = Template::parse_relaxed(expr).map_err(|e| CliError::usage(format!("{e}")))?;
            return Ok(For::JsonPath { path, value });
        }
        Err(CliError::usage(format!("unrecognized condition: {s:?}")))
    }

    /// Whether `obj` satisfies the condition (never true for `delete`).
    pub fn met(&self, obj: &Value) -> bool {
        match self {
            For::Delete => false,
            For::Condition { name, value } => {
                obj.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| {
                    c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(name))
                        && c.get("status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case(value))
                })
            }
            For::JsonPath { path, value } => {
                let found = path.values(obj);
                match value {
                    None => !found.is_empty(),
                    Some(v) => found.first().is_some_and(|f| text_of(f) == *v),
                }
            }
        }
    }
}

pub async fn run(ctx: &Ctx, a: WaitArgs) -> Result<(), CliError> {
    let cond = For::parse(&a.condition)?;
    let timeout = parse_duration(&a.timeout)?;
    let mut items: Vec<(&'static Resource, String)> = Vec::new();
    for t in parse_targets(&a.args)? {
        if !t.names.is_empty() {
            items.extend(t.names.iter().map(|n| (t.resource, n.clone())));
            continue;
        }
        let mut q = Vec::new();
        if let Some(l) = &a.selector {
            q.push(("labelSelector", l.clone()));
        }
        let list = ctx.list_all(&t.resource.collection_path(Some(&ctx.namespace)), &q, "application/json", 500).await?;
        items.extend(
            list.get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|o| (t.resource, name_of(o).to_string())),
        );
    }
    if items.is_empty() {
        return Err(CliError::usage("no matching resources found"));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    for (r, name) in items {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let For::Delete = cond {
            wait_gone(ctx, r, &ctx.namespace, &name, left).await?;
        } else {
            match tokio::time::timeout(left, wait_for(ctx, r, &name, &cond)).await {
                Ok(res) => res?,
                Err(_) => {
                    return Err(CliError::usage(format!("timed out waiting for the condition on {}/{name}", r.plural)));
                }
            }
        }
        println!("{}/{name} condition met", r.qualified_singular());
    }
    Ok(())
}

async fn wait_for(ctx: &Ctx, r: &Resource, name: &str, cond: &For) -> Result<(), CliError> {
    let ns = ctx.namespace.as_str();
    loop {
        let obj = ctx.get_json(&r.object_path(ns, name), &[]).await?;
        if cond.met(&obj) {
            return Ok(());
        }
        let rv = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("0").to_string();
        let q = vec![("fieldSelector", format!("metadata.name={name}")), ("resourceVersion", rv)];
        let mut events = Box::pin(ctx.watch(&r.collection_path(Some(ns)), &q, "application/json").await?);
        while let Some(ev) = events.next().await {
            let ev = ev?;
            match ev.get("type").and_then(Value::as_str) {
                Some("ADDED" | "MODIFIED") => {
                    if ev.get("object").is_some_and(|o| cond.met(o)) {
                        return Ok(());
                    }
                }
                Some("DELETED") => {
                    return Err(CliError::usage(format!("{}s {name:?} not found", r.singular)));
                }
                _ => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions() {
        let pod = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]}});
        assert!(For::parse("condition=Ready").unwrap().met(&pod));
        assert!(For::parse("condition=ready").unwrap().met(&pod));
        assert!(!For::parse("condition=Ready=False").unwrap().met(&pod));
        assert!(!For::parse("condition=Initialized").unwrap().met(&pod));
        assert!(For::parse("jsonpath={.status.phase}=Running").unwrap().met(&pod));
        assert!(!For::parse("jsonpath={.status.phase}=Pending").unwrap().met(&pod));
        assert!(matches!(For::parse("delete").unwrap(), For::Delete));
        assert!(For::parse("ready").is_err());
    }
}
