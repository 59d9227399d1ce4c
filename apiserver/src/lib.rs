//! The Kubernetes-compatible API server: the REST paths, verbs, watch, discovery, server-side
//! printing and errors (as `metav1.Status`) of core/v1 and coordination.k8s.io/v1, over the store.
//!
//! It is the only crate that touches `minik_store`. Reads (GET, LIST, WATCH) are served from an
//! in-memory watch cache that follows the store; writes go to the store with compare-and-swap and
//! are acknowledged only once durable. Kind-specific rules (defaults, validation) come from
//! `minik_api`; everything else is kind-independent JSON handling.

mod binding;
mod body;
mod cache;
mod error;
mod fields;
mod namespaces;
mod objects;
mod query;
mod resources;
mod routes;
mod shallow;
mod strategy;
mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use minik_store::{SledOptions, SledStore, Store, StoreError};
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use routes::router;

/// The Kubernetes version whose API this server speaks (`/version`; kubectl picks its build by it).
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "32");

/// Shared state of the request handlers.
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cache: Arc<cache::Cache>,
    pub(crate) namespaces: namespaces::NamespaceController,
    pub(crate) shutdown: CancellationToken,
    pub(crate) http: HttpClient<HttpConnector, Body>,
}

#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    #[error("cannot open the store in {path}")]
    Store {
        path: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the system namespaces")]
    Bootstrap(#[source] ApiError),
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
}

/// A bound, ready API server; call [`ApiServer::serve`] to run it.
pub struct ApiServer {
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    data_dir: PathBuf,
    store: Arc<SledStore>,
    cache_task: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Opens the store, loads the watch cache, creates the system namespaces and binds the port.
    pub async fn bind(config: ApiServerConfig) -> Result<ApiServer, ApiServerError> {
        // The port first: if it is taken there is nothing to open or clean up.
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ApiServerError::Listen { addr: config.listen, source })?;
        let local_addr =
            listener.local_addr().map_err(|source| ApiServerError::Listen { addr: config.listen, source })?;
        let store_dir = config.data_dir.join("store");
        let store_err = |source| ApiServerError::Store { path: store_dir.display().to_string(), source };
        std::fs::create_dir_all(&store_dir).map_err(|e| store_err(StoreError::Backend(e.to_string())))?;
        let store = Arc::new(
            SledStore::open(&store_dir, SledOptions { history_capacity: 50_000, ..Default::default() })
                .await
                .map_err(store_err)?,
        );
        let shutdown = CancellationToken::new();
        let dyn_store: Arc<dyn Store> = store.clone();
        let (cache, cache_task) = cache::Cache::start(dyn_store.clone(), cache::DEFAULT_HISTORY, shutdown.clone())
            .await
            .map_err(store_err)?;
        let state = Arc::new(AppState {
            store: dyn_store,
            cache,
            namespaces: Default::default(),
            shutdown,
            http: HttpClient::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        });
        namespaces::ensure_system_namespaces(&state).await.map_err(ApiServerError::Bootstrap)?;
        Ok(ApiServer { state, listener, local_addr, data_dir: config.data_dir, store, cache_task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Writes `<data-dir>/kubeconfig` pointing at `url`; returns its path.
    pub fn write_kubeconfig(&self, url: &str) -> Result<PathBuf, ApiServerError> {
        let path = self.data_dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: minik\n  cluster:\n    server: {url}\n\
             contexts:\n- name: minik\n  context:\n    cluster: minik\n    user: minik\n    namespace: default\n\
             current-context: minik\nusers:\n- name: minik\n  user: {{}}\n"
        );
        std::fs::write(&path, text)
            .map_err(|source| ApiServerError::Write { path: path.display().to_string(), source })?;
        Ok(path)
    }

    /// Serves until `shutdown` fires, then drains connections and closes the store.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), ApiServerError> {
        let state = self.state.clone();
        let inner = state.shutdown.clone();
        let forward = tokio::spawn({
            let inner = inner.clone();
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                inner.cancel();
            }
        });
        let ns_task = tokio::spawn(namespaces::run(state.clone(), inner.clone()));
        let app = router(state.clone());
        let result =
            axum::serve(self.listener, app).with_graceful_shutdown(async move { inner.cancelled().await }).await;
        forward.abort();
        let _ = ns_task.await;
        let _ = self.cache_task.await;
        drop(state);
        self.store.close().await;
        result.map_err(ApiServerError::Serve)
    }
}
