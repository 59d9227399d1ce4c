//! The resource types minik serves and how kubectl names them (plural, singular, short names,
//! kinds), plus the URL paths for them.

/// One resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    pub plural: &'static str,
    pub singular: &'static str,
    pub short: &'static [&'static str],
    pub kind: &'static str,
    /// Empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
    /// In the `all` category.
    pub in_all: bool,
}

pub const RESOURCES: &[Resource] = &[
    Resource::core("pods", "pod", &["po"], "Pod", true, true),
    Resource::core("nodes", "node", &["no"], "Node", false, false),
    Resource::core("namespaces", "namespace", &["ns"], "Namespace", false, false),
    Resource::core("configmaps", "configmap", &["cm"], "ConfigMap", true, false),
    Resource::core("secrets", "secret", &[], "Secret", true, false),
    Resource::core("events", "event", &["ev"], "Event", true, false),
    Resource::core("services", "service", &["svc"], "Service", true, true),
    Resource {
        plural: "leases",
        singular: "lease",
        short: &[],
        kind: "Lease",
        group: "coordination.k8s.io",
        version: "v1",
        namespaced: true,
        in_all: false,
    },
];

impl Resource {
    const fn core(
        plural: &'static str,
        singular: &'static str,
        short: &'static [&'static str],
        kind: &'static str,
        namespaced: bool,
        in_all: bool,
    ) -> Resource {
        Resource { plural, singular, short, kind, group: "", version: "v1", namespaced, in_all }
    }

    /// `v1` or `coordination.k8s.io/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pod` or `lease.coordination.k8s.io`, as in `-o name` output.
    pub fn qualified_singular(&self) -> String {
        if self.group.is_empty() {
            self.singular.to_string()
        } else {
            format!("{}.{}", self.singular, self.group)
        }
    }

    /// Collection path; `namespace` is ignored for cluster-scoped types, `None` lists across all.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }

    pub fn object_path(&self, namespace: &str, name: &str) -> String {
        format!("{}/{name}", self.collection_path(Some(namespace)))
    }

    /// kube-rs' description of the type, for `Api<DynamicObject>`.
    pub fn api_resource(&self) -> kube::discovery::ApiResource {
        kube::discovery::ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version: self.api_version(),
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }
}

/// Finds a type by any of kubectl's names for it (`pods`, `pod`, `po`, `Pod`, `pods.v1.`,
/// `leases.coordination.k8s.io`).
pub fn lookup(name: &str) -> Option<&'static Resource> {
    let lower = name.to_ascii_lowercase();
    let (base, group) = match lower.split_once('.') {
        Some((b, g)) => (b.to_string(), Some(g.trim_start_matches("v1.").trim_end_matches('.').to_string())),
        None => (lower.clone(), None),
    };
    RESOURCES.iter().find(|r| {
        let name_ok = r.plural == base
            || r.singular == base
            || r.short.contains(&base.as_str())
            || r.kind.eq_ignore_ascii_case(&base);
        let group_ok = match &group {
            None => true,
            Some(g) => g.is_empty() || g == "v1" || *g == r.group,
        };
        name_ok && group_ok
    })
}

/// Finds a type by its kind, as in a manifest's `kind:` (with its `apiVersion`).
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Expands a `get` argument such as `pods,svc` or `all` into types, in order, without repeats.
pub fn expand(arg: &str) -> Result<Vec<&'static Resource>, String> {
    let mut out: Vec<&'static Resource> = Vec::new();
    for part in arg.split(',').filter(|p| !p.is_empty()) {
        let found: Vec<&'static Resource> = if part == "all" {
            RESOURCES.iter().filter(|r| r.in_all).collect()
        } else {
            vec![lookup(part).ok_or_else(|| part.to_string())?]
        };
        for r in found {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn names_and_short_names() {
        for n in ["pods", "pod", "po", "Pod", "pods.v1.", "PODS"] {
            assert_eq!(lookup(n).unwrap().plural, "pods", "{n}");
        }
        assert_eq!(lookup("no").unwrap().kind, "Node");
        assert_eq!(lookup("leases.coordination.k8s.io").unwrap().kind, "Lease");
        assert!(lookup("foo").is_none());
        assert!(lookup("pods.apps").is_none());
    }

    #[test]
    fn expand_all_and_lists() {
        let all: Vec<_> = expand("all").unwrap().iter().map(|r| r.plural).collect();
        assert_eq!(all, ["pods", "services"]);
        let list: Vec<_> = expand("cm,secret,svc,cm").unwrap().iter().map(|r| r.plural).collect();
        assert_eq!(list, ["configmaps", "secrets", "services"]);
        assert_eq!(expand("pods,foo").unwrap_err(), "foo");
    }

    #[test]
    fn paths() {
        let pods = lookup("po").unwrap();
        assert_eq!(pods.collection_path(Some("default")), "/api/v1/namespaces/default/pods");
        assert_eq!(pods.collection_path(None), "/api/v1/pods");
        let nodes = lookup("nodes").unwrap();
        assert_eq!(nodes.collection_path(Some("default")), "/api/v1/nodes");
        assert_eq!(nodes.object_path("default", "n1"), "/api/v1/nodes/n1");
        let leases = lookup("lease").unwrap();
        assert_eq!(
            leases.object_path("kube-node-lease", "n1"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
        );
        assert_eq!(leases.qualified_singular(), "lease.coordination.k8s.io");
    }
}
