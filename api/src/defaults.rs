//! Defaulting as kube-apiserver applies it on create: the v1 `SetDefaults_*` functions plus what
//! the admission plugins that always run add (ServiceAccount's `serviceAccountName: default`,
//! Priority's `priority: 0`, DefaultTolerationSeconds' not-ready/unreachable tolerations), and
//! the pod's initial status (phase Pending, QoS class). Every function only fills what is unset
//! (an empty string counts as unset), so running it twice changes nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ClientIPConfig, Container, HTTPGetAction, LifecycleHandler, Namespace, NamespaceStatus, Node, Pod,
    PodSecurityContext, PodSpec, PodStatus, Probe, ResourceRequirements, Secret, Service, SessionAffinityConfig,
    Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::quantity::{parse_list, Quantity};

/// kube-apiserver's `--default-not-ready-toleration-seconds` and unreachable twin.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
/// The mode configMap, secret, downwardAPI and projected volumes get (0644).
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;

fn unset(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(str::is_empty)
}

fn fill(v: &mut Option<String>, value: &str) {
    if unset(v) {
        *v = Some(value.to_owned());
    }
}

/// Defaults a pod being created.
pub fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    default_pod_spec(spec);
    let qos = qos_class(spec);
    let status = pod.status.get_or_insert_with(PodStatus::default);
    fill(&mut status.phase, "Pending");
    fill(&mut status.qos_class, qos);
}

fn default_pod_spec(spec: &mut PodSpec) {
    fill(&mut spec.dns_policy, "ClusterFirst");
    fill(&mut spec.restart_policy, "Always");
    spec.security_context.get_or_insert_with(PodSecurityContext::default);
    spec.termination_grace_period_seconds.get_or_insert(30);
    fill(&mut spec.scheduler_name, "default-scheduler");
    spec.enable_service_links.get_or_insert(true);
    // Admission: ServiceAccount and Priority.
    if unset(&spec.service_account_name) {
        spec.service_account_name =
            Some(spec.service_account.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "default".into()));
    }
    fill(&mut spec.service_account, spec.service_account_name.clone().unwrap_or_default().as_str());
    // Priority admission: no class means 0; the two built-in classes have fixed values.
    let builtin_priority = match spec.priority_class_name.as_deref().unwrap_or("") {
        "" => Some(0),
        "system-cluster-critical" => Some(2_000_000_000),
        "system-node-critical" => Some(2_000_001_000),
        _ => None,
    };
    if let Some(p) = builtin_priority {
        spec.priority.get_or_insert(p);
    }
    fill(&mut spec.preemption_policy, "PreemptLowerPriority");

    let host_network = spec.host_network == Some(true);
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        default_container(c, host_network);
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
    add_default_tolerations(spec.tolerations.get_or_insert_with(Vec::new));
}

fn default_container(c: &mut Container, host_network: bool) {
    if unset(&c.image_pull_policy) {
        let policy =
            if image_tag(c.image.as_deref().unwrap_or("")) == Some("latest") { "Always" } else { "IfNotPresent" };
        c.image_pull_policy = Some(policy.into());
    }
    fill(&mut c.termination_message_path, "/dev/termination-log");
    fill(&mut c.termination_message_policy, "File");
    let resources = c.resources.get_or_insert_with(ResourceRequirements::default);
    if let Some(limits) = &resources.limits {
        let requests = resources.requests.get_or_insert_with(BTreeMap::new);
        for (name, q) in limits {
            requests.entry(name.clone()).or_insert_with(|| q.clone());
        }
    }
    for port in c.ports.iter_mut().flatten() {
        fill(&mut port.protocol, "TCP");
        if host_network && port.host_port.unwrap_or(0) == 0 {
            port.host_port = Some(port.container_port);
        }
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_probe(probe);
    }
    if let Some(lc) = &mut c.lifecycle {
        for hook in [&mut lc.post_start, &mut lc.pre_stop].into_iter().flatten() {
            default_hook(hook);
        }
    }
    for env in c.env.iter_mut().flatten() {
        if let Some(field_ref) = env.value_from.as_mut().and_then(|f| f.field_ref.as_mut()) {
            fill(&mut field_ref.api_version, "v1");
        }
    }
}

