//! The values that cross the [`crate::Store`] trait: key-values, events, ranges and transactions.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::StoreError;

/// A point in the store's single, ever-increasing history. `0` means "none" / "current".
pub type Revision = i64;

/// One key as stored, with its etcd-style revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created the key.
    pub create_revision: Revision,
    /// Revision of the last write to the key (the object's resourceVersion).
    pub mod_revision: Revision,
    /// Number of writes since creation (1 after create).
    pub version: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change. For a delete, `kv` holds the key and the deletion's revision as `mod_revision`
/// (empty value) and `prev_kv` the deleted value. For a put, `prev_kv` is the value it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A range read over every key starting with `prefix`, in key order.
#[derive(Clone, Debug, Default)]
pub struct RangeRequest {
    pub prefix: String,
    /// Read as of this revision; `0` means the current revision. A revision older than the
    /// history gives [`StoreError::Compacted`], a future one [`StoreError::FutureRevision`].
    pub revision: Revision,
    /// At most this many keys; `0` means no limit.
    pub limit: usize,
    /// Continue after this key (exclusive), for paging.
    pub start_after: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// The revision the read is consistent at (use it for the next page).
    pub revision: Revision,
    /// True when more keys follow the last one returned.
    pub more: bool,
    /// How many keys follow the last one returned.
    pub remaining: u64,
}

/// A condition on one key, checked atomically with the transaction.
#[derive(Clone, Debug)]
pub struct Compare {
    pub key: String,
    pub target: CompareTarget,
}

#[derive(Clone, Debug)]
pub enum CompareTarget {
    /// The key's mod_revision equals this; `0` means the key is absent.
    ModRevision(Revision),
    /// The key is present.
    Exists,
}

impl Compare {
    pub fn mod_revision(key: &str, revision: Revision) -> Self {
        Compare { key: key.to_owned(), target: CompareTarget::ModRevision(revision) }
    }
}

#[derive(Clone, Debug)]
pub enum TxnOp {
    Put { key: String, value: Bytes },
    Delete { key: String },
    Get { key: String },
}

#[derive(Clone, Debug)]
pub enum TxnOpResult {
    Put(KeyValue),
    Delete { prev: Option<KeyValue> },
    Get(Option<KeyValue>),
}

#[derive(Clone, Debug, Default)]
pub struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<TxnOp>,
    pub failure: Vec<TxnOp>,
}

#[derive(Clone, Debug)]
pub struct TxnResponse {
    pub succeeded: bool,
    /// The store's revision after the transaction (the new revision when it wrote).
    pub revision: Revision,
    pub results: Vec<TxnOpResult>,
}

impl TxnResponse {
    /// The first put's result.
    pub fn into_put(self) -> Option<KeyValue> {
        self.results.into_iter().find_map(|r| match r {
            TxnOpResult::Put(kv) => Some(kv),
            _ => None,
        })
    }

    /// The first get's result.
    pub fn into_get(self) -> Option<KeyValue> {
        self.results.into_iter().find_map(|r| match r {
            TxnOpResult::Get(kv) => kv,
            _ => None,
        })
    }
}

/// The receiving end of a watch: batches of events in revision order. It ends with an error
/// (e.g. [`StoreError::WatcherTooSlow`]) or `None` when the store shuts down.
pub struct WatchStream {
    rx: mpsc::Receiver<Result<Vec<Event>, StoreError>>,
}

impl WatchStream {
    pub fn new(rx: mpsc::Receiver<Result<Vec<Event>, StoreError>>) -> Self {
        WatchStream { rx }
    }

    pub async fn next(&mut self) -> Option<Result<Vec<Event>, StoreError>> {
        self.rx.recv().await
    }
}
