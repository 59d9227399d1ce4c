//! The single writer of the sled backend: group commit.
//!
//! The committer drains every queued transaction (up to a cap), evaluates each in order against
//! the state left by the earlier ones of the same batch, gives each writing transaction the next
//! revision, writes the whole batch (data and revision counter) as one atomic sled batch, flushes
//! once, and only then publishes the new revision to readers and watchers and answers every caller.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::codec::{decode, encode_revision, encode_value, REVISION_KEY};
use crate::sled_store::{lock, write, Shared};
use crate::{
    CompareTarget, Event, EventKind, KeyValue, Revision, StoreError, TxnOp, TxnOpResult, TxnRequest, TxnResponse,
};

pub(crate) type Reply = oneshot::Sender<Result<TxnResponse, StoreError>>;

pub(crate) enum Command {
    Txn(TxnRequest, Reply),
    /// Finish what was queued before, flush, and stop.
    Close,
}

/// A key as the batch currently sees it.
struct Slot {
    kv: Option<KeyValue>,
    /// Written by this batch (else only read).
    dirty: bool,
}

struct Batch {
    state: HashMap<String, Slot>,
    events: Vec<Event>,
    replies: Vec<(Reply, Result<TxnResponse, StoreError>)>,
    /// The last revision handed out (committed, or about to be with this batch).
    last_rev: Revision,
    /// Transactions of this batch that wrote.
    writes: u64,
}

pub(crate) async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Command>, max_batch: usize) {
    let max_batch = max_batch.max(1);
    let mut batch = Batch {
        state: HashMap::new(),
        events: Vec::new(),
        replies: Vec::new(),
        last_rev: shared.committed.load(Ordering::Acquire),
        writes: 0,
    };
    let mut commands = Vec::with_capacity(max_batch);
    loop {
        if rx.recv_many(&mut commands, max_batch).await == 0 {
            break; // every sender is gone: the store was dropped
        }
        let mut closing = false;
        for command in commands.drain(..) {
            match command {
                Command::Txn(_, reply) if closing => {
                    let _ = reply.send(Err(StoreError::Closed));
                }
                Command::Txn(req, reply) => {
                    let result = match shared.failure.get() {
                        Some(failure) => Err(StoreError::Backend(failure.clone())),
                        None => batch.evaluate(&shared.db, req),
                    };
                    batch.replies.push((reply, result));
                }
                Command::Close => closing = true,
            }
        }
        batch.commit(&shared).await;
        if closing {
            break;
        }
    }
    // Whatever is still queued is answered `Closed` by dropping its reply sender.
    drop(rx);
    if shared.failure.get().is_none() {
        if let Err(e) = flush(&shared.db).await {
            tracing::error!("final store flush failed: {e}");
        }
    }
    lock(&shared.watchers).close_all();
    tracing::debug!("store committer stopped");
}

async fn flush(db: &sled::Db) -> Result<(), StoreError> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || db.flush()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Backend(format!("flush failed: {e}"))),
        Err(e) => Err(StoreError::Internal(format!("flush task failed: {e}"))),
    }
}

impl Batch {
    fn current(&self, key: &str) -> Option<&KeyValue> {
        self.state.get(key).and_then(|s| s.kv.as_ref())
    }

    /// Reads every key the transaction mentions that the batch has not seen yet, so that the
    /// evaluation itself cannot fail half-way.
    fn load(&mut self, db: &sled::Db, key: &str) -> Result<(), StoreError> {
        if self.state.contains_key(key) {
            return Ok(());
        }
        let raw = db.get(key.as_bytes()).map_err(|e| StoreError::Backend(format!("read of {key} failed: {e}")))?;
        let kv = raw.map(|raw| decode(key.as_bytes(), raw)).transpose()?;
        self.state.insert(key.to_owned(), Slot { kv, dirty: false });
        Ok(())
    }

