//! `run NAME --image=...`: a one-container pod built the way kubectl builds it.

use serde_json::{json, Map, Value};

use crate::args::RunArgs;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::output::{self, Format};
use crate::resource;

/// The pod kubectl's `run` generator produces.
pub fn pod_for(a: &RunArgs) -> Result<Value, CliError> {
    if !matches!(a.restart.as_str(), "Always" | "OnFailure" | "Never") {
        return Err(CliError::usage(format!("invalid restart policy: {}", a.restart)));
    }
    let mut labels = Map::new();
    match &a.labels {
        Some(spec) => {
            for pair in spec.split(',').filter(|p| !p.is_empty()) {
                let (k, v) =
                    pair.split_once('=').ok_or_else(|| CliError::usage(format!("invalid label spec: {pair}")))?;
                labels.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
        None => {
            labels.insert("run".into(), Value::String(a.name.clone()));
        }
    }
    let mut container = json!({"name": a.name, "image": a.image, "resources": {}});
    if !a.args.is_empty() {
        let key = if a.command { "command" } else { "args" };
        container[key] = json!(a.args);
    }
    if !a.env.is_empty() {
        let mut env = Vec::new();
        for e in &a.env {
            let (k, v) = e.split_once('=').ok_or_else(|| CliError::usage(format!("invalid env: {e}")))?;
            env.push(json!({"name": k, "value": v}));
        }
        container["env"] = Value::Array(env);
    }
    if let Some(p) = a.port {
        container["ports"] = json!([{"containerPort": p}]);
    }
    if let Some(p) = &a.image_pull_policy {
        container["imagePullPolicy"] = json!(p);
    }
    Ok(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"creationTimestamp": null, "labels": labels, "name": a.name},
        "spec": {"containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": a.restart},
        "status": {}
    }))
}

pub async fn run(ctx: &Ctx, a: RunArgs) -> Result<(), CliError> {
    let format = Format::parse(a.output.as_deref())?;
    let pod = pod_for(&a)?;
    let r = resource::lookup("pods").ok_or_else(|| CliError::usage("pods unknown"))?;
    let mut query = vec![("fieldManager", "kubectl-run".to_string())];
    match a.dry_run.as_deref() {
        Some("client") => {
            match format {
                Format::Table { .. } => println!("pod/{} created (dry run)", a.name),
                f => print!("{}", output::render_objects(&f, vec![(r, pod)], true)),
            }
            return Ok(());
        }
        Some("server") => query.push(("dryRun", "All".into())),
        _ => {}
    }
    let created = ctx
        .send_json(http::Method::POST, &r.collection_path(Some(&ctx.namespace)), &query, "application/json", &pod)
        .await?;
    match format {
        Format::Table { .. } => println!("pod/{} created", output::name_of(&created)),
        f => print!("{}", output::render_objects(&f, vec![(r, created)], true)),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use clap::Parser;

    fn args(v: &[&str]) -> RunArgs {
        let cli = crate::args::Cli::try_parse_from(std::iter::once("miniktl").chain(v.iter().copied())).unwrap();
        match cli.command {
            crate::args::Command::Run(r) => r,
            _ => panic!("not run"),
        }
    }

    #[test]
    fn like_kubectl_run() {
        let pod = pod_for(&args(&["run", "r1", "--image=busybox", "--", "sleep", "3600"])).unwrap();
        assert_eq!(
            pod,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": null, "labels": {"run": "r1"}, "name": "r1"},
                   "spec": {"containers": [{"name": "r1", "image": "busybox", "args": ["sleep", "3600"], "resources": {}}],
                            "dnsPolicy": "ClusterFirst", "restartPolicy": "Always"}, "status": {}})
        );
    }

    #[test]
    fn command_env_labels_restart() {
        let pod = pod_for(&args(&[
            "run",
            "e",
            "--image=busybox",
            "--restart=Never",
            "--env",
            "A=1",
            "--env=B=x=y",
            "--labels",
            "app=e,tier=t",
            "--command",
            "--",
            "printenv",
        ]))
        .unwrap();
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(pod["spec"]["containers"][0]["command"], json!(["printenv"]));
        assert_eq!(
            pod["spec"]["containers"][0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "x=y"}])
        );
        assert_eq!(pod["metadata"]["labels"], json!({"app": "e", "tier": "t"}));
        assert!(pod_for(&args(&["run", "x", "--image=i", "--restart=Sometimes"])).is_err());
    }
}
