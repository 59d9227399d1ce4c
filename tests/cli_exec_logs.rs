//! `logs` and `exec` through miniktl and the pinned real kubectl against `minik up` (API server,
//! scheduler and the local node agent running real processes), including the seed's commands:
//! `logs test-pod1 -c nginx1`, `exec -it test-pod1 -c nginx1 -- sh` (scripted under `script`) and
//! `exec test-env-demo -- printenv`.

mod common;

use common::cli::{kc, mk, with_stdin};

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use common::{kubectl, kubectl_bin, miniktl, miniktl_bin, Minik};

/// One `minik up` (one local node) at a time.
static NODE: Mutex<()> = Mutex::new(());

/// The seed's pod1.yaml and test-env.yaml, with commands the process runtime can run on the host
/// (it does not read images): nginx1 prints two lines and sleeps.
const SEED: &str = "apiVersion: v1
kind: Pod
metadata:
  name: test-pod1
spec:
  containers:
  - image: nginx
    name: nginx1
    command: [\"/bin/sh\", \"-c\", \"echo nginx1 started; echo ready; sleep 12h\"]
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
---
apiVersion: v1
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
---
apiVersion: v1
kind: Pod
metadata:
  name: finite
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [\"/bin/sh\", \"-c\", \"echo one; sleep 2; echo two\"]
";

/// `minik up` whose pods' processes are killed with it (pods outlive their agent by design).
struct Up(Minik);

impl Drop for Up {
    fn drop(&mut self) {
        self.0.kill9();
        common::cluster::kill_processes(&common::cluster::runtime_dir(&self.0.data_dir));
    }
}

impl std::ops::Deref for Up {
    type Target = Minik;
    fn deref(&self) -> &Minik {
        &self.0
    }
}

fn start() -> Up {
    let m = Up(Minik::start("up", &[]));
    let (code, out, err) = with_stdin(
        {
            let mut c = miniktl(&m.url);
            c.args(["create", "-f", "-"]);
            c
        },
        SEED,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) =
        mk(&m, &["wait", "--for=condition=Ready", "pod/test-pod1", "pod/test-env-demo", "--timeout=60s"]);
    assert_eq!(code, 0, "pods not ready: {out}{err}\n{}", m.log());
    m
}

#[test]
fn logs_agree() {
    let _one = NODE.lock().unwrap_or_else(|e| e.into_inner());
    let m = start();
    let seed = mk(&m, &["logs", "test-pod1", "-c", "nginx1"]);
    assert_eq!(seed, (0, "nginx1 started\nready\n".into(), String::new()));
    assert_eq!(kc(&m, &["logs", "test-pod1", "-c", "nginx1"]), seed);
    let tail = mk(&m, &["logs", "test-pod1", "-c", "nginx1", "--tail=1"]);
    assert_eq!(tail, (0, "ready\n".into(), String::new()));
    assert_eq!(kc(&m, &["logs", "test-pod1", "-c", "nginx1", "--tail=1"]), tail);
    // Without -c: the first container, with kubectl's notice.
    let defaulted = mk(&m, &["logs", "test-pod1"]);
    assert_eq!(defaulted.1, "nginx1 started\nready\n");
    assert_eq!(defaulted.2, "Defaulted container \"nginx1\" out of: nginx1, bs1\n");
    assert_eq!(kc(&m, &["logs", "test-pod1"]), defaulted);
    let stamped = mk(&m, &["logs", "test-pod1", "-c", "nginx1", "--timestamps"]).1;
    assert!(stamped.lines().all(|l| l.split_once(' ').is_some_and(|(ts, _)| ts.contains('T'))), "{stamped}");
    // -f follows until the container ends.
    let (code, out, _) = mk(&m, &["logs", "-f", "finite"]);
    assert_eq!((code, out.as_str()), (0, "one\ntwo\n"));
    assert_eq!(kc(&m, &["logs", "-f", "finite"]).1, "one\ntwo\n");
    // Errors.
    let missing = mk(&m, &["logs", "nope"]);
    assert_eq!(missing.0, 1);
    assert_eq!(missing, kc(&m, &["logs", "nope"]));
    assert_eq!(mk(&m, &["logs", "test-pod1", "-c", "nope"]), kc(&m, &["logs", "test-pod1", "-c", "nope"]));
}

#[test]
fn exec_agrees() {
    let _one = NODE.lock().unwrap_or_else(|e| e.into_inner());
    let m = start();
    for tool in ["miniktl", "kubectl"] {
        let x = |args: &[&str]| if tool == "miniktl" { mk(&m, args) } else { kc(&m, args) };
        assert_eq!(
            x(&["exec", "test-pod1", "-c", "nginx1", "--", "echo", "hi"]),
            (0, "hi\n".into(), String::new()),
            "{tool}"
        );
        let (code, _, err) = x(&["exec", "test-pod1", "-c", "nginx1", "--", "sh", "-c", "exit 3"]);
        assert_eq!((code, err.as_str()), (3, "command terminated with exit code 3\n"), "{tool}");
        let (code, out, err) = x(&["exec", "test-pod1", "-c", "bs1", "--", "sh", "-c", "echo out; echo err >&2"]);
        assert_eq!((code, out.as_str(), err.as_str()), (0, "out\n", "err\n"), "{tool}");
        // The seed: kubectl exec test-env-demo -- printenv
        let (code, env, _) = x(&["exec", "test-env-demo", "--", "printenv"]);
        assert_eq!(code, 0, "{tool}");
        for want in ["SAVE_TIME=60", "MAX_CONN=1024", "DNS_ADDR=8.8.8.8"] {
            assert!(env.lines().any(|l| l == want), "{tool}: {want} missing from\n{env}");
        }
        let mut cmd = if tool == "miniktl" { miniktl(&m.url) } else { kubectl(&m.url).expect("pinned kubectl") };
        cmd.args(["exec", "-i", "test-pod1", "-c", "bs1", "--", "cat"]);
        assert_eq!(with_stdin(cmd, "piped input\n"), (0, "piped input\n".into(), String::new()), "{tool}");
    }
}

/// The seed's `exec -it test-pod1 -c nginx1 -- sh`, typed into a pseudo-terminal by `script`.
#[test]
fn exec_with_a_terminal() {
    let _one = NODE.lock().unwrap_or_else(|e| e.into_inner());
    let m = start();
    let kubectl_path = kubectl_bin().expect("pinned kubectl").display().to_string();
    let tools = [
        format!("{} --server {} exec -it test-pod1 -c nginx1 -- sh", miniktl_bin().display(), m.url),
        format!("{kubectl_path} --server={} exec -it test-pod1 -c nginx1 -- sh", m.url),
    ];
    for line in tools {
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn script");
        let mut stdin = child.stdin.take().expect("stdin");
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stdin.write_all(b"echo hello-$((6*7))\r").expect("type");
        std::thread::sleep(std::time::Duration::from_millis(700));
        stdin.write_all(b"exit\r").expect("type exit");
        std::thread::sleep(std::time::Duration::from_millis(700));
        drop(stdin);
        let out = child.wait_with_output().expect("script output");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("hello-42"), "{line}\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{line}\n{text}");
    }
}
