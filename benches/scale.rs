//! Scale benchmark (`cargo bench --bench scale`): the whole system at the brief's size — an API
//! server, a scheduler and one sim node agent carrying 5,000 Nodes, with 150,000 Pods created,
//! bound and Running — and the memory it takes (RSS of each process and their sum).
//!
//! `MINIK_BENCH_NODES` (default 5000) and `MINIK_BENCH_PODS` (default 150000) set the size. Every
//! component is its own `minik` process, as in a multi-process deployment; the load generator
//! runs on the same cores.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const CONCURRENCY: usize = 64;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_minik"))
        .args(args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn minik");
    Proc(child)
}

fn rss_mib(p: &Proc) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.0.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Polls `path` (a list with a selector) until it is empty; how long that took, or `None`.
async fn until_empty(http: &reqwest::Client, url: &str, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(r) = http.get(url).send().await {
            if let Ok(v) = r.json::<serde_json::Value>().await {
                if v["items"].as_array().is_some_and(|a| a.is_empty()) {
                    return Some(start.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

/// Counts Ready nodes by listing them in pages.
async fn ready_nodes(http: &reqwest::Client, base: &str) -> usize {
    let mut count = 0;
    let mut cont = String::new();
    loop {
        let url = format!("{base}/api/v1/nodes?limit=1000&continue={cont}");
        let Ok(v) = http.get(&url).send().await.and_then(|r| r.error_for_status()) else { return count };
        let Ok(v) = v.json::<serde_json::Value>().await else { return count };
        for n in v["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let ready = n["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            count += usize::from(ready);
        }
        match v["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => cont = c.to_owned(),
            _ => return count,
        }
    }
}

fn main() {
    let nodes = env_usize("MINIK_BENCH_NODES", 5_000);
    let pods = env_usize("MINIK_BENCH_PODS", 150_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let data = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let api_dir = data.path().join("api").display().to_string();
    let agent_dir = data.path().join("agent").display().to_string();
    let api = spawn(&["apiserver", "--listen", &listen, "--data-dir", &api_dir]);
    let http = reqwest::Client::new();
    rt.block_on(async {
        let start = Instant::now();
        while http.get(format!("{base}/readyz")).send().await.is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "API server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let n = nodes.to_string();
    let agent = spawn(&[
        "nodeagent",
        "--server",
        &base,
        "--node-name",
        "scale",
        "--runtime",
        "sim",
        "--sim-nodes",
        &n,
        "--kubelet-port",
        "0",
        "--data-dir",
        &agent_dir,
    ]);
    let scheduler = spawn(&["scheduler", "--server", &base]);
    println!("scale benchmark: {nodes} sim nodes, {pods} pods, 2 CPUs shared by all processes");
    rt.block_on(async {
        let t = Instant::now();
        while ready_nodes(&http, &base).await < nodes {
            assert!(t.elapsed() < Duration::from_secs(300), "nodes not Ready after 300 s");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!("| {nodes} nodes Ready | {:.1} s |", t.elapsed().as_secs_f64());

        let t = Instant::now();
        let url = format!("{base}/api/v1/namespaces/default/pods");
        let body = |i: usize| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("s{i}"), "labels": {"app": "scale"}},
                "spec": {"containers": [{"name": "app", "image": "nginx",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}})
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = (0..CONCURRENCY).map(|_| async {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= pods {
                    return;
                }
                let r = http.post(&url).json(&body(i)).send().await.expect("POST pod");
                assert!(r.status().is_success(), "create s{i}: {}", r.status());
            }
        });
        futures::future::join_all(workers).await;
        let created = t.elapsed();
        println!(
            "| {pods} pods created | {:.1} s ({:.0}/s) |",
            created.as_secs_f64(),
            pods as f64 / created.as_secs_f64()
        );
        let not_running =
            format!("{base}/api/v1/namespaces/default/pods?fieldSelector=status.phase%21%3DRunning&limit=100");
        match until_empty(&http, &not_running, Duration::from_secs(900)).await {
            Some(_) => {
                println!("| all {pods} pods Running | {:.1} s after the first create |", t.elapsed().as_secs_f64())
            }
            None => println!("| pods Running | not all within 900 s |"),
        }
    });
    let (a, s, g) = (rss_mib(&api), rss_mib(&scheduler), rss_mib(&agent));
    println!("| RSS: API server | {a:.0} MiB |");
    println!("| RSS: scheduler | {s:.0} MiB |");
    println!("| RSS: sim node agent ({nodes} nodes) | {g:.0} MiB |");
    println!("| RSS: all three | {:.0} MiB (target < 1,024 MiB) |", a + s + g);
}
