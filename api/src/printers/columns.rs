//! Column definitions of the server-side Tables, per resource, in kube-apiserver's order.
//! Priority 0 columns always show; priority 1 only with `-o wide`.

/// One `columnDefinitions` entry of a `meta.k8s.io/v1` Table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

impl Column {
    /// This column as a Table's `columnDefinitions` entry.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

const fn col(name: &'static str, description: &'static str) -> Column {
    Column { name, type_: "string", format: "", description, priority: 0 }
}

const fn wide(name: &'static str, description: &'static str) -> Column {
    Column { name, type_: "string", format: "", description, priority: 1 }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: "Name must be unique within a namespace. Is required when creating resources, although some \
                  resources may allow a client to request the generation of an appropriate name automatically.",
    priority: 0,
};

const AGE: Column =
    col("Age", "CreationTimestamp is a timestamp representing the server time when this object was created.");

pub(crate) const PODS: &[Column] = &[
    NAME,
    col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "The aggregate status of the containers in this pod."),
    col(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this \
         pod has restarted.",
    ),
    AGE,
    wide("IP", "IP address allocated to the pod. Routable at least within the cluster."),
    wide("Node", "NodeName is a request to schedule this pod onto a specific node."),
    wide(
        "Nominated Node",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled \
         right away as preemption victims receive their graceful termination periods.",
    ),
    wide("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness."),
];

pub(crate) const NODES: &[Column] = &[
    NAME,
    col("Status", "The status of the node"),
    col("Roles", "The roles of the node"),
    AGE,
    col("Version", "Kubelet Version reported by the node."),
    wide("Internal-IP", "List of addresses reachable to the node."),
    wide("External-IP", "List of addresses reachable to the node."),
    wide("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    wide(
        "Container-Runtime",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

pub(crate) const NAMESPACES: &[Column] = &[NAME, col("Status", "The status of the namespace"), AGE];

pub(crate) const CONFIGMAPS: &[Column] = &[NAME, col("Data", "Data contains the configuration data."), AGE];

pub(crate) const SECRETS: &[Column] = &[
    NAME,
    col("Type", "Used to facilitate programmatic handling of secret data."),
    col("Data", "Data contains the secret data."),
    AGE,
];

pub(crate) const SERVICES: &[Column] = &[
    NAME,
    col("Type", "type determines how the Service is exposed."),
    col("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
    col("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    col("Port(s)", "The list of ports that are exposed by this service."),
    AGE,
    wide(
        "Selector",
        "Route service traffic to pods with label keys and values matching this selector.",
    ),
];

pub(crate) const EVENTS: &[Column] = &[
    col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    col("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    col("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    col("Object", "The object that this event is about."),
    wide("Subobject", "The field path of the part of the object this event is about, e.g. a container."),
    wide("Source", "The component reporting this event."),
    col("Message", "A human-readable description of the status of this operation."),
    wide("First Seen", "The time at which the event was first recorded."),
    wide("Count", "The number of times this event has occurred."),
    Column { priority: 1, ..NAME },
];

pub(crate) const LEASES: &[Column] =
    &[NAME, col("Holder", "holderIdentity contains the identity of the holder of a current lease."), AGE];

/// kube-apiserver's default Table for resources without their own printer.
pub(crate) const DEFAULT: &[Column] = &[
    NAME,
    Column {
        name: "Created At",
        type_: "date",
        format: "",
        description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
        priority: 0,
    },
];