/// The tag of an image reference: `Some("latest")` also when there is neither tag nor digest.
/// `None` when there is a digest and no tag, or no image.
fn image_tag(image: &str) -> Option<&str> {
    if image.is_empty() {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => Some(tag),
        None if digest.is_none() => Some("latest"),
        None => None,
    }
}

fn zero_or_unset(v: &mut Option<i32>, value: i32) {
    if v.unwrap_or(0) == 0 {
        *v = Some(value);
    }
}

fn default_probe(p: &mut Probe) {
    zero_or_unset(&mut p.timeout_seconds, 1);
    zero_or_unset(&mut p.period_seconds, 10);
    zero_or_unset(&mut p.success_threshold, 1);
    zero_or_unset(&mut p.failure_threshold, 3);
    if let Some(h) = &mut p.http_get {
        default_http_get(h);
    }
}

fn default_hook(h: &mut LifecycleHandler) {
    if let Some(http) = &mut h.http_get {
        default_http_get(http);
    }
}

fn default_http_get(h: &mut HTTPGetAction) {
    fill(&mut h.path, "/");
    fill(&mut h.scheme, "HTTP");
}

fn default_volume(v: &mut Volume) {
    let has_source = {
        let probe = Volume { name: String::new(), ..v.clone() };
        probe != Volume::default()
    };
    if !has_source {
        v.empty_dir = Some(Default::default());
    }
    if let Some(cm) = &mut v.config_map {
        cm.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = &mut v.secret {
        s.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
    }
    if let Some(d) = &mut v.downward_api {
        d.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
        for item in d.items.iter_mut().flatten() {
            if let Some(f) = &mut item.field_ref {
                fill(&mut f.api_version, "v1");
            }
        }
    }
    if let Some(p) = &mut v.projected {
        p.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
        for source in p.sources.iter_mut().flatten() {
            if let Some(token) = &mut source.service_account_token {
                token.expiration_seconds.get_or_insert(3600);
            }
            for item in source.downward_api.iter_mut().flat_map(|d| d.items.iter_mut().flatten()) {
                if let Some(f) = &mut item.field_ref {
                    fill(&mut f.api_version, "v1");
                }
            }
        }
    }
    if let Some(hp) = &mut v.host_path {
        hp.type_.get_or_insert_with(String::new);
    }
}

/// DefaultTolerationSeconds: tolerate `not-ready` and `unreachable` NoExecute taints for 300 s
/// unless the pod already tolerates them.
fn add_default_tolerations(tolerations: &mut Vec<Toleration>) {
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let tolerated = tolerations.iter().any(|t| {
            let k = t.key.as_deref().unwrap_or("");
            let e = t.effect.as_deref().unwrap_or("");
            (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
        });
        if !tolerated {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                value: None,
            });
        }
    }
}

/// The pod's QoS class by Kubernetes' rules, over init and main containers, cpu and memory only:
/// `Guaranteed` when every container limits both and requests equal limits, `BestEffort` when
/// nothing is requested or limited, else `Burstable`. A request left out counts as its limit, as
/// defaulting makes it.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<String, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<String, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let zero = Quantity::default();
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        let r = c.resources.as_ref();
        let lim = parse_list(r.and_then(|r| r.limits.as_ref()));
        let mut req = parse_list(r.and_then(|r| r.requests.as_ref()));
        for (name, q) in &lim {
            req.entry(name.clone()).or_insert(*q);
        }
        let compute = |name: &str| name == "cpu" || name == "memory";
        for (name, q) in req.iter().filter(|(n, q)| compute(n) && **q > zero) {
            let total = requests.entry(name.clone()).or_default();
            *total = *total + *q;
        }
        let mut found = 0;
        for (name, q) in lim.iter().filter(|(n, q)| compute(n) && **q > zero) {
            found += 1;
            let total = limits.entry(name.clone()).or_default();
            *total = *total + *q;
        }
        if found < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.len() == limits.len() && requests.iter().all(|(n, q)| limits.get(n) == Some(q)) {
        return "Guaranteed";
    }
    "Burstable"
}

