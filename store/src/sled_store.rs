//! The embedded backend: [`SledStore`], one sled tree plus an in-memory history.
//!
//! Reads go straight to sled and then undo, from the history, every write newer than the
//! revision they read at; that includes writes of a batch whose flush has not finished yet, so a
//! reader never sees anything that is not durable.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::codec::{decode, decode_revision, is_reserved, REVISION_KEY};
use crate::committer::{self, Command};
use crate::history::History;
use crate::watchers::Watchers;
use crate::{
    KeyValue, RangeRequest, RangeResponse, Revision, Store, StoreError, TxnOp, TxnRequest, TxnResponse, WatchStream,
};

/// Tuning of a [`SledStore`].
#[derive(Clone, Debug)]
pub struct SledOptions {
    /// sled's page cache size (default 64 MiB; the API server keeps its own cache of objects).
    pub cache_capacity_bytes: u64,
    /// Events kept in memory for watches and past-revision reads. Older revisions are compacted.
    pub history_capacity: usize,
    /// Period of sled's background flusher (which also reclaims space). `0` is taken as the default;
    /// the flusher is never turned off.
    pub flush_every_ms: u64,
    /// Commit batches a watcher may have queued before it is dropped as too slow.
    pub watch_buffer: usize,
    /// At most this many transactions share one flush.
    pub max_batch: usize,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            cache_capacity_bytes: 64 * 1024 * 1024,
            history_capacity: 200_000,
            flush_every_ms: 500,
            watch_buffer: 1024,
            max_batch: 1024,
        }
    }
}

/// Counters of a running [`SledStore`], for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions answered (including failed compares and read-only ones).
    pub txns: u64,
    /// Transactions that wrote (each got its own revision).
    pub commits: u64,
    /// Rounds of the committer (each drains the queue once).
    pub batches: u64,
    /// Flushes to disk; concurrent writers share them.
    pub flushes: u64,
    /// Watchers dropped for falling too far behind.
    pub slow_watchers_dropped: u64,
    pub watchers: usize,
    pub history_len: usize,
    pub revision: Revision,
    pub compacted: Revision,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) txns: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) slow_watchers_dropped: AtomicU64,
}

/// What the store handle and the committer share.
pub(crate) struct Shared {
    pub(crate) db: sled::Db,
    /// The newest durable, visible revision.
    pub(crate) committed: AtomicI64,
    pub(crate) history: RwLock<History>,
    pub(crate) watchers: Mutex<Watchers>,
    pub(crate) stats: Counters,
    /// Set once a commit failed; every later write is refused with it.
    pub(crate) failure: OnceLock<String>,
}

// Poisoning only follows a panic elsewhere; the guarded data stays consistent, so carry on.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Replayed history goes to a new watcher in chunks of this many events.
const REPLAY_CHUNK: usize = 1024;

/// The sled backend of [`Store`].
///
/// Writes are acknowledged only after sled has flushed them (group commit: concurrent writers
/// share one flush). Dropping the store stops its committer once the queue is drained; call
/// [`SledStore::close`] to wait for that and for the final flush.
pub struct SledStore {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    committer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    watch_buffer: usize,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. Fails with [`StoreError::Locked`] when another
    /// process, or another open store in this one, holds the directory. Must run inside a tokio
    /// runtime (it starts the committer task).
    pub async fn open(dir: &Path, opts: SledOptions) -> Result<SledStore, StoreError> {
        let config = sled::Config::new().path(dir);
        SledStore::start(config, &dir.display().to_string(), opts).await
    }

    /// A store in a fresh temporary directory that is removed when the store is dropped.
    pub async fn temporary(opts: SledOptions) -> Result<SledStore, StoreError> {
        SledStore::start(sled::Config::new().temporary(true), "(temporary)", opts).await
    }

