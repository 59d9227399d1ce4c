//! End-to-end: the `sim` runtime. One agent registers and heartbeats 1,000 nodes and runs a pod
//! on each; pod annotations drive simulated lifecycles.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{minik_bin, Minik};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

/// A `minik nodeagent` process; killed when dropped.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(url: &str, dir: &std::path::Path, nodes: usize) -> Agent {
    let child = Command::new(minik_bin())
        .args(["nodeagent", "--server", url, "--node-name", "sim", "--runtime", "sim", "--kubelet-port", "0"])
        .args(["--sim-nodes", &nodes.to_string(), "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Agent(child)
}

async fn client(url: &str) -> kube::Client {
    let opts = minik_client::ConnectOptions { server: Some(url.to_owned()), ..Default::default() };
    minik_client::connect(&opts).await.unwrap()
}

fn ready(n: &Node) -> bool {
    n.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what} not reached in {timeout:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sim_nodes_register_and_run_a_pod_each() {
    const N: usize = 1000;
    let api = tokio::task::block_in_place(|| Minik::start("apiserver", &[]));
    let dir = tempfile::tempdir().unwrap();
    let _agent = start_agent(&api.url, dir.path(), N);
    let client = client(&api.url).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let started = Instant::now();
    wait_until("1000 Ready nodes", Duration::from_secs(120), || {
        let nodes = nodes.clone();
        async move {
            nodes
                .list(&ListParams::default())
                .await
                .map(|l| l.items.iter().filter(|n| ready(n)).count() == N)
                .unwrap_or(false)
        }
    })
    .await;
    eprintln!("{N} nodes registered in {:?}", started.elapsed());
    let list = nodes.list(&ListParams::default()).await.unwrap();
    let n0 = list.items.iter().find(|n| n.metadata.name.as_deref() == Some("sim-0")).unwrap();
    let st = n0.status.clone().unwrap();
    assert_eq!(st.capacity.unwrap()["pods"].0, "110");
    assert!(st.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port > 0);
    assert_eq!(n0.metadata.labels.as_ref().unwrap()["kubernetes.io/hostname"], "sim-0");
    let cidrs: std::collections::HashSet<String> =
        list.items.iter().filter_map(|n| n.spec.as_ref().and_then(|s| s.pod_cidr.clone())).collect();
    assert_eq!(cidrs.len(), N, "every node has its own podCIDR");
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    wait_until("1000 leases", Duration::from_secs(60), || {
        let leases = leases.clone();
        async move { leases.list(&ListParams::default()).await.map(|l| l.items.len() == N).unwrap_or(false) }
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let started = Instant::now();
    futures::stream::iter(0..N)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("p{i}")},
                    "spec": {"nodeName": format!("sim-{i}"), "containers": [{"name": "app", "image": "nginx"}]}
                }))
                .unwrap();
                pods.create(&PostParams::default(), &pod).await.map(|_| ())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    wait_until("1000 Running pods", Duration::from_secs(120), || {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default())
                .await
                .map(|l| l.items.iter().filter(|p| phase(p) == "Running").count() == N)
                .unwrap_or(false)
        }
    })
    .await;
    eprintln!("{N} pods Running in {:?}", started.elapsed());
    let p = pods.get("p999").await.unwrap();
    let st = p.status.unwrap();
    assert!(st.pod_ip.unwrap().starts_with("10."));
    assert!(st.container_statuses.unwrap()[0].ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotations_drive_simulated_lifecycles() {
    let m = tokio::task::block_in_place(|| Minik::start("up", &["--runtime", "sim"]));
    let client = client(&m.url).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let create = |name: &str, policy: &str, annotations: serde_json::Value| {
        serde_json::from_value::<Pod>(json!({
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"restartPolicy": policy, "containers": [{"name": "app", "image": "nginx"}]}
        }))
        .unwrap()
    };
    let pp = PostParams::default();
    pods.create(&pp, &create("slow", "Always", json!({"sim.minik.io/start-delay": "1500ms"}))).await.unwrap();
    pods.create(&pp, &create("job", "Never", json!({"sim.minik.io/exit-after": "1s"}))).await.unwrap();
    pods.create(
        &pp,
        &create("crash", "Never", json!({"sim.minik.io/exit-after": "500ms", "sim.minik.io/exit-code": "4"})),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let get_phase = |name: &'static str| {
        let pods = pods.clone();
        async move { pods.get(name).await.map(|p| phase(&p).to_owned()).unwrap_or_default() }
    };
    wait_until("slow Pending", Duration::from_secs(5), || async { get_phase("slow").await == "Pending" }).await;
    wait_until("slow Running", Duration::from_secs(10), || async { get_phase("slow").await == "Running" }).await;
    assert!(started.elapsed() >= Duration::from_millis(1400), "the start delay is honoured");
    wait_until("job Succeeded", Duration::from_secs(10), || async { get_phase("job").await == "Succeeded" }).await;
    wait_until("crash Failed", Duration::from_secs(10), || async { get_phase("crash").await == "Failed" }).await;
    let crash = pods.get("crash").await.unwrap();
    let t = crash.status.unwrap().container_statuses.unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (4, Some("Error")));
    let logs = pods.logs("slow", &Default::default()).await.unwrap();
    assert_eq!(logs, "simulated container app started\n");
}
