//! End-to-end: `minik up --runtime process`, driven through the API with kube-rs, for the pod
//! life the seed document describes (sections 1-7).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Minik;
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams};
use serde_json::json;

/// A running `minik up --runtime process`; its pods' processes are killed when dropped.
struct Cluster {
    minik: Minik,
    pods: Api<Pod>,
    events: Api<Event>,
    _keep: Option<tempfile::TempDir>,
}

impl Cluster {
    async fn up(extra: &[&str]) -> Cluster {
        let mut args = vec!["--runtime", "process"];
        args.extend_from_slice(extra);
        let minik = tokio::task::block_in_place(|| Minik::start("up", &args));
        Cluster::connect(minik).await
    }

    async fn connect(minik: Minik) -> Cluster {
        let opts = minik_client::ConnectOptions { server: Some(minik.url.clone()), ..Default::default() };
        let client = minik_client::connect(&opts).await.unwrap();
        Cluster {
            pods: Api::namespaced(client.clone(), "default"),
            events: Api::namespaced(client, "default"),
            minik,
            _keep: None,
        }
    }

    /// SIGKILLs `minik` (agent included) and starts it again on the same data.
    async fn restart(&mut self, args: &[&str]) {
        self.minik.kill9();
        if let Some(t) = self.minik.take_tempdir() {
            self._keep = Some(t);
        }
        let data_dir = self.minik.data_dir.clone();
        self.minik = tokio::task::block_in_place(|| Minik::start_in("up", &data_dir, args));
        let opts = minik_client::ConnectOptions { server: Some(self.minik.url.clone()), ..Default::default() };
        let client = minik_client::connect(&opts).await.unwrap();
        self.pods = Api::namespaced(client.clone(), "default");
        self.events = Api::namespaced(client, "default");
    }

    fn runtime_dir(&self) -> PathBuf {
        self.minik.data_dir.join("agent").join("runtime")
    }

    async fn create(&self, pod: serde_json::Value) -> Pod {
        common::pods::create(&self.pods, pod).await
    }

    /// Polls the pod until `check` holds, or panics with the last state and the agent's log.
    async fn wait(&self, name: &str, what: &str, timeout: Duration, check: impl Fn(&Pod) -> bool) -> Pod {
        common::pods::wait(&self.pods, name, what, timeout, check, || self.minik.log()).await
    }

    async fn wait_gone(&self, name: &str, timeout: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.pods.get_opt(name).await.unwrap().is_none() {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pod {name} still there after {timeout:?}\nlog:\n{}", self.minik.log());
    }

    /// Runs a command in a container through the API's exec (WebSocket); (stdout, exit code).
    async fn exec(&self, pod: &str, container: &str, cmd: &[&str], stdin: Option<&str>) -> (String, i32) {
        common::pods::exec(&self.pods, pod, container, cmd, stdin).await
    }

    async fn event_reasons(&self, pod: &str) -> Vec<String> {
        let list = self.events.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(pod))
            .filter_map(|e| e.reason)
            .collect()
    }

    async fn logs(&self, pod: &str, container: &str, previous: bool) -> String {
        let lp = LogParams { container: Some(container.into()), previous, ..Default::default() };
        self.pods.logs(pod, &lp).await.unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.minik.kill9();
        kill_pods(&self.runtime_dir());
    }
}

/// Pods outlive their agent by design; tests clean up after themselves from the runtime's state.
fn kill_pods(runtime_dir: &Path) {
    let mut pids = Vec::new();
    for (sub, file, key) in
        [("containers", "started.json", "pid"), ("containers", "shim.json", ""), ("sandboxes", "sandbox.json", "pause")]
    {
        let Ok(entries) = std::fs::read_dir(runtime_dir.join(sub)) else { continue };
        for e in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(e.path().join(file)) else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            let v = if key.is_empty() { v } else { v[key].clone() };
            if let Some(pid) = v["pid"].as_i64() {
                pids.push(pid);
            }
        }
    }
    for pid in pids {
        let _ = std::process::Command::new("kill").args(["-9", "--", &format!("-{pid}")]).output();
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).output();
    }
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn condition(p: &Pod, type_: &str) -> bool {
    p.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == type_ && c.status == "True")
}

