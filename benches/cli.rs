//! `miniktl get pods` against the real kubectl with 10,000 pods stored: time to first row and total.
//!
//! Run with `cargo bench --bench cli` (plain `fn main`, no harness). It starts `minik apiserver` on
//! an ephemeral port with a fresh data dir, creates the pods with concurrent HTTP requests, then runs
//! each client several times (after one warm-up run) and prints a table. cargo builds `miniktl` for
//! the bench (a binary of this package); the pinned kubectl is `kubectl.1.32` beside the `kubectl`
//! dispatcher.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PODS: usize = 10_000;
const CONCURRENCY: usize = 64;
const RUNS: usize = 5;

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes the command a client runs for one `get pods`.
type CommandMaker = Box<dyn Fn() -> Command>;

fn start_server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_minik"))
        .args(["apiserver", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start minik apiserver");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(pos) = line.find("listening on http://") {
                let url = line[pos + "listening on ".len()..].split_whitespace().next().unwrap_or("").to_string();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url);
                }
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(30)).expect("minik did not print its address");
    Server { child, url, _dir: dir }
}

fn create_pods(url: &str) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..CONCURRENCY {
            let client = client.clone();
            let url = format!("{url}/api/v1/namespaces/default/pods");
            tasks.push(tokio::spawn(async move {
                let mut i = worker;
                while i < PODS {
                    let pod = serde_json::json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": format!("bench-{i:05}"), "labels": {"app": "bench"}},
                        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}
                    });
                    let resp = client.post(&url).json(&pod).send().await.expect("create pod");
                    assert!(resp.status().is_success(), "create failed: {}", resp.status());
                    i += CONCURRENCY;
                }
            }));
        }
        for t in tasks {
            t.await.expect("worker");
        }
        started.elapsed()
    })
}

/// Runs the command; returns (time to the first data row, total time, number of rows).
fn time_get(mut cmd: Command) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn client");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let mut first_row = None;
    let mut rows = 0usize;
    let mut index = 0usize;
    loop {
        line.clear();
        match out.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if index == 1 && first_row.is_none() {
                    first_row = Some(started.elapsed());
                }
                if index >= 1 {
                    rows += 1;
                }
                index += 1;
            }
        }
    }
    let mut rest = Vec::new();
    let _ = out.read_to_end(&mut rest);
    let status = child.wait().expect("wait client");
    let total = started.elapsed();
    assert!(status.success(), "client failed");
    (first_row.unwrap_or(total), total, rows)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn kubectl_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dispatcher = std::env::split_paths(&path).map(|d| d.join("kubectl")).find(|p| p.exists())?;
    let pinned = std::fs::canonicalize(dispatcher).ok()?.parent()?.join("kubectl.1.32");
    pinned.exists().then_some(pinned)
}

fn main() {
    let miniktl = Path::new(env!("CARGO_BIN_EXE_miniktl")).to_path_buf();
    let server = start_server();
    let created = create_pods(&server.url);
    println!(
        "created {PODS} pods with {CONCURRENCY} concurrent clients in {} ms ({:.0} pods/s)",
        ms(created),
        PODS as f64 / created.as_secs_f64()
    );
    let cache = tempfile::tempdir().expect("kubectl cache dir");
    let mut clients: Vec<(&str, CommandMaker)> = Vec::new();
    let url = server.url.clone();
    let mk = miniktl.clone();
    clients.push((
        "miniktl",
        Box::new(move || {
            let mut c = Command::new(&mk);
            c.args(["--server", &url, "get", "pods"]);
            c
        }),
    ));
    match kubectl_path() {
        Some(k) => {
            let url = server.url.clone();
            let cache = cache.path().to_path_buf();
            clients.push((
                "kubectl 1.32",
                Box::new(move || {
                    let mut c = Command::new(&k);
                    c.arg(format!("--server={url}"))
                        .arg(format!("--cache-dir={}", cache.display()))
                        .args(["get", "pods"]);
                    c
                }),
            ));
        }
        None => eprintln!("kubectl.1.32 not found: timing miniktl only"),
    }
    println!();
    println!(
        "{:<14} {:>6} {:>16} {:>12} {:>12} {:>12}",
        "client", "rows", "first row p50", "total p50", "total min", "total max"
    );
    let mut totals = Vec::new();
    for (name, make) in &clients {
        let _ = time_get(make());
        let mut firsts = Vec::new();
        let mut alls = Vec::new();
        let mut rows = 0;
        for _ in 0..RUNS {
            let (first, total, n) = time_get(make());
            firsts.push(first);
            alls.push(total);
            rows = n;
        }
        assert_eq!(rows, PODS, "{name} printed {rows} rows");
        let min = alls.iter().min().copied().unwrap_or_default();
        let max = alls.iter().max().copied().unwrap_or_default();
        let p50 = median(alls);
        println!(
            "{:<14} {:>6} {:>13} ms {:>9} ms {:>9} ms {:>9} ms",
            name,
            rows,
            ms(median(firsts)),
            ms(p50),
            ms(min),
            ms(max)
        );
        totals.push(p50);
    }
    if let [m, k] = totals.as_slice() {
        println!();
        println!(
            "miniktl/kubectl total: {:.2}x (target <= 1.2x); miniktl total {} ms (target < 500 ms)",
            m.as_secs_f64() / k.as_secs_f64(),
            ms(*m)
        );
    }
}
