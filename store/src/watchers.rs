//! The live watchers and the fan-out of committed events to them.
//!
//! Each watcher has a bounded channel with one slot kept back for the final
//! [`StoreError::WatcherTooSlow`]: the committer only ever uses `try_send`, so a watcher that stops
//! reading is told once and dropped, and never holds up a commit.

use tokio::sync::mpsc;

use crate::{Event, Revision, StoreError};

type Item = Result<Vec<Event>, StoreError>;

struct Watcher {
    prefix: String,
    /// Events up to this revision were already replayed from history.
    skip_through: Revision,
    tx: mpsc::Sender<Item>,
}

#[derive(Default)]
pub(crate) struct Watchers {
    list: Vec<Watcher>,
    /// The committer has stopped; nothing will ever be published again.
    closed: bool,
}

impl Watchers {
    pub(crate) fn add(&mut self, prefix: String, skip_through: Revision, tx: mpsc::Sender<Item>) {
        self.list.push(Watcher { prefix, skip_through, tx });
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Hands one committed batch (revision order) to every interested watcher. Returns how many
    /// watchers were dropped for being too slow.
    pub(crate) fn publish(&mut self, events: &[Event]) -> usize {
        let mut too_slow = 0;
        self.list.retain_mut(|w| {
            if w.tx.is_closed() {
                return false;
            }
            let start = events.partition_point(|e| e.revision() <= w.skip_through);
            let mine: Vec<Event> =
                events[start..].iter().filter(|e| e.kv.key.starts_with(&w.prefix)).cloned().collect();
            if mine.is_empty() {
                return true;
            }
            if w.tx.capacity() <= 1 {
                // The reserved last slot carries the verdict; the stream ends after it.
                let _ = w.tx.try_send(Err(StoreError::WatcherTooSlow));
                too_slow += 1;
                return false;
            }
            w.tx.try_send(Ok(mine)).is_ok()
        });
        too_slow
    }

    /// Ends every watch stream (receivers then see `None`).
    pub(crate) fn close_all(&mut self) {
        self.closed = true;
        self.list.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{EventKind, KeyValue};

    fn ev(key: &str, rev: Revision) -> Event {
        let kv = KeyValue { key: key.into(), value: Bytes::new(), create_revision: rev, mod_revision: rev, version: 1 };
        Event { kind: EventKind::Put, kv, prev_kv: None }
    }

    #[tokio::test]
    async fn skips_replayed_revisions_and_other_prefixes() {
        let mut ws = Watchers::default();
        let (tx, mut rx) = mpsc::channel(8);
        ws.add("/a/".into(), 2, tx);
        ws.publish(&[ev("/a/x", 2), ev("/b/x", 3), ev("/a/y", 3), ev("/a/z", 4)]);
        let got: Vec<_> = rx.recv().await.unwrap().unwrap().iter().map(|e| e.kv.key.clone()).collect();
        assert_eq!(got, vec!["/a/y", "/a/z"]);
    }

    #[tokio::test]
    async fn full_watcher_gets_one_error_and_is_dropped() {
        let mut ws = Watchers::default();
        let (tx, mut rx) = mpsc::channel(3);
        ws.add(String::new(), 0, tx);
        assert_eq!(ws.publish(&[ev("/a", 1)]), 0);
        assert_eq!(ws.publish(&[ev("/a", 2)]), 0);
        assert_eq!(ws.publish(&[ev("/a", 3)]), 1);
        assert_eq!(ws.len(), 0);
        assert_eq!(rx.recv().await.unwrap().unwrap()[0].revision(), 1);
        assert_eq!(rx.recv().await.unwrap().unwrap()[0].revision(), 2);
        assert!(matches!(rx.recv().await, Some(Err(StoreError::WatcherTooSlow))));
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn dropped_receivers_are_forgotten() {
        let mut ws = Watchers::default();
        let (tx, rx) = mpsc::channel(3);
        ws.add(String::new(), 0, tx);
        drop(rx);
        ws.publish(&[ev("/a", 1)]);
        assert_eq!(ws.len(), 0);
    }
}
