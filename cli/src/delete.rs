//! `delete` by names, `-f`, `-l` or `--all`, with `--grace-period`, `--force` and `--wait`.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use crate::apply::place;
use crate::args::DeleteArgs;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::get::parse_targets;
use crate::manifest;
use crate::output::name_of;
use crate::resource::Resource;

/// Parses kubectl durations: `30s`, `2m`, `1h30m`, `500ms`, a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, CliError> {
    let bad = || CliError::usage(format!("invalid duration {s:?}"));
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
        let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(secs);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

pub async fn run(ctx: &Ctx, a: DeleteArgs) -> Result<(), CliError> {
    let mut grace = a.grace_period;
    if a.force && grace < 0 {
        grace = 0;
    }
    if grace == 0 && !a.force {
        grace = 1;
    }
    if a.force {
        eprintln!("Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.");
    }
    let mut items: Vec<(&'static Resource, String, String)> = Vec::new();
    let mut sources: Vec<Option<String>> = Vec::new();
    let mut errors = Vec::new();
    if !a.filenames.is_empty() {
        for mut m in manifest::read_all(&a.filenames)? {
            let (r, ns) = place(ctx, &mut m)?;
            items.push((r, ns, name_of(&m.object).to_string()));
            sources.push(Some(m.source.clone()));
        }
    } else {
        let targets = parse_targets(&a.args)?;
        for t in targets {
            let ns = ctx.namespace.clone();
            if !t.names.is_empty() {
                items.extend(t.names.iter().map(|n| (t.resource, ns.clone(), n.clone())));
            } else if a.selector.is_some() || a.all {
                let mut q = Vec::new();
                if let Some(l) = &a.selector {
                    q.push(("labelSelector", l.clone()));
                }
                let list = ctx.list_all(&t.resource.collection_path(Some(&ns)), &q, "application/json", 500).await?;
                for o in list.get("items").and_then(Value::as_array).into_iter().flatten() {
                    items.push((t.resource, ns.clone(), name_of(o).to_string()));
                }
            } else {
                return Err(CliError::usage("resource(s) were provided, but no name was specified"));
            }
        }
        if items.is_empty() {
            eprintln!("No resources found");
            return Ok(());
        }
    }
    let mut body = json!({"propagationPolicy": "Background"});
    if grace >= 0 {
        body["gracePeriodSeconds"] = json!(grace);
    }
    let mut deleted = Vec::new();
    for (i, (r, ns, name)) in items.into_iter().enumerate() {
        let path = r.object_path(&ns, &name);
        match ctx.send_json(http::Method::DELETE, &path, &[], "application/json", &body).await {
            Ok(_) => {
                let verb = if a.force { "force deleted" } else { "deleted" };
                println!("{} \"{name}\" {verb}", r.qualified_singular());
                deleted.push((r, ns, name));
            }
            Err(e) if e.is_not_found() && a.ignore_not_found => {}
            Err(e) => match sources.get(i).cloned().flatten() {
                Some(src) => errors.push(e.with_context(format!("error when deleting {src:?}"))),
                None => errors.push(e),
            },
        }
    }
    if a.wait {
        let timeout = match parse_duration(&a.timeout)? {
            d if d.is_zero() => Duration::from_secs(7 * 24 * 3600),
            d => d,
        };
        for (r, ns, name) in &deleted {
            if let Err(e) = wait_gone(ctx, r, ns, name, timeout).await {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    for e in &errors {
        if let Some(m) = e.message() {
            eprintln!("{m}");
        }
    }
    Err(CliError::Reported)
}

/// Returns once the object is gone (a GET answers 404 or a watch reports it DELETED).
pub async fn wait_gone(ctx: &Ctx, r: &Resource, ns: &str, name: &str, timeout: Duration) -> Result<(), CliError> {
    let fut = async {
        loop {
            let obj = match ctx.get_json(&r.object_path(ns, name), &[]).await {
                Ok(o) => o,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            };
            let rv = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("0").to_string();
            let uid = obj.pointer("/metadata/uid").cloned();
            let q = vec![("fieldSelector", format!("metadata.name={name}")), ("resourceVersion", rv)];
            let mut events = Box::pin(ctx.watch(&r.collection_path(Some(ns)), &q, "application/json").await?);
            while let Some(ev) = events.next().await {
                let ev = ev?;
                let same = ev.pointer("/object/metadata/uid").cloned() == uid;
                match ev.get("type").and_then(Value::as_str) {
                    Some("DELETED") if same => return Ok(()),
                    Some("ERROR") => break,
                    _ => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(CliError::usage(format!("timed out waiting for the condition on {}/{name}", r.plural))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
    }
}
