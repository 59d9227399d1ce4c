//! The backend-independent conformance suite: every [`Store`] backend must pass
//! [`run_conformance`]. It is a test suite compiled into the library so that each backend's tests
//! can call it; it asserts by panicking.
//!
//! Each case gets a fresh store from the caller's factory, writes only under its own
//! `/registry/conformance-<case>/` prefix and only reasons about revisions relative to the ones it
//! observed, so a backend that shares one server between cases (etcd) passes too, as long as the
//! cases run one after another.
#![allow(clippy::unwrap_used)] // a test suite: failing means panicking

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::{
    Compare, CompareTarget, Event, EventKind, KeyValue, RangeRequest, Revision, Store, StoreError, TxnOp, TxnOpResult,
    TxnRequest, WatchStream,
};

/// How long any single wait in the suite may take before the case fails.
const WAIT: Duration = Duration::from_secs(30);

/// Runs every case, each on a fresh store from `make`.
pub async fn run_conformance<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! case {
        ($name:ident) => {
            eprintln!("store conformance: {}", stringify!($name));
            $name(Arc::new(make().await)).await;
        };
    }
    case!(create_get_and_already_exists);
    case!(update_is_compare_and_swap);
    case!(delete_with_and_without_expected_revision);
    case!(txn_branches_and_one_revision_per_txn);
    case!(range_by_prefix_with_consistent_paging);
    case!(range_at_a_past_revision);
    case!(range_and_watch_match_a_model);
    case!(compacted_and_future_revisions);
    case!(watch_from_a_revision);
    case!(watch_started_during_writes);
    case!(cas_counter_race);
}

fn val(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn range(prefix: &str) -> RangeRequest {
    RangeRequest { prefix: prefix.to_owned(), ..Default::default() }
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

/// Reads events until one with revision `until` (or newer) arrived.
async fn events_until(w: &mut WatchStream, until: Revision) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    while out.last().is_none_or(|e| e.revision() < until) {
        let next = tokio::time::timeout(WAIT, w.next()).await;
        match next {
            Ok(Some(Ok(batch))) => {
                assert!(!batch.is_empty(), "a watch delivered an empty batch");
                out.extend(batch);
            }
            Ok(Some(Err(e))) => panic!("watch failed while waiting for revision {until}: {e}"),
            Ok(None) => panic!("watch ended while waiting for revision {until}"),
            Err(_) => panic!("no event up to revision {until} within {WAIT:?}; got {} events", out.len()),
        }
    }
    out
}

/// Asserts that nothing is delivered for a short while.
async fn assert_quiet(w: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(200), w.next()).await {
        panic!("unexpected watch delivery: {item:?}");
    }
}

fn assert_in_order_without_duplicates(events: &[Event]) {
    let mut seen = HashSet::new();
    for pair in events.windows(2) {
        assert!(pair[0].revision() <= pair[1].revision(), "events out of order: {pair:?}");
    }
    for e in events {
        assert!(seen.insert((e.revision(), e.kv.key.clone())), "duplicate event {e:?}");
    }
}

async fn create_get_and_already_exists<S: Store>(s: Arc<S>) {
    let key = "/registry/conformance-create/ns/a";
    assert_eq!(s.get(key).await.unwrap(), None);
    let before = s.current_revision();
    let kv = s.create(key, val("one")).await.unwrap();
    assert_eq!(kv.key, key);
    assert_eq!(kv.value, val("one"));
    assert!(kv.mod_revision > before);
    assert_eq!(kv.create_revision, kv.mod_revision);
    assert_eq!(kv.version, 1);
    assert_eq!(s.current_revision(), kv.mod_revision, "an acknowledged write is the current revision");
    assert_eq!(s.get(key).await.unwrap(), Some(kv.clone()));

    match s.create(key, val("two")).await {
        Err(StoreError::AlreadyExists { key: k }) => assert_eq!(k, key),
        other => panic!("second create gave {other:?}"),
    }
    assert_eq!(s.current_revision(), kv.mod_revision, "a failed create consumes no revision");
    assert_eq!(s.get(key).await.unwrap().unwrap().value, val("one"));
    // A key that merely extends another is a different key.
    assert_eq!(s.get("/registry/conformance-create/ns/ab").await.unwrap(), None);
    assert_eq!(s.get("/registry/conformance-create/ns/").await.unwrap(), None);
}

