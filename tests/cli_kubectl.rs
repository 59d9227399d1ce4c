//! The same commands through miniktl and the pinned real kubectl (1.32) against a running minik:
//! outputs, columns and exit codes must agree. Ages are masked (the two runs are not in the same
//! second), column positions are compared on the header line.

mod common;

use common::cli::{kc, mk, with_stdin};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{kubectl, miniktl, Minik};

fn k(m: &Minik) -> Command {
    kubectl(&m.url).expect("the pinned kubectl (kubectl.1.32 beside the kubectl dispatcher) must be installed")
}

/// Is this token an age such as `0s`, `3m49s`, `5d10h` (possibly inside `(...)`)?
fn is_age(tok: &str) -> bool {
    let t = tok.trim_start_matches('(');
    t.starts_with(|c: char| c.is_ascii_digit())
        && t.ends_with(['s', 'm', 'h', 'd', 'y'])
        && t.chars().all(|c| c.is_ascii_digit() || "smhdy".contains(c))
}

/// Whitespace collapsed and ages masked, line by line.
fn normalize(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().map(|t| if is_age(t) { "<age>" } else { t }).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where each header word of the first line starts.
fn header_columns(s: &str) -> Vec<usize> {
    let first = s.lines().next().unwrap_or("");
    let mut cols = Vec::new();
    let mut prev_space = true;
    for (i, c) in first.char_indices() {
        if c != ' ' && prev_space && (i == 0 || first[..i].ends_with("   ")) {
            cols.push(i);
        }
        prev_space = c == ' ';
    }
    cols
}

/// Runs `args` with both tools and asserts the same exit code, stdout and stderr (ages masked)
/// and the same column layout. Returns miniktl's stdout.
fn same(m: &Minik, args: &[&str]) -> String {
    let (mc, mo, me) = mk(m, args);
    let (kcode, ko, ke) = kc(m, args);
    assert_eq!(mc, kcode, "exit code of {args:?}\nminiktl: {mo}{me}\nkubectl: {ko}{ke}");
    assert_eq!(normalize(&mo), normalize(&ko), "stdout of {args:?}\nminiktl:\n{mo}\nkubectl:\n{ko}");
    assert_eq!(normalize(&me), normalize(&ke), "stderr of {args:?}\nminiktl:\n{me}\nkubectl:\n{ke}");
    assert_eq!(header_columns(&mo), header_columns(&ko), "columns of {args:?}\nminiktl:\n{mo}\nkubectl:\n{ko}");
    mo
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write manifest");
    p.display().to_string()
}

const SEED_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: test-pod1
  labels:
    app: web
    app.kubernetes.io/name: seed
spec:
  containers:
  - image: nginx
    name: nginx1
    volumeMounts:
    - mountPath: /cache
      name: cache-volume
  - image: busybox
    name: bs1
    command: [\"/bin/sh\", \"-c\", \"sleep 12h\"]
    volumeMounts:
    - mountPath: /cache
      name: cache-volume
  volumes:
  - name: cache-volume
    emptyDir:
      sizeLimit: 500Mi
";

const ENV_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: test-env-demo
spec:
  containers:
  - name: test-env-demo-container
    image: busybox
    command: [\"sleep\", \"3600\"]
    env:
    - name: SAVE_TIME
      value: \"60\"
    - name: MAX_CONN
      value: \"1024\"
    - name: DNS_ADDR
      value: \"8.8.8.8\"
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 200m, memory: 128Mi}
";

const OTHERS: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: \"1\", b: two}
---
apiVersion: v1
kind: Secret
metadata: {name: token}
type: Opaque
stringData: {t: abc}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
";

const NODE: &str = "apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {kubernetes.io/hostname: node-a, node-role.kubernetes.io/worker: \"\"}
";

#[test]
fn discovery_version_and_api_resources_agree() {
    let m = Minik::start("apiserver", &[]);
    let out = same(&m, &["api-resources"]);
    for line in ["pods ", "nodes ", "configmaps ", "leases ", "NAME "] {
        assert!(out.lines().any(|l| l.starts_with(line)), "{line} missing:\n{out}");
    }
    same(&m, &["api-resources", "-o", "name"]);
    same(&m, &["api-resources", "--namespaced=false"]);
    let (code, mo, _) = mk(&m, &["version"]);
    let (kcode, ko, _) = kc(&m, &["version"]);
    assert_eq!((code, kcode), (0, 0));
    let server = |s: &str| s.lines().find(|l| l.starts_with("Server Version: ")).map(String::from);
    assert!(server(&mo).is_some(), "{mo}");
    assert_eq!(server(&mo), server(&ko));
}

#[test]
fn get_in_every_form_agrees() {
    let m = Minik::start("apiserver", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = write(dir.path(), "pod1.yaml", SEED_POD);
    let env = write(dir.path(), "test-env.yaml", ENV_POD);
    let others = write(dir.path(), "others.yaml", OTHERS);
    let node = write(dir.path(), "node.yaml", NODE);
    // Nothing yet: both say so the same way.
    same(&m, &["get", "pods"]);
    same(&m, &["get", "pods", "-n", "nons"]);
    same(&m, &["get", "pods", "-A"]);
    for f in [&seed, &env, &others, &node] {
        let (code, out, err) = kc(&m, &["create", "-f", f]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let table = same(&m, &["get", "pods"]);
    assert!(table.starts_with("NAME            READY   STATUS    RESTARTS   AGE\n"), "{table}");
    for args in [
        &["get", "po"][..],
        &["get", "pods", "-o", "wide"],
        &["get", "pods", "-A"],
        &["get", "pods", "-A", "-o", "wide"],
        &["get", "pod", "test-pod1"],
        &["get", "pod/test-pod1", "pod/test-env-demo"],
        &["get", "pods", "-l", "app=web"],
        &["get", "pods", "-l", "app!=web"],
        &["get", "pods", "--field-selector", "metadata.name=test-env-demo"],
        &["get", "pods", "--show-labels"],
        &["get", "pods", "-L", "app,app.kubernetes.io/name"],
        &["get", "pods", "--sort-by=.metadata.name"],
        &["get", "pods", "--sort-by=.metadata.creationTimestamp"],
        &["get", "pods", "--no-headers"],
        &["get", "pods", "-o", "name"],
        &["get", "pods", "-o", "json"],
        &["get", "pods", "-o", "yaml"],
        &["get", "pod", "test-pod1", "-o", "yaml"],
        &["get", "pod", "test-pod1", "-o", "json"],
        &["get", "pods", "-o", "jsonpath={.items[0].metadata.name}"],
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.spec.containers[*].image}{\"\\n\"}{end}",
        ],
        &[
            "get",
            "pods",
            "-o",
            "custom-columns=NAME:.metadata.name,IMAGES:.spec.containers[*].image,NODE:.spec.nodeName",
        ],
        &["get", "cm"],
        &["get", "configmaps", "-A"],
        &["get", "secrets"],
        &["get", "svc"],
        &["get", "svc", "-o", "wide"],
        &["get", "cm,secret,svc"],
        &["get", "all"],
        &["get", "ns"],
        &["get", "namespaces", "default", "-o", "yaml"],
        &["get", "nodes"],
        &["get", "no", "-o", "wide"],
        &["get", "ev"],
        &["get", "leases", "-A"],
        &["get", "pod", "nope"],
        &["get", "pod", "test-pod1", "nope"],
        &["get", "foo"],
        &["get", "pods", "-o", "xml"],
    ] {
        same(&m, args);
    }
    // The seed's own commands.
    let names = same(&m, &["get", "pods", "test-pod1", "-o", "jsonpath={.spec.containers[*].name}"]);
    assert_eq!(names, "nginx1 bs1");
    let yaml = same(&m, &["get", "pod", "test-pod1", "-o", "yaml"]);
    assert!(yaml.lines().any(|l| l.trim() == "restartPolicy: Always"), "{yaml}");
    let phase = same(&m, &["get", "pod", "test-pod1", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Pending");
}

#[test]
fn create_apply_and_delete_agree() {
    let m = Minik::start("apiserver", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pod = |name: &str, image: &str, label: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{{label}}}\nspec:\n  containers:\n  - name: main\n    image: {image}\n    command: [sleep, \"3600\"]\n")
    };
    // create -f: created, then AlreadyExists with the file name; exit codes 0 and 1.
    for (tool, name) in [("m", "c1"), ("k", "c2")] {
        let f = write(dir.path(), &format!("{name}.yaml"), &pod(name, "busybox", "app: x"));
        let run_tool = |args: &[&str]| if tool == "m" { mk(&m, args) } else { kc(&m, args) };
        assert_eq!(run_tool(&["create", "-f", &f]), (0, format!("pod/{name} created\n"), String::new()));
        let (code, out, err) = run_tool(&["create", "-f", &f]);
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            format!("Error from server (AlreadyExists): error when creating {f:?}: pods {name:?} already exists\n")
        );
    }
    // An invalid pod: kubectl's "The Pod ... is invalid" wording from the server's causes.
    let bad = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: main\n",
    );
    same(&m, &["create", "-f", &bad]);
    let (code, _, err) = mk(&m, &["create", "-f", &bad]);
    assert_eq!(code, 1);
    assert!(err.starts_with("The Pod \"bad\" is invalid: "), "{err}");
    // apply three times: created, configured, unchanged; then server-side.
    for (tool, name) in [("m", "a1"), ("k", "a2")] {
        let run_tool = |args: &[&str]| if tool == "m" { mk(&m, args) } else { kc(&m, args) };
        let v1 = write(dir.path(), &format!("{name}-1.yaml"), &pod(name, "busybox:1.36", "app: a"));
        let v2 = write(dir.path(), &format!("{name}-2.yaml"), &pod(name, "busybox:1.37", "tier: backend"));
        assert_eq!(run_tool(&["apply", "-f", &v1]).1, format!("pod/{name} created\n"));
        assert_eq!(run_tool(&["apply", "-f", &v2]).1, format!("pod/{name} configured\n"));
        assert_eq!(run_tool(&["apply", "-f", &v2]).1, format!("pod/{name} unchanged\n"));
        assert_eq!(run_tool(&["apply", "-f", &v2, "--server-side"]).1, format!("pod/{name} serverside-applied\n"));
    }
    same(
        &m,
        &["get", "pods", "a1", "a2", "-o", "custom-columns=IMAGE:.spec.containers[0].image,LABELS:.metadata.labels"],
    );
    let labels = mk(&m, &["get", "pod", "a1", "-o", "jsonpath={.metadata.labels}"]).1;
    assert_eq!(labels, "{\"tier\":\"backend\"}");
    // delete: waits until gone; missing objects are errors; --force says so.
    assert_eq!(mk(&m, &["delete", "pod", "a1"]), (0, "pod \"a1\" deleted\n".into(), String::new()));
    assert_eq!(kc(&m, &["delete", "pod", "a2"]), (0, "pod \"a2\" deleted\n".into(), String::new()));
    same(&m, &["get", "pod", "a1"]);
    same(&m, &["delete", "pod", "a1"]);
    let (code, out, err) = mk(&m, &["delete", "pod", "c1", "--grace-period=0", "--force"]);
    let (kcode, kout, kerr) = kc(&m, &["delete", "pod", "c2", "--grace-period=0", "--force"]);
    assert_eq!((code, kcode), (0, 0));
    assert_eq!(out.replace("c1", "c2"), kout);
    assert_eq!(err, kerr);
    // delete -f and -l.
    let f = write(
        dir.path(),
        "d.yaml",
        &format!("{}---\n{}", pod("d1", "busybox", "grp: d"), pod("d2", "busybox", "grp: d")),
    );
    assert_eq!(mk(&m, &["create", "-f", &f]).0, 0);
    assert_eq!(mk(&m, &["delete", "-f", &f]).1, "pod \"d1\" deleted\npod \"d2\" deleted\n");
    same(&m, &["delete", "-f", &f]);
    assert_eq!(kc(&m, &["create", "-f", &f]).0, 0);
    let (code, out, _) = mk(&m, &["delete", "pods", "-l", "grp=d"]);
    assert_eq!((code, out.as_str()), (0, "pod \"d1\" deleted\npod \"d2\" deleted\n"));
    same(&m, &["get", "pods", "-l", "grp=d"]);
}

#[test]
fn run_label_annotate_agree() {
    let m = Minik::start("apiserver", &[]);
    assert_eq!(mk(&m, &["run", "r1", "--image=busybox", "--", "sleep", "3600"]).1, "pod/r1 created\n");
    assert_eq!(kc(&m, &["run", "r2", "--image=busybox", "--", "sleep", "3600"]).1, "pod/r2 created\n");
    let spec = |name: &str| {
        mk(
            &m,
            &[
                "get",
                "pod",
                name,
                "-o",
                "jsonpath={.spec.containers[0].args} {.spec.restartPolicy} {.metadata.labels.run}",
            ],
        )
        .1
    };
    assert_eq!(spec("r1"), "[\"sleep\",\"3600\"] Always r1");
    assert_eq!(spec("r2"), "[\"sleep\",\"3600\"] Always r2");
    let e1 = mk(
        &m,
        &[
            "run",
            "e1",
            "--image=busybox",
            "--restart=Never",
            "--env=A=1",
            "--labels=x=y",
            "--command",
            "--",
            "printenv",
        ],
    );
    let e2 = kc(
        &m,
        &[
            "run",
            "e2",
            "--image=busybox",
            "--restart=Never",
            "--env=A=1",
            "--labels=x=y",
            "--command",
            "--",
            "printenv",
        ],
    );
    assert_eq!((e1.0, e2.0), (0, 0));
    same(&m, &["get", "pods", "e1", "e2", "-o", "custom-columns=CMD:.spec.containers[0].command,ENV:.spec.containers[0].env[0].value,RESTART:.spec.restartPolicy,LABELS:.metadata.labels"]);
    for (verb, field) in [("label", "labels"), ("annotate", "annotations")] {
        let ed = if verb == "label" { "labeled" } else { "annotated" };
        assert_eq!(mk(&m, &[verb, "pod", "r1", "k1=v1"]).1, format!("pod/r1 {ed}\n"));
        assert_eq!(kc(&m, &[verb, "pod", "r2", "k1=v1"]).1, format!("pod/r2 {ed}\n"));
        let (code, _, err) = mk(&m, &[verb, "pod", "r1", "k1=v2"]);
        let (kcode, _, kerr) = kc(&m, &[verb, "pod", "r2", "k1=v2"]);
        assert_eq!((code, err.as_str()), (kcode, kerr.as_str()));
        if verb == "label" {
            assert_eq!(err, "error: 'k1' already has a value (v1), and --overwrite is false\n");
        } else {
            assert!(err.contains("'k1' already has a value (v1)"), "{err}");
        }
        assert_eq!(mk(&m, &[verb, "pod", "r1", "k1=v2", "--overwrite"]).1, format!("pod/r1 {ed}\n"));
        assert_eq!(kc(&m, &[verb, "pod", "r2", "k1=v2", "--overwrite"]).1, format!("pod/r2 {ed}\n"));
        let path = format!("jsonpath={{.metadata.{field}.k1}}");
        assert_eq!(mk(&m, &["get", "pod", "r1", "-o", &path]).1, "v2");
        assert_eq!(mk(&m, &["get", "pod", "r2", "-o", &path]).1, "v2");
        // kubectl says "unlabeled" but, for annotations, still "annotated".
        let removed = if verb == "label" { "unlabeled" } else { "annotated" };
        assert_eq!(mk(&m, &[verb, "pod", "r1", "k1-"]).1, format!("pod/r1 {removed}\n"));
        assert_eq!(kc(&m, &[verb, "pod", "r2", "k1-"]).1, format!("pod/r2 {removed}\n"));
        assert_eq!(mk(&m, &["get", "pod", "r1", "-o", &path]).1, "");
        same(&m, &[verb, "pod", "nope", "a=b"]);
    }
}

#[test]
fn kubectl_generators_create_objects_miniktl_reads() {
    let m = Minik::start("apiserver", &[]);
    assert_eq!(kc(&m, &["create", "configmap", "c1", "--from-literal=a=b"]).1, "configmap/c1 created\n");
    assert_eq!(kc(&m, &["create", "secret", "generic", "s1", "--from-literal=x=y"]).1, "secret/s1 created\n");
    assert_eq!(kc(&m, &["create", "namespace", "ns1"]).1, "namespace/ns1 created\n");
    assert_eq!(mk(&m, &["create", "configmap", "c2", "--from-literal=a=b"]).1, "configmap/c2 created\n");
    assert_eq!(mk(&m, &["create", "secret", "generic", "s2", "--from-literal=x=y"]).1, "secret/s2 created\n");
    assert_eq!(mk(&m, &["create", "namespace", "ns2"]).1, "namespace/ns2 created\n");
    assert_eq!(mk(&m, &["get", "cm", "c1", "-o", "jsonpath={.data.a}"]).1, "b");
    assert_eq!(mk(&m, &["get", "secret", "s1", "-o", "jsonpath={.data.x}"]).1, "eQ==");
    same(&m, &["get", "cm", "c1", "c2", "-o", "custom-columns=NAME:.metadata.name,DATA:.data"]);
    same(&m, &["get", "secrets", "s1", "s2"]);
    same(&m, &["get", "ns", "ns1", "ns2"]);
    same(&m, &["get", "cm", "-n", "ns1"]);
}

#[test]
fn describe_agrees() {
    let m = Minik::start("apiserver", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [("pod1.yaml", SEED_POD), ("env.yaml", ENV_POD), ("node.yaml", NODE)] {
        let f = write(dir.path(), name, text);
        assert_eq!(kc(&m, &["create", "-f", &f]).0, 0);
    }
    same(&m, &["describe", "pod", "test-pod1"]);
    same(&m, &["describe", "pod", "test-env-demo"]);
    same(&m, &["describe", "pods/test-pod1"]);
    same(&m, &["describe", "node", "node-a"]);
    same(&m, &["describe", "pod", "nope"]);
    let text = mk(&m, &["describe", "pod", "test-env-demo"]).1;
    for want in ["SAVE_TIME:  60", "MAX_CONN:   1024", "QoS Class:", "Burstable", "cpu:     200m", "Events:"] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
}

#[test]
fn watch_streams_the_same_rows() {
    let m = Minik::start("apiserver", &[]);
    let spawn = |mut c: Command| c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn watcher");
    let mut watchers = vec![
        spawn({
            let mut c = miniktl(&m.url);
            c.args(["get", "pods", "-w"]);
            c
        }),
        spawn({
            let mut c = k(&m);
            c.args(["get", "pods", "-w"]);
            c
        }),
        spawn({
            let mut c = miniktl(&m.url);
            c.args(["get", "pods", "--watch-only", "-o", "name"]);
            c
        }),
        spawn({
            let mut c = k(&m);
            c.args(["get", "pods", "--watch-only", "-o", "name"]);
            c
        }),
    ];
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(mk(&m, &["run", "w1", "--image=busybox", "--", "sleep", "1"]).0, 0);
    assert_eq!(mk(&m, &["label", "pod", "w1", "x=y"]).0, 0);
    assert_eq!(mk(&m, &["delete", "pod", "w1"]).0, 0);
    std::thread::sleep(Duration::from_millis(1500));
    let mut outs = Vec::new();
    for w in &mut watchers {
        let _ = w.kill();
    }
    for w in watchers {
        let out = w.wait_with_output().expect("watcher output");
        outs.push(String::from_utf8_lossy(&out.stdout).to_string());
    }
    assert_eq!(normalize(&outs[0]), normalize(&outs[1]), "miniktl:\n{}\nkubectl:\n{}", outs[0], outs[1]);
    assert!(outs[0].starts_with("NAME   READY   STATUS    RESTARTS   AGE\nw1     0/1     Pending   0 "), "{}", outs[0]);
    assert!(outs[0].lines().count() >= 3, "{}", outs[0]);
    assert_eq!(outs[2], outs[3]);
    assert!(outs[2].starts_with("pod/w1\n"), "{}", outs[2]);
}

#[test]
fn cordon_and_wait_agree() {
    let m = Minik::start("apiserver", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = write(dir.path(), "node.yaml", NODE);
    assert_eq!(mk(&m, &["create", "-f", &node]).0, 0);
    assert_eq!(mk(&m, &["cordon", "node-a"]).1, "node/node-a cordoned\n");
    same(&m, &["cordon", "node-a"]);
    same(&m, &["get", "nodes"]);
    assert_eq!(kc(&m, &["uncordon", "node-a"]).1, "node/node-a uncordoned\n");
    same(&m, &["uncordon", "node-a"]);
    same(&m, &["cordon", "nope"]);
    // wait for a condition the test sets through the status subresource.
    assert_eq!(mk(&m, &["run", "p1", "--image=busybox", "--", "sleep", "1"]).0, 0);
    let (code, _, err) = mk(&m, &["wait", "--for=condition=Ready", "pod/p1", "--timeout=1s"]);
    let (kcode, _, kerr) = kc(&m, &["wait", "--for=condition=Ready", "pod/p1", "--timeout=1s"]);
    assert_eq!((code, err.as_str()), (kcode, kerr.as_str()));
    assert_eq!(err, "error: timed out waiting for the condition on pods/p1\n");
    let waiter = {
        let mut c = miniktl(&m.url);
        c.args(["wait", "--for=condition=Ready", "pod/p1", "--timeout=20s"]).stdout(Stdio::piped());
        c.spawn().expect("spawn wait")
    };
    let kwaiter = {
        let mut c = k(&m);
        c.args(["wait", "--for=condition=Ready", "pod/p1", "--timeout=20s"]).stdout(Stdio::piped());
        c.spawn().expect("spawn kubectl wait")
    };
    std::thread::sleep(Duration::from_millis(700));
    let status = r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#;
    let patched = kc(&m, &["patch", "pod", "p1", "--subresource=status", "--type=merge", "-p", status]);
    assert_eq!(patched.0, 0, "{patched:?}");
    let started = Instant::now();
    let out = waiter.wait_with_output().expect("wait output");
    let kout = kwaiter.wait_with_output().expect("kubectl wait output");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pod/p1 condition met\n");
    assert_eq!(out.stdout, kout.stdout);
    assert_eq!((out.status.code(), kout.status.code()), (Some(0), Some(0)));
    // wait --for=delete
    assert_eq!(mk(&m, &["delete", "pod", "p1", "--wait=false"]).0, 0);
    assert_eq!(mk(&m, &["wait", "--for=delete", "pod/p1", "--timeout=10s"]).0, 0);
    let dup = with_stdin(
        {
            let mut c = miniktl(&m.url);
            c.args(["create", "-f", "-"]);
            c
        },
        NODE,
    );
    assert_eq!(dup.0, 1);
    assert_eq!(
        dup.2,
        "Error from server (AlreadyExists): error when creating \"STDIN\": nodes \"node-a\" already exists\n"
    );
    let kdup = with_stdin(
        {
            let mut c = k(&m);
            c.args(["create", "-f", "-"]);
            c
        },
        NODE,
    );
    assert_eq!(dup, kdup);
}
