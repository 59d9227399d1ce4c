//! Scheduler benchmark (`cargo bench --bench scheduler`): pods bound per second end to end through
//! the API server, with 1,000 and 5,000 Nodes and 10,000 pending Pods, plus scheduling latency.
//!
//! Each case starts a fresh `minik apiserver`, creates the Nodes (create + `nodes/status`) and the
//! Pods over concurrent HTTP, runs `minik scheduler` as its own process, and observes bindings
//! through a watch. Two modes:
//! - backlog: all pods exist before the scheduler starts; rate = pods / (last bind seen − start).
//!   Latency is measured from the scheduler's start, so it mostly shows queue position.
//! - stream: the scheduler runs first, pods are created as fast as 64 concurrent clients can;
//!   latency = create sent → binding seen by the watch.
//!
//! CPU seconds of the API server and scheduler processes during the binding phase show where the
//! time goes. Everything shares this machine's cores. `MINIK_BENCH_QUICK=1` shrinks the sizes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, watcher, Event};
use kube::Api;
use serde_json::json;

const CONCURRENCY: usize = 64;

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// User + system CPU seconds so far.
    fn cpu_secs(&self) -> f64 {
        cpu_secs_of(&format!("/proc/{}/stat", self.child.id()))
    }
}

fn cpu_secs_of(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the ")" closing the command name: state is field 3; utime/stime are 14/15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14) + ticks(15)) / 100.0
}

/// Starts `minik <args>` and waits for a stderr line containing `ready`; returns the process and
/// the text after `capture` on that line (if given).
fn spawn(args: &[&str], ready: &str, capture: Option<&str>) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minik"))
        .args(args)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn minik");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let captured = loop {
        let line = lines.next().expect("minik exited early").expect("read stderr");
        if line.contains(ready) {
            break capture
                .and_then(|c| {
                    line.find(c).map(|p| line[p + c.len()..].split_whitespace().next().unwrap_or("").to_string())
                })
                .unwrap_or_default();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc { child }, captured)
}

fn node_json(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })
}

fn pod_json(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "app", "image": "nginx",
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
    })
}

async fn post(http: &reqwest::Client, url: &str, body: &serde_json::Value) {
    let r = http.post(url).json(body).send().await.expect("POST");
    assert!(r.status().is_success(), "POST {url}: {}", r.status());
}

async fn create_nodes(http: &reqwest::Client, base: &str, n: usize) {
    futures::stream::iter(0..n)
        .for_each_concurrent(CONCURRENCY, |i| async move {
            let name = format!("node-{i:05}");
            let body = node_json(&name);
            post(http, &format!("{base}/api/v1/nodes"), &body).await;
            let r = http
                .patch(format!("{base}/api/v1/nodes/{name}/status"))
                .header("content-type", "application/merge-patch+json")
                .body(json!({"status": body["status"]}).to_string())
                .send()
                .await
                .expect("PATCH");
            assert!(r.status().is_success(), "node status: {}", r.status());
        })
        .await;
}

/// Creates the pods; returns when each create was sent.
async fn create_pods(http: &reqwest::Client, base: &str, n: usize) -> HashMap<String, Instant> {
    let sent = Arc::new(Mutex::new(HashMap::with_capacity(n)));
    futures::stream::iter(0..n)
        .for_each_concurrent(CONCURRENCY, |i| {
            let sent = sent.clone();
            async move {
                let name = format!("pod-{i:05}");
                sent.lock().expect("lock").insert(name.clone(), Instant::now());
                post(http, &format!("{base}/api/v1/namespaces/default/pods"), &pod_json(&name)).await;
            }
        })
        .await;
    let map = std::mem::take(&mut *sent.lock().expect("lock"));
    map
}

/// Watches pods and records when each is first seen bound; resolves when `n` are.
fn watch_bound(client: kube::Client, n: usize) -> tokio::task::JoinHandle<HashMap<String, Instant>> {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::all(client);
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        let mut bound = HashMap::with_capacity(n);
        while bound.len() < n {
            let Ok(Some(ev)) = stream.try_next().await else { continue };
            if let Event::Apply(p) | Event::InitApply(p) = ev {
                if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    let name = p.metadata.name.unwrap_or_default();
                    bound.entry(name).or_insert_with(Instant::now);
                }
            }
        }
        bound
    })
}

