//! End to end: the real API server (`minik apiserver`), Node objects created through the API (no
//! node agent), and our scheduler, in process through `minik_scheduler::run` or as
//! `minik scheduler` processes for leader failover. Checks bindings, conditions, events and the
//! kube-scheduler messages.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Minik;
use futures::future::join_all;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

async fn client(url: &str) -> kube::Client {
    let opts = minik_client::ConnectOptions { server: Some(url.to_string()), ..Default::default() };
    minik_client::connect(&opts).await.expect("client")
}

/// A Ready node with `cpu` CPUs, 4Gi and room for 110 pods; `extra` is merged into the object.
fn node(name: &str, cpu: &str, extra: Value) -> Value {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}]
        }
    });
    merge(&mut v, extra);
    v
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

/// Creates the node and (as a kubelet would) writes its status through `nodes/status`.
async fn create_node(c: &kube::Client, v: Value) {
    let api: Api<Node> = Api::all(c.clone());
    let n: Node = serde_json::from_value(v.clone()).expect("node json");
    let name = n.metadata.name.clone().expect("name");
    api.create(&PostParams::default(), &n).await.expect("create node");
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": v["status"]})))
        .await
        .expect("node status");
}

fn pod(name: &str, spec: Value) -> Pod {
    let mut spec = spec;
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{"name": "app", "image": "nginx"}]);
    }
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}))
        .expect("pod json")
}

