//! `create -f`, `create namespace|configmap|secret generic`, and `apply -f` (client-side with the
//! last-applied annotation and a strategic merge patch, or `--server-side`).

use base64::Engine;
use serde_json::{json, Value};

use crate::args::{ApplyArgs, CreateArgs, CreateWhat, FromSources, SecretKind};
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::manifest::{self, Manifest};
use crate::output::{self, name_of, Format};
use crate::patch;
use crate::resource::{self, Resource};

/// Resolves a manifest's type and namespace, filling `metadata.namespace` like kubectl does.
pub fn place(ctx: &Ctx, m: &mut Manifest) -> Result<(&'static Resource, String), CliError> {
    let api_version = m.object.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = m.object.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = name_of(&m.object).to_string();
    let Some(r) = resource::by_kind(api_version, kind) else {
        let ns = output::namespace_of(&m.object);
        return Err(CliError::usage(format!(
            "resource mapping not found for name: {name:?} namespace: {ns:?} from {:?}: no matches for kind {kind:?} in version {api_version:?}\nensure CRDs are installed first",
            m.source
        )));
    };
    if !r.namespaced {
        return Ok((r, String::new()));
    }
    let in_file = output::namespace_of(&m.object).to_string();
    let ns = if in_file.is_empty() {
        ctx.namespace.clone()
    } else {
        if ctx.namespace_explicit && in_file != ctx.namespace {
            return Err(CliError::usage(format!(
                "the namespace from the provided object {in_file:?} does not match the namespace {:?}. You must pass '--namespace={in_file}' to perform this operation.",
                ctx.namespace
            )));
        }
        in_file
    };
    if let Some(meta) = m.object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    Ok((r, ns))
}

fn print_result(format: &Format, r: &'static Resource, obj: Value, verb: &str) {
    match format {
        Format::Table { .. } => println!("{}/{} {verb}", r.qualified_singular(), name_of(&obj)),
        f => print!("{}", output::render_objects(f, vec![(r, obj)], true)),
    }
}

fn report(errors: Vec<CliError>) -> Result<(), CliError> {
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

pub async fn create(ctx: &Ctx, a: CreateArgs) -> Result<(), CliError> {
    let format = Format::parse(a.output.as_deref())?;
    let mut query = vec![("fieldManager", "kubectl-create".to_string()), ("fieldValidation", "Strict".to_string())];
    match a.dry_run.as_deref() {
        Some("server") => query.push(("dryRun", "All".into())),
        Some("client") | Some("none") | None => {}
        Some(other) => {
            return Err(CliError::usage(format!(
                "Invalid dry-run value ({other}). Must be \"none\", \"server\", or \"client\"."
            )))
        }
    }
    if let Some(what) = a.what {
        let (r, obj) = generated(ctx, what)?;
        let path = r.collection_path(Some(&ctx.namespace));
        let created = ctx.send_json(http::Method::POST, &path, &query, "application/json", &obj).await?;
        print_result(&format, r, created, "created");
        return Ok(());
    }
    if a.filenames.is_empty() {
        return Err(CliError::usage("must specify one of -f and -k"));
    }
    let manifests = manifest::read_all(&a.filenames)?;
    let several = manifests.len() > 1;
    let mut errors = Vec::new();
    for mut m in manifests {
        let (r, ns) = match place(ctx, &mut m) {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let path = r.collection_path(Some(&ns));
        match ctx.send_json(http::Method::POST, &path, &query, "application/json", &m.object).await {
            Ok(obj) => print_result(&format, r, obj, "created"),
            Err(e) => errors.push(contextual(e, "creating", &m.source, several)),
        }
    }
    report(errors)
}

/// kubectl adds `error when creating "file"` except to a lone Invalid error, which it explains.
fn contextual(e: CliError, verb: &str, source: &str, several: bool) -> CliError {
    let lone_invalid = !several && matches!(&e, CliError::Api { status, .. } if status.reason == "Invalid");
    if lone_invalid {
        e
    } else {
        e.with_context(format!("error when {verb} {source:?}"))
    }
}

fn generated(ctx: &Ctx, what: CreateWhat) -> Result<(&'static Resource, Value), CliError> {
    let lookup = |n: &str| resource::lookup(n).ok_or_else(|| CliError::usage(format!("unknown type {n}")));
    Ok(match what {
        CreateWhat::Namespace { name } => {
            (lookup("namespaces")?, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
        }
        CreateWhat::Configmap(src) => {
            let data = sources(&src)?;
            let data: serde_json::Map<String, Value> =
                data.into_iter().map(|(k, v)| (k, Value::String(String::from_utf8_lossy(&v).into_owned()))).collect();
            (
                lookup("configmaps")?,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": src.name, "namespace": ctx.namespace}, "data": data}),
            )
        }
        CreateWhat::Secret { kind: SecretKind::Generic(src) } => {
            let data = sources(&src)?;
            let b64 = base64::engine::general_purpose::STANDARD;
            let data: serde_json::Map<String, Value> =
                data.into_iter().map(|(k, v)| (k, Value::String(b64.encode(v)))).collect();
            (
                lookup("secrets")?,
                json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": src.name, "namespace": ctx.namespace}, "data": data}),
            )
        }
    })
}

fn sources(src: &FromSources) -> Result<Vec<(String, Vec<u8>)>, CliError> {
    let mut out = Vec::new();
    for lit in &src.literals {
        let (k, v) = lit
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("invalid literal source {lit}, expected key=value")))?;
        out.push((k.to_string(), v.as_bytes().to_vec()));
    }
    for f in &src.files {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => (
                std::path::Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| f.clone()),
                f.clone(),
            ),
        };
        let bytes = std::fs::read(&path).map_err(|e| CliError::usage(format!("error reading {path}: {e}")))?;
        out.push((key, bytes));
    }
    Ok(out)
}

