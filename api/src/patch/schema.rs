//! Which lists merge, and by what key, in a strategic merge patch.
//!
//! Kubernetes reads this from the `patchStrategy` / `patchMergeKey` struct tags in
//! `k8s.io/api/core/v1/types.go` (and `meta/v1` for ObjectMeta). Here it is a table per kind: a
//! path of field names from the object root (list items do not add a segment, so
//! `spec.containers.env` is the `env` list of every container) to the list's strategy. Every
//! list not in the table is atomic: the patch's list replaces the live one.
//!
//! Lists that are atomic in Kubernetes and so deliberately absent: pod `spec.tolerations`,
//! `spec.readinessGates`, container `command`/`args`/`envFrom`, pod `status.containerStatuses`
//! (and the init/ephemeral variants), node `spec.taints`, `status.images`, service
//! `spec.externalIPs`/`clusterIPs`, namespace `spec.finalizers`.

/// How a list field is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// A list of objects merged item by item, matched by this field.
    MergeByKey(&'static str),
    /// A list of scalars merged as a set (`patchStrategy:"merge"` without a merge key).
    MergeSet,
}

type Table = &'static [(&'static str, ListStrategy)];

use ListStrategy::{MergeByKey, MergeSet};

/// ObjectMeta, shared by every kind.
const METADATA: Table = &[("metadata.finalizers", MergeSet), ("metadata.ownerReferences", MergeByKey("uid"))];

const POD: Table = &[
    ("spec.volumes", MergeByKey("name")),
    ("spec.containers", MergeByKey("name")),
    ("spec.containers.ports", MergeByKey("containerPort")),
    ("spec.containers.env", MergeByKey("name")),
    ("spec.containers.volumeMounts", MergeByKey("mountPath")),
    ("spec.containers.volumeDevices", MergeByKey("devicePath")),
    ("spec.initContainers", MergeByKey("name")),
    ("spec.initContainers.ports", MergeByKey("containerPort")),
    ("spec.initContainers.env", MergeByKey("name")),
    ("spec.initContainers.volumeMounts", MergeByKey("mountPath")),
    ("spec.initContainers.volumeDevices", MergeByKey("devicePath")),
    ("spec.ephemeralContainers", MergeByKey("name")),
    ("spec.ephemeralContainers.ports", MergeByKey("containerPort")),
    ("spec.ephemeralContainers.env", MergeByKey("name")),
    ("spec.ephemeralContainers.volumeMounts", MergeByKey("mountPath")),
    ("spec.ephemeralContainers.volumeDevices", MergeByKey("devicePath")),
    ("spec.imagePullSecrets", MergeByKey("name")),
    ("spec.hostAliases", MergeByKey("ip")),
    ("spec.topologySpreadConstraints", MergeByKey("topologyKey")),
    ("spec.schedulingGates", MergeByKey("name")),
    ("spec.resourceClaims", MergeByKey("name")),
    ("status.conditions", MergeByKey("type")),
    ("status.podIPs", MergeByKey("ip")),
    ("status.hostIPs", MergeByKey("ip")),
    ("status.resourceClaimStatuses", MergeByKey("name")),
];

const NODE: Table =
    &[("spec.podCIDRs", MergeSet), ("status.conditions", MergeByKey("type")), ("status.addresses", MergeByKey("type"))];

const SERVICE: Table = &[("spec.ports", MergeByKey("port")), ("status.conditions", MergeByKey("type"))];

const NAMESPACE: Table = &[("status.conditions", MergeByKey("type"))];

/// Kinds whose lists are all atomic (apart from metadata): ConfigMap, Secret, Event, Lease and
/// anything unknown.
const NONE: Table = &[];

/// The merge rules for one kind.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    kind_table: Table,
}

impl Schema {
    /// The rules for `kind` ("Pod", "Node", ...). Unknown kinds get the ObjectMeta rules only.
    pub fn for_kind(kind: &str) -> Schema {
        let kind_table = match kind {
            "Pod" => POD,
            "Node" => NODE,
            "Service" => SERVICE,
            "Namespace" => NAMESPACE,
            _ => NONE,
        };
        Schema { kind_table }
    }

    /// The strategy of the list at `path` (dot-separated field names), if it merges.
    pub fn list_strategy(&self, path: &str) -> Option<ListStrategy> {
        METADATA.iter().chain(self.kind_table.iter()).find(|(p, _)| *p == path).map(|(_, s)| *s)
    }
}

/// The path of field `key` inside the object at `parent` ("" is the root).
pub fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let cases: &[(&str, &str, Option<ListStrategy>)] = &[
            ("Pod", "spec.containers", Some(MergeByKey("name"))),
            ("Pod", "spec.initContainers.env", Some(MergeByKey("name"))),
            ("Pod", "spec.containers.ports", Some(MergeByKey("containerPort"))),
            ("Pod", "spec.containers.volumeMounts", Some(MergeByKey("mountPath"))),
            ("Pod", "spec.tolerations", None),
            ("Pod", "spec.containers.args", None),
            ("Pod", "status.containerStatuses", None),
            ("Pod", "metadata.finalizers", Some(MergeSet)),
            ("ConfigMap", "metadata.ownerReferences", Some(MergeByKey("uid"))),
            ("Node", "status.addresses", Some(MergeByKey("type"))),
            ("Node", "spec.taints", None),
            ("Service", "spec.ports", Some(MergeByKey("port"))),
            ("Secret", "spec.containers", None),
            ("Whatever", "metadata.finalizers", Some(MergeSet)),
        ];
        for (kind, path, want) in cases {
            assert_eq!(Schema::for_kind(kind).list_strategy(path), *want, "{kind} {path}");
        }
    }

    #[test]
    fn child_paths() {
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(child("spec", "containers"), "spec.containers");
    }
}
