//! End-to-end: the pod life the seed document describes (sections 1-7), one suite run against
//! each runtime that runs real containers — `minik up --runtime process` and `--runtime docker` —
//! driven through the API with kube-rs. Every scenario uses the local busybox image and only
//! commands busybox has, so the same pod runs from the image on Docker and from the host on
//! the process runtime. What only one runtime does is tested in its own file.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cluster::{
    condition, container_status, phase, ready, restarts, waiting, waiting_reason, Cluster, Runtime, BUSYBOX,
};
use futures::{AsyncBufReadExt, StreamExt};
use kube::api::{DeleteParams, LogParams};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

/// Each scenario as a test per runtime: `process::<scenario>` and `docker::<scenario>`.
macro_rules! on_each_runtime {
    ($($scenario:ident),* $(,)?) => {
        mod process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Runtime::Process).await
                }
            )*
        }
        mod docker {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Runtime::Docker).await
                }
            )*
        }
    };
}

on_each_runtime!(
    seed_pods_share_volumes_localhost_and_hostname,
    env_values_field_and_resource_refs,
    logs_follow_tail_and_timestamps,
    init_containers_hooks_and_graceful_deletion,
    probes_fail_and_recover,
    restart_policies_backoff_and_previous_logs,
    static_pods_mirrors_and_agent_restart_adoption,
    shared_pid_namespace_downward_volumes_and_oom,
);

/// A container of the busybox image running `sh -c script`.
fn sh(name: &str, script: &str) -> serde_json::Value {
    json!({"name": name, "image": BUSYBOX, "command": ["sh", "-c", script]})
}

async fn seed_pods_share_volumes_localhost_and_hostname(rt: Runtime) {
    let c = Cluster::up(rt).await;
    // §4.1/4.2: two containers share an emptyDir and the pod's localhost.
    let mut server = sh("nginx1", "echo server up; exec busybox httpd -f -p 8080 -h /cache");
    let mut writer = sh("bs1", "echo hello from bs1 > /cache/index.html; exec sleep 3600");
    for container in [&mut server, &mut writer] {
        container["volumeMounts"] = json!([{"mountPath": "/cache", "name": "cache-volume"}]);
    }
    c.create(json!({
        "metadata": {"name": "test-pod1"},
        "spec": {
            "containers": [server, writer],
            "volumes": [{"name": "cache-volume", "emptyDir": {"sizeLimit": "500Mi"}}]
        }
    }))
    .await;
    let pod = c.wait("test-pod1", "Running", T, ready).await;
    let status = pod.status.clone().unwrap();
    assert!(status.pod_ip.is_some() && status.host_ip.is_some() && status.start_time.is_some());
    for cond in ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"] {
        assert!(condition(&pod, cond), "{cond}");
    }
    assert!(!Path::new("/cache/index.html").exists(), "the volume must not appear on the host");
    let fetch =
        "for i in $(seq 50); do busybox wget -qO- http://localhost:8080/index.html && exit 0; sleep 0.1; done; exit 1";
    let (out, code) = c.exec("test-pod1", "bs1", &["sh", "-c", fetch], None).await;
    assert_eq!((out.as_str(), code), ("hello from bs1\n", 0));
    let (out, _) = c.exec("test-pod1", "bs1", &["hostname"], None).await;
    assert_eq!(out.trim(), "test-pod1");
    assert_eq!(c.logs_until("test-pod1", "nginx1", "server up").await, "server up\n");

    // exec: exit codes and stdin.
    let (_, code) = c.exec("test-pod1", "bs1", &["sh", "-c", "exit 3"], None).await;
    assert_eq!(code, 3);
    let (out, code) = c.exec("test-pod1", "bs1", &["cat"], Some("piped input\n")).await;
    assert_eq!((out.as_str(), code), ("piped input\n", 0));

    // Deleting the pod stops its containers and removes it.
    c.pods.delete("test-pod1", &DeleteParams { grace_period_seconds: Some(1), ..Default::default() }).await.unwrap();
    c.wait_gone("test-pod1", T).await;
    if rt == Runtime::Docker {
        let start = Instant::now();
        while !c.containers(None).is_empty() {
            assert!(start.elapsed() < T, "containers left: {:?}\n{}", c.containers(None), c.minik.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn env_values_field_and_resource_refs(rt: Runtime) {
    let c = Cluster::up(rt).await;
    // §6: env values, $(VAR) expansion, and the resource fields of the seed's example.
    let resource = |name: &str, resource: &str| json!({"name": name, "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": resource}}});
    let field = |name: &str, path: &str| json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}});
    c.create(json!({
        "metadata": {"name": "test-env-demo", "labels": {"app": "env"}},
        "spec": {"containers": [{
            "name": "test-env-demo-container", "image": BUSYBOX,
            "command": ["sh", "-c"], "args": ["echo started $(SAVE_TIME) '$$(SAVE_TIME)'; exec sleep 3600"],
            "resources": {"requests": {"memory": "32Mi", "cpu": "125m"}, "limits": {"memory": "64Mi", "cpu": "250m"}},
            "env": [
                {"name": "SAVE_TIME", "value": "60"},
                {"name": "MAX_CONN", "value": "1024"},
                {"name": "DNS_ADDR", "value": "8.8.8.8"},
                {"name": "CONN_DESC", "value": "max=$(MAX_CONN)"},
                resource("CPU_REQUEST", "requests.cpu"),
                resource("CPU_LIMIT", "limits.cpu"),
                resource("MEM_REQUEST", "requests.memory"),
                resource("MEM_LIMIT", "limits.memory"),
                field("MY_POD", "metadata.name"),
                field("MY_APP", "metadata.labels['app']"),
                field("MY_IP", "status.podIP")
            ]
        }]}
    }))
    .await;
    let pod = c.wait("test-env-demo", "Running", T, ready).await;
    let (env, _) = c.exec("test-env-demo", "test-env-demo-container", &["env"], None).await;
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
    let logs = c.logs_until("test-env-demo", "test-env-demo-container", "started").await;
    assert_eq!(logs, "started 60 $(SAVE_TIME)\n");
}