pub async fn apply(ctx: &Ctx, a: ApplyArgs) -> Result<(), CliError> {
    let format = Format::parse(a.output.as_deref())?;
    let manifests = manifest::read_all(&a.filenames)?;
    let several = manifests.len() > 1;
    let mut errors = Vec::new();
    for mut m in manifests {
        let placed = match place(ctx, &mut m) {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let result =
            if a.server_side { server_side(ctx, &a, &m, placed).await } else { client_side(ctx, &m, placed).await };
        match result {
            Ok((r, obj, verb)) => print_result(&format, r, obj, verb),
            Err(e) => errors.push(contextual(e, "applying", &m.source, several)),
        }
    }
    report(errors)
}

type Applied = (&'static Resource, Value, &'static str);

async fn server_side(
    ctx: &Ctx,
    a: &ApplyArgs,
    m: &Manifest,
    (r, ns): (&'static Resource, String),
) -> Result<Applied, CliError> {
    let name = name_of(&m.object);
    let manager = a.field_manager.clone().unwrap_or_else(|| "kubectl".into());
    let query = vec![
        ("fieldManager", manager),
        ("fieldValidation", "Strict".to_string()),
        ("force", a.force_conflicts.to_string()),
    ];
    let obj = ctx
        .send_json(http::Method::PATCH, &r.object_path(&ns, name), &query, "application/apply-patch+yaml", &m.object)
        .await?;
    Ok((r, obj, "serverside-applied"))
}

async fn client_side(ctx: &Ctx, m: &Manifest, (r, ns): (&'static Resource, String)) -> Result<Applied, CliError> {
    let name = name_of(&m.object).to_string();
    let query =
        vec![("fieldManager", "kubectl-client-side-apply".to_string()), ("fieldValidation", "Strict".to_string())];
    let modified = patch::with_last_applied(&m.object);
    let path = r.object_path(&ns, &name);
    let current = match ctx.get_json(&path, &[]).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            let created = ctx
                .send_json(http::Method::POST, &r.collection_path(Some(&ns)), &query, "application/json", &modified)
                .await?;
            return Ok((r, created, "created"));
        }
        Err(e) => return Err(e),
    };
    let original: Option<Value> = current
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(patch::LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok());
    let p = patch::three_way(original.as_ref(), &modified, &current);
    if p.is_empty() {
        return Ok((r, current, "unchanged"));
    }
    let obj = ctx
        .send_json(http::Method::PATCH, &path, &query, "application/strategic-merge-patch+json", &Value::Object(p))
        .await?;
    Ok((r, obj, "configured"))
}
