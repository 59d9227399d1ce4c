//! The API server over real HTTP: every verb, selectors, watch, errors as metav1.Status, YAML,
//! Tables, discovery. Each test starts its own `minik apiserver` on an ephemeral port.

mod common;

use std::time::Duration;

use common::http::{pod, Api};
use common::Minik;
use futures::StreamExt;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn start() -> (Minik, Api) {
    let m = Minik::start("apiserver", &[]);
    let api = Api::new(&m.url);
    (m, api)
}

fn rv(v: &Value) -> i64 {
    v["metadata"]["resourceVersion"].as_str().expect("resourceVersion").parse().expect("numeric rv")
}

#[tokio::test]
async fn discovery_and_health() {
    let (_m, api) = start();
    let v = api.get("/version").await.json();
    assert_eq!((v["major"].as_str(), v["minor"].as_str()), (Some("1"), Some("32")));
    for p in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(api.get(p).await.status, 200, "{p}");
    }
    let agg = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let r = api.send("GET", "/api", None, Some(agg), None).await;
    assert!(r.headers["content-type"].to_str().unwrap().contains("as=APIGroupDiscoveryList"));
    let v = r.json();
    let pods = v["items"][0]["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "pods")
        .cloned()
        .unwrap();
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    // Only v2beta1 asked: answered in v2beta1.
    let r = api
        .send(
            "GET",
            "/apis",
            None,
            Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"),
            None,
        )
        .await;
    assert_eq!(r.json()["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    assert_eq!(api.get("/apis").await.json()["kind"], "APIGroupList");
    let legacy = api.get("/api/v1").await.json();
    let names: Vec<&str> = legacy["resources"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    for n in [
        "pods",
        "pods/status",
        "pods/binding",
        "pods/log",
        "pods/exec",
        "nodes",
        "namespaces",
        "configmaps",
        "secrets",
        "events",
        "services",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let leases = api.get("/apis/coordination.k8s.io/v1").await.json();
    assert_eq!(leases["resources"][0]["name"], "leases");
    let root = api.get("/openapi/v3").await.json();
    let url = root["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap().to_owned();
    let doc = api.get(&url).await.json();
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
    assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
    let ns = api.get("/api/v1/namespaces").await.json();
    let names: Vec<&str> =
        ns["items"].as_array().unwrap().iter().filter_map(|n| n["metadata"]["name"].as_str()).collect();
    assert_eq!(names, vec!["default", "kube-node-lease", "kube-public", "kube-system"]);
    let r = api.get("/api/v1/foos").await;
    assert_eq!((r.status, r.json()["kind"].as_str()), (404, Some("Status")));
}

#[tokio::test]
async fn create_get_defaults_and_errors() {
    let (_m, api) = start();
    let r = api.post(PODS, &pod("web")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    assert!(rv(&created) > 0);
    assert!(created["metadata"]["uid"].as_str().unwrap().len() == 36);
    assert!(created["metadata"]["creationTimestamp"].is_string());
    assert_eq!(created["spec"]["restartPolicy"], "Always");
    assert_eq!(created["spec"]["schedulerName"], "default-scheduler");
    assert_eq!(created["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(created["spec"]["terminationGracePeriodSeconds"], 30);
    assert_eq!(created["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(created["spec"]["containers"][0]["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(created["status"]["phase"], "Pending");
    assert_eq!(created["status"]["qosClass"], "BestEffort");

    let got = api.get(&format!("{PODS}/web")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["metadata"]["uid"], created["metadata"]["uid"]);

    let dup = api.post(PODS, &pod("web")).await;
    assert_eq!(dup.status, 409);
    let s = dup.json();
    assert_eq!(
        (s["reason"].as_str(), s["message"].as_str()),
        (Some("AlreadyExists"), Some("pods \"web\" already exists"))
    );

    let missing = api.get(&format!("{PODS}/nope")).await;
    assert_eq!(missing.status, 404);
    let s = missing.json();
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["message"], "pods \"nope\" not found");
    assert_eq!(s["details"], json!({"name": "nope", "kind": "pods"}));

    // 422 with causes in Kubernetes' wording.
    let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"},
        "spec": {"containers": [{"name": "c"}], "restartPolicy": "Sometimes"}});
    let r = api.post(PODS, &bad).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let s = r.json();
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(s["details"]["kind"], "Pod");
    let causes = s["details"]["causes"].as_array().unwrap();
    let fields: Vec<&str> = causes.iter().filter_map(|c| c["field"].as_str()).collect();
    assert!(fields.contains(&"metadata.name"), "{fields:?}");
    assert!(fields.contains(&"spec.containers[0].image"), "{fields:?}");
    assert!(fields.contains(&"spec.restartPolicy"), "{fields:?}");
    let image = causes.iter().find(|c| c["field"] == "spec.containers[0].image").unwrap();
    assert_eq!(
        (image["reason"].as_str(), image["message"].as_str()),
        (Some("FieldValueRequired"), Some("Required value"))
    );

    // Malformed bodies are 400, never 5xx.
    let r = api.send("POST", PODS, Some("application/json"), None, Some(b"{not json".to_vec())).await;
    assert_eq!((r.status, r.json()["reason"].as_str()), (400, Some("BadRequest")));
    let r = api.send("POST", PODS, Some("application/json"), None, Some(b"[1,2]".to_vec())).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = api.send("POST", PODS, Some("text/plain"), None, Some(b"x".to_vec())).await;
    assert_eq!(r.status, 415);
    let big = vec![b' '; 3 * 1024 * 1024 + 10];
    let r = api.send("POST", PODS, Some("application/json"), None, Some(big)).await;
    assert_eq!((r.status, r.json()["reason"].as_str()), (413, Some("RequestEntityTooLarge")));
    // Strict field validation.
    let mut unknown = pod("strict");
    unknown["spec"]["bogus"] = json!(1);
    let r = api.post(&format!("{PODS}?fieldValidation=Strict"), &unknown).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("unknown field \"spec.bogus\""), "{}", r.text);
    let r = api.post(&format!("{PODS}?fieldValidation=Warn"), &unknown).await;
    assert_eq!(r.status, 201);
    assert!(r.headers.get("warning").is_some());
    // Namespace must exist.
    let r = api.post("/api/v1/namespaces/nope/pods", &pod("x")).await;
    assert_eq!((r.status, r.json()["message"].as_str()), (404, Some("namespaces \"nope\" not found")));
    // Dry run persists nothing.
    let r = api.post(&format!("{PODS}?dryRun=All"), &pod("dry")).await;
    assert_eq!(r.status, 201);
    assert_eq!(api.get(&format!("{PODS}/dry")).await.status, 404);
    // generateName
    let r = api
        .post(
            PODS,
            &json!({"metadata": {"generateName": "gen-"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json()["metadata"]["name"].as_str().unwrap().starts_with("gen-"));
}

#[tokio::test]
async fn update_conflicts_and_patches() {
    let (_m, api) = start();
    let created = api.post(PODS, &pod("p1")).await.json();
    let mut stale = created.clone();
    stale["metadata"]["labels"]["tier"] = json!("a");
    let r = api.put(&format!("{PODS}/p1"), &stale).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let updated = r.json();
    assert!(rv(&updated) > rv(&created));
    // The same (now stale) resourceVersion again: 409 Conflict.
    stale["metadata"]["labels"]["tier"] = json!("b");
    let r = api.put(&format!("{PODS}/p1"), &stale).await;
    assert_eq!(r.status, 409);
    let s = r.json();
    assert_eq!(s["reason"], "Conflict");
    assert!(s["message"]
        .as_str()
        .unwrap()
        .starts_with("Operation cannot be fulfilled on pods \"p1\": the object has been modified"));
    // Spec is immutable except the image.
    let mut changed = updated.clone();
    changed["spec"]["containers"][0]["command"] = json!(["true"]);
    let r = api.put(&format!("{PODS}/p1"), &changed).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let mut image = updated.clone();
    image["spec"]["containers"][0]["image"] = json!("busybox:1.37");
    let r = api.put(&format!("{PODS}/p1"), &image).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["metadata"]["generation"], 2);

    // merge patch: add and remove labels
    let r = api
        .patch(
            &format!("{PODS}/p1"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"a": "b", "tier": null}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let labels = r.json()["metadata"]["labels"].clone();
    assert_eq!(labels, json!({"app": "web", "a": "b"}));
    // json patch
    let r = api
        .patch(
            &format!("{PODS}/p1"),
            "application/json-patch+json",
            &json!([{"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["metadata"]["annotations"]["note"], "x");
    // strategic merge: containers merge by name (image change keeps command)
    let r = api
        .patch(
            &format!("{PODS}/p1"),
            "application/strategic-merge-patch+json",
            &json!({"spec": {"containers": [{"name": "main", "image": "busybox:1.38"}]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = &r.json()["spec"]["containers"][0];
    assert_eq!((c["image"].as_str(), c["command"][0].as_str()), (Some("busybox:1.38"), Some("sleep")));
    // patch with a stale resourceVersion precondition
    let r = api
        .patch(
            &format!("{PODS}/p1"),
            "application/merge-patch+json",
            &json!({"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}}),
        )
        .await;
    assert_eq!(r.status, 409);
    // unsupported patch type
    let r = api.patch(&format!("{PODS}/p1"), "application/json", &json!({})).await;
    assert_eq!(r.status, 415);
    // server-side apply creates, then updates
    let applied = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "s1", "namespace": "default", "labels": {"v": "1"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let r = api
        .patch(
            &format!("{PODS}/s1?fieldManager=kubectl&fieldValidation=Strict&force=false"),
            "application/apply-patch+yaml",
            &applied,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut again = applied.clone();
    again["metadata"]["labels"]["v"] = json!("2");
    let r = api.patch(&format!("{PODS}/s1?fieldManager=kubectl"), "application/apply-patch+yaml", &again).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["metadata"]["labels"]["v"], "2");
    // status subresource changes only status
    let cur = api.get(&format!("{PODS}/p1")).await.json();
    let mut st = cur.clone();
    st["status"]["phase"] = json!("Running");
    st["metadata"]["labels"]["ignored"] = json!("yes");
    let r = api.put(&format!("{PODS}/p1/status"), &st).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = r.json();
    assert_eq!(after["status"]["phase"], "Running");
    assert!(after["metadata"]["labels"].get("ignored").is_none());
    // and the main resource cannot change status
    let mut main = after.clone();
    main["status"]["phase"] = json!("Failed");
    let r = api.put(&format!("{PODS}/p1"), &main).await;
    assert_eq!(r.json()["status"]["phase"], "Running");
}

#[tokio::test]
async fn lists_selectors_and_paging() {
    let (_m, api) = start();
    for i in 0..7 {
        let mut p = pod(&format!("p{i}"));
        p["metadata"]["labels"] = json!({"app": if i % 2 == 0 { "even" } else { "odd" }, "idx": i.to_string()});
        assert_eq!(api.post(PODS, &p).await.status, 201);
    }
    api.post("/api/v1/namespaces", &json!({"metadata": {"name": "other"}})).await;
    api.post("/api/v1/namespaces/other/pods", &pod("elsewhere")).await;
    let names = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_owned()).collect()
    };
    let all = api.get(PODS).await.json();
    assert_eq!(all["kind"], "PodList");
    assert_eq!(names(&all).len(), 7);
    assert_eq!(names(&api.get("/api/v1/pods").await.json()).len(), 8);
    for (sel, expect) in [
        ("app=even", vec!["p0", "p2", "p4", "p6"]),
        ("app==odd", vec!["p1", "p3", "p5"]),
        ("app!=even", vec!["p1", "p3", "p5"]),
        ("idx in (1,2)", vec!["p1", "p2"]),
        ("idx notin (0,1,2,3,4,5)", vec!["p6"]),
        ("idx", vec!["p0", "p1", "p2", "p3", "p4", "p5", "p6"]),
        ("!idx", vec![]),
    ] {
        let q = format!("{PODS}?labelSelector={}", urlencode(sel));
        assert_eq!(names(&api.get(&q).await.json()), expect, "{sel}");
    }
    let r = api.get(&format!("{PODS}?labelSelector={}", urlencode("a in (b"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(names(&api.get(&format!("{PODS}?fieldSelector=metadata.name%3Dp3")).await.json()), vec!["p3"]);
    assert_eq!(
        names(&api.get("/api/v1/pods?fieldSelector=metadata.namespace%3Dother").await.json()),
        vec!["elsewhere"]
    );
    assert_eq!(names(&api.get(&format!("{PODS}?fieldSelector=status.phase%21%3DPending")).await.json()).len(), 0);
    assert_eq!(names(&api.get(&format!("{PODS}?fieldSelector=spec.nodeName%3D")).await.json()).len(), 7);
    let r = api.get(&format!("{PODS}?fieldSelector=spec.bogus%3Dx")).await;
    assert_eq!((r.status, r.json()["message"].as_str()), (400, Some("field label not supported: spec.bogus")));
    // paging: 3 + 3 + 1, consistent across pages even with writes in between
    let first = api.get(&format!("{PODS}?limit=3")).await.json();
    assert_eq!(names(&first), vec!["p0", "p1", "p2"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 4);
    let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    api.post(PODS, &pod("p10")).await; // sorts between p1 and p2? no: after p1 ("p10" < "p2") but on an earlier page
    api.delete(&format!("{PODS}/p4"), None).await;
    let second = api.get(&format!("{PODS}?limit=3&continue={token}")).await.json();
    assert_eq!(names(&second), vec!["p3", "p4", "p5"], "page 2 is read at page 1's revision");
    let token = second["metadata"]["continue"].as_str().unwrap().to_owned();
    let third = api.get(&format!("{PODS}?limit=3&continue={token}")).await.json();
    assert_eq!(names(&third), vec!["p6"]);
    assert!(third["metadata"].get("continue").is_none());
    let r = api.get(&format!("{PODS}?continue=garbage")).await;
    assert_eq!(r.status, 400);
    // deletecollection by label
    let r = api.delete(&format!("{PODS}?labelSelector=app%3Dodd"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&api.get(PODS).await.json()), vec!["p0", "p10", "p2", "p6"]);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn read_events(api: &Api, path: &str, n: usize) -> Vec<Value> {
    let resp = api.client.get(format!("{}{}", api.base, path)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("watch timed out")
            .expect("stream ended")
            .unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            out.push(serde_json::from_slice(&line).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn watch_from_revision_and_selectors() {
    let (_m, api) = start();
    let a = api.post(PODS, &pod("a")).await.json();
    let start = rv(&a);
    // Changes after `start`
    let mut b = pod("b");
    b["metadata"]["labels"]["sel"] = json!("yes");
    api.post(PODS, &b).await;
    api.patch(&format!("{PODS}/a"), "application/merge-patch+json", &json!({"metadata": {"labels": {"x": "1"}}})).await;
    api.patch(&format!("{PODS}/b"), "application/merge-patch+json", &json!({"metadata": {"labels": {"sel": "no"}}}))
        .await;
    api.delete(&format!("{PODS}/a"), None).await;
    let events = read_events(&api, &format!("{PODS}?watch=true&resourceVersion={start}"), 4).await;
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap().into(), e["object"]["metadata"]["name"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("ADDED".into(), "b".into()),
            ("MODIFIED".into(), "a".into()),
            ("MODIFIED".into(), "b".into()),
            ("DELETED".into(), "a".into())
        ]
    );
    let revs: Vec<i64> = events.iter().map(|e| rv(&e["object"])).collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
    // with a selector: b stops matching → DELETED
    let events =
        read_events(&api, &format!("{PODS}?watch=true&resourceVersion={start}&labelSelector=sel%3Dyes"), 2).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["ADDED", "DELETED"]);
    // rv=0: synthetic ADDED for what exists, then live changes
    let api2 = Api::new(&api.base);
    let watcher =
        tokio::spawn(async move { read_events(&api2, &format!("{PODS}?watch=true&resourceVersion=0"), 2).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.post(PODS, &pod("c")).await;
    let events = watcher.await.unwrap();
    assert_eq!(
        (events[0]["type"].as_str(), events[0]["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("b"))
    );
    assert_eq!(
        (events[1]["type"].as_str(), events[1]["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("c"))
    );
    // sendInitialEvents + bookmarks
    let events = read_events(
        &api,
        &format!("{PODS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"),
        3,
    )
    .await;
    assert_eq!(events[2]["type"], "BOOKMARK");
    assert_eq!(events[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
    // Table watch: first event carries the column definitions
    let resp = api
        .client
        .get(format!("{}{PODS}?watch=true&resourceVersion={start}", api.base))
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        .send()
        .await
        .unwrap();
    let mut s = resp.bytes_stream();
    let chunk = tokio::time::timeout(Duration::from_secs(5), s.next()).await.unwrap().unwrap().unwrap();
    let first: Value = serde_json::from_slice(chunk.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["object"]["kind"], "Table");
    assert_eq!(first["object"]["columnDefinitions"][0]["name"], "Name");
}

#[tokio::test]
async fn tables_yaml_binding_and_graceful_delete() {
    let (_m, api) = start();
    let table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    api.post(PODS, &pod("web")).await;
    let t = api.send("GET", PODS, None, Some(table_accept), None).await.json();
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> =
        t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        cols,
        vec!["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    let cells = &t["rows"][0]["cells"];
    assert_eq!((cells[0].as_str(), cells[1].as_str(), cells[2].as_str()), (Some("web"), Some("0/1"), Some("Pending")));
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert!(t["metadata"]["resourceVersion"].is_string());
    let nodes = api.send("GET", "/api/v1/nodes", None, Some(table_accept), None).await.json();
    let cols: Vec<&str> =
        nodes["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(&cols[..5], &["Name", "Status", "Roles", "Age", "Version"]);

    // YAML in and out
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n";
    let r = api
        .send(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some("application/yaml"),
            None,
            Some(yaml.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api.send("GET", "/api/v1/namespaces/default/configmaps/cfg", None, Some("application/yaml"), None).await;
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("application/yaml"));
    assert!(r.text.contains("name: cfg"), "{}", r.text);
    // non-pod delete answers a Status
    let r = api.delete("/api/v1/namespaces/default/configmaps/cfg", None).await;
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("Success")));

    // binding: only while unbound
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}});
    assert_eq!(api.post("/api/v1/nodes", &node).await.status, 201);
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Node", "name": "n1"}});
    let r = api.post(&format!("{PODS}/web/binding"), &binding).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bound = api.get(&format!("{PODS}/web")).await.json();
    assert_eq!(bound["spec"]["nodeName"], "n1");
    assert!(bound["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["status"] == "True"));
    let r = api.post(&format!("{PODS}/web/binding"), &binding).await;
    assert_eq!(r.status, 409);

    // graceful delete of a bound pod: marked, then finished with grace 0 + uid precondition
    let r = api.delete(&format!("{PODS}/web"), Some(&json!({"propagationPolicy": "Background"}))).await;
    assert_eq!(r.status, 200);
    let marked = r.json();
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);
    assert_eq!(api.get(&format!("{PODS}/web")).await.status, 200);
    let wrong = api
        .delete(&format!("{PODS}/web"), Some(&json!({"gracePeriodSeconds": 0, "preconditions": {"uid": "nope"}})))
        .await;
    assert_eq!(wrong.status, 409);
    let uid = marked["metadata"]["uid"].as_str().unwrap();
    let r = api
        .delete(&format!("{PODS}/web"), Some(&json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.get(&format!("{PODS}/web")).await.status, 404);
    // unbound pods go at once
    api.post(PODS, &pod("free")).await;
    assert_eq!(api.delete(&format!("{PODS}/free"), None).await.status, 200);
    assert_eq!(api.get(&format!("{PODS}/free")).await.status, 404);
    let r = api.delete(&format!("{PODS}/free"), None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn namespace_deletion_removes_contents() {
    let (_m, api) = start();
    assert_eq!(api.post("/api/v1/namespaces", &json!({"metadata": {"name": "team"}})).await.status, 201);
    api.post("/api/v1/namespaces/team/pods", &pod("a")).await;
    api.post("/api/v1/namespaces/team/configmaps", &json!({"metadata": {"name": "c"}, "data": {"k": "v"}})).await;
    let r = api.delete("/api/v1/namespaces/team", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"]["phase"], "Terminating");
    let r = api.post("/api/v1/namespaces/team/configmaps", &json!({"metadata": {"name": "late"}})).await;
    assert!(r.status == 403 || r.status == 404, "{}", r.text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while api.get("/api/v1/namespaces/team").await.status != 404 {
        assert!(tokio::time::Instant::now() < deadline, "namespace not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.get("/api/v1/namespaces/team/pods/a").await.status, 404);
    let r = api.delete("/api/v1/namespaces/default", None).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn slow_watcher_is_dropped_without_blocking_writers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_m, api) = start();
    let addr = api.base.trim_start_matches("http://").to_owned();
    // A watcher that never reads.
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sock.write_all(format!("GET {PODS}?watch=true HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Writers keep going at full speed: 50 MB of events (far beyond socket buffers) while the
    // watcher is stuck.
    let big = "x".repeat(25_000);
    let started = std::time::Instant::now();
    for i in 0..2000 {
        let mut p = pod(&format!("w{i}"));
        p["metadata"]["annotations"] = json!({ "pad": big });
        let r = api.post(PODS, &p).await;
        assert_eq!(r.status, 201);
    }
    assert!(started.elapsed() < Duration::from_secs(60), "writers were held up: {:?}", started.elapsed());
    // Still not reading past the server's patience with a stuck client (10 s)...
    tokio::time::sleep(Duration::from_secs(12)).await;
    // ...the stuck watcher is eventually dropped: its chunked stream is terminated.
    let mut buf = vec![0u8; 1 << 20];
    let mut tail: Vec<u8> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, sock.read(&mut buf)).await.expect("slow watcher was never dropped") {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                let keep = tail.len().saturating_sub(16);
                tail.drain(..keep);
                if tail.ends_with(b"\r\n0\r\n\r\n") {
                    break;
                }
            }
        }
    }
    // And the server still serves watches.
    let events =
        read_events(&api, &format!("{PODS}?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Dw7"), 1).await;
    assert_eq!(events[0]["object"]["metadata"]["name"], "w7");
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let (_m, api) = start();
    let r = api.put(PODS, &pod("x")).await;
    assert_eq!((r.status, r.json()["reason"].as_str()), (405, Some("MethodNotAllowed")));
    let r = api.post(&format!("{PODS}/x"), &pod("x")).await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn paging_with_a_selector_at_an_older_revision() {
    let (_m, api) = start();
    for i in 0..9 {
        let mut p = pod(&format!("q{i}"));
        p["metadata"]["labels"] = json!({"app": if i % 3 == 0 { "keep" } else { "skip" }});
        assert_eq!(api.post(PODS, &p).await.status, 201);
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_owned()).collect()
    };
    let first = api.get(&format!("{PODS}?limit=2&labelSelector=app%3Dkeep")).await.json();
    assert_eq!(names(&first), vec!["q0", "q3"]);
    assert!(first["metadata"].get("remainingItemCount").is_none(), "not exact with a selector");
    let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    // Move the store on, so the next page is read at the first page's (older) revision.
    api.delete(&format!("{PODS}/q6"), None).await;
    let mut late = pod("q7b");
    late["metadata"]["labels"] = json!({"app": "keep"});
    api.post(PODS, &late).await;
    let second = api.get(&format!("{PODS}?limit=2&labelSelector=app%3Dkeep&continue={token}")).await.json();
    assert_eq!(names(&second), vec!["q6"], "q6 still existed at the first page's revision; q7b did not");
    assert!(second["metadata"].get("continue").is_none());
}
