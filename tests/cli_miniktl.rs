//! miniktl on its own against a running minik: exact outputs, exit codes and the connection rules
//! (--server, --kubeconfig, KUBECONFIG, contexts and their namespaces, the kubeconfig `minik up`
//! writes).

mod common;

use common::cli::{mk, with_stdin};

use std::process::Command;

use common::{miniktl, miniktl_bin, run, Minik};

fn pod(name: &str, labels: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\nspec:\n  containers:\n  - name: main\n    image: busybox\n    command: [sleep, \"3600\"]\n")
}

/// A miniktl with no --server: it must find the API server on its own.
fn bare() -> Command {
    let mut c = Command::new(miniktl_bin());
    c.env_remove("KUBECONFIG");
    c
}

#[test]
fn create_from_files_directories_and_stdin() {
    let m = Minik::start("apiserver", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.yaml"), pod("a", "app: one")).expect("write");
    std::fs::write(dir.path().join("b.yml"), format!("{}---\n{}", pod("b", "app: two"), pod("c", "app: two")))
        .expect("write");
    std::fs::write(dir.path().join("README.md"), "not a manifest").expect("write");
    let (code, out, err) = mk(&m, &["create", "-f", &dir.path().display().to_string()]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "pod/a created\npod/b created\npod/c created\n", ""));
    let list = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"k":"v"}}]}"#;
    let piped = with_stdin(
        {
            let mut c = miniktl(&m.url);
            c.args(["create", "-f", "-"]);
            c
        },
        list,
    );
    assert_eq!(piped, (0, "configmap/cfg created\n".into(), String::new()));
    let (code, out, _) = mk(&m, &["get", "pods"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "NAME   READY   STATUS    RESTARTS   AGE");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("a      0/1     Pending   0          "), "{out}");
    // Errors: a missing file, a duplicate (exit 1, kubectl's words), an unknown kind.
    let (code, _, err) = mk(&m, &["create", "-f", "/no/such.yaml"]);
    assert_eq!((code, err.as_str()), (1, "error: the path \"/no/such.yaml\" does not exist\n"));
    let a = dir.path().join("a.yaml").display().to_string();
    let (code, _, err) = mk(&m, &["create", "-f", &a]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!("Error from server (AlreadyExists): error when creating {a:?}: pods \"a\" already exists\n")
    );
    let deploy = dir.path().join("deploy.yaml");
    std::fs::write(&deploy, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n").expect("write");
    let (code, _, err) = mk(&m, &["create", "-f", &deploy.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("no matches for kind \"Deployment\" in version \"apps/v1\""), "{err}");
}

#[test]
fn get_prints_exactly() {
    let m = Minik::start("apiserver", &[]);
    let (code, out, err) = mk(&m, &["get", "pods"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", "No resources found in default namespace.\n"));
    let (_, _, err) = mk(&m, &["get", "pods", "-A"]);
    assert_eq!(err, "No resources found\n");
    for (name, labels) in [("web", "app: web, tier: fe"), ("db", "app: db")] {
        let piped = with_stdin(
            {
                let mut c = miniktl(&m.url);
                c.args(["create", "-f", "-"]);
                c
            },
            &pod(name, labels),
        );
        assert_eq!(piped.0, 0);
    }
    assert_eq!(mk(&m, &["get", "pods", "-o", "name"]).1, "pod/db\npod/web\n");
    assert_eq!(mk(&m, &["get", "pods", "-l", "tier=fe", "-o", "name"]).1, "pod/web\n");
    assert_eq!(mk(&m, &["get", "pods", "--field-selector", "metadata.name!=web", "-o", "name"]).1, "pod/db\n");
    assert_eq!(mk(&m, &["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]).1, "db web");
    assert_eq!(
        mk(
            &m,
            &["get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.app}{\"\\n\"}{end}"]
        )
        .1,
        "db=db\nweb=web\n"
    );
    assert_eq!(
        mk(
            &m,
            &[
                "get",
                "pods",
                "-o",
                "custom-columns=NAME:.metadata.name,APP:.metadata.labels.app,TIER:.metadata.labels.tier"
            ]
        )
        .1,
        "NAME   APP   TIER\ndb     db    <none>\nweb    web   fe\n"
    );
    let (_, out, _) = mk(&m, &["get", "pods", "-A"]);
    assert!(
        out.starts_with(
            "NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE\ndefault     db     0/1     Pending   0          "
        ),
        "{out}"
    );
    let (_, out, _) = mk(&m, &["get", "pods", "-L", "tier", "--show-labels"]);
    assert!(out.starts_with("NAME   READY   STATUS    RESTARTS   AGE   TIER   LABELS\n"), "{out}");
    assert!(out.contains("fe     app=web,tier=fe\n"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&mk(&m, &["get", "pods", "-o", "json"]).1).expect("json list");
    assert_eq!(json["kind"], "List");
    assert_eq!(json["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["items"][0]["kind"], "Pod");
    let one: serde_json::Value = serde_json::from_str(&mk(&m, &["get", "pod", "web", "-o", "json"]).1).expect("json");
    assert_eq!(one["metadata"]["name"], "web");
    assert_eq!(one["apiVersion"], "v1");
    let yaml = mk(&m, &["get", "pods", "-o", "yaml"]).1;
    assert!(yaml.starts_with("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n"), "{yaml}");
    assert!(yaml.ends_with("kind: List\nmetadata:\n  resourceVersion: \"\"\n"), "{yaml}");
    let single = mk(&m, &["get", "pod", "web", "-o", "yaml"]).1;
    assert!(single.contains("\n  restartPolicy: Always\n"), "{single}");
    // Errors and exit codes.
    assert_eq!(
        mk(&m, &["get", "pod", "nope"]),
        (1, String::new(), "Error from server (NotFound): pods \"nope\" not found\n".into())
    );
    let (code, out, err) = mk(&m, &["get", "pods", "web", "nope", "-o", "name"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "pod/web\n", "Error from server (NotFound): pods \"nope\" not found\n")
    );
    assert_eq!(
        mk(&m, &["get", "widgets"]),
        (1, String::new(), "error: the server doesn't have a resource type \"widgets\"\n".into())
    );
    assert_eq!(mk(&m, &["get", "pods", "-o", "jsonpath={.items[0"]).0, 1);
    // Sorting.
    assert_eq!(mk(&m, &["get", "pods", "--sort-by=.metadata.labels.app", "-o", "name"]).1, "pod/db\npod/web\n");
}

#[test]
fn apply_is_idempotent_and_removes_what_the_file_dropped() {
    let m = Minik::start("apiserver", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("p.yaml");
    let manifest = |labels: &str, ann: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {{{labels}}}\n  annotations: {{{ann}}}\nspec:\n  containers:\n  - name: main\n    image: busybox:1.36\n    command: [sleep, \"3600\"]\n    env:\n    - {{name: A, value: \"1\"}}\n")
    };
    let path = f.display().to_string();
    std::fs::write(&f, manifest("a: x, b: w", "note: first")).expect("write");
    assert_eq!(mk(&m, &["apply", "-f", &path]), (0, "pod/p created\n".into(), String::new()));
    assert_eq!(mk(&m, &["apply", "-f", &path]).1, "pod/p unchanged\n");
    std::fs::write(&f, manifest("a: z", "")).expect("write");
    assert_eq!(mk(&m, &["apply", "-f", &path]).1, "pod/p configured\n");
    assert_eq!(mk(&m, &["apply", "-f", &path]).1, "pod/p unchanged\n");
    let live: serde_json::Value = serde_json::from_str(&mk(&m, &["get", "pod", "p", "-o", "json"]).1).expect("json");
    assert_eq!(live["metadata"]["labels"], serde_json::json!({"a": "z"}));
    let annotations = live["metadata"]["annotations"].as_object().expect("annotations");
    assert!(!annotations.contains_key("note"), "{annotations:?}");
    let last = annotations["kubectl.kubernetes.io/last-applied-configuration"].as_str().expect("last-applied");
    let last: serde_json::Value = serde_json::from_str(last).expect("last-applied is JSON");
    assert_eq!(last["metadata"]["labels"], serde_json::json!({"a": "z"}));
    assert_eq!(last["metadata"]["namespace"], "default");
    // A label changed behind apply's back is put back; other fields stay.
    assert_eq!(mk(&m, &["label", "pod", "p", "a=manual", "--overwrite"]).0, 0);
    assert_eq!(mk(&m, &["apply", "-f", &path]).1, "pod/p configured\n");
    assert_eq!(
        mk(&m, &["get", "pod", "p", "-o", "jsonpath={.metadata.labels.a} {.spec.containers[0].env[0].value}"]).1,
        "z 1"
    );
    assert_eq!(mk(&m, &["apply", "-f", &path, "--server-side"]).1, "pod/p serverside-applied\n");
    std::fs::write(dir.path().join("q.yaml"), pod("q", "app: q")).expect("write");
    assert_eq!(
        mk(&m, &["apply", "--server-side", "-f", &dir.path().join("q.yaml").display().to_string()]).1,
        "pod/q serverside-applied\n"
    );
    assert_eq!(mk(&m, &["get", "pod", "q", "-o", "name"]).1, "pod/q\n");
}

#[test]
fn delete_variants() {
    let m = Minik::start("apiserver", &[]);
    for (name, labels) in [("a", "grp: x"), ("b", "grp: x"), ("c", "grp: z")] {
        let piped = with_stdin(
            {
                let mut c = miniktl(&m.url);
                c.args(["create", "-f", "-"]);
                c
            },
            &pod(name, labels),
        );
        assert_eq!(piped.0, 0);
    }
    assert_eq!(
        mk(&m, &["delete", "pods", "-l", "grp=x"]),
        (0, "pod \"a\" deleted\npod \"b\" deleted\n".into(), String::new())
    );
    assert_eq!(mk(&m, &["get", "pods", "-o", "name"]).1, "pod/c\n");
    assert_eq!(
        mk(&m, &["delete", "pod", "nope"]),
        (1, String::new(), "Error from server (NotFound): pods \"nope\" not found\n".into())
    );
    assert_eq!(mk(&m, &["delete", "pod", "nope", "--ignore-not-found"]), (0, String::new(), String::new()));
    let (code, out, err) = mk(&m, &["delete", "pod", "c", "--grace-period=0", "--force"]);
    assert_eq!((code, out.as_str()), (0, "pod \"c\" force deleted\n"));
    assert!(err.starts_with("Warning: Immediate deletion does not wait"), "{err}");
    assert_eq!(mk(&m, &["get", "pods", "-o", "name"]).1, "");
    assert_eq!(mk(&m, &["delete", "pods", "--all"]), (0, String::new(), "No resources found\n".into()));
    assert_eq!(mk(&m, &["create", "configmap", "cm1", "--from-literal=a=b"]).0, 0);
    assert_eq!(mk(&m, &["delete", "cm/cm1", "--wait=false"]).1, "configmap \"cm1\" deleted\n");
    assert_eq!(mk(&m, &["get", "cm", "cm1"]).0, 1);
}

#[test]
fn connection_from_kubeconfig_context_and_default() {
    let m = Minik::start("up", &[]);
    // `minik up` writes a kubeconfig for itself into its data dir.
    let written = m.data_dir.join("kubeconfig");
    assert!(written.exists(), "minik up did not write {}", written.display());
    let (code, out, err) = run(bare().env("KUBECONFIG", &written).args(["get", "ns", "default", "-o", "name"]));
    assert_eq!((code, out.as_str(), err.as_str()), (0, "namespace/default\n", ""));
    // A kubeconfig whose context names a namespace.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config");
    minik_client::write_kubeconfig(&cfg, "test", &m.url).expect("write kubeconfig");
    let text =
        std::fs::read_to_string(&cfg).expect("read kubeconfig").replace("namespace: default", "namespace: team-a");
    std::fs::write(&cfg, text).expect("write kubeconfig");
    assert_eq!(mk(&m, &["create", "namespace", "team-a"]).1, "namespace/team-a created\n");
    let cfg_arg = cfg.display().to_string();
    let (code, _, err) = run(bare().args(["--kubeconfig", &cfg_arg, "get", "pods"]));
    assert_eq!((code, err.as_str()), (0, "No resources found in team-a namespace.\n"));
    let (_, _, err) = run(bare().env("KUBECONFIG", &cfg).args(["get", "pods"]));
    assert_eq!(err, "No resources found in team-a namespace.\n");
    let (_, _, err) = run(bare().env("KUBECONFIG", &cfg).args(["-n", "kube-system", "get", "pods"]));
    assert_eq!(err, "No resources found in kube-system namespace.\n");
    let (_, _, err) = run(bare().env("KUBECONFIG", &cfg).args(["--context", "test", "get", "pods"]));
    assert_eq!(err, "No resources found in team-a namespace.\n");
    let (code, _, _) = run(bare().env("KUBECONFIG", &cfg).args(["--context", "other", "get", "pods"]));
    assert_eq!(code, 1);
    // --server wins over the kubeconfig's cluster.
    let (code, _, err) = run(bare().env("KUBECONFIG", &cfg).args(["--server", "http://127.0.0.1:1", "get", "pods"]));
    assert_eq!(code, 1);
    assert_eq!(err, "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n");
    // version talks to the server.
    let (code, out, _) = mk(&m, &["version", "-o", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("version json");
    assert!(v["serverVersion"]["gitVersion"].as_str().is_some_and(|g| g.starts_with("v1.32")), "{v}");
    assert!(v["clientVersion"]["gitVersion"].as_str().is_some(), "{v}");
}

#[test]
fn completion_scripts() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(bare().args(["completion", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains("miniktl"), "{shell}");
        for sub in ["get", "apply", "describe", "exec", "logs"] {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    assert_eq!(run(bare().args(["completion", "tcsh"])).0, 2);
}
