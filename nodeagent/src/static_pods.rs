//! Static pods: every manifest in `--pod-manifest-path` runs on the node without the API (added,
//! changed and removed files are picked up), each with a mirror pod `<name>-<node>` in the API
//! (annotation `kubernetes.io/config.mirror`). Deleting the mirror does not stop the pod; the
//! mirror comes back.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, NodeCtx};
use crate::source::{spawn_worker, WorkerHandle};
use crate::worker::StatusSink;

pub const MIRROR: &str = "kubernetes.io/config.mirror";
pub const HASH: &str = "kubernetes.io/config.hash";
pub const SOURCE: &str = "kubernetes.io/config.source";
const UID_PREFIX: &str = "static-";

pub fn is_static_uid(uid: &str) -> bool {
    uid.starts_with(UID_PREFIX)
}

/// Whether an API pod is the mirror of a static pod.
pub fn is_mirror(pod: &Pod) -> bool {
    pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(MIRROR))
}

/// A manifest turned into the pod the node runs: named `<name>-<node>`, bound to the node, with a
/// uid derived from the manifest (a changed file is a new pod).
pub fn static_pod(manifest: &str, node: &str) -> Result<Pod, String> {
    let mut pod: Pod = serde_saphyr::from_str(manifest)
        .or_else(|_| serde_json::from_str(manifest).map_err(|e| e.to_string()))
        .map_err(|e| format!("not a pod manifest: {e}"))?;
    let name = pod.metadata.name.clone().ok_or("the manifest has no metadata.name")?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    manifest.hash(&mut hasher);
    node.hash(&mut hasher);
    let hash = format!("{:016x}", hasher.finish());
    pod.metadata.name = Some(format!("{name}-{node}"));
    pod.metadata.namespace = Some(pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()));
    pod.metadata.uid = Some(format!("{UID_PREFIX}{hash}"));
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(HASH.into(), hash);
    annotations.insert(SOURCE.into(), "file".into());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(node.to_owned());
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".into());
    }
    pod.status = None;
    Ok(pod)
}

/// The mirror pod to create in the API for a static pod.
pub fn mirror_of(pod: &Pod, node_uid: Option<String>) -> Pod {
    let mut mirror = pod.clone();
    let hash = pod.metadata.annotations.as_ref().and_then(|a| a.get(HASH)).cloned().unwrap_or_default();
    mirror.metadata.uid = None;
    mirror.metadata.resource_version = None;
    mirror.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(MIRROR.into(), hash);
    if let Some(uid) = node_uid {
        mirror.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
            uid,
            controller: Some(true),
            block_owner_deletion: None,
        }]);
    }
    mirror
}

/// Reads every manifest in `dir` (`*.yaml`, `*.yml`, `*.json`).
fn read_dir(dir: &Path, node: &str) -> HashMap<PathBuf, Result<Pod, String>> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let path = e.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !matches!(ext, "yaml" | "yml" | "json")
            || path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let pod = std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|s| static_pod(&s, node));
        out.insert(path, pod);
    }
    out
}

/// Polls the manifest directory every second until `shutdown`.
pub async fn run(agent: Arc<Agent>, node: Arc<NodeCtx>, dir: PathBuf, shutdown: CancellationToken) {
    let node_name = node.identity.name.clone();
    let mut workers: HashMap<String, (WorkerHandle, Pod)> = HashMap::new();
    let mut reported: HashMap<PathBuf, String> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    let mut exits = agent.runtime.watch_exits();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
            Ok(uid) = exits.recv() => {
                if let Some((w, _)) = workers.get(&uid) {
                    w.notify.notify_one();
                }
                continue;
            }
            Some(uid) = done_rx.recv() => {
                if workers.get(&uid).is_some_and(|(w, _)| w.tx.is_closed()) {
                    workers.remove(&uid);
                }
                continue;
            }
        }
        let manifests = read_dir(&dir, &node_name);
        let mut wanted: HashMap<String, Pod> = HashMap::new();
        for (path, pod) in manifests {
            match pod {
                Ok(pod) => {
                    reported.remove(&path);
                    wanted.insert(pod.metadata.uid.clone().unwrap_or_default(), pod);
                }
                Err(e) => {
                    if reported.get(&path) != Some(&e) {
                        tracing::warn!("static pod manifest {}: {e}", path.display());
                        reported.insert(path, e);
                    }
                }
            }
        }
        for (uid, (w, _)) in &workers {
            if !wanted.contains_key(uid) {
                let _ = w.tx.send(None);
            }
        }
        let gone: Vec<Pod> =
            workers.iter().filter(|(uid, _)| !wanted.contains_key(*uid)).map(|(_, (_, p))| p.clone()).collect();
        for pod in gone {
            let name = pod.metadata.name.clone().unwrap_or_default();
            // A changed manifest keeps its name: only remove the mirror when no pod wants it.
            if !wanted.values().any(|p| p.metadata.name.as_deref() == Some(name.as_str())) {
                delete_mirror(&agent, &pod).await;
            }
        }
        workers.retain(|uid, _| wanted.contains_key(uid));
        for (uid, pod) in wanted {
            let created = ensure_mirror(&agent, &pod).await;
            if let Some((w, _)) = workers.get(&uid) {
                if !w.tx.is_closed() {
                    if created {
                        w.resync();
                    }
                    continue;
                }
            }
            let name = pod.metadata.name.clone().unwrap_or_default();
            let handle = spawn_worker(&agent, &node, &uid, pod.clone(), StatusSink::Mirror(name), &done_tx);
            workers.insert(uid, (handle, pod));
        }
    }
}