/// `SetDefaults_Service`: type ClusterIP, sessionAffinity None, port protocol TCP, targetPort =
/// port, traffic policies Cluster.
pub fn default_service(svc: &mut Service) {
    let spec = svc.spec.get_or_insert_with(Default::default);
    fill(&mut spec.session_affinity, "None");
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let config = spec.session_affinity_config.get_or_insert_with(SessionAffinityConfig::default);
            let client_ip = config.client_ip.get_or_insert_with(ClientIPConfig::default);
            client_ip.timeout_seconds.get_or_insert(10800);
        }
        _ => {}
    }
    fill(&mut spec.type_, "ClusterIP");
    for port in spec.ports.iter_mut().flatten() {
        fill(&mut port.protocol, "TCP");
        let empty = match &port.target_port {
            None => true,
            Some(IntOrString::Int(n)) => *n == 0,
            Some(IntOrString::String(s)) => s.is_empty(),
        };
        if empty {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    let type_ = spec.type_.clone().unwrap_or_default();
    if type_ == "NodePort" || type_ == "LoadBalancer" {
        fill(&mut spec.external_traffic_policy, "Cluster");
    }
    if matches!(type_.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        fill(&mut spec.internal_traffic_policy, "Cluster");
    }
    if type_ == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
}

/// Secrets are `Opaque` unless typed.
pub fn default_secret(secret: &mut Secret) {
    fill(&mut secret.type_, "Opaque");
}

/// Namespaces: the `kubernetes.io/metadata.name` label and phase Active.
pub fn default_namespace(ns: &mut Namespace) {
    if let Some(name) = ns.metadata.name.clone() {
        ns.metadata.labels.get_or_insert_with(BTreeMap::new).insert("kubernetes.io/metadata.name".into(), name);
    }
    let status = ns.status.get_or_insert_with(NamespaceStatus::default);
    fill(&mut status.phase, "Active");
}

/// Nodes: allocatable defaults to capacity.
pub fn default_node(node: &mut Node) {
    if let Some(status) = &mut node.status {
        if status.allocatable.is_none() {
            status.allocatable.clone_from(&status.capacity);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Defaults a pod built from `input` and compares the JSON result with `expected`.
    fn check(input: Value, expected: Value) {
        let mut pod: Pod = serde_json::from_value(input).unwrap();
        default_pod(&mut pod);
        let mut got = serde_json::to_value(&pod).unwrap();
        strip_type_meta(&mut got);
        assert_eq!(got, expected, "\n got: {got:#}\nwant: {expected:#}");
        // Defaulting twice changes nothing.
        let mut again = pod.clone();
        default_pod(&mut again);
        assert_eq!(again, pod);
    }

    fn strip_type_meta(v: &mut Value) {
        if let Some(o) = v.as_object_mut() {
            o.remove("apiVersion");
            o.remove("kind");
        }
    }

    fn tolerations() -> Value {
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ])
    }

    #[test]
    fn minimal_pod() {
        check(
            json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}),
            json!({
                "metadata": {"name": "web"},
                "spec": {
                    "containers": [{
                        "name": "app", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
                    "priority": 0, "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {},
                    "serviceAccount": "default", "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
                    "tolerations": tolerations()
                },
                "status": {"phase": "Pending", "qosClass": "BestEffort"}
            }),
        );
    }

    #[test]
    fn containers_probes_volumes() {
        check(
            json!({"metadata": {"name": "web"}, "spec": {
                "restartPolicy": "Never",
                "tolerations": [{"operator": "Exists"}],
                "initContainers": [{"name": "init", "image": "busybox:1.36", "imagePullPolicy": "Never",
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}],
                "containers": [{
                    "name": "app", "image": "registry:5000/app@sha256:abc",
                    "ports": [{"containerPort": 80}],
                    "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1", "memory": "64Mi"}},
                    "livenessProbe": {"httpGet": {"port": 80}, "periodSeconds": 5},
                    "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}},
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
                }],
                "volumes": [{"name": "a"}, {"name": "b", "configMap": {"name": "cfg"}}, {"name": "c", "secret": {"secretName": "s"}},
                            {"name": "d", "hostPath": {"path": "/tmp"}}]
            }}),
            json!({
                "metadata": {"name": "web"},
                "spec": {
                    "initContainers": [{
                        "name": "init", "image": "busybox:1.36", "imagePullPolicy": "Never",
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                    }],
                    "containers": [{
                        "name": "app", "image": "registry:5000/app@sha256:abc", "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "64Mi"}},
                        "livenessProbe": {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "periodSeconds": 5,
                            "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                        "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop", "scheme": "HTTP"}}},
                        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName", "apiVersion": "v1"}}}],
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                    }],
                    "volumes": [
                        {"name": "a", "emptyDir": {}},
                        {"name": "b", "configMap": {"name": "cfg", "defaultMode": 420}},
                        {"name": "c", "secret": {"secretName": "s", "defaultMode": 420}},
                        {"name": "d", "hostPath": {"path": "/tmp", "type": ""}}
                    ],
                    "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
                    "priority": 0, "restartPolicy": "Never", "schedulerName": "default-scheduler", "securityContext": {},
                    "serviceAccount": "default", "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
                    "tolerations": [{"operator": "Exists"}]
                },
                "status": {"phase": "Pending", "qosClass": "Burstable"}
            }),
        );
    }

    #[test]
    fn priority_classes_and_projected_volumes() {
        let mut pod: Pod = serde_json::from_value(json!({"spec": {
            "priorityClassName": "system-node-critical",
            "containers": [{"name": "a", "image": "x:1"}],
            "volumes": [{"name": "p", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token"}},
                {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
            ]}}]
        }}))
        .unwrap();
        default_pod(&mut pod);
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.priority, Some(2_000_001_000));
        assert_eq!(
            serde_json::to_value(&spec.volumes).unwrap(),
            json!([{"name": "p", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace", "apiVersion": "v1"}}]}}
            ]}}])
        );
        let mut custom: Pod =
            serde_json::from_value(json!({"spec": {"priorityClassName": "mine", "containers": []}})).unwrap();
        default_pod(&mut custom);
        assert_eq!(custom.spec.unwrap().priority, None);
    }

    #[test]
    fn image_tags() {
        let cases = [
            ("nginx", Some("latest")),
            ("nginx:latest", Some("latest")),
            ("nginx:1.25", Some("1.25")),
            ("localhost:5000/nginx", Some("latest")),
            ("localhost:5000/nginx:v1", Some("v1")),
            ("nginx@sha256:abc", None),
            ("nginx:latest@sha256:abc", Some("latest")),
            ("", None),
        ];
        for (image, tag) in cases {
            assert_eq!(image_tag(image), tag, "{image}");
        }
    }

    fn spec_with(containers: Value) -> PodSpec {
        serde_json::from_value(json!({"containers": containers})).unwrap()
    }

    #[test]
    fn qos_classes() {
        let guaranteed = json!({"limits": {"cpu": "1", "memory": "1Gi"}});
        let cases = [
            (json!([{"name": "a"}]), "BestEffort"),
            (json!([{"name": "a", "resources": guaranteed}]), "Guaranteed"),
            (
                json!([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}}]),
                "Guaranteed",
            ),
            (json!([{"name": "a", "resources": guaranteed}, {"name": "b"}]), "Burstable"),
            (json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]), "Burstable"),
            (
                json!([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]),
                "Burstable",
            ),
            (json!([{"name": "a", "resources": {"requests": {"example.com/gpu": "1"}}}]), "BestEffort"),
        ];
        for (containers, want) in cases {
            assert_eq!(qos_class(&spec_with(containers.clone())), want, "{containers}");
        }
        let mut with_init = spec_with(json!([{"name": "a", "resources": guaranteed}]));
        with_init.init_containers = Some(vec![Container { name: "i".into(), ..Default::default() }]);
        assert_eq!(qos_class(&with_init), "Burstable");
    }

    #[test]
    fn other_objects() {
        let mut svc: Service = serde_json::from_value(json!({"metadata": {"name": "web"},
            "spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https", "protocol": "TCP"}]}}))
        .unwrap();
        default_service(&mut svc);
        assert_eq!(
            serde_json::to_value(&svc.spec).unwrap(),
            json!({"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}, {"port": 443, "targetPort": "https", "protocol": "TCP"}],
                   "sessionAffinity": "None", "type": "ClusterIP", "internalTrafficPolicy": "Cluster"})
        );
        let mut secret = Secret::default();
        default_secret(&mut secret);
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        let mut ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
        default_namespace(&mut ns);
        let mut got = serde_json::to_value(&ns).unwrap();
        strip_type_meta(&mut got);
        assert_eq!(
            got,
            json!({"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team"}}, "status": {"phase": "Active"}})
        );
        let mut node: Node =
            serde_json::from_value(json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "2"}}})).unwrap();
        default_node(&mut node);
        assert_eq!(
            serde_json::to_value(&node.status).unwrap(),
            json!({"capacity": {"cpu": "2"}, "allocatable": {"cpu": "2"}})
        );
    }
}
