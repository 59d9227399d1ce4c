//! API server benchmark (`cargo bench --bench api`): cold start, durable creates/s with 1/16/64
//! clients, watch delivery latency with 1,000 watchers, LIST of 10,000 pods, RSS with 100,000 pods.
//! The load generator runs on the same machine as the server (2 cores here), which it competes with.
//! `MINIK_BENCH_QUICK=1` shrinks every size for a smoke run.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
    ready_ms: f64,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_minik"))
        .args(["apiserver", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn minik");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("minik exited").expect("read");
        if let Some(pos) = line.find("listening on ") {
            break line[pos + 13..].split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    let ready_ms = t0.elapsed().as_secs_f64() * 1000.0;
    std::thread::spawn(move || for _ in lines {});
    Server { child, url, _dir: dir, ready_ms }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn pod(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "labels": { "app": "bench", "tier": "web" } },
        "spec": { "containers": [{ "name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"],
            "resources": { "requests": { "cpu": "100m", "memory": "64Mi" } } }] }
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Creates `total` pods with `clients` concurrent connections; returns (creates/s, latencies ms).
async fn create_load(url: &str, prefix: &str, clients: usize, total: usize) -> (f64, Vec<f64>) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
        let url = format!("{url}/api/v1/namespaces/default/pods");
        let next = next.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body = serde_json::to_vec(&pod(&format!("{prefix}-{i}"))).expect("json");
                let s = Instant::now();
                let resp = client.post(&url).header("Content-Type", "application/json").body(body).send().await;
                match resp {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let _ = r.bytes().await;
                        lat.push(s.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(r) => panic!("create failed: {}", r.status()),
                    Err(e) => panic!("create failed: {e}"),
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let secs = t0.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    (all.len() as f64 / secs, all)
}

/// Finds each `"name":"watch-N"` in what a watcher has read so far, in order; returns the event
/// numbers and leaves in `buf` only a tail that may hold the start of the next one. The watch
/// stream is searched, not parsed: the 1,000 watchers share the server's two cores, and a JSON
/// parse per watcher per event would make the load generator, not the server, the thing measured.
fn take_bench_events(buf: &mut Vec<u8>) -> Vec<usize> {
    const NEEDLE: &[u8] = br#""name":"watch-"#;
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = buf[from..].windows(NEEDLE.len()).position(|w| w == NEEDLE) {
        let start = from + at + NEEDLE.len();
        let Some(len) = buf[start..].iter().position(|b| *b == b'"') else { break };
        if let Some(i) = std::str::from_utf8(&buf[start..start + len]).ok().and_then(|n| n.parse().ok()) {
            found.push(i);
        }
        from = start + len;
    }
    let keep = buf.len().saturating_sub(NEEDLE.len() + 16).max(from);
    buf.drain(..keep);
    found
}

/// One watcher: a plain HTTP/1.1 GET on its own connection, read as it comes; returns when each
/// of the `events` bench pods was first seen, and the connection, still open (a watcher hanging
/// up while others still wait for the same event would load the server with its teardown).
async fn raw_watcher(addr: String, path: String, events: usize) -> (Vec<(usize, Instant)>, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
    conn.write_all(request.as_bytes()).await.expect("send watch");
    let mut seen = Vec::with_capacity(events);
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16384];
    while seen.len() < events {
        let n = match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = Instant::now();
        buf.extend_from_slice(&chunk[..n]);
        seen.extend(take_bench_events(&mut buf).into_iter().map(|i| (i, now)));
    }
    (seen, conn)
}

/// Latency from a create being sent to each watcher reading its event, in ms.
async fn watch_latency(url: &str, watchers: usize, events: usize) -> Vec<f64> {
    let client = reqwest::Client::new();
    let rv = client
        .get(format!("{url}/api/v1/namespaces/default/pods?limit=1"))
        .send()
        .await
        .expect("list")
        .json::<serde_json::Value>()
        .await
        .expect("json")["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_owned();
    let addr = url.trim_start_matches("http://").to_owned();
    let path =
        format!("/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&labelSelector=app%3Dwatchbench");
    let handles: Vec<_> =
        (0..watchers).map(|_| tokio::spawn(raw_watcher(addr.clone(), path.clone(), events))).collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut sent = Vec::with_capacity(events);
    for i in 0..events {
        let mut p = pod(&format!("watch-{i}"));
        p["metadata"]["labels"]["app"] = json!("watchbench");
        let s = Instant::now();
        let r = client.post(format!("{url}/api/v1/namespaces/default/pods")).json(&p).send().await.expect("create");
        assert_eq!(r.status().as_u16(), 201);
        sent.push(s);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lat = Vec::new();
    let mut per_event = vec![Vec::new(); events];
    let mut open = Vec::with_capacity(watchers);
    for h in handles {
        let Ok(Ok((seen, conn))) = tokio::time::timeout(Duration::from_secs(10), h).await else { continue };
        open.push(conn);
        for (i, at) in seen.into_iter().filter(|(i, _)| *i < events) {
            let ms = at.duration_since(sent[i]).as_secs_f64() * 1000.0;
            lat.push(ms);
            per_event[i].push(ms);
        }
    }
    if std::env::var_os("MINIK_BENCH_DETAIL").is_some() {
        for (i, mut v) in per_event.into_iter().enumerate().filter(|(_, v)| !v.is_empty()) {
            v.sort_by(|a, b| a.total_cmp(b));
            eprintln!(
                "event {i}: first {:.1} ms, median {:.1} ms, last {:.1} ms",
                v[0],
                v[v.len() / 2],
                v[v.len() - 1]
            );
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    lat
}

async fn timed_list(url: &str, accept: &str) -> (f64, usize) {
    let client = reqwest::Client::new();
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..5 {
        let s = Instant::now();
        let body = client
            .get(format!("{url}/api/v1/namespaces/default/pods"))
            .header("Accept", accept)
            .send()
            .await
            .expect("list")
            .bytes()
            .await
            .expect("body");
        best = best.min(s.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }
    (best, bytes)
}

fn main() {
    let quick = std::env::var("MINIK_BENCH_QUICK").is_ok();
    let scale = |n: usize| if quick { (n / 20).max(10) } else { n };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        println!("| measurement | result | target |");
        println!("|---|---|---|");
        let mut starts: Vec<f64> = (0..5).map(|_| start().ready_ms).collect();
        starts.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        println!("| cold start to ready (median of 5, process spawn included) | {:.1} ms | < 100 ms |", starts[2]);

        let server = start();
        for clients in [1usize, 16, 64] {
            let total = scale(if clients == 1 { 2_000 } else { 20_000 });
            let (rate, lat) = create_load(&server.url, &format!("c{clients}"), clients, total).await;
            println!(
                "| durable creates, {clients} client(s), {total} pods | {rate:.0} /s, p50 {:.2} ms, p99 {:.2} ms | ≥ 10,000/s, p99 ≤ 10 ms at 64 |",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99)
            );
        }
        drop(server);

        let server = start();
        let watchers = scale(1_000);
        let lat = watch_latency(&server.url, watchers, 20).await;
        println!(
            "| watch delivery, {watchers} watchers × 20 events (create sent → event read) | p50 {:.2} ms, p99 {:.2} ms ({} deliveries) | p99 ≤ 20 ms |",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.len()
        );
        drop(server);

        let server = start();
        let n = scale(10_000);
        create_load(&server.url, "l", 64, n).await;
        let (ms, bytes) = timed_list(&server.url, "application/json").await;
        println!("| LIST {n} pods, JSON (best of 5) | {ms:.1} ms ({:.1} MiB) | ≤ 100 ms |", bytes as f64 / 1048576.0);
        let (ms, _) = timed_list(&server.url, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json").await;
        println!("| LIST {n} pods, Table (kubectl get) | {ms:.1} ms | |");
        let more = scale(100_000) - n;
        create_load(&server.url, "r", 64, more).await;
        println!("| server RSS with {} pods stored | {:.0} MiB | |", scale(100_000), rss_mib(server.child.id()));
    });
}
