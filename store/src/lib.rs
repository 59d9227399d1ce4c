//! The etcd-like store: one global revision, compare-and-swap writes, range reads consistent at a
//! revision, and watch from a revision served from an in-memory history.
//!
//! The contract is the [`Store`] trait, shaped after etcd's KV/Watch model so that the embedded
//! sled backend and a real etcd backend are interchangeable. Only the API server uses this crate.
//!
//! Keys are `/registry/<resource>/<namespace>/<name>` (cluster-scoped: `/registry/<resource>/<name>`).
//! Values are opaque bytes (the API server stores JSON). An object's resourceVersion is the
//! `mod_revision` of its last write.
//!
//! # Revisions and compaction
//!
//! Every writing transaction gets the next revision; a failed compare, a read-only transaction or
//! a delete of a missing key consumes none. Events up to [`Store::compacted_revision`] are
//! forgotten: a watch may start after any revision `>= compacted_revision()` and a range may read
//! at any revision between `compacted_revision()` and [`Store::current_revision`]; older gives
//! [`StoreError::Compacted`], newer [`StoreError::FutureRevision`] (a watch from a future
//! revision simply waits for it, as in etcd).
//!
//! # The sled backend ([`SledStore`])
//!
//! One sled tree. Each key holds a 24-byte header (mod_revision, create_revision, version as
//! little-endian `i64`) followed by the value; the revision counter lives under a reserved key
//! starting with `0x00` and is written in the same atomic sled batch as the data of each commit,
//! so a restart restores every key and a revision that never goes backwards (delete-only commits
//! bump it too). After a restart the history is empty and starts at the restored revision.
//!
//! All writes go through one committer task (group commit): it drains the queue, evaluates each
//! transaction in order against the state left by the earlier ones, applies the whole batch as one
//! sled batch, flushes once, and only then makes the batch visible to readers and watchers and
//! answers the callers. Reads never see a batch before its flush has finished: each batch's
//! events enter the in-memory history before sled holds them, and reads undo every event newer
//! than the revision they read at.
//!
//! **Durability.** A write is acknowledged only after sled's `flush` returned, which writes the log
//! and calls `fsync`. A crash of the process (including `kill -9`) therefore loses nothing that was
//! acknowledged. sled 0.34 itself does not promise durability across power loss or a kernel crash
//! (it is beta software with a history of recovery bugs), so neither does this store. sled's
//! background flusher stays on; it also reclaims space.
//!
//! A slow watcher never blocks the committer: each watch has a bounded buffer, and a watcher that
//! fills it receives [`StoreError::WatcherTooSlow`] once and is dropped.
//!
//! # Conformance
//!
//! [`conformance::run_conformance`] is the one backend-independent test suite; every backend's
//! tests run it.

mod codec;
mod committer;
pub mod conformance;
mod error;
mod history;
mod sled_store;
mod types;
mod watchers;

pub use error::StoreError;
pub use types::{
    Compare, CompareTarget, Event, EventKind, KeyValue, RangeRequest, RangeResponse, Revision, TxnOp, TxnOpResult,
    TxnRequest, TxnResponse, WatchStream,
};

pub use sled_store::{SledOptions, SledStore, StoreStats};

use async_trait::async_trait;
use bytes::Bytes;

/// An etcd-like key-value store with revisions, conditional writes and watches.
///
/// Every successful write bumps the single global revision by one (a transaction with several
/// operations shares one revision, as in etcd). A write is acknowledged, and shown to watchers,
/// only once it is durable.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The newest revision that is durable and visible to readers and watchers.
    fn current_revision(&self) -> Revision;

    /// The oldest revision a watch or a past-revision range can still start from is
    /// `compacted_revision() + 1`.
    fn compacted_revision(&self) -> Revision;

    /// Reads one key at the current revision.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Reads the keys under a prefix, consistent at one revision (see [`RangeRequest`]).
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError>;

    /// Applies `success` if every compare holds, else `failure`, atomically, as etcd's Txn.
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, StoreError>;

    /// Streams every change under `prefix` with a revision greater than `after`, in order, with
    /// no gaps and no duplicates. `after` older than the history gives [`StoreError::Compacted`].
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// Forgets history up to and including `revision`.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// Creates `key`; fails with [`StoreError::AlreadyExists`] when it is present.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        let resp = self
            .txn(TxnRequest {
                compare: vec![Compare::mod_revision(key, 0)],
                success: vec![TxnOp::Put { key: key.to_owned(), value }],
                failure: vec![TxnOp::Get { key: key.to_owned() }],
            })
            .await?;
        if resp.succeeded {
            resp.into_put().ok_or(StoreError::Internal("put result missing".into()))
        } else {
            Err(StoreError::AlreadyExists { key: key.to_owned() })
        }
    }

    /// Replaces `key` only if its current `mod_revision` equals `expected`.
    /// Fails with [`StoreError::NotFound`] when absent and [`StoreError::Conflict`] (carrying the
    /// current value) when the revision differs.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue, StoreError> {
        let resp = self
            .txn(TxnRequest {
                compare: vec![Compare::mod_revision(key, expected)],
                success: vec![TxnOp::Put { key: key.to_owned(), value }],
                failure: vec![TxnOp::Get { key: key.to_owned() }],
            })
            .await?;
        if resp.succeeded {
            return resp.into_put().ok_or(StoreError::Internal("put result missing".into()));
        }
        match resp.into_get() {
            Some(current) => Err(StoreError::Conflict { key: key.to_owned(), current: Box::new(current) }),
            None => Err(StoreError::NotFound { key: key.to_owned() }),
        }
    }

    /// Deletes `key`, only if its `mod_revision` equals `expected` when one is given.
    /// Returns the deleted value; the deletion's own revision is the response's revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision), StoreError> {
        let compare = match expected {
            Some(rev) => Compare::mod_revision(key, rev),
            None => Compare { key: key.to_owned(), target: CompareTarget::Exists },
        };
        let resp = self
            .txn(TxnRequest {
                compare: vec![compare],
                success: vec![TxnOp::Delete { key: key.to_owned() }],
                failure: vec![TxnOp::Get { key: key.to_owned() }],
            })
            .await?;
        let revision = resp.revision;
        if resp.succeeded {
            return match resp.results.into_iter().next() {
                Some(TxnOpResult::Delete { prev: Some(prev) }) => Ok((prev, revision)),
                _ => Err(StoreError::NotFound { key: key.to_owned() }),
            };
        }
        match resp.into_get() {
            Some(current) => Err(StoreError::Conflict { key: key.to_owned(), current: Box::new(current) }),
            None => Err(StoreError::NotFound { key: key.to_owned() }),
        }
    }
}
