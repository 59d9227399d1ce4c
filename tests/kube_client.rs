//! Our own client crate (kube-rs underneath) lists and watches pods through the server, and its
//! watcher carries on across a server restart (relisting when its revision is gone).

mod common;

use std::time::Duration;

use common::Minik;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;

fn pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "spec": { "containers": [{ "name": "c", "image": "busybox" }] }
    }))
    .unwrap()
}

#[tokio::test]
async fn list_and_watch_across_a_restart() {
    let mut server = Minik::start("apiserver", &[]);
    let tmp = server.take_tempdir();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let opts = minik_client::ConnectOptions { server: Some(server.url.clone()), ..Default::default() };
    let client = minik_client::connect(&opts).await.expect("client");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &pod("before")).await.expect("create");
    let list = pods.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch_api = pods.clone();
    let task = tokio::spawn(async move {
        let mut stream = watcher(watch_api, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            if let Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) = ev {
                let _ = tx.send(p.metadata.name.unwrap_or_default());
            }
        }
    });
    let seen = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("initial event");
    assert_eq!(seen.as_deref(), Some("before"));
    pods.create(&PostParams::default(), &pod("live")).await.expect("create live");
    let seen = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("live event");
    assert_eq!(seen.as_deref(), Some("live"));

    // Restart the server on the same data and port.
    assert!(server.stop(), "SIGTERM must shut the server down cleanly (exit 0)");
    let data_dir = server.data_dir.clone();
    let server2 = Minik::start_at("apiserver", &data_dir, &addr, &[]);
    pods.create(&PostParams::default(), &pod("after")).await.expect("create after restart");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let name = tokio::time::timeout_at(deadline, rx.recv()).await.expect("watcher resumed").expect("watcher alive");
        if name == "after" {
            break;
        }
    }
    let list = pods.list(&ListParams::default()).await.expect("list after restart");
    let mut names: Vec<String> = list.items.into_iter().filter_map(|p| p.metadata.name).collect();
    names.sort();
    assert_eq!(names, vec!["after", "before", "live"]);
    task.abort();
    drop(server2);
    drop(tmp);
}
