//! API server benchmark (`cargo bench --bench api`): cold start, durable creates/s with 1/16/64
//! clients, watch delivery latency with 1,000 watchers, LIST of 10,000 pods, RSS with 100,000 pods.
//! The load generator runs on the same machine as the server (2 cores here), which it competes with.
//! `MINIK_BENCH_QUICK=1` shrinks every size for a smoke run.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
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

/// The name of the bench pod a watch event line is about, found without parsing the line: the
/// 1,000 watchers share the server's two cores, and a full JSON parse per watcher per event would
/// make the load generator, not the server, the thing measured.
fn bench_pod_name(line: &[u8]) -> Option<String> {
    const NEEDLE: &[u8] = br#""name":"watch-"#;
    let at = line.windows(NEEDLE.len()).position(|w| w == NEEDLE)? + NEEDLE.len() - "watch-".len();
    let len = line[at..].iter().position(|b| *b == b'"')?;
    Some(String::from_utf8_lossy(&line[at..at + len]).into_owned())
}

async fn watch_latency(url: &str, watchers: usize, events: usize) -> Vec<f64> {
    // Each watcher records when it sees each bench pod; the creator records when it sent it.
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
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let tx = tx.clone();
        let url = format!(
            "{url}/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&labelSelector=app%3Dwatchbench"
        );
        let client = reqwest::Client::new();
        handles.push(tokio::spawn(async move {
            let resp = client.get(url).send().await.expect("watch");
            let mut stream = resp.bytes_stream();
            let mut buf = Vec::new();
            let mut seen = 0;
            while let Some(Ok(chunk)) = stream.next().await {
                let now = Instant::now();
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if let Some(name) = bench_pod_name(&line) {
                        let _ = tx.send((name, now));
                        seen += 1;
                    }
                }
                if seen >= events {
                    break;
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut sent = std::collections::HashMap::new();
    let creator = reqwest::Client::new();
    for i in 0..events {
        let name = format!("watch-{i}");
        let mut p = pod(&name);
        p["metadata"]["labels"]["app"] = json!("watchbench");
        let s = Instant::now();
        let r = creator.post(format!("{url}/api/v1/namespaces/default/pods")).json(&p).send().await.expect("create");
        assert_eq!(r.status().as_u16(), 201);
        sent.insert(name, s);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lat = Vec::new();
    while let Ok(Some((name, at))) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        if let Some(s) = sent.get(&name) {
            lat.push(at.duration_since(*s).as_secs_f64() * 1000.0);
        }
        if lat.len() >= watchers * events {
            break;
        }
    }
    for h in handles {
        h.abort();
    }
    lat.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
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
