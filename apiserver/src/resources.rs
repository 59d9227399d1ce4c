//! The resource types this server serves: names, scope, verbs and discovery facts, as data.

/// Which object type a resource holds (used to pick the typed strategy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KindTag {
    Pod,
    Node,
    Namespace,
    ConfigMap,
    Secret,
    Event,
    Service,
    Lease,
}

#[derive(Debug)]
pub struct ResourceInfo {
    pub tag: KindTag,
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Field selectors this resource supports besides metadata.name / metadata.namespace.
    pub fields: &'static [&'static str],
}

#[derive(Debug)]
pub struct Subresource {
    pub name: &'static str,
    pub kind: &'static str,
    pub group: &'static str,
    pub verbs: &'static [&'static str],
}

pub const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

const STATUS_SUB: Subresource = Subresource { name: "status", kind: "", group: "", verbs: &["get", "patch", "update"] };

pub static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        tag: KindTag::Pod,
        group: "",
        version: "v1",
        kind: "Pod",
        list_kind: "PodList",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        subresources: &[
            Subresource { name: "binding", kind: "Binding", group: "", verbs: &["create"] },
            Subresource { name: "exec", kind: "PodExecOptions", group: "", verbs: &["create", "get"] },
            Subresource { name: "log", kind: "Pod", group: "", verbs: &["get"] },
            Subresource { name: "status", kind: "Pod", group: "", verbs: &["get", "patch", "update"] },
        ],
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
    },
    ResourceInfo {
        tag: KindTag::Node,
        group: "",
        version: "v1",
        kind: "Node",
        list_kind: "NodeList",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        subresources: &[Subresource { kind: "Node", ..STATUS_SUB }],
        fields: &["spec.unschedulable"],
    },
    ResourceInfo {
        tag: KindTag::Namespace,
        group: "",
        version: "v1",
        kind: "Namespace",
        list_kind: "NamespaceList",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        subresources: &[Subresource { kind: "Namespace", ..STATUS_SUB }],
        fields: &["status.phase"],
    },
    ResourceInfo {
        tag: KindTag::ConfigMap,
        group: "",
        version: "v1",
        kind: "ConfigMap",
        list_kind: "ConfigMapList",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
        fields: &[],
    },
    ResourceInfo {
        tag: KindTag::Secret,
        group: "",
        version: "v1",
        kind: "Secret",
        list_kind: "SecretList",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        fields: &["type"],
    },
    ResourceInfo {
        tag: KindTag::Event,
        group: "",
        version: "v1",
        kind: "Event",
        list_kind: "EventList",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
    },
    ResourceInfo {
        tag: KindTag::Service,
        group: "",
        version: "v1",
        kind: "Service",
        list_kind: "ServiceList",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[Subresource { kind: "Service", ..STATUS_SUB }],
        fields: &[],
    },
    ResourceInfo {
        tag: KindTag::Lease,
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        list_kind: "LeaseList",
        plural: "leases",
        singular: "lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        fields: &[],
    },
];

/// The API groups besides the core one, with their versions.
pub const GROUPS: &[(&str, &str)] = &[("coordination.k8s.io", "v1")];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub fn by_tag(tag: KindTag) -> &'static ResourceInfo {
    RESOURCES.iter().find(|r| r.tag == tag).unwrap_or(&RESOURCES[0])
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The resource as error messages name it: `pods`, `leases.coordination.k8s.io`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `/registry/<plural>/` — the store prefix of every object of this resource.
    pub fn prefix(&self) -> String {
        format!("/registry/{}/", self.plural)
    }

    /// The store prefix of one namespace (or of everything when `namespace` is None).
    pub fn list_prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/", self.plural, ns),
            _ => self.prefix(),
        }
    }

    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/{}", self.plural, ns, name),
            _ => format!("/registry/{}/{}", self.plural, name),
        }
    }

    pub fn supports_field(&self, field: &str) -> bool {
        field == "metadata.name" || (field == "metadata.namespace" && self.namespaced) || self.fields.contains(&field)
    }
}
