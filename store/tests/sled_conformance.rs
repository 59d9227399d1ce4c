//! The conformance suite on the sled backend, plus what only a disk-backed store can show:
//! restart, locking, crash safety, group commit and slow watchers.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use minik_store::conformance::run_conformance;
use minik_store::{RangeRequest, SledOptions, SledStore, Store, StoreError, TxnOp, TxnRequest};

fn val(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn open(dir: &Path) -> SledStore {
    SledStore::open(dir, SledOptions::default()).await.unwrap()
}

async fn all(s: &SledStore) -> Vec<minik_store::KeyValue> {
    s.range(RangeRequest { prefix: "/registry/".into(), ..Default::default() }).await.unwrap().kvs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_temporary_store() {
    run_conformance(|| async { SledStore::temporary(SledOptions::default()).await.unwrap() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    run_conformance(|| {
        let path = dir.path().join(format!("case-{}", n.fetch_add(1, Ordering::Relaxed)));
        async move { open(&path).await }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_data_and_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let a = store.create("/registry/pods/ns/a", val("a1")).await.unwrap();
    store.create("/registry/pods/ns/b", val("b1")).await.unwrap();
    store.update("/registry/pods/ns/a", val("a2"), a.mod_revision).await.unwrap();
    store.delete("/registry/pods/ns/b", None).await.unwrap();
    store
        .txn(TxnRequest {
            success: vec![
                TxnOp::Put { key: "/registry/nodes/n1".into(), value: val("n1") },
                TxnOp::Put { key: "/registry/nodes/n2".into(), value: val("n2") },
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let revision = store.current_revision();
    assert_eq!(revision, 5);
    let before = all(&store).await;
    store.close().await;
    drop(store);

    let store = open(dir.path()).await;
    assert_eq!(store.current_revision(), revision);
    assert_eq!(all(&store).await, before, "every key with its revisions and version");
    // History starts empty at the restored revision.
    assert_eq!(store.compacted_revision(), revision);
    assert!(matches!(store.watch("/registry/", revision - 1).await, Err(StoreError::Compacted { .. })));
    let past = RangeRequest { prefix: "/registry/".into(), revision: revision - 1, ..Default::default() };
    assert!(matches!(store.range(past).await, Err(StoreError::Compacted { .. })));
    let mut w = store.watch("/registry/", revision).await.unwrap();
    let c = store.create("/registry/pods/ns/c", val("c")).await.unwrap();
    assert_eq!(c.mod_revision, revision + 1);
    let got = w.next().await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kv, c);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_never_goes_backwards_after_delete_only_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create("/registry/pods/ns/a", val("a")).await.unwrap();
    store.create("/registry/pods/ns/b", val("b")).await.unwrap();
    store.delete("/registry/pods/ns/a", None).await.unwrap();
    let (_, last) = store.delete("/registry/pods/ns/b", None).await.unwrap();
    assert_eq!(last, 4);
    store.close().await;
    drop(store);

    let store = open(dir.path()).await;
    assert_eq!(store.current_revision(), 4, "the deletions' revisions were persisted");
    assert!(all(&store).await.is_empty());
    let again = store.create("/registry/pods/ns/a", val("a")).await.unwrap();
    assert_eq!(again.mod_revision, 5);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_without_close_flushes_and_releases_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let kv = store.create("/registry/pods/ns/a", val("a")).await.unwrap();
    let mut w = store.watch("/registry/", 0).await.unwrap();
    drop(store);
    // The committer stops on its own; its watchers end.
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut n = 0;
        while let Some(item) = w.next().await {
            n += item.unwrap().len();
        }
        n
    })
    .await
    .expect("watch did not end after the store was dropped");
    assert_eq!(rest, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let store = loop {
        match SledStore::open(dir.path(), SledOptions::default()).await {
            Ok(s) => break s,
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("reopen failed: {e}"),
        }
    };
    assert_eq!(store.get("/registry/pods/ns/a").await.unwrap(), Some(kv));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    match SledStore::open(dir.path(), SledOptions::default()).await {
        Err(StoreError::Locked { path }) => assert_eq!(path, dir.path().display().to_string()),
        Err(e) => panic!("second open gave {e}"),
        Ok(_) => panic!("second open of a held directory succeeded"),
    }
    // The first store is unharmed, and once it is closed the directory opens again.
    let kv = store.create("/registry/pods/ns/a", val("a")).await.unwrap();
    store.close().await;
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(store.get("/registry/pods/ns/a").await.unwrap(), Some(kv));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_writes_and_watches_but_not_reads() {
    let store = SledStore::temporary(SledOptions::default()).await.unwrap();
    let kv = store.create("/registry/pods/ns/a", val("a")).await.unwrap();
    let mut w = store.watch("/registry/", kv.mod_revision).await.unwrap();
    store.close().await;
    store.close().await; // twice is fine
    assert!(w.next().await.is_none());
    assert!(matches!(store.create("/registry/pods/ns/b", val("b")).await, Err(StoreError::Closed)));
    assert!(matches!(store.watch("/registry/", 0).await, Err(StoreError::Closed)));
    assert_eq!(store.get("/registry/pods/ns/a").await.unwrap(), Some(kv));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_flushes() {
    let store = Arc::new(SledStore::temporary(SledOptions::default()).await.unwrap());
    const WRITES: usize = 200;
    let tasks: Vec<_> = (0..WRITES)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.create(&format!("/registry/pods/ns/p{i:03}"), val("x")).await.unwrap() })
        })
        .collect();
    let mut revisions = Vec::new();
    for t in tasks {
        revisions.push(t.await.unwrap().mod_revision);
    }
    revisions.sort();
    assert_eq!(revisions, (1..=WRITES as i64).collect::<Vec<_>>(), "one revision per write, no gaps");
    let stats = store.stats();
    eprintln!("group commit: {stats:?}");
    assert_eq!(stats.commits, WRITES as u64);
    assert_eq!(stats.revision, WRITES as i64);
    assert!(stats.flushes >= 1);
    assert!(
        stats.flushes * 4 <= WRITES as u64,
        "{} writes took {} flushes: group commit is not batching",
        WRITES,
        stats.flushes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_is_dropped_without_blocking_writes() {
    let opts = SledOptions { watch_buffer: 4, ..SledOptions::default() };
    let store = Arc::new(SledStore::temporary(opts).await.unwrap());
    let mut slow = store.watch("/registry/", 0).await.unwrap();
    let mut fast = store.watch("/registry/", 0).await.unwrap();
    const WRITES: i64 = 50;
    let mut fast_revs = Vec::new();
    for i in 0..WRITES {
        tokio::time::timeout(Duration::from_secs(10), store.create(&format!("/registry/pods/ns/p{i}"), val("x")))
            .await
            .expect("a write was blocked by a watcher that does not read")
            .unwrap();
        // Events are handed to watchers before the write is acknowledged.
        for e in fast.next().await.unwrap().unwrap() {
            fast_revs.push(e.revision());
        }
    }
    assert_eq!(fast_revs, (1..=WRITES).collect::<Vec<_>>(), "a reading watcher keeps up");
    let mut delivered = 0;
    loop {
        match slow.next().await {
            Some(Ok(batch)) => delivered += batch.len(),
            Some(Err(StoreError::WatcherTooSlow)) => break,
            other => panic!("slow watcher got {other:?}"),
        }
    }
    assert!(delivered <= 4, "buffered {delivered} events");
    assert!(slow.next().await.is_none(), "the stream ends after the error");
    let stats = store.stats();
    assert_eq!(stats.slow_watchers_dropped, 1);
    assert_eq!(stats.watchers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_trimmed_to_its_capacity() {
    let opts = SledOptions { history_capacity: 10, ..SledOptions::default() };
    let store = SledStore::temporary(opts).await.unwrap();
    for i in 0..30 {
        store.create(&format!("/registry/pods/ns/p{i:02}"), val("x")).await.unwrap();
    }
    assert_eq!(store.compacted_revision(), 20);
    assert_eq!(store.stats().history_len, 10);
    assert!(matches!(store.watch("/registry/", 19).await, Err(StoreError::Compacted { requested: 19, compacted: 20 })));
    let mut w = store.watch("/registry/", 20).await.unwrap();
    let revs: Vec<_> = w.next().await.unwrap().unwrap().iter().map(|e| e.revision()).collect();
    assert_eq!(revs, (21..=30).collect::<Vec<_>>());
    let at = |revision| RangeRequest { prefix: "/registry/".into(), revision, ..Default::default() };
    assert_eq!(store.range(at(20)).await.unwrap().kvs.len(), 20);
    assert!(matches!(store.range(at(19)).await, Err(StoreError::Compacted { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_never_run_ahead_of_the_committed_revision() {
    let store = Arc::new(SledStore::temporary(SledOptions::default()).await.unwrap());
    let key = "/registry/pods/ns/hot";
    store.create(key, val("0")).await.unwrap();
    let writer = {
        let s = store.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                let kv = s.get(key).await.unwrap().unwrap();
                s.update(key, val(&i.to_string()), kv.mod_revision).await.unwrap();
                s.create(&format!("/registry/pods/ns/p{i:03}"), val("x")).await.unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        let kv = store.get(key).await.unwrap().unwrap();
        assert!(kv.mod_revision <= store.current_revision(), "get returned a write that is not committed yet");
        let list = store.range(RangeRequest { prefix: "/registry/".into(), ..Default::default() }).await.unwrap();
        assert!(list.revision <= store.current_revision());
        for kv in &list.kvs {
            assert!(kv.mod_revision <= list.revision, "range at {} returned {kv:?}", list.revision);
        }
        reads += 1;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert!(reads > 10, "only {reads} reads overlapped the writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_keys_are_refused_and_never_listed() {
    let store = SledStore::temporary(SledOptions::default()).await.unwrap();
    store.create("/registry/pods/ns/a", val("a")).await.unwrap();
    assert!(matches!(store.create("\0revision", val("x")).await, Err(StoreError::Internal(_))));
    let everything = store.range(RangeRequest::default()).await.unwrap();
    assert_eq!(everything.kvs.len(), 1, "{:?}", everything.kvs);
    assert_eq!(store.current_revision(), 1);
}

const CRASH_CHILD_ENV: &str = "MINIK_STORE_CRASH_CHILD_DIR";

/// Writes until killed, printing every acknowledged write.
fn crash_child(dir: &str) {
    use std::io::Write;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let store = Arc::new(open(Path::new(dir)).await);
        println!("READY");
        std::io::stdout().flush().unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|t| {
                let s = store.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("/registry/pods/ns/t{t}-{i}");
                        let kv = s.create(&key, val(&key)).await.unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {key} {}", kv.mod_revision).unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// Runs this test binary again as a writer, checks the directory is locked against us while it
/// runs, kills it with SIGKILL mid-storm and checks every acknowledged write survived.
#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Ok(dir) = std::env::var(CRASH_CHILD_ENV) {
        crash_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "acknowledged_writes_survive_kill_9", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut acked = Vec::new();
    let mut ready = false;
    while acked.len() < 2000 {
        let Some(line) = lines.next() else { panic!("writer exited early after {} acks", acked.len()) };
        let line = line.unwrap();
        // libtest may print "test <name> ... " in front of the child's first line.
        if line.ends_with("READY") {
            ready = true;
            match rt.block_on(SledStore::open(dir.path(), SledOptions::default())) {
                Err(StoreError::Locked { .. }) => {}
                Err(e) => panic!("open of a directory held by another process gave {e}"),
                Ok(_) => panic!("opened a directory held by another process"),
            }
        } else if let Some(at) = line.find("ACK ") {
            let (key, rev) = line[at + 4..].split_once(' ').unwrap();
            acked.push((key.to_owned(), rev.parse::<i64>().unwrap()));
        }
    }
    assert!(ready);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Acks already in the pipe were acknowledged before the kill, too.
    for line in lines {
        if let Some(ack) = line.unwrap().strip_prefix("ACK ") {
            if let Some((key, rev)) = ack.split_once(' ') {
                if let Ok(rev) = rev.parse::<i64>() {
                    acked.push((key.to_owned(), rev));
                }
            }
        }
    }
    rt.block_on(async {
        let store = open(dir.path()).await;
        let max = acked.iter().map(|(_, r)| *r).max().unwrap();
        assert!(store.current_revision() >= max, "revision went back from {max} to {}", store.current_revision());
        for (key, rev) in &acked {
            let kv = store.get(key).await.unwrap().unwrap_or_else(|| panic!("acknowledged {key} was lost"));
            assert_eq!(kv.mod_revision, *rev);
            assert_eq!(kv.value, val(key));
        }
        let next = store.create("/registry/pods/ns/after", val("x")).await.unwrap();
        assert!(next.mod_revision > store.current_revision() - 1 && next.mod_revision > max);
        eprintln!("{} acknowledged writes survived kill -9; revision {}", acked.len(), next.mod_revision);
        store.close().await;
    });
}
