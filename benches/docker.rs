//! Docker runtime benchmark (`cargo bench --bench docker`): create → Running through `minik up
//! --runtime docker` (pod posted to the API, Running seen by polling it every 10 ms) against the
//! same sandbox made by hand with the docker CLI in the same run (`docker run -d` of the pause
//! image, then `docker run -d` of the app container joined to its network and IPC namespaces),
//! and a bare `docker run -d` for reference. Median of `MINIK_BENCH_RUNS` (default 20) each.
//! Needs a running Docker engine and busybox-static (the image is imported locally).
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::cluster::{docker, ensure_busybox_image, BUSYBOX};
use common::http::Api;
use common::Minik;
use serde_json::json;

const PAUSE: &str = "minik/pause:latest";
const LABEL: &str = "io.minik.bench=docker";

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn p90(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

async fn minik_runs(runs: usize) -> Vec<f64> {
    let minik = tokio::task::block_in_place(|| Minik::start("up", &["--runtime", "docker"]));
    let api = Api::new(&minik.url);
    // Warm-up: the first pod pays for anything made once (the pause image if missing).
    let mut out = Vec::new();
    for i in 0..=runs {
        let name = format!("bench-{i}");
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": name },
            "spec": { "terminationGracePeriodSeconds": 0,
                      "containers": [{ "name": "app", "image": BUSYBOX, "command": ["sleep", "3600"] }] }
        });
        let t0 = Instant::now();
        let r = api.post("/api/v1/namespaces/default/pods", &pod).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let path = format!("/api/v1/namespaces/default/pods/{name}");
        loop {
            let p = api.get(&path).await.json();
            if p["status"]["phase"] == "Running" {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "{name} not Running: {}\n{}", p["status"], minik.log());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = secs(t0.elapsed());
        if i > 0 {
            out.push(took);
        }
        api.delete(&path, Some(&json!({ "gracePeriodSeconds": 0 }))).await;
        let t1 = Instant::now();
        while api.get(&path).await.status != 404 && t1.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let agent = std::fs::canonicalize(minik.data_dir.join("agent/runtime"))
        .unwrap_or_else(|_| minik.data_dir.join("agent/runtime"));
    let agent_label = format!("label=io.minik.agent={}", agent.display());
    let left: Vec<String> = docker(&["ps", "-aq", "--filter", &agent_label]).1.lines().map(str::to_owned).collect();
    if !left.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(left.iter().map(String::as_str));
        docker(&args);
    }
    out
}

/// The pod sandbox by hand: pause container, then the app joined to its namespaces.
fn by_hand_runs(runs: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..=runs {
        let pause = format!("minik-bench-pause-{}-{i}", std::process::id());
        let app = format!("minik-bench-app-{}-{i}", std::process::id());
        let t0 = Instant::now();
        let (code, _, err) = docker(&[
            "run",
            "-d",
            "--name",
            &pause,
            "--label",
            LABEL,
            "--hostname",
            "bench",
            "--ipc",
            "shareable",
            PAUSE,
        ]);
        assert_eq!(code, 0, "{err}");
        let joined = format!("container:{pause}");
        let (code, _, err) = docker(&[
            "run",
            "-d",
            "--name",
            &app,
            "--label",
            LABEL,
            "--network",
            &joined,
            "--ipc",
            &joined,
            "--entrypoint",
            "sleep",
            BUSYBOX,
            "3600",
        ]);
        assert_eq!(code, 0, "{err}");
        let took = secs(t0.elapsed());
        if i > 0 {
            out.push(took);
        }
        docker(&["rm", "-f", &app, &pause]);
    }
    out
}

fn bare_runs(runs: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..=runs {
        let name = format!("minik-bench-bare-{}-{i}", std::process::id());
        let t0 = Instant::now();
        let (code, _, err) =
            docker(&["run", "-d", "--name", &name, "--label", LABEL, "--entrypoint", "sleep", BUSYBOX, "3600"]);
        assert_eq!(code, 0, "{err}");
        if i > 0 {
            out.push(secs(t0.elapsed()));
        }
        docker(&["rm", "-f", &name]);
    }
    out
}

fn main() {
    if docker(&["info"]).0 != 0 {
        eprintln!("docker benchmark: no Docker engine answers; nothing measured");
        std::process::exit(1);
    }
    let runs: usize = std::env::var("MINIK_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20).max(1);
    ensure_busybox_image();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // minik first: it makes the pause image when missing, which the by-hand runs then use.
    let mut minik = rt.block_on(minik_runs(runs));
    let mut by_hand = by_hand_runs(runs);
    let mut bare = bare_runs(runs);
    let (m, h, b) = (median(&mut minik), median(&mut by_hand), median(&mut bare));
    println!("docker runtime: create → Running, {runs} runs each (after one warm-up)");
    println!("{:<52} {:>10} {:>10}", "", "median s", "p90 s");
    println!("{:<52} {:>10.3} {:>10.3}", "minik up --runtime docker (API create → Running)", m, p90(&mut minik));
    println!("{:<52} {:>10.3} {:>10.3}", "docker CLI: pause + joined app container", h, p90(&mut by_hand));
    println!("{:<52} {:>10.3} {:>10.3}", "docker CLI: one bare `docker run -d`", b, p90(&mut bare));
    println!("ratio minik ÷ by hand: {:.2} (target ≤ 1.2)", m / h);
}