async fn update_is_compare_and_swap<S: Store>(s: Arc<S>) {
    let key = "/registry/conformance-update/ns/a";
    let created = s.create(key, val("v1")).await.unwrap();
    let updated = s.update(key, val("v2"), created.mod_revision).await.unwrap();
    assert!(updated.mod_revision > created.mod_revision);
    assert_eq!(updated.create_revision, created.create_revision);
    assert_eq!(updated.version, 2);
    assert_eq!(updated.value, val("v2"));

    // A stale revision conflicts and carries what is there now.
    match s.update(key, val("v3"), created.mod_revision).await {
        Err(StoreError::Conflict { key: k, current }) => {
            assert_eq!(k, key);
            assert_eq!(*current, updated);
        }
        other => panic!("stale update gave {other:?}"),
    }
    assert_eq!(s.current_revision(), updated.mod_revision, "a failed compare consumes no revision");
    assert_eq!(s.get(key).await.unwrap(), Some(updated.clone()));

    match s.update("/registry/conformance-update/ns/missing", val("x"), 5).await {
        Err(StoreError::NotFound { key: k }) => assert_eq!(k, "/registry/conformance-update/ns/missing"),
        other => panic!("update of a missing key gave {other:?}"),
    }
    let third = s.update(key, val("v3"), updated.mod_revision).await.unwrap();
    assert_eq!(third.version, 3);
}

async fn delete_with_and_without_expected_revision<S: Store>(s: Arc<S>) {
    let a = "/registry/conformance-delete/ns/a";
    let b = "/registry/conformance-delete/ns/b";
    let kv_a = s.create(a, val("a")).await.unwrap();
    let kv_b = s.create(b, val("b")).await.unwrap();

    let (prev, rev) = s.delete(a, None).await.unwrap();
    assert_eq!(prev, kv_a);
    assert!(rev > kv_b.mod_revision);
    assert_eq!(s.current_revision(), rev);
    assert_eq!(s.get(a).await.unwrap(), None);
    match s.delete(a, None).await {
        Err(StoreError::NotFound { key }) => assert_eq!(key, a),
        other => panic!("deleting a missing key gave {other:?}"),
    }
    match s.delete(a, Some(kv_a.mod_revision)).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("conditional delete of a missing key gave {other:?}"),
    }
    assert_eq!(s.current_revision(), rev, "failed deletes consume no revision");

    match s.delete(b, Some(kv_b.mod_revision + 1000)).await {
        Err(StoreError::Conflict { key, current }) => {
            assert_eq!(key, b);
            assert_eq!(*current, kv_b);
        }
        other => panic!("delete with a wrong revision gave {other:?}"),
    }
    assert_eq!(s.get(b).await.unwrap(), Some(kv_b.clone()));
    let (prev, rev_b) = s.delete(b, Some(kv_b.mod_revision)).await.unwrap();
    assert_eq!(prev, kv_b);
    assert_eq!(rev_b, rev + 1);
    assert_eq!(s.get(b).await.unwrap(), None);

    // Recreating starts a new life: new create_revision, version 1.
    let again = s.create(a, val("again")).await.unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(again.create_revision, again.mod_revision);
    assert!(again.create_revision > rev_b);
}