/// Creates the mirror pod if it is missing or mirrors another version of the manifest; true when
/// it made a new one.
async fn ensure_mirror(agent: &Agent, pod: &Pod) -> bool {
    let ns = crate::worker::namespace(pod);
    let name = pod.metadata.name.clone().unwrap_or_default();
    let hash = pod.metadata.annotations.as_ref().and_then(|a| a.get(HASH)).cloned().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(agent.client.clone(), &ns);
    match api.get_opt(&name).await {
        Ok(Some(existing)) => {
            let mirrors = existing.metadata.annotations.as_ref().and_then(|a| a.get(MIRROR)) == Some(&hash);
            if mirrors && existing.metadata.deletion_timestamp.is_none() {
                return false;
            }
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: existing
                    .metadata
                    .uid
                    .clone()
                    .map(|uid| Preconditions { uid: Some(uid), resource_version: None }),
                ..Default::default()
            };
            let _ = api.delete(&name, &params).await;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!("cannot read mirror pod {ns}/{name}: {e}");
            return false;
        }
    }
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(agent.client.clone());
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let node_uid = nodes.get_opt(&node_name).await.ok().flatten().and_then(|n| n.metadata.uid);
    match api.create(&PostParams::default(), &mirror_of(pod, node_uid)).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("cannot create mirror pod {ns}/{name}: {e}");
            false
        }
    }
}

async fn delete_mirror(agent: &Agent, pod: &Pod) {
    let api: Api<Pod> = Api::namespaced(agent.client.clone(), &crate::worker::namespace(pod));
    let name = pod.metadata.name.clone().unwrap_or_default();
    let _ = api.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test-static-pod\nspec:\n  containers:\n  - name: test-container\n    image: goweb-demo\n    command: [\"/bin/bash\", \"-c\", \"echo hi; sleep 10\"]\n";

    #[test]
    fn manifests_become_node_pods() {
        let pod = static_pod(MANIFEST, "node01").unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("test-static-pod-node01"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(pod.spec.as_ref().unwrap().node_name.as_deref(), Some("node01"));
        let uid = pod.metadata.uid.clone().unwrap();
        assert!(is_static_uid(&uid));
        // Same manifest, same uid; a change makes a new pod.
        assert_eq!(static_pod(MANIFEST, "node01").unwrap().metadata.uid, Some(uid.clone()));
        let changed = MANIFEST.replace("sleep 10", "sleep 20");
        assert_ne!(static_pod(&changed, "node01").unwrap().metadata.uid, Some(uid));
        assert!(static_pod("kind: Pod\nspec: {}\n", "n").is_err());
    }

    #[test]
    fn mirrors_are_annotated_and_owned_by_the_node() {
        let pod = static_pod(MANIFEST, "node01").unwrap();
        let mirror = mirror_of(&pod, Some("node-uid".into()));
        assert!(is_mirror(&mirror));
        assert!(mirror.metadata.uid.is_none());
        assert_eq!(
            mirror.metadata.annotations.as_ref().unwrap()[MIRROR],
            pod.metadata.annotations.as_ref().unwrap()[HASH]
        );
        assert_eq!(mirror.metadata.owner_references.unwrap()[0].kind, "Node");
    }

    #[test]
    fn reads_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.yaml"), MANIFEST).unwrap();
        std::fs::write(tmp.path().join("b.txt"), "ignored").unwrap();
        std::fs::write(tmp.path().join("c.yaml"), "garbage: [").unwrap();
        let pods = read_dir(tmp.path(), "n");
        assert_eq!(pods.len(), 2);
        assert!(pods[&tmp.path().join("a.yaml")].is_ok());
        assert!(pods[&tmp.path().join("c.yaml")].is_err());
    }
}