    async fn start(config: sled::Config, path: &str, opts: SledOptions) -> Result<SledStore, StoreError> {
        let flush_every_ms =
            if opts.flush_every_ms == 0 { SledOptions::default().flush_every_ms } else { opts.flush_every_ms };
        let config = config.cache_capacity(opts.cache_capacity_bytes).flush_every_ms(Some(flush_every_ms));
        let db = tokio::task::spawn_blocking(move || config.open())
            .await
            .map_err(|e| StoreError::Internal(format!("open task failed: {e}")))?
            .map_err(|e| match e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked { path: path.to_owned() }
                }
                other => StoreError::Backend(format!("cannot open {path}: {other}")),
            })?;
        let revision = match db.get(REVISION_KEY).map_err(backend)? {
            Some(raw) => decode_revision(&raw)?,
            None => 0,
        };
        let shared = Arc::new(Shared {
            db,
            committed: AtomicI64::new(revision),
            // After a restart nothing before the restored revision can be replayed.
            history: RwLock::new(History::new(revision, opts.history_capacity)),
            watchers: Mutex::new(Watchers::default()),
            stats: Counters::default(),
            failure: OnceLock::new(),
        });
        let max_batch = opts.max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(4));
        let committer = tokio::spawn(committer::run(shared.clone(), rx, max_batch));
        tracing::debug!(path, revision, "store opened");
        Ok(SledStore {
            shared,
            tx,
            committer: tokio::sync::Mutex::new(Some(committer)),
            closed: AtomicBool::new(false),
            watch_buffer: opts.watch_buffer.max(1),
        })
    }

    /// Finishes every write queued before this call, flushes, stops the committer and ends all
    /// watch streams. Later writes and watches fail with [`StoreError::Closed`]; reads still work.
    /// Once this returns, dropping the store releases the directory at once.
    pub async fn close(&self) {
        let mut committer = self.committer.lock().await;
        self.closed.store(true, Ordering::Release);
        let _ = self.tx.send(Command::Close).await;
        if let Some(handle) = committer.take() {
            if let Err(e) = handle.await {
                tracing::error!("store committer failed: {e}");
            }
        }
    }

    pub fn stats(&self) -> StoreStats {
        let s = &self.shared.stats;
        // One lock at a time: `watch` takes the watcher list before the history.
        let watchers = lock(&self.shared.watchers).len();
        let (history_len, compacted) = {
            let history = read(&self.shared.history);
            (history.len(), history.compacted())
        };
        StoreStats {
            txns: s.txns.load(Ordering::Relaxed),
            commits: s.commits.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            flushes: s.flushes.load(Ordering::Relaxed),
            slow_watchers_dropped: s.slow_watchers_dropped.load(Ordering::Relaxed),
            watchers,
            history_len,
            revision: self.shared.committed.load(Ordering::Acquire),
            compacted,
        }
    }

    fn read_key(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let at = self.shared.committed.load(Ordering::Acquire);
        let raw = self.shared.db.get(key.as_bytes()).map_err(backend)?;
        if let Some(state) = read(&self.shared.history).undo_key_after(at, key) {
            return Ok(state);
        }
        raw.map(|raw| decode(key.as_bytes(), raw)).transpose()
    }

    /// Every sled entry of the request's span, in key order.
    fn scan(&self, req: &RangeRequest) -> Result<Vec<(sled::IVec, sled::IVec)>, StoreError> {
        let prefix = req.prefix.as_bytes();
        let start = match &req.start_after {
            Some(after) if after.as_bytes() >= prefix => Bound::Excluded(after.as_bytes().to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        let mut out = Vec::new();
        for item in self.shared.db.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (key, value) = item.map_err(backend)?;
            if !key.starts_with(prefix) {
                break;
            }
            if !is_reserved(&key) {
                out.push((key, value));
            }
        }
        Ok(out)
    }

    fn read_range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        let in_span =
            |key: &str| key.starts_with(&req.prefix) && req.start_after.as_deref().is_none_or(|after| key > after);
        loop {
            let committed = self.shared.committed.load(Ordering::Acquire);
            if req.revision > committed {
                return Err(StoreError::FutureRevision { requested: req.revision, current: committed });
            }
            let at = if req.revision > 0 {
                // Fail early, before scanning, when the revision is gone.
                read(&self.shared.history).check_readable(req.revision)?;
                req.revision
            } else {
                committed
            };
            let scanned = self.scan(req)?;
            // Only now: the undo set must cover every write the scan may have seen.
            let undo = {
                let history = read(&self.shared.history);
                match history.check_readable(at) {
                    // The current revision was trimmed away meanwhile; read at the new one.
                    Err(_) if req.revision == 0 => continue,
                    Err(e) => return Err(e),
                    Ok(()) => history.undo_after(at, in_span),
                }
            };
            return merge(scanned, undo, at, req.limit);
        }
    }
}