    fn evaluate(&mut self, db: &sled::Db, req: TxnRequest) -> Result<TxnResponse, StoreError> {
        for compare in &req.compare {
            self.load(db, &compare.key)?;
        }
        for op in req.success.iter().chain(&req.failure) {
            let (TxnOp::Put { key, .. } | TxnOp::Delete { key } | TxnOp::Get { key }) = op;
            self.load(db, key)?;
        }
        let succeeded = req.compare.iter().all(|c| {
            let current = self.current(&c.key);
            match c.target {
                CompareTarget::ModRevision(rev) => current.map_or(0, |kv| kv.mod_revision) == rev,
                CompareTarget::Exists => current.is_some(),
            }
        });
        let ops = if succeeded { req.success } else { req.failure };
        let mut txn_rev = None;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                TxnOp::Put { key, value } => {
                    let rev = *txn_rev.get_or_insert_with(|| self.next_revision());
                    let prev = self.state.get_mut(&key).and_then(|slot| slot.kv.take());
                    let kv = KeyValue {
                        key,
                        value,
                        create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                        mod_revision: rev,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                    };
                    self.set(&kv.key, Some(kv.clone()));
                    self.events.push(Event { kind: EventKind::Put, kv: kv.clone(), prev_kv: prev });
                    results.push(TxnOpResult::Put(kv));
                }
                TxnOp::Delete { key } => {
                    let prev = self.current(&key).cloned();
                    if let Some(prev) = &prev {
                        let rev = *txn_rev.get_or_insert_with(|| self.next_revision());
                        self.set(&key, None);
                        // As in etcd, a deletion's kv carries only the key and the revision.
                        let kv =
                            KeyValue { key, value: Bytes::new(), create_revision: 0, mod_revision: rev, version: 0 };
                        self.events.push(Event { kind: EventKind::Delete, kv, prev_kv: Some(prev.clone()) });
                    }
                    results.push(TxnOpResult::Delete { prev });
                }
                TxnOp::Get { key } => results.push(TxnOpResult::Get(self.current(&key).cloned())),
            }
        }
        if txn_rev.is_some() {
            self.writes += 1;
        }
        Ok(TxnResponse { succeeded, revision: txn_rev.unwrap_or(self.last_rev), results })
    }

    fn next_revision(&mut self) -> Revision {
        self.last_rev += 1;
        self.last_rev
    }

    fn set(&mut self, key: &str, kv: Option<KeyValue>) {
        match self.state.get_mut(key) {
            Some(slot) => {
                slot.kv = kv;
                slot.dirty = true;
            }
            None => {
                self.state.insert(key.to_owned(), Slot { kv, dirty: true });
            }
        }
    }

    /// Makes the batch durable and visible, then answers its callers.
    async fn commit(&mut self, shared: &Shared) {
        let txns = self.replies.len() as u64;
        if !self.events.is_empty() {
            let revision = self.last_rev;
            let mut sled_batch = sled::Batch::default();
            for (key, slot) in self.state.iter().filter(|(_, s)| s.dirty) {
                match &slot.kv {
                    Some(kv) => sled_batch.insert(key.as_bytes(), encode_value(kv)),
                    None => sled_batch.remove(key.as_bytes()),
                }
            }
            sled_batch.insert(REVISION_KEY, &encode_revision(revision)[..]);
            // Readers must be able to undo these writes as soon as sled holds them.
            write(&shared.history).extend(self.events.iter().cloned());
            let outcome = match shared.db.apply_batch(sled_batch) {
                Ok(()) => flush(&shared.db).await,
                Err(e) => Err(StoreError::Backend(format!("write failed: {e}"))),
            };
            match outcome {
                Ok(()) => {
                    shared.stats.flushes.fetch_add(1, Ordering::Relaxed);
                    shared.stats.commits.fetch_add(self.writes, Ordering::Relaxed);
                    shared.committed.store(revision, Ordering::Release);
                    write(&shared.history).trim(revision);
                    let dropped = lock(&shared.watchers).publish(&self.events);
                    shared.stats.slow_watchers_dropped.fetch_add(dropped as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    // The batch may be half on disk; refuse every later write rather than guess.
                    // Readers keep undoing it: its events stay newer than the committed revision.
                    let message = e.to_string();
                    tracing::error!("store commit failed, refusing further writes: {message}");
                    let _ = shared.failure.set(message.clone());
                    for (_, result) in &mut self.replies {
                        *result = Err(StoreError::Backend(message.clone()));
                    }
                }
            }
        }
        shared.stats.txns.fetch_add(txns, Ordering::Relaxed);
        shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        for (reply, result) in self.replies.drain(..) {
            let _ = reply.send(result);
        }
        self.state.clear();
        self.events.clear();
        self.writes = 0;
    }
}
