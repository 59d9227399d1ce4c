//! Resource amounts the scheduler compares: what a node offers and what a pod asks for, as plain
//! integers (milli-CPU, bytes, pod count) computed once per object through `minik_api::quantity`.

use std::collections::BTreeMap;
use std::ops::{Add, Sub};

use k8s_openapi::api::core::v1::{Node, PodSpec};
use minik_api::quantity::{self, Quantity};

/// CPU assumed for scoring when a pod requests none (kube-scheduler's `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed for scoring when a pod requests none (kube-scheduler's `DefaultMemoryRequest`).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// The resources the filters and scores look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Number of pods (for allocatable: how many the node accepts).
    pub pods: i64,
}

impl Resources {
    /// Reads `cpu`, `memory`, `ephemeral-storage` and `pods` from a resource list; unknown names
    /// are ignored. Amounts too large for `i64` saturate.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resources {
        let get = |name: &str, milli: bool| {
            list.get(name)
                .map(|q| if milli { q.milli_value() } else { q.value() })
                .map(|v| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }))
                .unwrap_or(0)
        };
        Resources {
            milli_cpu: get("cpu", true),
            memory: get("memory", false),
            ephemeral_storage: get("ephemeral-storage", false),
            pods: get("pods", false),
        }
    }

    /// What a pod asks for: Kubernetes' rule (max of init containers vs. sum of main containers,
    /// plus overhead). `pods` is 1.
    pub fn pod_requests(spec: &PodSpec) -> Resources {
        Resources { pods: 1, ..Resources::from_list(&quantity::pod_requests(spec)) }
    }

    /// The requests used by the scores: a pod (or container) that asks for no CPU or memory is
    /// counted as asking for kube-scheduler's defaults, so empty pods still spread.
    pub fn non_zero(self) -> Resources {
        Resources {
            milli_cpu: if self.milli_cpu == 0 { DEFAULT_MILLI_CPU_REQUEST } else { self.milli_cpu },
            memory: if self.memory == 0 { DEFAULT_MEMORY_REQUEST } else { self.memory },
            ..self
        }
    }

    /// A node's `status.allocatable` (falling back to `status.capacity`). Unparsable amounts count as zero.
    pub fn node_allocatable(node: &Node) -> Resources {
        let status = node.status.as_ref();
        let list = status.and_then(|s| s.allocatable.as_ref()).or_else(|| status.and_then(|s| s.capacity.as_ref()));
        let Some(list) = list else { return Resources::default() };
        let parsed: BTreeMap<String, Quantity> =
            list.iter().filter_map(|(k, v)| quantity::parse_k8s(v).ok().map(|q| (k.clone(), q))).collect();
        Resources::from_list(&parsed)
    }
}

impl Add for Resources {
    type Output = Resources;
    fn add(self, o: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_add(o.milli_cpu),
            memory: self.memory.saturating_add(o.memory),
            ephemeral_storage: self.ephemeral_storage.saturating_add(o.ephemeral_storage),
            pods: self.pods.saturating_add(o.pods),
        }
    }
}

impl Sub for Resources {
    type Output = Resources;
    fn sub(self, o: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_sub(o.milli_cpu),
            memory: self.memory.saturating_sub(o.memory),
            ephemeral_storage: self.ephemeral_storage.saturating_sub(o.ephemeral_storage),
            pods: self.pods.saturating_sub(o.pods),
        }
    }
}