fn container_status<'a>(p: &'a Pod, name: &str) -> Option<&'a k8s_openapi::api::core::v1::ContainerStatus> {
    let s = p.status.as_ref()?;
    s.container_statuses.iter().chain(s.init_container_statuses.iter()).flatten().find(|c| c.name == name)
}

fn restarts(p: &Pod, name: &str) -> i32 {
    container_status(p, name).map(|c| c.restart_count).unwrap_or(0)
}

fn waiting_reason(p: &Pod, name: &str) -> Option<String> {
    container_status(p, name)?.state.as_ref()?.waiting.as_ref()?.reason.clone()
}

fn running(p: &Pod) -> bool {
    phase(p) == "Running" && condition(p, "Ready")
}

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_pods_share_volumes_and_localhost_env_exec_and_logs() {
    let c = Cluster::up(&[]).await;
    // §4.1/4.2: two containers share an emptyDir and the pod's localhost.
    c.create(json!({
        "metadata": {"name": "test-pod1"},
        "spec": {
            "containers": [
                {"name": "nginx1", "image": "nginx",
                 "command": ["python3", "-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", "/cache"],
                 "volumeMounts": [{"mountPath": "/cache", "name": "cache-volume"}]},
                {"name": "bs1", "image": "busybox",
                 "command": ["/bin/sh", "-c", "echo hello from bs1 > /cache/index.html; sleep 3600"],
                 "volumeMounts": [{"mountPath": "/cache", "name": "cache-volume"}]}
            ],
            "volumes": [{"name": "cache-volume", "emptyDir": {"sizeLimit": "500Mi"}}]
        }
    }))
    .await;
    let pod = c.wait("test-pod1", "Running", T, running).await;
    let status = pod.status.clone().unwrap();
    assert!(status.pod_ip.is_some() && status.host_ip.is_some() && status.start_time.is_some());
    for cond in ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"] {
        assert!(condition(&pod, cond), "{cond}");
    }
    assert!(!Path::new("/cache/index.html").exists(), "the volume must not appear on the host");
    let fetch = "import urllib.request,time\nfor i in range(50):\n  try:\n    print(urllib.request.urlopen('http://localhost:8080/index.html').read().decode(), end=''); break\n  except Exception: time.sleep(0.1)";
    let (out, code) = c.exec("test-pod1", "bs1", &["python3", "-c", fetch], None).await;
    assert_eq!((out.as_str(), code), ("hello from bs1\n", 0));
    let (out, _) = c.exec("test-pod1", "bs1", &["hostname"], None).await;
    assert_eq!(out.trim(), "test-pod1");

    // exec: exit codes and stdin.
    let (_, code) = c.exec("test-pod1", "bs1", &["sh", "-c", "exit 3"], None).await;
    assert_eq!(code, 3);
    let (out, code) = c.exec("test-pod1", "bs1", &["cat"], Some("piped input\n")).await;
    assert_eq!((out.as_str(), code), ("piped input\n", 0));

    // §6: env values, $(VAR) expansion, and the resource fields of the seed's example.
    c.create(json!({
        "metadata": {"name": "test-env-demo", "labels": {"app": "env"}},
        "spec": {"containers": [{
            "name": "test-env-demo-container", "image": "goweb-demo",
            "command": ["sh", "-c"], "args": ["echo started $(SAVE_TIME) '$$(SAVE_TIME)'; sleep 3600"],
            "resources": {"requests": {"memory": "32Mi", "cpu": "125m"}, "limits": {"memory": "64Mi", "cpu": "250m"}},
            "env": [
                {"name": "SAVE_TIME", "value": "60"},
                {"name": "MAX_CONN", "value": "1024"},
                {"name": "DNS_ADDR", "value": "8.8.8.8"},
                {"name": "CONN_DESC", "value": "max=$(MAX_CONN)"},
                {"name": "CPU_REQUEST", "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": "requests.cpu"}}},
                {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": "limits.cpu"}}},
                {"name": "MEM_REQUEST", "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": "requests.memory"}}},
                {"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": "limits.memory"}}},
                {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MY_APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
            ]
        }]}
    }))
    .await;
    let pod = c.wait("test-env-demo", "Running", T, running).await;
    let (env, _) = c.exec("test-env-demo", "test-env-demo-container", &["printenv"], None).await;
    let pod_ip = pod.status.unwrap().pod_ip.unwrap();
    for want in [
        "HOSTNAME=test-env-demo".to_string(),
        "SAVE_TIME=60".into(),
        "MAX_CONN=1024".into(),
        "DNS_ADDR=8.8.8.8".into(),
        "CONN_DESC=max=1024".into(),
        "CPU_REQUEST=1".into(),
        "CPU_LIMIT=1".into(),
        "MEM_REQUEST=33554432".into(),
        "MEM_LIMIT=67108864".into(),
        "MY_POD=test-env-demo".into(),
        "MY_APP=env".into(),
        format!("MY_IP={pod_ip}"),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing from:\n{env}");
    }
    let logs = c.logs("test-env-demo", "test-env-demo-container", false).await;
    assert_eq!(logs, "started 60 $(SAVE_TIME)\n");

    // logs -f: follows new lines as they are written.
    c.create(json!({
        "metadata": {"name": "ticker"},
        "spec": {"containers": [{"name": "t", "image": "busybox", "command": ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]}]}
    }))
    .await;
    c.wait("ticker", "Running", T, running).await;
    let lp = LogParams { container: Some("t".into()), follow: true, ..Default::default() };
    let mut lines = c.pods.log_stream("ticker", &lp).await.unwrap().lines();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next()).await.unwrap().unwrap().unwrap();
        seen.push(line);
    }
    assert_eq!(seen, (0..5).map(|i| format!("tick {i}")).collect::<Vec<_>>());
    let lp = LogParams { container: Some("t".into()), tail_lines: Some(1), timestamps: true, ..Default::default() };
    let tail = c.pods.logs("ticker", &lp).await.unwrap();
    assert_eq!(tail.lines().count(), 1);
    assert!(tail.split(' ').next().unwrap().parse::<k8s_openapi::jiff::Timestamp>().is_ok(), "{tail}");

    // A container without a command cannot run on the process runtime.
    c.create(json!({"metadata": {"name": "nocmd"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}})).await;
    let pod = c
        .wait("nocmd", "CreateContainerConfigError", T, |p| {
            waiting_reason(p, "web").as_deref() == Some("CreateContainerConfigError")
        })
        .await;
    let msg = container_status(&pod, "web").unwrap().state.clone().unwrap().waiting.unwrap().message.unwrap();
    assert!(msg.contains("has no command"), "{msg}");
    // Args alone would run after the image's Entrypoint, which this runtime does not know.
    c.create(json!({"metadata": {"name": "argsonly"},
        "spec": {"containers": [{"name": "web", "image": "nginx", "args": ["-g", "daemon off;"]}]}}))
        .await;
    let pod = c
        .wait("argsonly", "CreateContainerConfigError", T, |p| {
            waiting_reason(p, "web").as_deref() == Some("CreateContainerConfigError")
        })
        .await;
    let msg = container_status(&pod, "web").unwrap().state.clone().unwrap().waiting.unwrap().message.unwrap();
    assert!(msg.contains("has no command"), "{msg}");

    // The process runtime records images and never pulls: every pull policy runs the command.
    let pod = |name: &str, policy: &str| {
        json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "minik-test/absent:1.0",
            "imagePullPolicy": policy, "command": ["sleep", "3600"]}]}})
    };
    for (name, policy) in [("never", "Never"), ("always", "Always")] {
        c.create(pod(name, policy)).await;
        c.wait(name, "Running", T, running).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_hooks_and_graceful_deletion() {
    let c = Cluster::up(&[]).await;
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().display().to_string();
    // §7.4: init containers run in order, each waits for its condition; then the main container.
    c.create(json!({
        "metadata": {"name": "init-demo"},
        "spec": {
            "initContainers": [
                {"name": "init-myservice-1", "image": "busybox",
                 "command": ["sh", "-c", "until [ -f /work/go ]; do echo waiting for go; sleep 0.2; done; echo init1 >> /work/order"],
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
                {"name": "init-myservice-2", "image": "alpine",
                 "command": ["sh", "-c", "echo init2 >> /work/order"],
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]}
            ],
            "containers": [{"name": "my-init-demo", "image": "app",
                "command": ["sh", "-c", "echo main >> /work/order; echo the app is running!; sleep 3600"],
                "lifecycle": {
                    "postStart": {"exec": {"command": ["sh", "-c", "echo poststart >> /work/hooks"]}},
                    "preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /work/hooks; sleep 2"]}}
                },
                "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
            "terminationGracePeriodSeconds": 10,
            "volumes": [{"name": "work", "hostPath": {"path": dir, "type": "Directory"}}]
        }
    }))
    .await;
    let pod = c
        .wait("init-demo", "the first init container running", T, |p| {
            container_status(p, "init-myservice-1")
                .is_some_and(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
        })
        .await;
    assert_eq!(phase(&pod), "Pending");
    assert!(!condition(&pod, "Initialized"));
    assert_eq!(waiting_reason(&pod, "my-init-demo").as_deref(), Some("PodInitializing"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!shared.path().join("order").exists(), "nothing runs before the condition holds");
    let logs = c.logs("init-demo", "init-myservice-1", false).await;
    assert!(logs.starts_with("waiting for go\n"), "{logs}");
    std::fs::write(shared.path().join("go"), "").unwrap();
    let pod = c.wait("init-demo", "Running", T, running).await;
    assert!(condition(&pod, "Initialized"));
    let init = pod.status.as_ref().unwrap().init_container_statuses.clone().unwrap();
    for s in &init {
        let t = s.state.clone().unwrap().terminated.unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")), "{}", s.name);
    }
    assert_eq!(std::fs::read_to_string(shared.path().join("order")).unwrap(), "init1\ninit2\nmain\n");
    assert_eq!(std::fs::read_to_string(shared.path().join("hooks")).unwrap(), "poststart\n");

    // §7 termination: preStop runs (and takes its time), then SIGTERM; the agent finishes the delete.
    let started = Instant::now();
    c.pods.delete("init-demo", &DeleteParams::default()).await.unwrap();
    let deleting = c.pods.get("init-demo").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    c.wait_gone("init-demo", T).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "preStop sleeps 2s, the delete took {took:?}");
    assert!(took < Duration::from_secs(9), "the container stops on SIGTERM after preStop, took {took:?}");
    assert_eq!(std::fs::read_to_string(shared.path().join("hooks")).unwrap(), "poststart\nprestop\n");
    let reasons = c.event_reasons("init-demo").await;
    for r in ["Pulled", "Created", "Started", "Killing"] {
        assert!(reasons.iter().any(|x| x == r), "{r} missing from {reasons:?}");
    }

    // A failing postStart hook kills the container (and it is restarted).
    c.create(json!({
        "metadata": {"name": "bad-hook"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
            "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "exit 7"]}}}}]}
    }))
    .await;
    c.wait("bad-hook", "a restart", T, |p| restarts(p, "c") >= 1).await;
    assert!(c.event_reasons("bad-hook").await.iter().any(|r| r == "FailedPostStartHook"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_fail_and_recover() {
    let c = Cluster::up(&[]).await;
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().display().to_string();
    let vol = json!([{"name": "ctl", "hostPath": {"path": dir, "type": "Directory"}}]);
    let mount = json!([{"name": "ctl", "mountPath": "/ctl"}]);
    c.create(json!({
        "metadata": {"name": "probes"},
        "spec": {
            "containers": [
                // readiness (exec) follows a file; liveness (httpGet) and startup (tcpSocket) hit a server.
                {"name": "web", "image": "python",
                 "command": ["python3", "-m", "http.server", "8081"],
                 "startupProbe": {"tcpSocket": {"port": 8081}, "periodSeconds": 1, "failureThreshold": 30},
                 "livenessProbe": {"httpGet": {"path": "/", "port": 8081}, "periodSeconds": 1},
                 "readinessProbe": {"exec": {"command": ["test", "-f", "/ctl/ready"]}, "periodSeconds": 1, "failureThreshold": 1},
                 "volumeMounts": mount.clone()},
                // liveness fails while /ctl/sick exists: the container is restarted.
                {"name": "sick", "image": "busybox", "command": ["sleep", "3600"],
                 "livenessProbe": {"exec": {"command": ["sh", "-c", "! test -f /ctl/sick"]}, "periodSeconds": 1, "failureThreshold": 2},
                 "volumeMounts": mount}
            ],
            "terminationGracePeriodSeconds": 2,
            "volumes": vol
        }
    }))
    .await;
    let pod = c
        .wait("probes", "both containers started", T, |p| {
            phase(p) == "Running"
                && container_status(p, "web").is_some_and(|s| s.started == Some(true))
                && container_status(p, "sick").is_some_and(|s| s.ready)
        })
        .await;
    assert!(!container_status(&pod, "web").unwrap().ready, "not ready until /ctl/ready exists");
    assert!(!condition(&pod, "Ready"));
    std::fs::write(shared.path().join("ready"), "").unwrap();
    c.wait("probes", "Ready", T, |p| condition(p, "Ready")).await;
    std::fs::remove_file(shared.path().join("ready")).unwrap();
    c.wait("probes", "not Ready again", T, |p| !condition(p, "Ready") && phase(p) == "Running").await;

    std::fs::write(shared.path().join("sick"), "").unwrap();
    let pod = c.wait("probes", "a liveness restart", T, |p| restarts(p, "sick") >= 1).await;
    std::fs::remove_file(shared.path().join("sick")).unwrap();
    assert_eq!(restarts(&pod, "web"), 0);
    let last = container_status(&pod, "sick").unwrap().last_state.clone().unwrap().terminated.unwrap();
    assert_ne!(last.exit_code, 0);
    c.wait("probes", "sick running again", T, |p| container_status(p, "sick").is_some_and(|s| s.ready)).await;
    let reasons = c.event_reasons("probes").await;
    assert!(reasons.iter().any(|r| r == "Unhealthy"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "Killing"), "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_backoff_and_previous_logs() {
    let c = Cluster::up(&[]).await;
    let failing = |name: &str, policy: &str, script: &str| {
        json!({"metadata": {"name": name}, "spec": {"restartPolicy": policy,
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}})
    };
    c.create(failing("always", "Always", "echo run; exit 1")).await;
    c.create(failing("onfailure-ok", "OnFailure", "echo done")).await;
    c.create(failing("onfailure-bad", "OnFailure", "exit 2")).await;
    c.create(failing("never", "Never", "echo bye; exit 1")).await;

    let pod = c.wait("onfailure-ok", "Succeeded", T, |p| phase(p) == "Succeeded").await;
    let t = container_status(&pod, "c").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    let pod = c.wait("never", "Failed", T, |p| phase(p) == "Failed").await;
    let t = container_status(&pod, "c").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (1, Some("Error")));
    assert_eq!(restarts(&pod, "c"), 0);
    assert_eq!(c.logs("never", "c", false).await, "bye\n");

    // Always: restarted at once, then after 10 s (CrashLoopBackOff), keeping lastState.
    let pod = c
        .wait("always", "CrashLoopBackOff", T, |p| waiting_reason(p, "c").as_deref() == Some("CrashLoopBackOff"))
        .await;
    assert_eq!(phase(&pod), "Running");
    assert!(restarts(&pod, "c") >= 1);
    let cs = container_status(&pod, "c").unwrap();
    assert!(cs
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap()
        .starts_with("back-off 10s restarting failed container=c"));
    assert_eq!(cs.last_state.clone().unwrap().terminated.unwrap().exit_code, 1);
    assert_eq!(c.logs("always", "c", true).await, "run\n");
    let first = Instant::now();
    let n = restarts(&pod, "c");
    let pod =
        c.wait("always", "the restart after the back-off", Duration::from_secs(25), |p| restarts(p, "c") > n).await;
    assert!(first.elapsed() > Duration::from_secs(5), "back-off respected, restarted after {:?}", first.elapsed());
    assert!(restarts(&pod, "c") >= 2);
    assert!(c.event_reasons("always").await.iter().any(|r| r == "BackOff"));

    let pod = c.wait("onfailure-bad", "restarted", T, |p| restarts(p, "c") >= 1).await;
    assert_eq!(phase(&pod), "Running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pods_mirrors_and_agent_restart_adoption() {
    let manifests = tempfile::tempdir().unwrap();
    let manifest_dir = manifests.path().display().to_string();
    std::fs::write(
        manifests.path().join("static_pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test-static-pod\nspec:\n  containers:\n  - name: test-container\n    image: goweb-demo\n    command: [\"/bin/sh\", \"-c\", \"while true; do echo 'Hello, world!'; sleep 10; done\"]\n",
    )
    .unwrap();
    let mut c = Cluster::up(&["--node-name", "node01", "--pod-manifest-path", &manifest_dir]).await;
    // The static pod runs with a mirror `<name>-<node>` in the API.
    let mirror = c.wait("test-static-pod-node01", "Running", T, running).await;
    let annotations = mirror.metadata.annotations.clone().unwrap();
    assert!(annotations.contains_key("kubernetes.io/config.mirror"));
    assert_eq!(c.logs("test-static-pod-node01", "test-container", false).await, "Hello, world!\n");
    // Deleting the mirror does not stop the pod: the mirror comes back, same container.
    let before = container_status(&mirror, "test-container").unwrap().container_id.clone();
    c.pods.delete("test-static-pod-node01", &DeleteParams::default()).await.unwrap();
    let old_uid = mirror.metadata.uid.clone();
    let back =
        c.wait("test-static-pod-node01", "the mirror back", T, |p| p.metadata.uid != old_uid && running(p)).await;
    assert_eq!(container_status(&back, "test-container").unwrap().container_id, before);

    // An API pod, then the agent is killed and restarted: nothing restarts.
    c.create(json!({"metadata": {"name": "survivor"}, "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}})).await;
    let pod = c.wait("survivor", "Running", T, running).await;
    let id = container_status(&pod, "c").unwrap().container_id.clone();
    c.restart(&["--runtime", "process", "--node-name", "node01", "--pod-manifest-path", &manifest_dir]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pod = c.wait("survivor", "Running after the restart", T, running).await;
    assert_eq!(container_status(&pod, "c").unwrap().container_id, id);
    assert_eq!(restarts(&pod, "c"), 0);
    let (out, _) = c.exec("survivor", "c", &["echo", "still here"], None).await;
    assert_eq!(out, "still here\n");
    let mirror = c.wait("test-static-pod-node01", "Running after the restart", T, running).await;
    assert_eq!(container_status(&mirror, "test-container").unwrap().container_id, before);

    // Removing the manifest stops the static pod and removes its mirror.
    std::fs::remove_file(manifests.path().join("static_pod.yaml")).unwrap();
    c.wait_gone("test-static-pod-node01", T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_pid_namespace_limits_and_downward_volumes() {
    let c = Cluster::up(&[]).await;
    // shareProcessNamespace: containers see each other's processes, with pause as PID 1.
    c.create(json!({
        "metadata": {"name": "shared", "labels": {"tier": "front"}},
        "spec": {
            "shareProcessNamespace": true,
            "containers": [
                {"name": "a", "image": "busybox", "command": ["sleep", "3600"]},
                {"name": "b", "image": "busybox", "command": ["sleep", "3601"],
                 "volumeMounts": [{"name": "info", "mountPath": "/etc/podinfo", "readOnly": true}]}
            ],
            "volumes": [{"name": "info", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}
            ]}}]
        }
    }))
    .await;
    c.wait("shared", "Running", T, running).await;
    let ps = "for p in /proc/[0-9]*; do echo \"$(basename $p) $(tr '\\0' ' ' < $p/cmdline)\"; done";
    let (out, _) = c.exec("shared", "b", &["sh", "-c", ps], None).await;
    assert!(out.lines().any(|l| l.starts_with("1 ") && l.contains("pause")), "{out}");
    assert!(out.lines().any(|l| l.contains("sleep 3600")), "{out}");
    let (out, _) = c.exec("shared", "b", &["cat", "/etc/podinfo/labels", "/etc/podinfo/name"], None).await;
    assert_eq!(out, "tier=\"front\"shared");
    let (_, code) = c.exec("shared", "b", &["sh", "-c", "echo x > /etc/podinfo/new"], None).await;
    assert_ne!(code, 0, "readOnly mounts are read-only");
    assert!(!Path::new("/etc/podinfo").exists(), "mount paths never appear on the host");

    // A memory limit is enforced: the container is OOMKilled.
    c.create(json!({
        "metadata": {"name": "oom"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "hog", "image": "python",
            "command": ["python3", "-c", "x = bytearray(300 * 1024 * 1024); print(len(x))"],
            "resources": {"limits": {"memory": "50Mi"}}}]}
    }))
    .await;
    let pod = c.wait("oom", "Failed", T, |p| phase(p) == "Failed").await;
    let t = container_status(&pod, "hog").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
}