async fn logs_follow_tail_and_timestamps(rt: Runtime) {
    let c = Cluster::up(rt).await;
    c.create(json!({
        "metadata": {"name": "ticker"},
        "spec": {"containers": [sh("t", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")]}
    }))
    .await;
    c.wait("ticker", "Running", T, ready).await;
    // -f follows new lines as they are written, from the first.
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
    assert_eq!(tail.lines().count(), 1, "{tail}");
    let (stamp, line) = tail.split_once(' ').unwrap();
    assert!(stamp.parse::<k8s_openapi::jiff::Timestamp>().is_ok(), "{tail}");
    assert!(line.starts_with("tick "), "{tail}");
}

async fn init_containers_hooks_and_graceful_deletion(rt: Runtime) {
    let c = Cluster::up(rt).await;
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().display().to_string();
    let work = json!([{"name": "work", "mountPath": "/work"}]);
    let mut init1 = sh(
        "init-myservice-1",
        "until [ -f /work/go ]; do echo waiting for go; sleep 0.2; done; echo init1 >> /work/order",
    );
    let mut init2 = sh("init-myservice-2", "echo init2 >> /work/order");
    // The app stops on SIGTERM (a shell that is PID 1 of its namespace needs the trap to).
    let mut main = sh(
        "my-init-demo",
        "trap 'exit 0' TERM; echo main >> /work/order; echo the app is running!; while true; do sleep 0.2; done",
    );
    for container in [&mut init1, &mut init2, &mut main] {
        container["volumeMounts"] = work.clone();
    }
    main["lifecycle"] = json!({
        "postStart": {"exec": {"command": ["sh", "-c", "echo poststart >> /work/hooks"]}},
        "preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /work/hooks; sleep 2"]}}
    });
    // §7.4: init containers run in order, each waits for its condition; then the main container.
    c.create(json!({
        "metadata": {"name": "init-demo"},
        "spec": {
            "initContainers": [init1, init2],
            "containers": [main],
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
    let logs = c.logs_until("init-demo", "init-myservice-1", "waiting for go\n").await;
    assert!(logs.starts_with("waiting for go\n"), "{logs}");
    assert!(!shared.path().join("order").exists(), "nothing runs before the condition holds");
    std::fs::write(shared.path().join("go"), "").unwrap();
    let pod = c.wait("init-demo", "Running", T, ready).await;
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
    let mut bad = sh("c", "exec sleep 3600");
    bad["lifecycle"] = json!({"postStart": {"exec": {"command": ["sh", "-c", "exit 7"]}}});
    c.create(
        json!({"metadata": {"name": "bad-hook"}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [bad]}}),
    )
    .await;
    c.wait("bad-hook", "a restart", T, |p| restarts(p, "c") >= 1).await;
    assert!(c.event_reasons("bad-hook").await.iter().any(|r| r == "FailedPostStartHook"));
}

async fn probes_fail_and_recover(rt: Runtime) {
    let c = Cluster::up(rt).await;
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().display().to_string();
    let ctl = json!({"name": "ctl", "mountPath": "/ctl"});
    // readiness (exec) follows a file; liveness (httpGet) and startup (tcpSocket) hit a server.
    let mut web = sh("web", "echo ok > /srv/index.html; exec busybox httpd -f -p 8081 -h /srv");
    web["startupProbe"] = json!({"tcpSocket": {"port": 8081}, "periodSeconds": 1, "failureThreshold": 30});
    web["livenessProbe"] = json!({"httpGet": {"path": "/", "port": 8081}, "periodSeconds": 1});
    web["readinessProbe"] =
        json!({"exec": {"command": ["test", "-f", "/ctl/ready"]}, "periodSeconds": 1, "failureThreshold": 1});
    web["volumeMounts"] = json!([ctl, {"name": "srv", "mountPath": "/srv"}]);
    // liveness fails while /ctl/sick exists: the container is restarted.
    let mut sick = sh("sick", "exec sleep 3600");
    sick["livenessProbe"] =
        json!({"exec": {"command": ["sh", "-c", "! test -f /ctl/sick"]}, "periodSeconds": 1, "failureThreshold": 2});
    sick["volumeMounts"] = json!([ctl]);
    c.create(json!({
        "metadata": {"name": "probes"},
        "spec": {
            "containers": [web, sick],
            "terminationGracePeriodSeconds": 2,
            "volumes": [{"name": "ctl", "hostPath": {"path": dir, "type": "Directory"}}, {"name": "srv", "emptyDir": {}}]
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
    assert_eq!(restarts(&pod, "web"), 0, "the web server stays live");
    let last = container_status(&pod, "sick").unwrap().last_state.clone().unwrap().terminated.unwrap();
    assert_ne!(last.exit_code, 0);
    c.wait("probes", "sick running again", T, |p| container_status(p, "sick").is_some_and(|s| s.ready)).await;
    let reasons = c.event_reasons("probes").await;
    assert!(reasons.iter().any(|r| r == "Unhealthy"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "Killing"), "{reasons:?}");
}

async fn restart_policies_backoff_and_previous_logs(rt: Runtime) {
    let c = Cluster::up(rt).await;
    let failing = |name: &str, policy: &str, script: &str| json!({"metadata": {"name": name}, "spec": {"restartPolicy": policy, "containers": [sh("c", script)]}});
    c.create(failing("always", "Always", "echo run; exit 1")).await;
    c.create(failing("onfailure-ok", "OnFailure", "echo done")).await;
    c.create(failing("onfailure-bad", "OnFailure", "exit 2")).await;
    c.create(failing("never", "Never", "echo bye; exit 1")).await;

    let pod = c.wait("onfailure-ok", "Succeeded", T, |p| phase(p) == "Succeeded").await;
    let t = container_status(&pod, "c").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(c.logs("onfailure-ok", "c", false).await, "done\n");
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
    let (_, message) = waiting(&pod, "c").unwrap();
    assert!(message.starts_with("back-off 10s restarting failed container=c"), "{message}");
    let cs = container_status(&pod, "c").unwrap();
    assert_eq!(cs.last_state.clone().unwrap().terminated.unwrap().exit_code, 1);
    // --previous: the logs of the attempt before the current one.
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

async fn static_pods_mirrors_and_agent_restart_adoption(rt: Runtime) {
    let manifests = tempfile::tempdir().unwrap();
    let manifest_dir = manifests.path().display().to_string();
    std::fs::write(
        manifests.path().join("static_pod.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test-static-pod\nspec:\n  containers:\n  - name: test-container\n    image: {BUSYBOX}\n    command: [\"/bin/sh\", \"-c\", \"while true; do echo 'Hello, world!'; sleep 10; done\"]\n"
        ),
    )
    .unwrap();
    let mut c = Cluster::up_with(rt, &["--pod-manifest-path", &manifest_dir]).await;
    // The static pod runs with a mirror `<name>-<node>` in the API.
    let mirror_name = format!("test-static-pod-{}", c.node_name);
    let mirror = c.wait(&mirror_name, "Running", T, ready).await;
    let annotations = mirror.metadata.annotations.clone().unwrap();
    assert!(annotations.contains_key("kubernetes.io/config.mirror"));
    assert_eq!(c.logs_until(&mirror_name, "test-container", "world").await, "Hello, world!\n");
    // Deleting the mirror does not stop the pod: the mirror comes back, same container.
    let before = container_status(&mirror, "test-container").unwrap().container_id.clone();
    c.pods.delete(&mirror_name, &DeleteParams::default()).await.unwrap();
    let old_uid = mirror.metadata.uid.clone();
    let back = c.wait(&mirror_name, "the mirror back", T, |p| p.metadata.uid != old_uid && ready(p)).await;
    assert_eq!(container_status(&back, "test-container").unwrap().container_id, before);

    // An API pod, then the agent is killed and restarted: nothing restarts.
    c.create(json!({"metadata": {"name": "survivor"}, "spec": {"containers": [sh("c", "exec sleep 3600")]}})).await;
    let pod = c.wait("survivor", "Running", T, ready).await;
    let id = container_status(&pod, "c").unwrap().container_id.clone();
    c.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pod = c.wait("survivor", "Running after the restart", T, ready).await;
    assert_eq!(container_status(&pod, "c").unwrap().container_id, id);
    assert_eq!(restarts(&pod, "c"), 0);
    let (out, _) = c.exec("survivor", "c", &["echo", "still here"], None).await;
    assert_eq!(out, "still here\n");
    let mirror = c.wait(&mirror_name, "Running after the restart", T, ready).await;
    assert_eq!(container_status(&mirror, "test-container").unwrap().container_id, before);

    // Removing the manifest stops the static pod and removes its mirror.
    std::fs::remove_file(manifests.path().join("static_pod.yaml")).unwrap();
    c.wait_gone(&mirror_name, T).await;
}

async fn shared_pid_namespace_downward_volumes_and_oom(rt: Runtime) {
    let c = Cluster::up(rt).await;
    // shareProcessNamespace: containers see each other's processes, with pause as PID 1.
    let mut b = sh("b", "exec sleep 3601");
    b["volumeMounts"] = json!([{"name": "info", "mountPath": "/etc/podinfo", "readOnly": true}]);
    c.create(json!({
        "metadata": {"name": "shared", "labels": {"tier": "front"}},
        "spec": {
            "shareProcessNamespace": true,
            "containers": [sh("a", "exec sleep 3600"), b],
            "volumes": [{"name": "info", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}
            ]}}]
        }
    }))
    .await;
    c.wait("shared", "Running", T, ready).await;
    let ps = "for p in /proc/[0-9]*; do echo \"$(basename $p) $(tr '\\0' ' ' < $p/cmdline)\"; done";
    let (out, _) = c.exec("shared", "b", &["sh", "-c", ps], None).await;
    assert!(out.lines().any(|l| l.starts_with("1 ") && l.contains("pause")), "{out}");
    assert!(out.lines().any(|l| l.contains("sleep 3600")), "{out}");
    let (out, _) = c.exec("shared", "b", &["cat", "/etc/podinfo/labels", "/etc/podinfo/name"], None).await;
    assert_eq!(out, "tier=\"front\"shared");
    let (_, code) = c.exec("shared", "b", &["sh", "-c", "echo x > /etc/podinfo/new"], None).await;
    assert_ne!(code, 0, "readOnly mounts are read-only");
    assert!(!Path::new("/etc/podinfo").exists(), "mount paths never appear on the host");

    // A memory limit is enforced: the shell holding 300 MiB is OOMKilled.
    let mut hog = sh("hog", "x=$(head -c 314572800 /dev/zero | tr '\\0' a); echo ${#x}");
    hog["resources"] = json!({"limits": {"memory": "50Mi"}});
    c.create(json!({"metadata": {"name": "oom"}, "spec": {"restartPolicy": "Never", "containers": [hog]}})).await;
    let pod = c.wait("oom", "Failed", T, |p| phase(p) == "Failed").await;
    let t = container_status(&pod, "hog").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
}
