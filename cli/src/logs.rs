//! `logs POD [-c C] [-f] [--tail N] [--previous] [--timestamps] [--since D]`.

use futures::AsyncReadExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::args::LogsArgs;
use crate::ctx::{with_query, Ctx};
use crate::delete::parse_duration;
use crate::error::CliError;

/// Picks the container like kubectl: `-c`, else the `kubectl.kubernetes.io/default-container`
/// annotation, else the first one. Returns the name and, when there was a choice, the notice
/// kubectl prints on stderr.
pub fn pick_container(pod: &Value, wanted: Option<&str>) -> Result<(String, Option<String>), CliError> {
    let names: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
        .collect();
    let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if let Some(w) = wanted {
        let inits = pod.pointer("/spec/initContainers").and_then(Value::as_array).into_iter().flatten();
        let known =
            names.iter().any(|n| n == w) || inits.clone().any(|c| c.get("name").and_then(Value::as_str) == Some(w));
        if !known {
            return Err(CliError::usage(format!("container {w} is not valid for pod {pod_name}")));
        }
        return Ok((w.to_string(), None));
    }
    let annotated = pod
        .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
        .and_then(Value::as_str)
        .filter(|a| names.iter().any(|n| n == a));
    let chosen = match annotated.or(names.first().map(String::as_str)) {
        Some(c) => c.to_string(),
        None => return Err(CliError::usage(format!("pod {pod_name} has no containers"))),
    };
    let notice = (names.len() > 1 && annotated.is_none())
        .then(|| format!("Defaulted container \"{chosen}\" out of: {}", names.join(", ")));
    Ok((chosen, notice))
}

pub async fn run(ctx: &Ctx, a: LogsArgs) -> Result<(), CliError> {
    let name = a.pod.strip_prefix("pod/").or_else(|| a.pod.strip_prefix("pods/")).unwrap_or(&a.pod).to_string();
    let path = format!("/api/v1/namespaces/{}/pods/{name}", ctx.namespace);
    let pod = match ctx.get_json(&path, &[]).await {
        Ok(p) => p,
        Err(e) if e.is_not_found() => {
            return Err(CliError::usage(format!(
                "error from server (NotFound): pods \"{name}\" not found in namespace \"{}\"",
                ctx.namespace
            )))
        }
        Err(e) => return Err(e),
    };
    let (container, notice) = pick_container(&pod, a.container.as_deref())?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let mut q = vec![("container", container)];
    if a.follow {
        q.push(("follow", "true".into()));
    }
    if a.tail >= 0 {
        q.push(("tailLines", a.tail.to_string()));
    }
    if a.previous {
        q.push(("previous", "true".into()));
    }
    if a.timestamps {
        q.push(("timestamps", "true".into()));
    }
    if let Some(s) = &a.since {
        q.push(("sinceSeconds", parse_duration(s)?.as_secs().max(1).to_string()));
    }
    let uri = with_query(&format!("{path}/log"), &q);
    let req = Ctx::request(http::Method::GET, &uri, "application/json, */*", None, Vec::new())?;
    let mut body = ctx.client.request_stream(req).await.map_err(|e| ctx.kube_err(e))?;
    let mut out = tokio::io::stdout();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = body.read(&mut buf).await.map_err(|e| CliError::Transport(e.to_string()))?;
        if n == 0 {
            break;
        }
        if out.write_all(&buf[..n]).await.is_err() {
            break;
        }
        let _ = out.flush().await;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_choice() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "web"}, {"name": "sidecar"}], "initContainers": [{"name": "init"}]}});
        let (c, n) = pick_container(&pod, None).unwrap();
        assert_eq!(c, "web");
        assert_eq!(n.unwrap(), "Defaulted container \"web\" out of: web, sidecar");
        assert_eq!(pick_container(&pod, Some("sidecar")).unwrap(), ("sidecar".to_string(), None));
        assert_eq!(pick_container(&pod, Some("init")).unwrap().0, "init");
        assert!(pick_container(&pod, Some("nope")).is_err());
        let mut annotated = pod.clone();
        annotated["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/default-container": "sidecar"});
        assert_eq!(pick_container(&annotated, None).unwrap(), ("sidecar".to_string(), None));
        let single = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "only"}]}});
        assert_eq!(pick_container(&single, None).unwrap(), ("only".to_string(), None));
    }
}
