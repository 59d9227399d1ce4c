//! Shared end-to-end harness: start the real `minik` binary on an ephemeral port and talk to it.
#![allow(dead_code)]

pub mod cli;
pub mod cluster;
pub mod http;
pub mod pods;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// A running `minik` process. Killed (SIGKILL) when dropped.
pub struct Minik {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub data_dir: PathBuf,
    /// Everything the process wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
    _tmp: Option<tempfile::TempDir>,
}

pub fn minik_bin() -> &'static str {
    env!("CARGO_BIN_EXE_minik")
}

/// Path of the pinned real kubectl (see the brief), if installed.
pub fn kubectl_bin() -> Option<PathBuf> {
    let dispatcher = which("kubectl")?;
    let real = std::fs::canonicalize(dispatcher).ok()?;
    let pinned = real.parent()?.join("kubectl.1.32");
    pinned.exists().then_some(pinned)
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

impl Minik {
    /// `minik <subcommand> --listen 127.0.0.1:0 --data-dir <fresh temp dir> <extra...>`
    pub fn start(subcommand: &str, extra: &[&str]) -> Minik {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut m = Minik::start_in(subcommand, &dir, extra);
        m._tmp = Some(tmp);
        m
    }

    /// Like [`Minik::start`] with a given data dir (to restart on the same data).
    pub fn start_in(subcommand: &str, data_dir: &Path, extra: &[&str]) -> Minik {
        Minik::start_at(subcommand, data_dir, "127.0.0.1:0", extra)
    }

    /// Like [`Minik::start_in`], listening on a given address (to restart on the same port).
    pub fn start_at(subcommand: &str, data_dir: &Path, listen: &str, extra: &[&str]) -> Minik {
        let mut args: Vec<String> = vec![subcommand.into()];
        if subcommand == "up" || subcommand == "apiserver" {
            args.extend(["--listen".into(), listen.into(), "--data-dir".into(), data_dir.display().to_string()]);
        }
        if subcommand == "up" && !extra.contains(&"--kubelet-port") {
            args.extend(["--kubelet-port".into(), "0".into()]);
        }
        // Concurrent test instances must not share the default node name (the host name).
        if subcommand == "up" && !extra.contains(&"--node-name") {
            args.extend(["--node-name".into(), unique_node_name()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(minik_bin())
            .args(&args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn minik");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(pos) = line.find("listening on http://") {
                    let url = line[pos + "listening on ".len()..].split_whitespace().next().unwrap_or("").to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
                log2.lock().unwrap().push_str(&line);
                log2.lock().unwrap().push('\n');
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("minik did not become ready; log:\n{}", log.lock().unwrap());
            }
        };
        Minik { child: Some(child), url, data_dir: data_dir.to_path_buf(), log, _tmp: None }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a graceful exit; returns the exit status success.
    pub fn stop(&mut self) -> bool {
        if let Some(mut c) = self.child.take() {
            // SAFETY-free: use the kill command rather than libc to keep tests simple.
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            for _ in 0..200 {
                if let Ok(Some(status)) = c.try_wait() {
                    return status.success();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        false
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Keep the temp dir alive beyond this process (for restarts on the same data).
    pub fn take_tempdir(&mut self) -> Option<tempfile::TempDir> {
        self._tmp.take()
    }
}

impl Drop for Minik {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Run a command, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The pinned kubectl pointed at `url`, with a fresh cache dir.
pub fn kubectl(url: &str) -> Option<Command> {
    let bin = kubectl_bin()?;
    let mut c = Command::new(bin);
    let cache = std::env::temp_dir().join(format!("minik-kubectl-cache-{}", std::process::id()));
    c.arg(format!("--server={url}")).arg(format!("--cache-dir={}", cache.display()));
    Some(c)
}

/// `miniktl --server url`
pub fn miniktl(url: &str) -> Command {
    let mut c = Command::new(miniktl_bin());
    c.arg("--server").arg(url);
    c
}

/// The `miniktl` binary (a target of this package, so cargo builds it for the tests).
pub fn miniktl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_miniktl"))
}

/// A node name no other test instance uses.
pub fn unique_node_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("node-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
