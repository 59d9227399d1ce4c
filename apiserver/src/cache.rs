//! The watch cache: an in-memory mirror of every object in the store, kept current by one store
//! watch, plus a window of recent events. GET, LIST and WATCH are served from here; writes go to the
//! store and come back through the watch (one writer: the cache task; many cheap readers).
//!
//! Each entry keeps the object's final JSON (with `metadata.resourceVersion` filled in) and the
//! labels and selectable fields pulled out once, so a LIST or a watch fan-out never parses JSON.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use minik_store::{Event, EventKind, KeyValue, Revision, Store, StoreError};
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::fields::extract_fields;
use crate::resources::{ResourceInfo, RESOURCES};
use crate::shallow::{self, Shallow};

/// One object as served.
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub resource: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub rv: Revision,
    /// The object's JSON, resourceVersion included.
    pub json: Bytes,
    pub labels: BTreeMap<String, String>,
    /// Values of the resource's selectable fields (see `ResourceInfo::fields`).
    pub fields: Vec<(&'static str, String)>,
}

impl Entry {
    pub fn field(&self, name: &str) -> Option<String> {
        match name {
            "metadata.name" => Some(self.name.clone()),
            "metadata.namespace" => Some(self.namespace.clone().unwrap_or_default()),
            _ => self.fields.iter().find(|(f, _)| *f == name).map(|(_, v)| v.clone()),
        }
    }