fn cpu_pod(name: &str, cpu: &str) -> Pod {
    pod(name, json!({"containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}))
}

async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_bound(pods: &Api<Pod>, name: &str) -> String {
    wait_for(&format!("{name} to be bound"), || async move {
        pods.get(name).await.ok().and_then(|p| p.spec.and_then(|s| s.node_name))
    })
    .await
}

/// The PodScheduled=False condition's message once the scheduler gave up on the pod.
async fn wait_unschedulable(pods: &Api<Pod>, name: &str) -> String {
    wait_for(&format!("{name} to be reported unschedulable"), || async move {
        let p = pods.get(name).await.ok()?;
        let c = p.status?.conditions?.into_iter().find(|c| c.type_ == "PodScheduled")?;
        (c.status == "False" && c.reason.as_deref() == Some("Unschedulable")).then(|| c.message.unwrap_or_default())
    })
    .await
}

async fn events_for(c: &kube::Client, pod: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(c.clone(), "default");
    let lp = ListParams::default().fields(&format!("involvedObject.name={pod}"));
    api.list(&lp).await.map(|l| l.items).unwrap_or_default()
}

async fn wait_event(c: &kube::Client, pod: &str, reason: &str, message: &str) -> Event {
    wait_for(&format!("{reason} event {message:?} for {pod}"), || async move {
        events_for(c, pod)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref() == Some(message))
    })
    .await
}

fn start_scheduler(c: &kube::Client) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let config = minik_scheduler::SchedulerConfig {
        queue: minik_scheduler::queue::QueueTimings {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(1),
            unschedulable_timeout: Duration::from_secs(60),
        },
        ..Default::default()
    };
    let handle = tokio::spawn({
        let (c, token) = (c.clone(), token.clone());
        async move { minik_scheduler::run(config, c, token).await.expect("scheduler") }
    });
    (token, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_affinity_and_taints() {
    let server = Minik::start("apiserver", &[]);
    let c = client(&server.url).await;
    create_node(&c, node("ssd", "4", json!({"metadata": {"labels": {"disk": "ssd", "zone": "a"}}}))).await;
    create_node(&c, node("hdd", "4", json!({"metadata": {"labels": {"disk": "hdd", "zone": "b"}}}))).await;
    create_node(
        &c,
        node(
            "gpu",
            "4",
            json!({"metadata": {"labels": {"gpu": "true"}}, "spec": {"taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]}}),
        ),
    )
    .await;
    create_node(&c, node("cordoned", "4", json!({"spec": {"unschedulable": true}}))).await;
    create_node(&c, node("notready", "4", json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})))
        .await;
    let (stop, sched) = start_scheduler(&c);
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pp = PostParams::default();

    pods.create(&pp, &pod("by-selector", json!({"nodeSelector": {"disk": "ssd"}}))).await.unwrap();
    pods.create(
        &pp,
        &pod(
            "by-affinity",
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}, {"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}
            ]}}}}),
        ),
    )
    .await
    .unwrap();
    pods.create(
        &pp,
        &pod(
            "tolerates-gpu",
            json!({
                "tolerations": [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu"]}]}
                ]}}}
            }),
        ),
    )
    .await
    .unwrap();
    pods.create(&pp, &pod("no-toleration", json!({"nodeSelector": {"gpu": "true"}}))).await.unwrap();
    pods.create(&pp, &pod("other-scheduler", json!({"schedulerName": "someone-else"}))).await.unwrap();

    assert_eq!(wait_bound(&pods, "by-selector").await, "ssd");
    assert_eq!(wait_bound(&pods, "by-affinity").await, "hdd");
    assert_eq!(wait_bound(&pods, "tolerates-gpu").await, "gpu");
    let scheduled =
        wait_event(&c, "by-selector", "Scheduled", "Successfully assigned default/by-selector to ssd").await;
    assert_eq!(scheduled.type_.as_deref(), Some("Normal"));
    assert_eq!(scheduled.source.and_then(|s| s.component).as_deref(), Some("default-scheduler"));
    let bound = pods.get("by-selector").await.unwrap();
    assert_eq!(scheduled.involved_object.uid, bound.metadata.uid);

    let want = "0/5 nodes are available: 1 node(s) had untolerated taint {gpu: true}, \
                1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable, \
                2 node(s) didn't match Pod's node affinity/selector.";
    assert_eq!(wait_unschedulable(&pods, "no-toleration").await, want);
    let failed = wait_event(&c, "no-toleration", "FailedScheduling", want).await;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));

    // A pod for another scheduler is left alone.
    let other = pods.get("other-scheduler").await.unwrap();
    assert_eq!(other.spec.and_then(|s| s.node_name), None);
    assert!(events_for(&c, "other-scheduler").await.is_empty());

    // Uncordoning a node and labelling it makes the waiting pod fit: it is retried and bound.
    let nodes: Api<Node> = Api::all(c.clone());
    nodes
        .patch(
            "cordoned",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"gpu": "true"}}, "spec": {"unschedulable": null}})),
        )
        .await
        .unwrap();
    assert_eq!(wait_bound(&pods, "no-toleration").await, "cordoned");

    stop.cancel();
    sched.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_fill_up_and_free() {
    let server = Minik::start("apiserver", &[]);
    let c = client(&server.url).await;
    create_node(&c, node("n1", "2", json!({}))).await;
    create_node(&c, node("n2", "2", json!({}))).await;
    let (stop, sched) = start_scheduler(&c);
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pp = PostParams::default();

    pods.create(&pp, &cpu_pod("a", "1500m")).await.unwrap();
    let first = wait_bound(&pods, "a").await;
    pods.create(&pp, &cpu_pod("b", "1500m")).await.unwrap();
    let second = wait_bound(&pods, "b").await;
    assert_ne!(first, second, "the second pod must go to the node with room");

    pods.create(&pp, &cpu_pod("c", "1500m")).await.unwrap();
    let want = "0/2 nodes are available: 2 Insufficient cpu.";
    assert_eq!(wait_unschedulable(&pods, "c").await, want);
    wait_event(&c, "c", "FailedScheduling", want).await;

    // A small pod still fits next to them.
    pods.create(&pp, &cpu_pod("small", "400m")).await.unwrap();
    wait_bound(&pods, "small").await;

    // Freeing room on the first node lets the waiting pod in.
    pods.delete("a", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    assert_eq!(wait_bound(&pods, "c").await, first);
    wait_event(&c, "c", "Scheduled", &format!("Successfully assigned default/c to {first}")).await;

    stop.cancel();
    sched.await.unwrap();
}

/// A `minik scheduler` process with fast leader election timings.
fn scheduler_process(url: &str, identity: &str) -> Child {
    Command::new(common::minik_bin())
        .args(["scheduler", "--server", url, "--leader-elect-identity", identity])
        .args(["--leader-elect-lease-duration", "2", "--leader-elect-renew-deadline", "1.5"])
        .args(["--leader-elect-retry-period", "0.25"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn minik scheduler")
}

async fn lease_holder(c: &kube::Client) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(c.clone(), "kube-system");
    api.get_opt("kube-scheduler").await.ok().flatten()?.spec?.holder_identity.filter(|h| !h.is_empty())
}

async fn scheduled_by(c: &kube::Client, pod: &str) -> String {
    wait_for(&format!("Scheduled event for {pod}"), || async move {
        events_for(c, pod)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
            .and_then(|e| e.reporting_instance)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover() {
    let server = Minik::start("apiserver", &[]);
    let c = client(&server.url).await;
    create_node(&c, node("n1", "4", json!({}))).await;
    let mut first = scheduler_process(&server.url, "first");
    let holder = wait_for("a leader", || async { lease_holder(&c).await }).await;
    assert_eq!(holder, "first");
    let mut second = scheduler_process(&server.url, "second");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pp = PostParams::default();

    // Several pods while both run: the leader binds all of them.
    let names: Vec<String> = (0..5).map(|i| format!("before-{i}")).collect();
    let batch: Vec<Pod> = names.iter().map(|n| cpu_pod(n, "100m")).collect();
    for created in join_all(batch.iter().map(|p| pods.create(&pp, p))).await {
        created.unwrap();
    }
    for n in &names {
        wait_bound(&pods, n).await;
        assert_eq!(scheduled_by(&c, n).await, "first");
    }
    assert_eq!(lease_holder(&c).await.as_deref(), Some("first"));

    // The leader dies without releasing the lease; the other takes over within the lease duration
    // (2 s) plus one retry period and some slack for the test machine.
    first.kill().unwrap();
    first.wait().unwrap();
    let killed = Instant::now();
    wait_for("the second scheduler to lead", || async {
        (lease_holder(&c).await.as_deref() == Some("second")).then_some(())
    })
    .await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(5), "failover took {took:?}");

    pods.create(&pp, &cpu_pod("after", "100m")).await.unwrap();
    wait_bound(&pods, "after").await;
    assert_eq!(scheduled_by(&c, "after").await, "second");

    let _ = second.kill();
    let _ = second.wait();
}
