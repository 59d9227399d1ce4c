//! Pods bound to the agent's nodes, from one watch (fieldSelector `spec.nodeName=<node>` with one
//! node; all pods, filtered, when one agent carries many): each pod gets a worker; container exits
//! reported by the runtime wake the pod's worker.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, NodeCtx};
use crate::worker::{self, StatusSink};

/// A running pod worker, as its source feeds it.
pub struct WorkerHandle {
    pub tx: watch::Sender<Option<Pod>>,
    pub notify: Arc<Notify>,
    /// Bumped when the status must be written again even if unchanged (a recreated mirror pod).
    pub generation: Arc<std::sync::atomic::AtomicU64>,
}

impl WorkerHandle {
    /// Makes the worker write its status again.
    pub fn resync(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.notify.notify_one();
    }
}

/// Spawns a worker for a pod; returns its handle.
pub fn spawn_worker(
    agent: &Arc<Agent>,
    node: &Arc<NodeCtx>,
    uid: &str,
    pod: Pod,
    sink: StatusSink,
    done: &mpsc::UnboundedSender<String>,
) -> WorkerHandle {
    let (tx, rx) = watch::channel(Some(pod));
    let notify = Arc::new(Notify::new());
    let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (agent, node, uid_owned, done, n) = (agent.clone(), node.clone(), uid.to_owned(), done.clone(), notify.clone());
    let g = generation.clone();
    tokio::spawn(async move {
        worker::run(agent, node, uid_owned.clone(), rx, n, g, sink).await;
        let _ = done.send(uid_owned);
    });
    WorkerHandle { tx, notify, generation }
}

/// Watches the pods of `nodes` until `shutdown`. Pods keep running when it returns.
pub async fn run(agent: Arc<Agent>, nodes: HashMap<String, Arc<NodeCtx>>, shutdown: CancellationToken) {
    let api: Api<Pod> = Api::all(agent.client.clone());
    let config = if nodes.len() == 1 {
        let name = nodes.keys().next().cloned().unwrap_or_default();
        watcher::Config::default().fields(&format!("spec.nodeName={name}"))
    } else {
        watcher::Config::default()
    };
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut workers: HashMap<String, WorkerHandle> = HashMap::new();
    let mut exits = agent.runtime.watch_exits();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    let mut listing: Option<HashSet<String>> = None;
    let mut first_list = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            ev = stream.next() => match ev {
                Some(Ok(Event::Init)) => listing = Some(HashSet::new()),
                Some(Ok(Event::InitApply(pod))) => {
                    if let Some(uid) = pod.metadata.uid.clone() {
                        if let Some(seen) = listing.as_mut() {
                            seen.insert(uid);
                        }
                    }
                    dispatch(&agent, &nodes, &mut workers, &done_tx, pod);
                }
                Some(Ok(Event::InitDone)) => {
                    let seen = listing.take().unwrap_or_default();
                    for (uid, w) in &workers {
                        if !seen.contains(uid) {
                            let _ = w.tx.send(None);
                        }
                    }
                    if first_list {
                        first_list = false;
                        remove_orphans(&agent, &seen).await;
                    }
                }
                Some(Ok(Event::Apply(pod))) => dispatch(&agent, &nodes, &mut workers, &done_tx, pod),
                Some(Ok(Event::Delete(pod))) => {
                    if let Some(w) = pod.metadata.uid.as_ref().and_then(|uid| workers.get(uid)) {
                        let _ = w.tx.send(None);
                    }
                }
                Some(Err(e)) => tracing::warn!("pod watch: {e}"),
                None => break,
            },
            exit = exits.recv() => match exit {
                Ok(uid) => {
                    if let Some(w) = workers.get(&uid) {
                        w.notify.notify_one();
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    for w in workers.values() {
                        w.notify.notify_one();
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {}
            },
            Some(uid) = done_rx.recv() => {
                if workers.get(&uid).is_some_and(|w| w.tx.is_closed() || w.tx.receiver_count() == 0) {
                    workers.remove(&uid);
                }
            }
        }
    }
}

fn dispatch(
    agent: &Arc<Agent>,
    nodes: &HashMap<String, Arc<NodeCtx>>,
    workers: &mut HashMap<String, WorkerHandle>,
    done: &mpsc::UnboundedSender<String>,
    pod: Pod,
) {
    let Some(uid) = pod.metadata.uid.clone() else { return };
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).and_then(|n| nodes.get(n)) else { return };
    if crate::static_pods::is_mirror(&pod) {
        // The static pod runs from its manifest; a deleted mirror goes at once (and comes back).
        if pod.metadata.deletion_timestamp.is_some() {
            let api: Api<Pod> = Api::namespaced(agent.client.clone(), &crate::worker::namespace(&pod));
            let name = pod.metadata.name.clone().unwrap_or_default();
            let params = kube::api::DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(kube::api::Preconditions { uid: Some(uid), resource_version: None }),
                ..Default::default()
            };
            tokio::spawn(async move {
                let _ = api.delete(&name, &params).await;
            });
        }
        return;
    }
    if let Some(w) = workers.get(&uid) {
        if !w.tx.is_closed() {
            w.tx.send_replace(Some(pod));
            return;
        }
    }
    let handle = spawn_worker(agent, node, &uid, pod, StatusSink::Api, done);
    workers.insert(uid, handle);
}

/// Sandboxes whose pods no longer exist (deleted while the agent was down) go.
async fn remove_orphans(agent: &Arc<Agent>, live: &HashSet<String>) {
    let Ok(listing) = agent.runtime.list().await else { return };
    for sb in listing.sandboxes {
        if live.contains(&sb.pod_uid) || crate::static_pods::is_static_uid(&sb.pod_uid) {
            continue;
        }
        tracing::info!("removing the sandbox of pod {}/{} ({}): the pod is gone", sb.namespace, sb.name, sb.pod_uid);
        if let Err(e) = agent.runtime.remove_sandbox(&sb.id).await {
            tracing::warn!("cannot remove sandbox {}: {e}", sb.id);
        }
        if agent.prepare_volumes {
            crate::volumes::remove(&agent.pod_dir(&sb.pod_uid));
        }
    }
}
