//! The in-memory window of recent events. It serves watches from a past revision and lets range
//! reads undo writes newer than the revision they read at.
//!
//! Events enter the history *before* their sled batch is applied, so a reader that sees a write
//! in sled can always find the event that undoes it. Only committed events are ever dropped.

use std::collections::{BTreeMap, VecDeque};

use crate::{Event, KeyValue, Revision, StoreError};

pub(crate) struct History {
    events: VecDeque<Event>,
    /// Every event with a greater revision is (or will be, once written) in `events`.
    compacted: Revision,
    capacity: usize,
}

impl History {
    pub(crate) fn new(compacted: Revision, capacity: usize) -> Self {
        History { events: VecDeque::new(), compacted, capacity: capacity.max(1) }
    }

    pub(crate) fn compacted(&self) -> Revision {
        self.compacted
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Appends the events of one commit batch (already in revision order).
    pub(crate) fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        self.events.extend(events);
    }

    /// Drops whole revisions from the front, never beyond `committed`, until the window fits
    /// its capacity again.
    pub(crate) fn trim(&mut self, committed: Revision) {
        while self.events.len() > self.capacity {
            let Some(oldest) = self.events.front().map(Event::revision) else { break };
            if oldest > committed {
                break;
            }
            self.drop_through(oldest);
        }
    }

    /// Forgets every event up to and including `revision` (which must be committed).
    pub(crate) fn compact(&mut self, revision: Revision) {
        if revision > self.compacted {
            self.drop_through(revision);
        }
    }

    fn drop_through(&mut self, revision: Revision) {
        while self.events.front().is_some_and(|e| e.revision() <= revision) {
            self.events.pop_front();
        }
        self.compacted = self.compacted.max(revision);
    }

    /// Fails when the state at `revision` can no longer be rebuilt.
    pub(crate) fn check_readable(&self, revision: Revision) -> Result<(), StoreError> {
        if revision < self.compacted {
            return Err(StoreError::Compacted { requested: revision, compacted: self.compacted });
        }
        Ok(())
    }

    /// For every key accepted by `in_span` that some event newer than `revision` touched, the
    /// key's state at `revision` (`None`: absent). Keys not in the map are unchanged since then.
    pub(crate) fn undo_after(
        &self,
        revision: Revision,
        in_span: impl Fn(&str) -> bool,
    ) -> BTreeMap<String, Option<KeyValue>> {
        let mut undo = BTreeMap::new();
        // Newest first, so the oldest newer event's `prev_kv` is what remains for each key.
        for ev in self.events.iter().rev().take_while(|e| e.revision() > revision) {
            if in_span(&ev.kv.key) {
                undo.insert(ev.kv.key.clone(), ev.prev_kv.clone());
            }
        }
        undo
    }

    /// The state of `key` at `revision` when an event newer than it touched the key.
    pub(crate) fn undo_key_after(&self, revision: Revision, key: &str) -> Option<Option<KeyValue>> {
        let mut found = None;
        for ev in self.events.iter().rev().take_while(|e| e.revision() > revision) {
            if ev.kv.key == key {
                found = Some(ev.prev_kv.clone());
            }
        }
        found
    }

    /// Events with `after < revision <= upto` under `prefix`, oldest first.
    pub(crate) fn replay(&self, prefix: &str, after: Revision, upto: Revision) -> Vec<Event> {
        let start = self.events.partition_point(|e| e.revision() <= after);
        self.events
            .range(start..)
            .take_while(|e| e.revision() <= upto)
            .filter(|e| e.kv.key.starts_with(prefix))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::EventKind;

    fn kv(key: &str, rev: Revision) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Bytes::from(format!("v{rev}")),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        }
    }

    fn put(key: &str, rev: Revision, prev: Option<KeyValue>) -> Event {
        Event { kind: EventKind::Put, kv: kv(key, rev), prev_kv: prev }
    }

    #[test]
    fn trim_drops_whole_revisions_and_advances_compacted() {
        let mut h = History::new(0, 2);
        h.extend([put("/a", 1, None), put("/b", 2, None), put("/c", 2, None), put("/d", 3, None)]);
        h.trim(3);
        // Revision 1 goes alone would leave 3 > 2, so revision 2 (two events) goes too.
        assert_eq!(h.len(), 1);
        assert_eq!(h.compacted(), 2);
        assert!(h.check_readable(1).is_err());
        assert!(h.check_readable(2).is_ok());
    }

    #[test]
    fn trim_never_drops_uncommitted_events() {
        let mut h = History::new(0, 1);
        h.extend([put("/a", 1, None), put("/b", 2, None), put("/c", 3, None)]);
        h.trim(1);
        assert_eq!(h.len(), 2);
        assert_eq!(h.compacted(), 1);
    }

    #[test]
    fn undo_keeps_the_state_before_the_oldest_newer_event() {
        let mut h = History::new(0, 100);
        h.extend([put("/a", 1, None), put("/a", 2, Some(kv("/a", 1))), put("/a", 3, Some(kv("/a", 2)))]);
        let undo = h.undo_after(1, |_| true);
        assert_eq!(undo.get("/a"), Some(&Some(kv("/a", 1))));
        assert_eq!(h.undo_key_after(0, "/a"), Some(None));
        assert_eq!(h.undo_key_after(3, "/a"), None);
    }

    #[test]
    fn replay_filters_by_prefix_and_range() {
        let mut h = History::new(0, 100);
        h.extend([put("/x/a", 1, None), put("/y/a", 2, None), put("/x/b", 3, None), put("/x/c", 4, None)]);
        let revs: Vec<_> = h.replay("/x/", 1, 3).iter().map(Event::revision).collect();
        assert_eq!(revs, vec![3]);
    }
}
