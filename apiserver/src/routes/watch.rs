//! `?watch=true`: a chunked stream of WatchEvents, one JSON object per line, flushed per event.
//!
//! Each watch is a task fed by the cache's broadcast; its output goes through a bounded channel to
//! the client. A client that cannot keep up makes the broadcast lag, and the watch is ended: a slow
//! watcher never holds up writers or other watchers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::body::Output;
use crate::cache::{entry_from_value, Batch, CacheEvent, Entry, EventType};
use crate::error::ApiError;
use crate::objects::Target;
use crate::query::ListOptions;
use crate::resources::ResourceInfo;
use crate::table;
use crate::AppState;

const BOOKMARK_EVERY: Duration = Duration::from_secs(60);
const SLOW_CLIENT: Duration = Duration::from_secs(10);

pub async fn watch(state: &AppState, t: &Target, opts: ListOptions, output: Output) -> Response {
    let prefix = t.res.list_prefix(t.namespace.as_deref());
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let w = Watcher { res: t.res, prefix: prefix.clone(), opts, output, tx, columns_sent: false };

    let initial_events = match (w.opts.send_initial_events, w.opts.resource_version) {
        (Some(v), _) => v,
        (None, None | Some(0)) => true,
        (None, Some(_)) => false,
    };
    let start = if initial_events {
        if w.opts.resource_version.is_none() || w.opts.send_initial_events == Some(true) {
            if let Err(e) = state.sync_cache(w.opts.resource_version.filter(|rv| *rv > 0)).await {
                return e.into_response();
            }
        }
        let filter = |e: &Entry| e.key.starts_with(&w.prefix) && w.opts.matches(e);
        let (items, rev, sub) = state.cache.snapshot_and_subscribe(&prefix, &filter);
        Start {
            initial: items,
            replay: Vec::new(),
            rev,
            sub,
            bookmark_initial_end: w.opts.send_initial_events == Some(true),
        }
    } else {
        let after = w.opts.resource_version.unwrap_or(0);
        if let Err(e) = state.cache.wait_for(after).await {
            return e.into_response();
        }
        match state.cache.subscribe(after) {
            Ok((replay, sub)) => Start { initial: Vec::new(), replay, rev: after, sub, bookmark_initial_end: false },
            Err(oldest) => {
                let status = ApiError::expired(format!("too old resource version: {after} ({})", oldest + 1)).status();
                let line = event_line("ERROR", &status);
                return stream_response(Body::from(line));
            }
        }
    };
    let timeout = w.opts.timeout_seconds.map(Duration::from_secs);
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let run = w.run(start, shutdown);
        match timeout {
            Some(d) => {
                let _ = tokio::time::timeout(d, run).await;
            }
            None => run.await,
        }
    });
    stream_response(Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>)))
}

fn stream_response(body: Body) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response()
}

struct Start {
    initial: Vec<Arc<Entry>>,
    replay: Vec<Arc<CacheEvent>>,
    rev: i64,
    sub: broadcast::Receiver<Batch>,
    bookmark_initial_end: bool,
}

struct Watcher {
    res: &'static ResourceInfo,
    prefix: String,
    opts: ListOptions,
    output: Output,
    tx: mpsc::Sender<Bytes>,
    columns_sent: bool,
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({ "type": kind, "object": object })).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

impl Watcher {
    async fn run(mut self, start: Start, shutdown: tokio_util::sync::CancellationToken) {
        let mut last = start.rev;
        for e in &start.initial {
            if !self.send(EventType::Added, e).await {
                return;
            }
        }
        if start.bookmark_initial_end && self.opts.allow_bookmarks && !self.bookmark(last, true).await {
            return;
        }
        for ev in &start.replay {
            if ev.rv > last {
                last = ev.rv;
                if !self.deliver(ev).await {
                    return;
                }
            }
        }
        let mut sub = start.sub;
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.tx.closed() => return,
                _ = ticker.tick(), if self.opts.allow_bookmarks => {
                    if !self.bookmark(last, false).await {
                        return;
                    }
                }
                batch = sub.recv() => match batch {
                    Ok(batch) => {
                        for ev in batch.iter() {
                            if ev.rv <= last {
                                continue;
                            }
                            last = ev.rv;
                            if !self.deliver(ev).await {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(skipped = n, "dropping a watcher that fell behind");
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }

    fn passes(&self, e: &Entry) -> bool {
        e.key.starts_with(&self.prefix) && self.opts.matches(e)
    }

    /// Sends one change, translated for this watcher's selectors: an object that starts matching
    /// arrives as ADDED, one that stops matching as DELETED (its previous state at the new revision).
    async fn deliver(&mut self, ev: &CacheEvent) -> bool {
        let now = ev.kind != EventType::Deleted && self.passes(&ev.object);
        let before = match ev.kind {
            EventType::Deleted => self.passes(&ev.object),
            _ => ev.prev.as_deref().is_some_and(|p| self.passes(p)),
        };
        match (ev.kind, before, now) {
            (EventType::Deleted, true, _) => self.send(EventType::Deleted, &ev.object).await,
            (EventType::Added | EventType::Modified, false, true) => self.send(EventType::Added, &ev.object).await,
            (EventType::Modified, true, true) => self.send(EventType::Modified, &ev.object).await,
            (EventType::Modified, true, false) => {
                let Some(prev) = &ev.prev else { return true };
                let Ok(mut value) = prev.value() else { return true };
                match entry_from_value(prev.key.clone(), prev.resource, &mut value, ev.rv) {
                    Some(e) => self.send(EventType::Deleted, &e).await,
                    None => true,
                }
            }
            _ => true,
        }
    }

    async fn send(&mut self, kind: EventType, e: &Entry) -> bool {
        let line = match self.output {
            Output::Json | Output::Yaml => {
                let mut line = Vec::with_capacity(e.json.len() + 32);
                line.extend_from_slice(br#"{"type":""#);
                line.extend_from_slice(kind.as_str().as_bytes());
                line.extend_from_slice(br#"","object":"#);
                line.extend_from_slice(&e.json);
                line.extend_from_slice(b"}\n");
                Bytes::from(line)
            }
            Output::Table { include_object } => {
                let Ok(v) = e.value() else { return true };
                let tbl = table::table(self.res, &[v], e.rv, include_object, !self.columns_sent, None);
                self.columns_sent = true;
                event_line(kind.as_str(), &tbl)
            }
            Output::PartialMetadata => {
                let Ok(v) = e.value() else { return true };
                event_line(kind.as_str(), &table::partial_metadata(&v))
            }
        };
        self.push(line).await
    }

    /// Queues a line for the client; a client that takes longer than [`SLOW_CLIENT`] to make room
    /// is dropped.
    async fn push(&self, line: Bytes) -> bool {
        // Room in the queue is the common case: no timer for it.
        match self.tx.try_send(line) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(line)) => {
                matches!(tokio::time::timeout(SLOW_CLIENT, self.tx.send(line)).await, Ok(Ok(())))
            }
        }
    }

    async fn bookmark(&mut self, rv: i64, initial_end: bool) -> bool {
        let mut meta = json!({ "resourceVersion": rv.to_string() });
        if initial_end {
            meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let object = match self.output {
            Output::Table { .. } => json!({
                "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                "columnDefinitions": [], "rows": [],
            }),
            _ => json!({ "kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta }),
        };
        self.push(event_line("BOOKMARK", &object)).await
    }
}
