//! End-to-end: the docker compose lab. The lab image is built from the binaries of this build
//! (Dockerfile target `prebuilt`: a FROM scratch root filesystem with `minik`, `miniktl`, the
//! libraries `ldd` lists, the CA bundle and busybox-static for the health checks; no base image, no registry),
//! then `docker-compose up -d` (or `docker compose`), a pod with the local busybox image created
//! through the published port, Running with logs, deleted, and `down -v` with nothing left.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{docker, ensure_busybox_image, BUSYBOX};
use common::http::Api;
use serde_json::json;

const LAB_IMAGE: &str = "minik-test/minik:lab";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy(from: &Path, to: &Path) {
    assert!(from.exists(), "{} missing (busybox-static installed?)", from.display());
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

/// Stages `<ctx>/target/lab/rootfs` (as the README's lab section does by hand) and builds the
/// lab image with `docker build --target prebuilt`.
fn build_lab_image(ctx: &Path) {
    let rootfs = ctx.join("target/lab/rootfs");
    let minik = PathBuf::from(common::minik_bin());
    let miniktl = common::miniktl_bin();
    let binaries = vec![(minik, "usr/local/bin/minik"), (miniktl, "usr/local/bin/miniktl")];
    for (bin, inside) in &binaries {
        copy(bin, &rootfs.join(inside));
        let (code, out, err) = common::run(Command::new("ldd").arg(bin));
        assert_eq!(code, 0, "ldd {}: {err}", bin.display());
        for lib in out.split_whitespace().filter(|w| w.starts_with('/')) {
            let target = rootfs.join(lib.trim_start_matches('/'));
            if !target.exists() {
                copy(&std::fs::canonicalize(lib).unwrap(), &target);
            }
        }
    }
    copy(Path::new("/bin/busybox"), &rootfs.join("bin/busybox"));
    // kube's rustls client wants root certificates even for plain HTTP.
    copy(Path::new("/etc/ssl/certs/ca-certificates.crt"), &rootfs.join("etc/ssl/certs/ca-certificates.crt"));
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    copy(&repo().join("Dockerfile"), &ctx.join("Dockerfile"));
    copy(&repo().join(".dockerignore"), &ctx.join(".dockerignore"));
    let (code, _, err) = docker(&["build", "-q", "--target", "prebuilt", "-t", LAB_IMAGE, &ctx.display().to_string()]);
    assert_eq!(code, 0, "docker build --target prebuilt: {err}");
}

/// `docker-compose` 1.29 when installed, else `docker compose`.
fn compose() -> Command {
    let v1 = common::run(Command::new("docker-compose").arg("version")).0 == 0;
    if v1 {
        Command::new("docker-compose")
    } else {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One lab instance: its own compose project, port, network and data dir.
struct Lab {
    project: String,
    port: u16,
    network: String,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let id = format!("{}-{}", std::process::id(), free_port());
        Lab {
            project: format!("minik-lab-test-{id}"),
            port: free_port(),
            network: format!("minik-lab-test-{id}"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn compose(&self, args: &[&str]) -> (i32, String, String) {
        let mut c = compose();
        c.current_dir(repo())
            .arg("-f")
            .arg(repo().join("docker-compose.yml"))
            .arg("-p")
            .arg(&self.project)
            .args(args)
            .env("MINIK_LAB_IMAGE", LAB_IMAGE)
            .env("MINIK_LAB_PORT", self.port.to_string())
            .env("MINIK_LAB_DIR", self.dir.path())
            .env("MINIK_LAB_NETWORK", &self.network)
            .env("MINIK_TARGET", "prebuilt");
        common::run(&mut c)
    }

    fn agent_label(&self) -> String {
        format!("label=io.minik.agent={}", self.dir.path().join("agent/runtime").display())
    }

    /// Containers left by the lab: its services and the pods its agent made.
    fn leftovers(&self) -> Vec<String> {
        let project = format!("label=com.docker.compose.project={}", self.project);
        let mut ids = docker(&["ps", "-aq", "--filter", &project]).1;
        ids.push_str(&docker(&["ps", "-aq", "--filter", &self.agent_label()]).1);
        ids.lines().map(str::to_owned).collect()
    }

    fn logs(&self) -> String {
        self.compose(&["logs", "--no-color"]).1
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let pods: Vec<String> =
            docker(&["ps", "-aq", "--filter", &self.agent_label()]).1.lines().map(str::to_owned).collect();
        if !pods.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(pods.iter().map(String::as_str));
            docker(&args);
        }
        self.compose(&["down", "-v", "--remove-orphans"]);
        docker(&["network", "rm", &self.network]);
        // Each run builds the image afresh: do not keep half a gigabyte per run.
        docker(&["rmi", LAB_IMAGE]);
    }
}

async fn wait_for<T>(what: &str, lab: &Lab, timeout: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("{what} not reached in {timeout:?}; lab logs:\n{}", lab.logs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_lab_runs_a_pod_and_leaves_nothing_behind() {
    tokio::task::block_in_place(ensure_busybox_image);
    let ctx = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| build_lab_image(ctx.path()));
    let lab = Lab::new();
    let (code, _, err) = tokio::task::block_in_place(|| lab.compose(&["up", "-d"]));
    assert_eq!(code, 0, "compose up: {err}\n{}", lab.logs());

    // The API is published on the host's 127.0.0.1 only.
    let ports = docker(&[
        "ps",
        "--filter",
        &format!("label=com.docker.compose.project={}", lab.project),
        "--format",
        "{{.Ports}}",
    ])
    .1;
    assert!(ports.contains(&format!("127.0.0.1:{}->8080/tcp", lab.port)), "{ports}");
    let api = Api::new(&format!("http://127.0.0.1:{}", lab.port));
    wait_for("the lab's node Ready", &lab, Duration::from_secs(120), async || {
        let r = api.get("/api/v1/nodes/lab-node").await;
        let ready = r.status == 200
            && r.json()["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        ready.then_some(())
    })
    .await;

    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "hello-lab" },
        "spec": { "containers": [{ "name": "app", "image": BUSYBOX,
            "command": ["sh", "-c", "echo hello from the lab; echo host=$(hostname); exec sleep 3600"] }] }
    });
    let r = api.post("/api/v1/namespaces/default/pods", &pod).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let status = wait_for("hello-lab Running", &lab, Duration::from_secs(120), async || {
        let p = api.get("/api/v1/namespaces/default/pods/hello-lab").await.json();
        (p["status"]["phase"] == "Running").then(|| p["status"].clone())
    })
    .await;
    assert_eq!(status["containerStatuses"][0]["ready"], true);
    assert!(status["podIP"].as_str().is_some_and(|ip| !ip.is_empty()), "{status}");
    // Logs come from the agent's container through the API server's proxy.
    let logs = wait_for("hello-lab logs", &lab, Duration::from_secs(30), async || {
        let r = api.get("/api/v1/namespaces/default/pods/hello-lab/log").await;
        (r.status == 200 && r.text.contains("host=")).then_some(r.text)
    })
    .await;
    assert_eq!(logs, "hello from the lab\nhost=hello-lab\n");
    // The pod is a sibling container on the host's engine, on the lab's network.
    let pod_containers = docker(&["ps", "-q", "--filter", &lab.agent_label()]).1;
    assert_eq!(pod_containers.lines().count(), 2, "pause + app: {pod_containers}");

    let r = api.delete("/api/v1/namespaces/default/pods/hello-lab", Some(&json!({ "gracePeriodSeconds": 1 }))).await;
    assert!(r.status == 200 || r.status == 202, "{}", r.text);
    wait_for("hello-lab gone with its containers", &lab, Duration::from_secs(60), async || {
        let gone = api.get("/api/v1/namespaces/default/pods/hello-lab").await.status == 404;
        (gone && docker(&["ps", "-aq", "--filter", &lab.agent_label()]).1.trim().is_empty()).then_some(())
    })
    .await;

    let (code, _, err) = tokio::task::block_in_place(|| lab.compose(&["down", "-v"]));
    assert_eq!(code, 0, "compose down: {err}");
    assert_eq!(lab.leftovers(), Vec::<String>::new());
    assert_ne!(docker(&["network", "inspect", &lab.network]).0, 0, "network {} left behind", lab.network);
    let volumes =
        docker(&["volume", "ls", "-q", "--filter", &format!("label=com.docker.compose.project={}", lab.project)]).1;
    assert_eq!(volumes.trim(), "", "volumes left behind");
}