async fn txn_branches_and_one_revision_per_txn<S: Store>(s: Arc<S>) {
    let p = "/registry/conformance-txn/ns/";
    let (a, b, c, d) = (format!("{p}a"), format!("{p}b"), format!("{p}c"), format!("{p}d"));
    let kv_a = s.create(&a, val("a1")).await.unwrap();
    s.create(&c, val("c1")).await.unwrap();
    let before = s.current_revision();

    // Success branch with several writes: one revision for all of them.
    let resp = s
        .txn(TxnRequest {
            compare: vec![
                Compare::mod_revision(&a, kv_a.mod_revision),
                Compare::mod_revision(&b, 0),
                Compare { key: c.clone(), target: CompareTarget::Exists },
            ],
            success: vec![
                TxnOp::Put { key: a.clone(), value: val("a2") },
                TxnOp::Put { key: b.clone(), value: val("b1") },
                TxnOp::Delete { key: c.clone() },
                TxnOp::Delete { key: d.clone() },
                TxnOp::Get { key: a.clone() },
            ],
            failure: vec![TxnOp::Get { key: a.clone() }],
        })
        .await
        .unwrap();
    assert!(resp.succeeded);
    assert_eq!(resp.revision, before + 1, "one revision per transaction");
    assert_eq!(s.current_revision(), before + 1);
    assert_eq!(resp.results.len(), 5);
    match &resp.results[0] {
        TxnOpResult::Put(kv) => {
            assert_eq!((kv.mod_revision, kv.version, kv.create_revision), (before + 1, 2, kv_a.create_revision))
        }
        other => panic!("unexpected result {other:?}"),
    }
    match &resp.results[1] {
        TxnOpResult::Put(kv) => {
            assert_eq!((kv.mod_revision, kv.version, kv.create_revision), (before + 1, 1, before + 1))
        }
        other => panic!("unexpected result {other:?}"),
    }
    match &resp.results[2] {
        TxnOpResult::Delete { prev: Some(prev) } => assert_eq!(prev.value, val("c1")),
        other => panic!("unexpected result {other:?}"),
    }
    assert!(matches!(&resp.results[3], TxnOpResult::Delete { prev: None }), "{:?}", resp.results[3]);
    match &resp.results[4] {
        TxnOpResult::Get(Some(kv)) => assert_eq!(kv.value, val("a2"), "a get sees the transaction's own put"),
        other => panic!("unexpected result {other:?}"),
    }
    let now = s.range(range(p)).await.unwrap();
    assert_eq!(keys(&now.kvs), vec![a.as_str(), b.as_str()]);
    assert!(now.kvs.iter().all(|kv| kv.mod_revision == before + 1));

    // Failure branch that only reads: no revision.
    let resp = s
        .txn(TxnRequest {
            compare: vec![Compare::mod_revision(&a, kv_a.mod_revision)],
            success: vec![TxnOp::Put { key: a.clone(), value: val("never") }],
            failure: vec![TxnOp::Get { key: a.clone() }, TxnOp::Get { key: d.clone() }],
        })
        .await
        .unwrap();
    assert!(!resp.succeeded);
    assert_eq!(resp.revision, before + 1);
    assert_eq!(s.current_revision(), before + 1, "a failed compare consumes no revision");
    assert!(matches!(&resp.results[0], TxnOpResult::Get(Some(kv)) if kv.value == val("a2")));
    assert!(matches!(&resp.results[1], TxnOpResult::Get(None)));

    // Failure branch that writes: it gets the next revision.
    let resp = s
        .txn(TxnRequest {
            compare: vec![Compare { key: d.clone(), target: CompareTarget::Exists }],
            success: vec![],
            failure: vec![TxnOp::Put { key: d.clone(), value: val("d1") }],
        })
        .await
        .unwrap();
    assert!(!resp.succeeded);
    assert_eq!(resp.revision, before + 2);
    assert_eq!(s.get(&d).await.unwrap().unwrap().mod_revision, before + 2);

    // Deleting nothing writes nothing.
    let resp =
        s.txn(TxnRequest { success: vec![TxnOp::Delete { key: c.clone() }], ..Default::default() }).await.unwrap();
    assert!(resp.succeeded);
    assert_eq!(resp.revision, before + 2);
    assert_eq!(s.current_revision(), before + 2);

    // The "bind only while unbound" shape the API server uses.
    let pod = format!("{p}pod");
    let unbound = s.create(&pod, val("{}")).await.unwrap();
    let bind = |rev| TxnRequest {
        compare: vec![Compare::mod_revision(&pod, rev)],
        success: vec![TxnOp::Put { key: pod.clone(), value: val("{\"nodeName\":\"n1\"}") }],
        failure: vec![TxnOp::Get { key: pod.clone() }],
    };
    assert!(s.txn(bind(unbound.mod_revision)).await.unwrap().succeeded);
    let second = s.txn(bind(unbound.mod_revision)).await.unwrap();
    assert!(!second.succeeded);
    assert_eq!(second.into_get().unwrap().value, val("{\"nodeName\":\"n1\"}"));
}