    pub fn value(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.json).map_err(ApiError::internal)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change as watchers see it. For a delete, `object` is the last state with the deletion's
/// revision as its resourceVersion.
#[derive(Debug)]
pub struct CacheEvent {
    pub rv: Revision,
    pub kind: EventType,
    pub object: Arc<Entry>,
    pub prev: Option<Arc<Entry>>,
}

/// Events of one store commit batch, in order.
pub type Batch = Arc<Vec<Arc<CacheEvent>>>;

struct Inner {
    objects: BTreeMap<String, Arc<Entry>>,
    /// Replaced on a relist, which ends every current watcher (they resume or get 410).
    events_tx: broadcast::Sender<Batch>,
    history: VecDeque<Arc<CacheEvent>>,
    /// Every event with a revision greater than this is in `history`.
    oldest: Revision,
    rev: Revision,
}

pub struct Cache {
    inner: RwLock<Inner>,
    rev_tx: watch::Sender<Revision>,
    history_capacity: usize,
}

/// How far back a watch can start, in events.
pub const DEFAULT_HISTORY: usize = 100_000;
/// Commit batches a watcher may fall behind before it is dropped.
const EVENT_BUFFER: usize = 4096;

/// Every object in the store, and the revision the read is consistent at.
async fn load(store: &dyn Store) -> Result<(BTreeMap<String, Arc<Entry>>, Revision), StoreError> {
    let resp = store.range(minik_store::RangeRequest { prefix: "/registry/".into(), ..Default::default() }).await?;
    let mut objects = BTreeMap::new();
    for kv in resp.kvs {
        match entry_from_kv(&kv, kv.mod_revision) {
            Some(e) => {
                objects.insert(kv.key.clone(), Arc::new(e));
            }
            None => tracing::warn!(key = %kv.key, "skipping undecodable object in the store"),
        }
    }
    Ok((objects, resp.revision))
}

impl Cache {
    /// Loads every object and starts following the store. The returned task ends on `shutdown`.
    pub async fn start(
        store: Arc<dyn Store>,
        history_capacity: usize,
        shutdown: CancellationToken,
    ) -> Result<(Arc<Cache>, tokio::task::JoinHandle<()>), StoreError> {
        let (objects, rev) = load(store.as_ref()).await?;
        let (rev_tx, _) = watch::channel(rev);
        let (events_tx, _) = broadcast::channel(EVENT_BUFFER);
        let cache = Arc::new(Cache {
            inner: RwLock::new(Inner { objects, events_tx, history: VecDeque::new(), oldest: rev, rev }),
            rev_tx,
            history_capacity,
        });
        let mut stream = store.watch("/registry/", rev).await?;
        let c = cache.clone();
        let task = tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = stream.next() => next,
                };
                match next {
                    Some(Ok(events)) => c.apply(events),
                    None => break,
                    Some(Err(e)) => match c.resume(store.as_ref(), &e).await {
                        Some(s) => stream = s,
                        None => break,
                    },
                }
            }
        });
        Ok((cache, task))
    }

    /// After the store dropped our watch: watch again from where we are, or, if the store no
    /// longer has that history, reload everything and end current watchers (they resume from
    /// their own revision or are told it has expired).
    async fn resume(&self, store: &dyn Store, cause: &StoreError) -> Option<minik_store::WatchStream> {
        tracing::warn!("watch cache lost its store watch ({cause}); resuming");
        loop {
            match store.watch("/registry/", self.revision()).await {
                Ok(s) => return Some(s),
                Err(StoreError::Compacted { .. }) => {}
                Err(StoreError::Closed) => return None,
                Err(e) => {
                    tracing::error!("cannot resume the watch cache: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            let (objects, rev) = match load(store).await {
                Ok(loaded) => loaded,
                Err(StoreError::Closed) => return None,
                Err(e) => {
                    tracing::error!("cannot reload the watch cache: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            {
                let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
                inner.objects = objects;
                inner.history.clear();
                inner.oldest = rev;
                inner.rev = rev;
                inner.events_tx = broadcast::channel(EVENT_BUFFER).0;
            }
            self.rev_tx.send_replace(rev);
        }
    }

    fn apply(&self, events: Vec<Event>) {
        let mut batch = Vec::with_capacity(events.len());
        let mut last = 0;
        {
            let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
            for ev in events {
                let rev = ev.revision();
                last = rev;
                let prev = inner.objects.get(&ev.kv.key).cloned();
                let cache_event = match ev.kind {
                    EventKind::Put => {
                        let Some(entry) = entry_from_kv(&ev.kv, ev.kv.mod_revision) else {
                            tracing::warn!(key = %ev.kv.key, "ignoring undecodable object");
                            continue;
                        };
                        let entry = Arc::new(entry);
                        inner.objects.insert(ev.kv.key.clone(), entry.clone());
                        let kind = if prev.is_some() { EventType::Modified } else { EventType::Added };
                        CacheEvent { rv: rev, kind, object: entry, prev }
                    }
                    EventKind::Delete => {
                        inner.objects.remove(&ev.kv.key);
                        let last_state = ev.prev_kv.as_ref().and_then(|kv| entry_from_kv(kv, rev));
                        let Some(last_state) = last_state else { continue };
                        CacheEvent { rv: rev, kind: EventType::Deleted, object: Arc::new(last_state), prev }
                    }
                };
                let cache_event = Arc::new(cache_event);
                inner.history.push_back(cache_event.clone());
                batch.push(cache_event);
            }
            while inner.history.len() > self.history_capacity {
                if let Some(old) = inner.history.pop_front() {
                    inner.oldest = old.rv;
                }
            }
            if last > inner.rev {
                inner.rev = last;
            }
        }
        if !batch.is_empty() {
            let tx = self.inner.read().unwrap_or_else(|p| p.into_inner()).events_tx.clone();
            let _ = tx.send(Arc::new(batch));
        }
        if last > 0 {
            self.rev_tx.send_if_modified(|r| {
                if last > *r {
                    *r = last;
                    true
                } else {
                    false
                }
            });
        }
    }

    pub fn revision(&self) -> Revision {
        *self.rev_tx.borrow()
    }

    /// Waits until the cache has caught up with `rev` (at most 3 s, as kube-apiserver).
    pub async fn wait_for(&self, rev: Revision) -> Result<(), ApiError> {
        if self.revision() >= rev {
            return Ok(());
        }
        let mut rx = self.rev_tx.subscribe();
        let caught_up = async move { rx.wait_for(|r| *r >= rev).await.map(|_| ()) };
        match tokio::time::timeout(Duration::from_secs(3), caught_up).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ApiError::ServiceUnavailable { message: "the watch cache is not running".into() }),
            Err(_) => Err(ApiError::Timeout {
                message: format!("Too large resource version: {rev}, current: {}", self.revision()),
            }),
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).objects.get(key).cloned()
    }

    /// Objects under `prefix` (after `start_after`), filtered, at most `limit` (0 = all).
    /// Returns the entries, the revision they are consistent at and how many matching remain.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        filter: &(dyn Fn(&Entry) -> bool + Sync),
    ) -> (Vec<Arc<Entry>>, Revision, usize) {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let lower = match start_after {
            Some(k) if k >= prefix => Bound::Excluded(k.to_owned()),
            _ => Bound::Included(prefix.to_owned()),
        };
        let mut out = Vec::new();
        let mut remaining = 0;
        for (k, e) in inner.objects.range((lower, Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                break;
            }
            if !filter(e) {
                continue;
            }
            if limit > 0 && out.len() >= limit {
                remaining += 1;
                continue;
            }
            out.push(e.clone());
        }
        (out, inner.rev, remaining)
    }

    /// Starts a watch at `after`: the events already past it, and a receiver for what follows.
    /// Events in the receiver at or below the last replayed revision must be skipped by the caller.
    pub fn subscribe(&self, after: Revision) -> Result<(Vec<Arc<CacheEvent>>, broadcast::Receiver<Batch>), Revision> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if after < inner.oldest {
            return Err(inner.oldest);
        }
        let rx = inner.events_tx.subscribe();
        let start = inner.history.partition_point(|e| e.rv <= after);
        let replay = inner.history.range(start..).cloned().collect();
        Ok((replay, rx))
    }

    /// A consistent snapshot of everything under `prefix` plus a subscription for what follows.
    pub fn snapshot_and_subscribe(
        &self,
        prefix: &str,
        filter: &(dyn Fn(&Entry) -> bool + Sync),
    ) -> (Vec<Arc<Entry>>, Revision, broadcast::Receiver<Batch>) {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let rx = inner.events_tx.subscribe();
        let items = inner
            .objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, e)| filter(e))
            .map(|(_, e)| e.clone())
            .collect();
        (items, inner.rev, rx)
    }
}

