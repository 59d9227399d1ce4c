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

use crate::podinfo::{pod_key, PodKey};
use crate::state::{Shared, State};

/// How one kind of object feeds [`State`].
trait Feed:
    kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static
{
    type Key: Eq + std::hash::Hash;
    const WHAT: &'static str;
    fn key(&self) -> Self::Key;
    /// Each returns whether the scheduling loop should wake up.
    fn applied(self, state: &mut State, now: Instant) -> bool;
    fn gone(&self, state: &mut State, now: Instant) -> bool;
    fn relisted(seen: &HashSet<Self::Key>, state: &mut State, now: Instant) -> bool;
}

impl Feed for Pod {
    type Key = PodKey;
    const WHAT: &'static str = "pod";
    fn key(&self) -> PodKey {
        pod_key(self)
    }
    fn applied(self, state: &mut State, now: Instant) -> bool {
        state.pod_applied(self, now)
    }
    fn gone(&self, state: &mut State, now: Instant) -> bool {
        state.pod_gone(&pod_key(self), now)
    }
    fn relisted(seen: &HashSet<PodKey>, state: &mut State, now: Instant) -> bool {
        state.pods_relisted(seen, now)
    }
}

impl Feed for Node {
    type Key = String;
    const WHAT: &'static str = "node";
    fn key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }
    fn applied(self, state: &mut State, now: Instant) -> bool {
        state.node_applied(self, now)
    }
    fn gone(&self, state: &mut State, _now: Instant) -> bool {
        state.node_gone(self.metadata.name.as_deref().unwrap_or_default());
        false
    }
    fn relisted(seen: &HashSet<String>, state: &mut State, _now: Instant) -> bool {
        state.nodes_relisted(seen);
        true
    }
}

/// Watches pods until `shutdown`. `synced` turns true after the first complete list.
pub async fn watch_pods(
    client: kube::Client,
    shared: Arc<Shared>,
    synced: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    follow::<Pod>(client, shared, synced, shutdown).await
}

/// Watches nodes until `shutdown`. `synced` turns true after the first complete list.
pub async fn watch_nodes(
    client: kube::Client,
    shared: Arc<Shared>,
    synced: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    follow::<Node>(client, shared, synced, shutdown).await
}

async fn follow<K: Feed>(
    client: kube::Client,
    shared: Arc<Shared>,
    synced: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let api: Api<K> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
    let mut relist: Option<HashSet<K::Key>> = None;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = stream.next() => e,
        };
        let Some(event) = event else { return };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "{} watch failed; retrying", K::WHAT);
                continue;
            }
        };
        let now = Instant::now();
        let wake = match event {
            Event::Apply(obj) => obj.applied(&mut shared.lock(), now),
            Event::Delete(obj) => obj.gone(&mut shared.lock(), now),
            Event::Init => {
                relist = Some(HashSet::new());
                false
            }
            Event::InitApply(obj) => {
                if let Some(seen) = relist.as_mut() {
                    seen.insert(obj.key());
                }
                obj.applied(&mut shared.lock(), now)
            }
            Event::InitDone => {
                let seen = relist.take().unwrap_or_default();
                let wake = K::relisted(&seen, &mut shared.lock(), now);
                let _ = synced.send(true);
                wake
            }
        };
        if wake {
            shared.wake.notify_one();
        }
    }
}