async fn range_by_prefix_with_consistent_paging<S: Store>(s: Arc<S>) {
    let p = "/registry/conformance-range/ns/";
    let k = |i: &str| format!("{p}k{i}");
    for i in 0..10 {
        s.create(&k(&format!("{i:02}")), val(&format!("v{i}"))).await.unwrap();
    }
    // Neighbours that share the prefix string but not the prefix.
    s.create("/registry/conformance-range/nsx/a", val("x")).await.unwrap();
    s.create("/registry/conformance-range/ns", val("x")).await.unwrap();
    s.create("/registry/conformance-range/n", val("x")).await.unwrap();

    let full = s.range(range(p)).await.unwrap();
    let r0 = full.revision;
    assert_eq!(r0, s.current_revision());
    assert_eq!(full.kvs.len(), 10);
    assert!(!full.more);
    assert_eq!(full.remaining, 0);
    let expected: Vec<String> = (0..10).map(|i| k(&format!("{i:02}"))).collect();
    assert_eq!(keys(&full.kvs), expected.iter().map(String::as_str).collect::<Vec<_>>(), "in key order");

    let page =
        |start_after: Option<String>, revision| RangeRequest { prefix: p.to_owned(), revision, limit: 3, start_after };
    let first = s.range(page(None, 0)).await.unwrap();
    assert_eq!(first.revision, r0);
    assert_eq!(keys(&first.kvs), keys(&full.kvs[..3]));
    assert!(first.more);
    assert_eq!(first.remaining, 7);

    // Writes between pages: before, inside and after the pages already read.
    s.delete(&k("05"), None).await.unwrap();
    s.create(&k("045"), val("new")).await.unwrap();
    let k08 = s.get(&k("08")).await.unwrap().unwrap();
    s.update(&k("08"), val("v8-changed"), k08.mod_revision).await.unwrap();
    s.delete(&k("01"), None).await.unwrap();
    s.create(&k("015"), val("new")).await.unwrap();
    s.create(&k("99"), val("new")).await.unwrap();

    let mut all = first.kvs.clone();
    let mut last = first;
    let mut pages = 1;
    while last.more {
        let after = last.kvs.last().unwrap().key.clone();
        last = s.range(page(Some(after), r0)).await.unwrap();
        assert_eq!(last.revision, r0);
        assert!(last.kvs.len() <= 3);
        all.extend(last.kvs.iter().cloned());
        assert_eq!(last.remaining as usize, 10 - all.len());
        pages += 1;
        assert!(pages <= 4, "paging does not end");
    }
    assert_eq!(pages, 4);
    assert_eq!(all, full.kvs, "pages read at the first page's revision add up to the list at that revision");

    let now = s.range(range(p)).await.unwrap();
    let now_keys: Vec<String> = ["00", "015", "02", "03", "04", "045", "06", "07", "08", "09", "99"].map(k).to_vec();
    assert_eq!(keys(&now.kvs), now_keys.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(now.kvs[8].value, val("v8-changed"));

    // Paging at the current revision, a limit larger than what is left, and a start past the end.
    let tail = s
        .range(RangeRequest { prefix: p.to_owned(), limit: 100, start_after: Some(k("06")), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(keys(&tail.kvs), keys(&now.kvs[7..]));
    assert!(!tail.more);
    let past_end = s
        .range(RangeRequest { prefix: p.to_owned(), start_after: Some(k("999")), ..Default::default() })
        .await
        .unwrap();
    assert!(past_end.kvs.is_empty());
    // A start before the prefix starts at the prefix.
    let before = s
        .range(RangeRequest {
            prefix: p.to_owned(),
            limit: 1,
            start_after: Some("/registry/a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys(&before.kvs), vec![k("00").as_str()]);
    assert_eq!(before.remaining, 10);
    // The whole case's span, neighbours included.
    let wide = s.range(range("/registry/conformance-range/")).await.unwrap();
    assert_eq!(wide.kvs.len(), 11 + 2 + 1);
}

async fn range_at_a_past_revision<S: Store>(s: Arc<S>) {
    let p = "/registry/conformance-past/ns/";
    let (a, b, c) = (format!("{p}a"), format!("{p}b"), format!("{p}c"));
    let kv_a = s.create(&a, val("a1")).await.unwrap();
    let kv_b = s.create(&b, val("b1")).await.unwrap();
    let r1 = s.current_revision();
    s.update(&a, val("a2"), kv_a.mod_revision).await.unwrap();
    s.delete(&b, None).await.unwrap();
    s.create(&c, val("c1")).await.unwrap();
    s.delete(&a, None).await.unwrap();
    s.create(&a, val("a3")).await.unwrap();

    let old = s.range(RangeRequest { prefix: p.to_owned(), revision: r1, ..Default::default() }).await.unwrap();
    assert_eq!(old.revision, r1);
    assert_eq!(old.kvs, vec![kv_a.clone(), kv_b]);
    let older = s
        .range(RangeRequest { prefix: p.to_owned(), revision: kv_a.mod_revision, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(older.kvs, vec![kv_a]);
    let now = s.range(range(p)).await.unwrap();
    assert_eq!(now.revision, s.current_revision());
    assert_eq!(keys(&now.kvs), vec![a.as_str(), c.as_str()]);
    assert_eq!(now.kvs[0].value, val("a3"));
    assert_eq!(now.kvs[0].version, 1);
    // Explicitly at the current revision: the same as revision 0.
    let explicit =
        s.range(RangeRequest { prefix: p.to_owned(), revision: now.revision, ..Default::default() }).await.unwrap();
    assert_eq!(explicit.kvs, now.kvs);
}

/// A small deterministic generator, so that a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Random transactions over a small key space, checked against a model: every range at every
/// past revision, paged and unpaged, and the watch history with its previous values.
async fn range_and_watch_match_a_model<S: Store>(s: Arc<S>) {
    use std::collections::BTreeMap;
    let p = "/registry/conformance-model/ns/";
    let base = s.current_revision();
    let mut rng = Lcg(0x5eed);
    let mut model: BTreeMap<String, KeyValue> = BTreeMap::new();
    let mut snapshots: Vec<(Revision, BTreeMap<String, KeyValue>)> = vec![(base, BTreeMap::new())];
    for step in 0..250 {
        let mut ops = Vec::new();
        let mut used = HashSet::new();
        for _ in 0..=rng.below(3) {
            let key = format!("{p}k{:02}", rng.below(16));
            // etcd refuses a transaction that writes one key twice.
            if !used.insert(key.clone()) {
                continue;
            }
            if rng.below(3) == 0 {
                ops.push(TxnOp::Delete { key });
            } else {
                ops.push(TxnOp::Put { key, value: val(&format!("s{step}")) });
            }
        }
        let resp = s.txn(TxnRequest { success: ops.clone(), ..Default::default() }).await.unwrap();
        let rev = snapshots.last().unwrap().0 + 1;
        let mut wrote = false;
        for op in ops {
            match op {
                TxnOp::Put { key, value } => {
                    let prev = model.get(&key);
                    let kv = KeyValue {
                        key: key.clone(),
                        value,
                        create_revision: prev.map_or(rev, |p| p.create_revision),
                        mod_revision: rev,
                        version: prev.map_or(1, |p| p.version + 1),
                    };
                    model.insert(key, kv);
                    wrote = true;
                }
                TxnOp::Delete { key } => wrote |= model.remove(&key).is_some(),
                TxnOp::Get { .. } => {}
            }
        }
        if wrote {
            assert_eq!(resp.revision, rev, "step {step}");
            snapshots.push((rev, model.clone()));
        } else {
            assert_eq!(resp.revision, rev - 1, "step {step}: a transaction that changed nothing took a revision");
        }
    }
    // Revision 0 means "current" in a request, so a fresh store's empty start is not asked for.
    for (rev, state) in snapshots.iter().filter(|(rev, _)| *rev > 0) {
        let want: Vec<KeyValue> = state.values().cloned().collect();
        let at = |limit, start_after| RangeRequest { prefix: p.to_owned(), revision: *rev, limit, start_after };
        let got = s.range(at(0, None)).await.unwrap();
        assert_eq!(got.kvs, want, "range at revision {rev}");
        let mut paged: Vec<KeyValue> = Vec::new();
        loop {
            let page = s.range(at(3, paged.last().map(|kv| kv.key.clone()))).await.unwrap();
            paged.extend(page.kvs);
            assert_eq!(page.remaining as usize, want.len() - paged.len(), "remaining at revision {rev}");
            if !page.more {
                break;
            }
        }
        assert_eq!(paged, want, "paged range at revision {rev}");
    }
    let mut w = s.watch(p, base).await.unwrap();
    let last = snapshots.last().unwrap().0;
    let events = events_until(&mut w, last).await;
    assert_in_order_without_duplicates(&events);
    let by_rev: BTreeMap<Revision, &BTreeMap<String, KeyValue>> = snapshots.iter().map(|(r, m)| (*r, m)).collect();
    for e in &events {
        let before = by_rev[&(e.revision() - 1)];
        let after = by_rev[&e.revision()];
        match e.kind {
            EventKind::Put => assert_eq!(after.get(&e.kv.key), Some(&e.kv), "{e:?}"),
            EventKind::Delete => assert!(!after.contains_key(&e.kv.key), "{e:?}"),
        }
        assert_eq!(e.prev_kv.as_ref(), before.get(&e.kv.key), "prev of {e:?}");
    }
    let revisions: HashSet<Revision> = events.iter().map(Event::revision).collect();
    assert_eq!(revisions.len(), snapshots.len() - 1, "one revision per writing transaction, each watched");
}

async fn compacted_and_future_revisions<S: Store>(s: Arc<S>) {
    let p = "/registry/conformance-compact/ns/";
    let mut revs = Vec::new();
    for i in 0..5 {
        revs.push(s.create(&format!("{p}k{i}"), val("x")).await.unwrap().mod_revision);
    }
    let current = s.current_revision();
    match s.range(RangeRequest { prefix: p.to_owned(), revision: current + 1, ..Default::default() }).await {
        Err(StoreError::FutureRevision { requested, current: c }) => {
            assert_eq!(requested, current + 1);
            assert_eq!(c, current);
        }
        other => panic!("range at a future revision gave {:?}", other.map(|r| r.kvs)),
    }
    assert!(matches!(s.compact(current + 10).await, Err(StoreError::FutureRevision { .. })));

    let at = revs[2];
    s.compact(at).await.unwrap();
    assert!(s.compacted_revision() >= at);
    match s.range(RangeRequest { prefix: p.to_owned(), revision: at - 1, ..Default::default() }).await {
        Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, at - 1),
        other => panic!("range at a compacted revision gave {:?}", other.map(|r| r.kvs)),
    }
    match s.watch(p, at - 1).await {
        Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, at - 1),
        Err(e) => panic!("watch from a compacted revision gave {e}"),
        Ok(_) => panic!("watch from a compacted revision succeeded"),
    }
    // The compaction point itself is still readable and watchable.
    let kept = s.range(RangeRequest { prefix: p.to_owned(), revision: at, ..Default::default() }).await.unwrap();
    assert_eq!(kept.kvs.len(), 3);
    let mut w = s.watch(p, at).await.unwrap();
    let events = events_until(&mut w, revs[4]).await;
    assert_eq!(events.iter().map(Event::revision).collect::<Vec<_>>(), vec![revs[3], revs[4]]);
    // The current state is untouched by compaction.
    assert_eq!(s.range(range(p)).await.unwrap().kvs.len(), 5);
}

async fn watch_from_a_revision<S: Store>(s: Arc<S>) {
    let p = "/registry/conformance-watch/ns/";
    let (a, b, c, d) = (format!("{p}a"), format!("{p}b"), format!("{p}c"), format!("{p}d"));
    let base = s.current_revision();
    let mut live = s.watch(p, base).await.unwrap();

    let mut expected = Vec::new(); // (revision, key, kind)
    let kv_a = s.create(&a, val("a1")).await.unwrap();
    expected.push((kv_a.mod_revision, a.clone(), EventKind::Put));
    let kv_b = s.create(&b, val("b1")).await.unwrap();
    expected.push((kv_b.mod_revision, b.clone(), EventKind::Put));
    let kv_a2 = s.update(&a, val("a2"), kv_a.mod_revision).await.unwrap();
    expected.push((kv_a2.mod_revision, a.clone(), EventKind::Put));
    let (_, del_b) = s.delete(&b, None).await.unwrap();
    expected.push((del_b, b.clone(), EventKind::Delete));
    // Outside the prefix, including a key that only extends the prefix string.
    s.create("/registry/conformance-watch/other/x", val("x")).await.unwrap();
    s.create("/registry/conformance-watch/nsx", val("x")).await.unwrap();
    let two = s
        .txn(TxnRequest {
            success: vec![
                TxnOp::Put { key: c.clone(), value: val("c1") },
                TxnOp::Put { key: d.clone(), value: val("d1") },
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    expected.push((two.revision, c.clone(), EventKind::Put));
    expected.push((two.revision, d.clone(), EventKind::Put));
    let (_, del_a) = s.delete(&a, None).await.unwrap();
    expected.push((del_a, a.clone(), EventKind::Delete));

    let events = events_until(&mut live, del_a).await;
    assert_in_order_without_duplicates(&events);
    let got: Vec<_> = events.iter().map(|e| (e.revision(), e.kv.key.clone(), e.kind)).collect();
    assert_eq!(got, expected, "every change under the prefix, in order, nothing else");

    // Updates and deletes carry the previous value.
    assert_eq!(events[0].prev_kv, None);
    assert_eq!(events[2].prev_kv.as_ref(), Some(&kv_a));
    assert_eq!(events[2].kv, kv_a2);
    assert_eq!(events[3].prev_kv.as_ref(), Some(&kv_b));
    assert_eq!(events[3].kv.key, b);
    assert_eq!(events[3].kv.mod_revision, del_b);
    assert_eq!(events[6].prev_kv.as_ref(), Some(&kv_a2));

    // Watching again from the same revision replays exactly the same events.
    let mut replay = s.watch(p, base).await.unwrap();
    assert_eq!(events_until(&mut replay, del_a).await, events);
    // From the middle: only what follows.
    let mut middle = s.watch(p, kv_a2.mod_revision).await.unwrap();
    assert_eq!(events_until(&mut middle, del_a).await, events[3..].to_vec());
    // From the current revision: nothing yet, then the next change and nothing before it.
    let mut fresh = s.watch(p, s.current_revision()).await.unwrap();
    assert_quiet(&mut fresh).await;
    s.create("/registry/conformance-watch/other/y", val("y")).await.unwrap();
    let next = s.create(&b, val("b2")).await.unwrap();
    for w in [&mut live, &mut replay, &mut middle, &mut fresh] {
        let more = events_until(w, next.mod_revision).await;
        assert_eq!(more.len(), 1, "{more:?}");
        assert_eq!(more[0].kv, next);
        assert_quiet(w).await;
    }
}

async fn watch_started_during_writes<S: Store>(s: Arc<S>) {
    let p = "/registry/conformance-watchrace/ns/";
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 60;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    s.create(&format!("{p}w{w}-{i:03}"), val("x")).await.unwrap();
                }
            })
        })
        .collect();
    let mut watches = Vec::new();
    for _ in 0..8 {
        let from = s.current_revision();
        watches.push((from, s.watch(p, from).await.unwrap()));
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    let end = s.current_revision();
    let first = watches[0].0;
    assert!(end - first <= (WRITERS * PER_WRITER) as Revision);
    for (from, mut w) in watches {
        if from == end {
            assert_quiet(&mut w).await;
            continue;
        }
        let events = events_until(&mut w, end).await;
        let revs: Vec<Revision> = events.iter().map(Event::revision).collect();
        let want: Vec<Revision> = (from + 1..=end).collect();
        assert_eq!(revs, want, "a watch from {from} must see every revision after it exactly once");
        assert_quiet(&mut w).await;
    }
    assert_eq!(s.range(range(p)).await.unwrap().kvs.len(), WRITERS * PER_WRITER);
}

async fn cas_counter_race<S: Store>(s: Arc<S>) {
    const TASKS: usize = 64;
    let key = "/registry/conformance-counter/ns/counter";
    s.create(key, val("0")).await.unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut conflicts = 0u64;
                loop {
                    let kv = s.get(key).await.unwrap().unwrap();
                    let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                    match s.update(key, val(&(n + 1).to_string()), kv.mod_revision).await {
                        Ok(_) => return conflicts,
                        Err(StoreError::Conflict { current, .. }) => {
                            assert!(current.mod_revision > kv.mod_revision);
                            conflicts += 1;
                        }
                        Err(e) => panic!("counter update failed: {e}"),
                    }
                }
            })
        })
        .collect();
    let mut conflicts = 0;
    for t in tasks {
        conflicts += tokio::time::timeout(WAIT * 4, t).await.expect("counter race stalled").unwrap();
    }
    let kv = s.get(key).await.unwrap().unwrap();
    assert_eq!(kv.value, val(&TASKS.to_string()), "every increment counted exactly once ({conflicts} conflicts)");
    assert_eq!(kv.version, TASKS as i64 + 1);
}
