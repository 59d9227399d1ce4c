//! Acknowledged writes survive `kill -9`: 64 clients create pods, the server is killed mid-storm,
//! and after a restart on the same data every pod that got a 201 is there, unchanged, and the
//! revision keeps growing. Also: a second server on the same data dir is refused.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::{pod, Api};
use common::{run, Minik};
use serde_json::Value;

#[tokio::test]
async fn acknowledged_creates_survive_kill_9() {
    let mut first = Minik::start("apiserver", &[]);
    let tmp = first.take_tempdir().expect("tempdir");
    let data_dir = first.data_dir.clone();
    let acked: Arc<Mutex<HashMap<String, (String, String)>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..64 {
        let api = Api::new(&first.url);
        let acked = acked.clone();
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("c{c}-{i}");
                let resp = api
                    .client
                    .post(format!("{}/api/v1/namespaces/default/pods", api.base))
                    .json(&pod(&name))
                    .send()
                    .await;
                let Ok(resp) = resp else { break };
                if resp.status().as_u16() != 201 {
                    break;
                }
                let Ok(body) = resp.json::<Value>().await else { break };
                let uid = body["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
                let rv = body["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_owned();
                acked.lock().unwrap().insert(name, (uid, rv));
            }
        }));
    }
    // Let the storm run, then kill the server without warning.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill9();
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 64, "too few creates were acknowledged: {}", acked.len());
    let max_rv: i64 = acked.values().map(|(_, rv)| rv.parse::<i64>().unwrap()).max().unwrap();

    let second = Minik::start_in("apiserver", &data_dir, &[]);
    let api = Api::new(&second.url);
    let list = api.get("/api/v1/namespaces/default/pods").await.json();
    let stored: HashMap<String, (String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let m = &p["metadata"];
            (
                m["name"].as_str().unwrap().to_owned(),
                (m["uid"].as_str().unwrap().to_owned(), m["resourceVersion"].as_str().unwrap().to_owned()),
            )
        })
        .collect();
    for (name, want) in &acked {
        assert_eq!(stored.get(name), Some(want), "acknowledged pod {name} lost or changed after kill -9");
    }
    // New writes get higher revisions than anything acknowledged before the crash.
    let r = api.post("/api/v1/namespaces/default/pods", &pod("after-restart")).await;
    assert_eq!(r.status, 201);
    let rv: i64 = r.json()["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(rv > max_rv, "revision went backwards: {rv} <= {max_rv}");
    // History does not survive a restart: watching from before it is 410 Expired.
    let r = api.get("/api/v1/namespaces/default/pods?watch=true&resourceVersion=1").await;
    let ev: Value = serde_json::from_str(r.text.lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!((ev["object"]["code"].as_i64(), ev["object"]["reason"].as_str()), (Some(410), Some("Expired")));
    let r = api.get("/api/v1/namespaces/default/pods?resourceVersion=1&resourceVersionMatch=Exact").await;
    assert_eq!(r.status, 410, "{}", r.text);

    // A second server on the same data dir is refused with a clear error.
    let (code, _, stderr) = run(std::process::Command::new(common::minik_bin()).args([
        "apiserver",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir.display().to_string(),
    ]));
    assert_ne!(code, 0);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    drop(second);
    drop(tmp);
}