fn resource_of(key: &str) -> Option<&'static ResourceInfo> {
    let rest = key.strip_prefix("/registry/")?;
    let plural = rest.split('/').next()?;
    RESOURCES.iter().find(|r| r.plural == plural)
}

/// Builds the served form of a stored value, with `rv` as its resourceVersion.
pub fn entry_from_kv(kv: &KeyValue, rv: Revision) -> Option<Entry> {
    let resource = resource_of(&kv.key)?;
    if let Some(s) = shallow::read(&kv.value, resource.fields, rv) {
        let Shallow { name, namespace, uid, labels, fields, json } = s;
        return Some(Entry {
            key: kv.key.clone(),
            resource,
            namespace,
            name,
            uid,
            rv,
            json: json.into(),
            labels,
            fields,
        });
    }
    let mut value: Value = serde_json::from_slice(&kv.value).ok()?;
    entry_from_value(kv.key.clone(), resource, &mut value, rv)
}

pub fn entry_from_value(
    key: String,
    resource: &'static ResourceInfo,
    value: &mut Value,
    rv: Revision,
) -> Option<Entry> {
    let meta = value.get_mut("metadata")?.as_object_mut()?;
    meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    let name = meta.get("name")?.as_str()?.to_owned();
    let namespace = meta.get("namespace").and_then(Value::as_str).map(str::to_owned);
    let uid = meta.get("uid").and_then(Value::as_str).unwrap_or_default().to_owned();
    let labels = meta
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let fields = extract_fields(resource, value);
    let json = Bytes::from(serde_json::to_vec(value).ok()?);
    Some(Entry { key, resource, namespace, name, uid, rv, json, labels, fields })
}
