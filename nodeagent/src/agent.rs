//! What the agent's tasks share: the API client, the runtime, the nodes it carries, and an index
//! of the pods it runs (for the logs and exec endpoints).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use k8s_openapi::api::core::v1::Pod;

use crate::events::Recorder;
use crate::ipam::Ipam;
use crate::node::NodeIdentity;
use crate::runtime::{Listing, Runtime};

/// Shared by every task of one agent process.
pub struct Agent {
    pub client: kube::Client,
    pub runtime: Arc<dyn Runtime>,
    pub recorder: Recorder,
    pub data_dir: PathBuf,
    pub index: PodIndex,
    /// Whether volumes are made on disk (not for the sim runtime, where nothing runs).
    pub prepare_volumes: bool,
}

impl Agent {
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.data_dir.join("pods").join(uid)
    }

    /// What the runtime holds for one pod.
    pub async fn observe(&self, uid: &str) -> Result<crate::plan::Observed, crate::runtime::RuntimeError> {
        let Listing { sandboxes, containers } = self.runtime.list_pod(uid).await?;
        Ok(crate::plan::Observed { sandbox: sandboxes.into_iter().max_by_key(|s| s.created_at), containers })
    }
}

/// One node the agent carries.
pub struct NodeCtx {
    pub identity: NodeIdentity,
    pub ipam: Mutex<Ipam>,
}

impl NodeCtx {
    pub fn new(identity: NodeIdentity) -> NodeCtx {
        let ipam = Ipam::new(&identity.pod_cidr)
            .unwrap_or_else(|| Ipam::new("10.244.0.0/24").unwrap_or_else(|| unreachable!("a valid literal CIDR")));
        NodeCtx { identity, ipam: Mutex::new(ipam) }
    }

    pub fn ipam(&self) -> std::sync::MutexGuard<'_, Ipam> {
        self.ipam.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A pod the agent runs, as the logs and exec endpoints look it up.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    pub uid: String,
    /// Names of all the pod's containers (init ones included).
    pub containers: Vec<String>,
}

/// (namespace, name) → the pod the agent runs under that name.
#[derive(Default)]
pub struct PodIndex {
    inner: RwLock<HashMap<(String, String), IndexEntry>>,
}

impl PodIndex {
    pub fn put(&self, pod: &Pod) {
        let key = key(pod);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if map.get(&key).is_some_and(|e| e.uid == uid) {
            return;
        }
        let containers = crate::plan::init_containers(pod)
            .iter()
            .chain(crate::plan::containers(pod))
            .map(|c| c.name.clone())
            .collect();
        map.insert(key, IndexEntry { uid, containers });
    }

    pub fn remove(&self, pod: &Pod, uid: &str) {
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let key = key(pod);
        if map.get(&key).is_some_and(|e| e.uid == uid) {
            map.remove(&key);
        }
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<IndexEntry> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).get(&(namespace.to_owned(), name.to_owned())).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn key(pod: &Pod) -> (String, String) {
    (pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()), pod.metadata.name.clone().unwrap_or_default())
}