/// Overlays the undo set on the scanned entries and pages the result.
fn merge(
    scanned: Vec<(sled::IVec, sled::IVec)>,
    undo: std::collections::BTreeMap<String, Option<KeyValue>>,
    revision: Revision,
    limit: usize,
) -> Result<RangeResponse, StoreError> {
    let limit = if limit == 0 { usize::MAX } else { limit };
    let mut kvs = Vec::with_capacity(scanned.len().min(limit));
    let mut remaining = 0u64;
    let mut scanned = scanned.into_iter().peekable();
    let mut undo = undo.into_iter().peekable();
    loop {
        let take_undo = match (scanned.peek(), undo.peek()) {
            (None, None) => break,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some((key, _)), Some((undo_key, _))) => match key.as_ref().cmp(undo_key.as_bytes()) {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => {
                    scanned.next(); // superseded by its state at `revision`
                    true
                }
            },
        };
        if take_undo {
            let Some((_, state)) = undo.next() else { break };
            let Some(kv) = state else { continue };
            if kvs.len() < limit {
                kvs.push(kv);
            } else {
                remaining += 1;
            }
        } else {
            let Some((key, raw)) = scanned.next() else { break };
            if kvs.len() < limit {
                kvs.push(decode(&key, raw)?);
            } else {
                remaining += 1;
            }
        }
    }
    Ok(RangeResponse { kvs, revision, more: remaining > 0, remaining })
}

fn check_key(key: &str) -> Result<(), StoreError> {
    if is_reserved(key.as_bytes()) {
        return Err(StoreError::Internal(format!("key {key:?} is reserved for the store itself")));
    }
    Ok(())
}

#[async_trait]
impl Store for SledStore {
    fn current_revision(&self) -> Revision {
        self.shared.committed.load(Ordering::Acquire)
    }

    fn compacted_revision(&self) -> Revision {
        read(&self.shared.history).compacted()
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.read_key(key)
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.read_range(&req)
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, StoreError> {
        for compare in &req.compare {
            check_key(&compare.key)?;
        }
        for op in req.success.iter().chain(&req.failure) {
            let (TxnOp::Put { key, .. } | TxnOp::Delete { key } | TxnOp::Get { key }) = op;
            check_key(key)?;
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let (reply, answer) = oneshot::channel();
        self.tx.send(Command::Txn(req, reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        let mut watchers = lock(&self.shared.watchers);
        if watchers.is_closed() {
            return Err(StoreError::Closed);
        }
        // Holding the watcher list keeps the committer from publishing meanwhile, so the replay
        // ends exactly where live delivery begins.
        let committed = self.shared.committed.load(Ordering::Acquire);
        let replay = {
            let history = read(&self.shared.history);
            history.check_readable(after)?;
            history.replay(prefix, after, committed)
        };
        let chunks = replay.len().div_ceil(REPLAY_CHUNK);
        let (tx, rx) = mpsc::channel(chunks + self.watch_buffer + 1);
        let mut replay = replay.into_iter();
        for _ in 0..chunks {
            let chunk: Vec<_> = replay.by_ref().take(REPLAY_CHUNK).collect();
            tx.try_send(Ok(chunk)).map_err(|_| StoreError::Internal("watch replay did not fit its buffer".into()))?;
        }
        watchers.add(prefix.to_owned(), after.max(committed), tx);
        Ok(WatchStream::new(rx))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let committed = self.shared.committed.load(Ordering::Acquire);
        if revision > committed {
            return Err(StoreError::FutureRevision { requested: revision, current: committed });
        }
        write(&self.shared.history).compact(revision);
        Ok(())
    }
}
