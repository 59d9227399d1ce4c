//! What can go wrong in the store.

use crate::{KeyValue, Revision};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    #[error("key {key} not found")]
    NotFound { key: String },
    #[error("key {key} was modified (now at revision {})", current.mod_revision)]
    Conflict { key: String, current: Box<KeyValue> },
    #[error("revision {requested} has been compacted (oldest available is {})", compacted + 1)]
    Compacted { requested: Revision, compacted: Revision },
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision { requested: Revision, current: Revision },
    #[error("watcher fell too far behind and was dropped")]
    WatcherTooSlow,
    #[error("data directory {path} is in use by another process")]
    Locked { path: String },
    #[error("store is shut down")]
    Closed,
    #[error("storage backend failed: {0}")]
    Backend(String),
    #[error("internal store error: {0}")]
    Internal(String),
}
