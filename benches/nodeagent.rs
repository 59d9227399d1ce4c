//! Node agent benchmark (`cargo bench --bench nodeagent`): create → Running observed by a watch,
//! with the sim runtime (100 nodes, 100 pods/s) and the process runtime (one node, 50 pods); the
//! agent's RSS per 100 pods; and how many sim nodes one agent carries. Prints a table.
//!
//! `MINIK_BENCH_SECS` (default 60) sets how long the sim load runs; `MINIK_BENCH_MAX_NODES`
//! (default "1000,2000,4000") the node counts tried for the capacity figure.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{minik_bin, Minik};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(url: &str, dir: &std::path::Path, runtime: &str, nodes: usize) -> Agent {
    let child = Command::new(minik_bin())
        .args(["nodeagent", "--server", url, "--node-name", "bench", "--runtime", runtime, "--kubelet-port", "0"])
        .args(["--sim-nodes", &nodes.to_string(), "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Agent(child)
}

async fn client(url: &str) -> kube::Client {
    let opts = minik_client::ConnectOptions { server: Some(url.to_owned()), ..Default::default() };
    minik_client::connect(&opts).await.unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn ready(n: &Node) -> bool {
    n.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn wait_nodes(nodes: &Api<Node>, n: usize, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(l) = nodes.list(&ListParams::default()).await {
            if l.items.iter().filter(|x| ready(x)).count() >= n {
                return Some(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Records when each pod is first seen Running by a watch.
fn watch_running(pods: Api<Pod>) -> Arc<Mutex<HashMap<String, Instant>>> {
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        let mut stream = watcher::watcher(pods, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            let pods = match ev {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => vec![p],
                _ => continue,
            };
            for p in pods {
                if p.status.as_ref().and_then(|st| st.phase.as_deref()) == Some("Running") {
                    s.lock().unwrap().entry(p.metadata.name.clone().unwrap_or_default()).or_insert_with(Instant::now);
                }
            }
        }
    });
    seen
}

fn pod(name: &str, node: &str, command: Option<&[&str]>) -> Pod {
    let mut c = json!({"name": "app", "image": "nginx"});
    if let Some(cmd) = command {
        c["command"] = json!(cmd);
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [c]}})).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Creates pods (at `rate` per second when given, else all at once) and returns create → Running.
async fn run_load(
    pods: &Api<Pod>,
    names: Vec<(String, String)>,
    rate: Option<u32>,
    command: Option<&'static [&'static str]>,
) -> Vec<Duration> {
    let seen = watch_running(pods.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tasks = Vec::new();
    let mut tick = rate.map(|r| tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(r))));
    for (name, node) in names.clone() {
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        let (pods, created) = (pods.clone(), created.clone());
        tasks.push(tokio::spawn(async move {
            created.lock().unwrap().insert(name.clone(), Instant::now());
            let _ = pods.create(&PostParams::default(), &pod(&name, &node, command)).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && seen.lock().unwrap().len() < names.len() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = seen.lock().unwrap();
    let created = created.lock().unwrap();
    let mut lat: Vec<Duration> =
        names.iter().filter_map(|(n, _)| Some(seen.get(n)?.saturating_duration_since(*created.get(n)?))).collect();
    lat.sort();
    lat
}

async fn sim_latency(secs: u64) -> (Vec<Duration>, usize, u64) {
    let api = tokio::task::block_in_place(|| Minik::start("apiserver", &[]));
    let dir = tempfile::tempdir().unwrap();
    let a = agent(&api.url, dir.path(), "sim", 100);
    let c = client(&api.url).await;
    wait_nodes(&Api::all(c.clone()), 100, Duration::from_secs(60)).await.expect("100 sim nodes");
    let pods: Api<Pod> = Api::namespaced(c, "default");
    let total = (secs * 100) as usize;
    let names = (0..total).map(|i| (format!("s{i}"), format!("bench-{}", i % 100))).collect();
    let lat = run_load(&pods, names, Some(100), None).await;
    let rss = rss_kib(a.0.id());
    (lat, total, rss)
}

async fn process_latency() -> (Vec<Duration>, u64, u64) {
    let api = tokio::task::block_in_place(|| Minik::start("apiserver", &[]));
    let dir = tempfile::tempdir().unwrap();
    let a = agent(&api.url, dir.path(), "process", 1);
    let c = client(&api.url).await;
    wait_nodes(&Api::all(c.clone()), 1, Duration::from_secs(30)).await.expect("the process node");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(a.0.id());
    let pods: Api<Pod> = Api::namespaced(c, "default");
    let names = (0..50).map(|i| (format!("p{i}"), "bench".to_string())).collect();
    let lat = run_load(&pods, names, None, Some(&["sleep", "3600"])).await;
    let loaded = rss_kib(a.0.id());
    // Clean up: the agent stops the containers when the pods are deleted.
    for i in 0..50 {
        let _ = pods.delete(&format!("p{i}"), &DeleteParams::default()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && pods.list(&ListParams::default()).await.map(|l| !l.items.is_empty()).unwrap_or(false)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (lat, idle, loaded)
}

async fn max_nodes(counts: &[usize]) -> Vec<(usize, Option<Duration>, u64)> {
    let mut out = Vec::new();
    for &n in counts {
        let api = tokio::task::block_in_place(|| Minik::start("apiserver", &[]));
        let dir = tempfile::tempdir().unwrap();
        let a = agent(&api.url, dir.path(), "sim", n);
        let c = client(&api.url).await;
        let took = wait_nodes(&Api::all(c), n, Duration::from_secs(120)).await;
        out.push((n, took, rss_kib(a.0.id())));
        if took.is_none() {
            break;
        }
    }
    out
}

fn main() {
    let secs: u64 = std::env::var("MINIK_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let counts: Vec<usize> = std::env::var("MINIK_BENCH_MAX_NODES")
        .unwrap_or_else(|_| "1000,2000,4000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (sim, sim_total, sim_rss) = sim_latency(secs).await;
        let (proc_lat, idle, loaded) = process_latency().await;
        let caps = max_nodes(&counts).await;
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        println!("| measure | value |");
        println!("|---|---|");
        println!("| sim: pods created (100 nodes, 100 pods/s, {secs} s) | {sim_total} |");
        println!("| sim: pods seen Running | {} |", sim.len());
        println!("| sim: create → Running p50 | {} |", ms(percentile(&sim, 0.5)));
        println!("| sim: create → Running p99 | {} |", ms(percentile(&sim, 0.99)));
        println!("| sim: agent RSS with {sim_total} pods | {} MiB |", sim_rss / 1024);
        println!("| process: create → Running p50 (1 node, 50 pods) | {} |", ms(percentile(&proc_lat, 0.5)));
        println!("| process: create → Running p99 | {} |", ms(percentile(&proc_lat, 0.99)));
        println!("| process: pods seen Running | {} |", proc_lat.len());
        println!(
            "| process: agent RSS idle → 50 pods | {} MiB → {} MiB ({} MiB per 100 pods) |",
            idle / 1024,
            loaded / 1024,
            (loaded.saturating_sub(idle)) * 2 / 1024
        );
        for (n, took, rss) in caps {
            match took {
                Some(t) => {
                    println!("| sim: {n} nodes Ready after | {:.1} s (agent RSS {} MiB) |", t.as_secs_f64(), rss / 1024)
                }
                None => println!("| sim: {n} nodes | not all Ready within 120 s |"),
            }
        }
    });
}
