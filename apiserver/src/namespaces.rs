//! The namespace lifecycle: the namespaces that always exist, and emptying a namespace that is
//! being deleted (a reconcile loop: restartable, idempotent, woken on demand and every few seconds).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::objects::{DeleteOptions, Target};
use crate::resources::{by_tag, KindTag, RESOURCES};
use crate::AppState;

/// Namespaces present from the start.
pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

#[derive(Default)]
pub struct NamespaceController {
    wake: Notify,
}

impl NamespaceController {
    /// Asks the cleanup loop to look at terminating namespaces now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Creates the system namespaces that are missing.
pub async fn ensure_system_namespaces(state: &AppState) -> Result<(), crate::error::ApiError> {
    let res = by_tag(KindTag::Namespace);
    for ns in SYSTEM_NAMESPACES {
        let key = res.key(None, ns);
        if state.store.get(&key).await?.is_some() {
            continue;
        }
        let target = Target { res, namespace: None, name: None, sub: None };
        let obj = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } });
        let opts =
            crate::objects::WriteOptions { dry_run: false, field_validation: crate::strategy::FieldValidation::Strict };
        match state.create(&target, obj, opts).await {
            Ok(_) | Err(crate::error::ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs until `shutdown`: finishes the deletion of every Terminating namespace.
pub async fn run(state: Arc<AppState>, shutdown: CancellationToken) {
    loop {
        if let Err(e) = reconcile(&state).await {
            tracing::warn!("namespace cleanup: {e}");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = state.namespaces.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn reconcile(state: &AppState) -> Result<(), crate::error::ApiError> {
    let ns_res = by_tag(KindTag::Namespace);
    state.sync_cache(None).await?;
    let (namespaces, _, _) = state
        .cache
        .list(&ns_res.prefix(), None, 0, &|e| e.fields.iter().any(|(f, v)| *f == "status.phase" && v == "Terminating"));
    for ns in namespaces {
        let mut remaining = 0;
        for res in RESOURCES.iter().filter(|r| r.namespaced) {
            let (items, _, _) = state.cache.list(&res.list_prefix(Some(&ns.name)), None, 0, &|_| true);
            remaining += items.len();
            for item in items {
                let already = item.value().ok().and_then(|v: Value| v.pointer("/metadata/deletionTimestamp").cloned());
                if already.is_some() {
                    continue;
                }
                let target = Target { res, namespace: Some(ns.name.clone()), name: Some(item.name.clone()), sub: None };
                if let Err(e) = state.delete(&target, &DeleteOptions::default()).await {
                    if !matches!(e, crate::error::ApiError::NotFound { .. }) {
                        tracing::warn!(namespace = %ns.name, object = %item.key, "cannot delete: {e}");
                    }
                }
            }
        }
        if remaining == 0 {
            match state.store.delete(&ns.key, Some(ns.rv)).await {
                Ok(_) | Err(minik_store::StoreError::NotFound { .. } | minik_store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            // Objects may finish later (pods are ended by their node agent); look again soon.
            state.namespaces.wake.notify_one();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
