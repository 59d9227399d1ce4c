//! Store-level figures, without HTTP: durable creates per second and latency with 1, 16 and 64
//! concurrent writers, and a range of 10,000 keys.
//!
//! `cargo run --release -p minik-store --example store_throughput`
#![allow(clippy::unwrap_used)] // a measuring tool, not library code

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use minik_store::{RangeRequest, SledOptions, SledStore, Store};

const RUN: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() {
    let value = Bytes::from(vec![b'x'; 1500]); // about one pod's JSON
    for clients in [1usize, 16, 64] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path(), SledOptions::default()).await.unwrap());
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (s, v) = (store.clone(), value.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut i = 0;
                    while start.elapsed() < RUN {
                        let t = Instant::now();
                        s.create(&format!("/registry/pods/ns/c{c}-{i}"), v.clone()).await.unwrap();
                        lat.push(t.elapsed());
                        i += 1;
                    }
                    lat
                })
            })
            .collect();
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let secs = start.elapsed().as_secs_f64();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        let stats = store.stats();
        println!(
            "{clients:>2} clients: {:>7.0} creates/s  p50 {:?}  p99 {:?}  ({} writes, {} flushes, {:.1} writes/flush)",
            lat.len() as f64 / secs,
            pct(0.50),
            pct(0.99),
            lat.len(),
            stats.flushes,
            stats.commits as f64 / stats.flushes.max(1) as f64
        );
        if clients == 64 {
            let t = Instant::now();
            let page = store
                .range(RangeRequest { prefix: "/registry/pods/".into(), limit: 10_000, ..Default::default() })
                .await
                .unwrap();
            println!(
                "range of {} keys (of {}): {:?}",
                page.kvs.len(),
                page.kvs.len() as u64 + page.remaining,
                t.elapsed()
            );
            let t = Instant::now();
            let one = store
                .range(RangeRequest { prefix: "/registry/pods/".into(), limit: 1, ..Default::default() })
                .await
                .unwrap();
            println!("range of 1 key, counting {} more: {:?}", one.remaining, t.elapsed());
            let t = Instant::now();
            let all =
                store.range(RangeRequest { prefix: "/registry/pods/".into(), ..Default::default() }).await.unwrap();
            println!("range of all {} keys: {:?}", all.kvs.len(), t.elapsed());
        }
        store.close().await;
    }
}
