//! The watches that feed [`State`]: all Pods (pending ones to schedule, bound ones to account
//! for) and all Nodes, through kube-rs' watcher (LIST then WATCH, resuming, relisting on 410).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::podinfo::pod_key;
use crate::state::Shared;

/// Watches pods until `shutdown`. `synced` turns true after the first complete list.
pub async fn watch_pods(
    client: kube::Client,
    shared: Arc<Shared>,
    synced: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let api: Api<Pod> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
    let mut relist: Option<HashSet<String>> = None;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = stream.next() => e,
        };
        let Some(event) = event else { return };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "pod watch failed; retrying");
                continue;
            }
        };
        let now = Instant::now();
        let wake = match event {
            Event::Apply(pod) => shared.lock().pod_applied(pod, now),
            Event::Delete(pod) => shared.lock().pod_gone(&pod_key(&pod), now),
            Event::Init => {
                relist = Some(HashSet::new());
                false
            }
            Event::InitApply(pod) => {
                if let Some(seen) = relist.as_mut() {
                    seen.insert(pod_key(&pod));
                }
                shared.lock().pod_applied(pod, now)
            }
            Event::InitDone => {
                let seen = relist.take().unwrap_or_default();
                let wake = shared.lock().pods_relisted(&seen, now);
                let _ = synced.send(true);
                wake
            }
        };
        if wake {
            shared.wake.notify_one();
        }
    }
}

/// Watches nodes until `shutdown`. `synced` turns true after the first complete list.
pub async fn watch_nodes(
    client: kube::Client,
    shared: Arc<Shared>,
    synced: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let api: Api<Node> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
    let mut relist: Option<HashSet<String>> = None;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = stream.next() => e,
        };
        let Some(event) = event else { return };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "node watch failed; retrying");
                continue;
            }
        };
        let now = Instant::now();
        let wake = match event {
            Event::Apply(node) => shared.lock().node_applied(node, now),
            Event::Delete(node) => {
                shared.lock().node_gone(node.metadata.name.as_deref().unwrap_or_default());
                false
            }
            Event::Init => {
                relist = Some(HashSet::new());
                false
            }
            Event::InitApply(node) => {
                if let Some(seen) = relist.as_mut() {
                    seen.insert(node.metadata.name.clone().unwrap_or_default());
                }
                shared.lock().node_applied(node, now)
            }
            Event::InitDone => {
                let seen = relist.take().unwrap_or_default();
                shared.lock().nodes_relisted(&seen);
                let _ = synced.send(true);
                true
            }
        };
        if wake {
            shared.wake.notify_one();
        }
    }
}
