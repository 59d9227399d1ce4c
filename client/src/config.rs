//! Turning `--server` / `--kubeconfig` / `KUBECONFIG` / `~/.kube/config` into a kube-rs client.

use std::path::{Path, PathBuf};

/// Where minik listens when nothing else is configured.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidServer { url: String, reason: String },
    #[error("cannot load kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("cannot build the API client: {0}")]
    Build(String),
    #[error("cannot write kubeconfig {path}")]
    WriteKubeconfig { path: PathBuf, source: std::io::Error },
}

/// How to reach the API server. An explicit `server` wins over any kubeconfig.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    pub server: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Overrides the namespace the kubeconfig context names.
    pub namespace: Option<String>,
}

/// Builds a client. With nothing configured it talks to [`DEFAULT_SERVER`].
pub async fn connect(opts: &ConnectOptions) -> Result<kube::Client, ClientError> {
    let config = load_config(opts).await?;
    kube::Client::try_from(config).map_err(|e| ClientError::Build(e.to_string()))
}

/// The resolved configuration, as kubectl resolves it: `server` if given (with the kubeconfig's
/// namespace still applying), else `--kubeconfig`, else `KUBECONFIG` (a `:`-separated list, merged),
/// else `~/.kube/config` if it exists, else [`DEFAULT_SERVER`]. `config.default_namespace` is the
/// namespace to use (`namespace`, else the context's, else `default`).
pub async fn load_config(opts: &ConnectOptions) -> Result<kube::Config, ClientError> {
    let paths = kubeconfig_paths(opts);
    let kubeconfig = if paths.is_empty() { None } else { Some(read_merged(&paths)?) };
    let mut config = match (&opts.server, kubeconfig) {
        (Some(server), kubeconfig) => {
            let mut config = from_server(server)?;
            if let Some(ns) = kubeconfig.and_then(|k| context_namespace(&k, opts.context.as_deref())) {
                config.default_namespace = ns;
            }
            config
        }
        (None, Some(kubeconfig)) => {
            let options = kube::config::KubeConfigOptions { context: opts.context.clone(), cluster: None, user: None };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| ClientError::Kubeconfig(e.to_string()))?
        }
        (None, None) => from_server(DEFAULT_SERVER)?,
    };
    if let Some(ns) = &opts.namespace {
        config.default_namespace = ns.clone();
    }
    Ok(config)
}

fn kubeconfig_paths(opts: &ConnectOptions) -> Vec<PathBuf> {
    if let Some(p) = &opts.kubeconfig {
        return vec![p.clone()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list).filter(|p| p.exists()).collect();
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")).filter(|p| p.exists()).into_iter().collect()
}

fn read_merged(paths: &[PathBuf]) -> Result<kube::config::Kubeconfig, ClientError> {
    let mut merged: Option<kube::config::Kubeconfig> = None;
    for path in paths {
        let next = kube::config::Kubeconfig::read_from(path)
            .map_err(|e| ClientError::Kubeconfig(format!("{}: {e}", path.display())))?;
        merged = Some(match merged {
            None => next,
            Some(m) => m.merge(next).map_err(|e| ClientError::Kubeconfig(e.to_string()))?,
        });
    }
    merged.ok_or_else(|| ClientError::Kubeconfig("no kubeconfig file".into()))
}

fn context_namespace(k: &kube::config::Kubeconfig, context: Option<&str>) -> Option<String> {
    let name = context.map(str::to_owned).or_else(|| k.current_context.clone())?;
    let ctx = k.contexts.iter().find(|c| c.name == name)?;
    ctx.context.as_ref()?.namespace.clone()
}

fn from_server(server: &str) -> Result<kube::Config, ClientError> {
    let uri: http::Uri = server
        .parse()
        .map_err(|e: http::uri::InvalidUri| ClientError::InvalidServer { url: server.into(), reason: e.to_string() })?;
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(ClientError::InvalidServer { url: server.into(), reason: "expected http://host:port".into() });
    }
    Ok(kube::Config::new(uri))
}

/// A kubeconfig with one cluster, context and user, all named `name`, pointing at `server`
/// (plain HTTP, no credentials), as `minik up` writes for itself.
pub fn kubeconfig_yaml(name: &str, server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: default\ncurrent-context: {name}\nusers:\n- name: {name}\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// Writes [`kubeconfig_yaml`] to `path` (creating parent directories).
pub fn write_kubeconfig(path: &Path, name: &str, server: &str) -> Result<(), ClientError> {
    let err = |source| ClientError::WriteKubeconfig { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::write(path, kubeconfig_yaml(name, server)).map_err(err)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_server_wins() {
        let opts = ConnectOptions {
            server: Some("http://127.0.0.1:9999".into()),
            kubeconfig: Some(PathBuf::from("/nonexistent/kubeconfig")),
            ..Default::default()
        };
        // A missing explicit kubeconfig is an error even with --server, as in kubectl.
        assert!(load_config(&opts).await.is_err());
        let opts = ConnectOptions { server: Some("http://127.0.0.1:9999".into()), ..Default::default() };
        let c = load_config(&opts).await.unwrap();
        assert_eq!(c.cluster_url.to_string(), "http://127.0.0.1:9999/");
    }

    #[test]
    fn bad_server() {
        assert!(matches!(from_server("127.0.0.1"), Err(ClientError::InvalidServer { .. })));
    }

    #[tokio::test]
    async fn kubeconfig_context_and_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        write_kubeconfig(&path, "minik", "http://127.0.0.1:7777").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let with_ns = text.replace("namespace: default", "namespace: team-a");
        std::fs::write(&path, with_ns).unwrap();
        let opts = ConnectOptions { kubeconfig: Some(path.clone()), ..Default::default() };
        let c = load_config(&opts).await.unwrap();
        assert_eq!(c.cluster_url.to_string(), "http://127.0.0.1:7777/");
        assert_eq!(c.default_namespace, "team-a");
        let opts = ConnectOptions { kubeconfig: Some(path.clone()), namespace: Some("x".into()), ..Default::default() };
        assert_eq!(load_config(&opts).await.unwrap().default_namespace, "x");
        let opts = ConnectOptions {
            kubeconfig: Some(path.clone()),
            server: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        let c = load_config(&opts).await.unwrap();
        assert_eq!(c.cluster_url.to_string(), "http://127.0.0.1:1/");
        assert_eq!(c.default_namespace, "team-a");
        let opts = ConnectOptions { kubeconfig: Some(path), context: Some("nope".into()), ..Default::default() };
        assert!(load_config(&opts).await.is_err());
    }
}