struct Row {
    nodes: usize,
    pods: usize,
    mode: &'static str,
    setup: String,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    api_cpu: f64,
    sched_cpu: f64,
    bench_cpu: f64,
    wall: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run_case(nodes: usize, pods: usize, mode: &'static str) -> Row {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_string_lossy().to_string();
    let (api, url) =
        spawn(&["apiserver", "--listen", "127.0.0.1:0", "--data-dir", &data], "listening on ", Some("listening on "));
    let http = reqwest::Client::new();
    let kube_client =
        minik_client::connect(&minik_client::ConnectOptions { server: Some(url.clone()), ..Default::default() })
            .await
            .expect("client");

    let t = Instant::now();
    create_nodes(&http, &url, nodes).await;
    let node_secs = t.elapsed().as_secs_f64();

    let sched_args = ["scheduler", "--server", &url, "--leader-elect=false"];
    let bound = watch_bound(kube_client, pods);
    let (sched, start, sent, setup, cpu0);
    if mode == "backlog" {
        let t = Instant::now();
        sent = create_pods(&http, &url, pods).await;
        let pod_secs = t.elapsed().as_secs_f64();
        setup = format!("{:.0} nodes/s, {:.0} pods/s created", nodes as f64 / node_secs, pods as f64 / pod_secs);
        // The clock starts with the scheduler process (its start-up and initial LIST count).
        start = Instant::now();
        cpu0 = (api.cpu_secs(), 0.0, cpu_secs_of("/proc/self/stat"));
        sched = spawn(&sched_args, "caches synced", None).0;
    } else {
        sched = spawn(&sched_args, "caches synced", None).0;
        setup = format!("{:.0} nodes/s", nodes as f64 / node_secs);
        start = Instant::now();
        cpu0 = (api.cpu_secs(), sched.cpu_secs(), cpu_secs_of("/proc/self/stat"));
        sent = create_pods(&http, &url, pods).await;
    }
    let (api_cpu0, sched_cpu0, bench_cpu0) = cpu0;
    let bound =
        tokio::time::timeout(Duration::from_secs(600), bound).await.expect("all pods bound in time").expect("watch");
    let last = bound.values().max().copied().unwrap_or(start);
    let wall = last.saturating_duration_since(start).as_secs_f64();
    let mut lat: Vec<f64> = bound
        .iter()
        .map(|(name, at)| {
            let from = if mode == "backlog" { start } else { sent.get(name).copied().unwrap_or(start) };
            at.saturating_duration_since(from).as_secs_f64() * 1000.0
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    Row {
        nodes,
        pods,
        mode,
        setup,
        rate: pods as f64 / wall.max(1e-9),
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        api_cpu: api.cpu_secs() - api_cpu0,
        sched_cpu: sched.cpu_secs() - sched_cpu0,
        bench_cpu: cpu_secs_of("/proc/self/stat") - bench_cpu0,
        wall,
    }
}

fn main() {
    let quick = std::env::var_os("MINIK_BENCH_QUICK").is_some();
    let (node_counts, pods): (&[usize], usize) = if quick { (&[100, 500], 1000) } else { (&[1000, 5000], 10_000) };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "scheduler benchmark: {} CPUs, pods request 10m CPU / 16Mi; nodes 32 CPU / 128Gi / 110 pods",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "{:>6} {:>6} {:>8} {:>10} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9}  setup",
        "nodes", "pods", "mode", "binds/s", "p50 ms", "p99 ms", "wall s", "api cpu", "sched cpu", "bench cpu"
    );
    for &nodes in node_counts {
        for mode in ["backlog", "stream"] {
            let r = rt.block_on(run_case(nodes, pods, mode));
            println!(
                "{:>6} {:>6} {:>8} {:>10.0} {:>10.1} {:>10.1} {:>8.2} {:>9.2} {:>9.2} {:>9.2}  {}",
                r.nodes,
                r.pods,
                r.mode,
                r.rate,
                r.p50_ms,
                r.p99_ms,
                r.wall,
                r.api_cpu,
                r.sched_cpu,
                r.bench_cpu,
                r.setup
            );
        }
    }
}
