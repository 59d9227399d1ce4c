//! Validation of the other core objects: nodes, namespaces, configmaps, secrets, services,
//! events and leases. Names and the obvious rules, worded as kube-apiserver words them.

use std::collections::HashSet;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Secret, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::error::{FieldError, Path};
use super::meta::{validate_labels, validate_object_meta, validate_object_meta_with, NameRule};
use super::names;
use crate::quantity::Quantity;

/// Largest total size of a configmap's or secret's data (`core.MaxSecretSize`).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

pub fn validate_node(node: &Node) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&node.metadata, false);
    let spec_path = Path::new("spec");
    for (i, taint) in node.spec.iter().flat_map(|s| s.taints.iter().flatten()).enumerate() {
        let tp = spec_path.child("taints").index(i);
        if taint.key.is_empty() {
            errs.push(FieldError::required(tp.child("key"), ""));
        } else {
            for msg in names::qualified_name(&taint.key) {
                errs.push(FieldError::invalid(tp.child("key"), &taint.key, msg));
            }
        }
        let value = taint.value.as_deref().unwrap_or("");
        for msg in names::label_value(value) {
            errs.push(FieldError::invalid(tp.child("value"), value, msg));
        }
        if taint.effect.is_empty() {
            errs.push(FieldError::required(tp.child("effect"), ""));
        } else if !TAINT_EFFECTS.contains(&taint.effect.as_str()) {
            errs.push(FieldError::not_supported(tp.child("effect"), &taint.effect, TAINT_EFFECTS));
        }
    }
    if let Some(status) = &node.status {
        for (field, list) in [("capacity", &status.capacity), ("allocatable", &status.allocatable)] {
            for (name, q) in list.iter().flatten() {
                let p = Path::new("status").child(field).key(name);
                match Quantity::parse(&q.0) {
                    Err(e) => errs.push(FieldError::invalid(p, &q.0, e.to_string())),
                    Ok(v) if v < Quantity::default() => {
                        errs.push(FieldError::invalid(p, v.to_string(), "must be greater than or equal to 0"))
                    }
                    Ok(_) => {}
                }
            }
        }
    }
    errs
}

/// Namespace names are DNS-1123 labels.
pub fn validate_namespace(ns: &Namespace) -> Vec<FieldError> {
    validate_object_meta_with(&ns.metadata, false, NameRule::Label)
}

/// Keys `[-._a-zA-Z0-9]+`, none in both `data` and `binaryData`, at most 1 MiB in all.
pub fn validate_configmap(cm: &ConfigMap) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&cm.metadata, true);
    let mut total = 0;
    for (key, value) in cm.data.iter().flatten() {
        let p = Path::new("data").key(key);
        for msg in names::config_map_key(key) {
            errs.push(FieldError::invalid(&p, key, msg));
        }
        if cm.binary_data.as_ref().is_some_and(|b| b.contains_key(key)) {
            errs.push(FieldError::invalid(&p, key, "duplicate of key present in binaryData"));
        }
        total += value.len();
    }
    for (key, value) in cm.binary_data.iter().flatten() {
        let p = Path::new("binaryData").key(key);
        for msg in names::config_map_key(key) {
            errs.push(FieldError::invalid(&p, key, msg));
        }
        if cm.data.as_ref().is_some_and(|d| d.contains_key(key)) {
            errs.push(FieldError::invalid(&p, key, "duplicate of key present in data"));
        }
        total += value.0.len();
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long("", MAX_DATA_SIZE));
    }
    errs
}

/// Keys as configmaps' (stringData keys count as data keys), at most 1 MiB, and the keys a
/// typed secret must carry.
pub fn validate_secret(secret: &Secret) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&secret.metadata, true);
    let data_path = Path::new("data");
    let mut total = 0;
    let mut keys = HashSet::new();
    for (key, value) in secret.data.iter().flatten() {
        keys.insert(key.as_str());
        total += value.0.len();
    }
    for (key, value) in secret.string_data.iter().flatten() {
        keys.insert(key.as_str());
        total += value.len();
    }
    let mut sorted: Vec<&str> = keys.iter().copied().collect();
    sorted.sort_unstable();
    for key in sorted {
        for msg in names::config_map_key(key) {
            errs.push(FieldError::invalid(data_path.key(key), key, msg));
        }
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_DATA_SIZE));
    }
    let required: &[&str] = match secret.type_.as_deref().unwrap_or("Opaque") {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    };
    for key in required {
        if !keys.contains(key) {
            errs.push(FieldError::required(data_path.key(key), ""));
        }
    }
    errs
}

/// Service names are DNS-1035 labels (as in Kubernetes); ports 1–65535 with unique names
/// (required when there are several); type, sessionAffinity and protocol supported values.
pub fn validate_service(svc: &Service) -> Vec<FieldError> {
    let mut errs = validate_object_meta_with(&svc.metadata, true, NameRule::Dns1035);
    let spec_path = Path::new("spec");
    let Some(spec) = &svc.spec else {
        errs.push(FieldError::required(spec_path.child("ports"), ""));
        return errs;
    };
    let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let ports = spec.ports.as_deref().unwrap_or_default();
    if type_ == "ExternalName" {
        if spec.external_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(spec_path.child("externalName"), ""));
        }
    } else if ports.is_empty() && !headless {
        errs.push(FieldError::required(spec_path.child("ports"), ""));
    }
    let mut port_names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let pp = spec_path.child("ports").index(i);
        let name = port.name.as_deref().unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(pp.child("name"), ""));
        } else if !name.is_empty() {
            for msg in names::dns1123_label(name) {
                errs.push(FieldError::invalid(pp.child("name"), name, msg));
            }
            if !port_names.insert(name) {
                errs.push(FieldError::duplicate(pp.child("name"), name));
            }
        }
        for msg in names::port_num(i64::from(port.port)) {
            errs.push(FieldError::invalid(pp.child("port"), port.port, msg));
        }
        match port.protocol.as_deref() {
            None => {}
            Some("") => errs.push(FieldError::required(pp.child("protocol"), "")),
            Some(p) if !PROTOCOLS.contains(&p) => {
                errs.push(FieldError::not_supported(pp.child("protocol"), p, PROTOCOLS))
            }
            Some(_) => {}
        }
        match &port.target_port {
            Some(IntOrString::Int(n)) if *n != 0 => {
                for msg in names::port_num(i64::from(*n)) {
                    errs.push(FieldError::invalid(pp.child("targetPort"), *n, msg));
                }
            }
            Some(IntOrString::String(s)) if !s.is_empty() => {
                for msg in names::port_name(s) {
                    errs.push(FieldError::invalid(pp.child("targetPort"), s, msg));
                }
            }
            _ => {}
        }
        if let Some(node_port) = port.node_port.filter(|p| *p != 0) {
            if type_ == "ClusterIP" {
                errs.push(FieldError::forbidden(pp.child("nodePort"), "may not be used when `type` is 'ClusterIP'"));
            } else {
                for msg in names::port_num(i64::from(node_port)) {
                    errs.push(FieldError::invalid(pp.child("nodePort"), node_port, msg));
                }
            }
        }
    }
    if !SERVICE_TYPES.contains(&type_) {
        errs.push(FieldError::not_supported(spec_path.child("type"), type_, SERVICE_TYPES));
    }
    if let Some(affinity) = spec.session_affinity.as_deref() {
        if affinity != "None" && affinity != "ClientIP" {
            errs.push(FieldError::not_supported(spec_path.child("sessionAffinity"), affinity, &["ClientIP", "None"]));
        }
    }
    errs.extend(validate_labels(spec.selector.as_ref(), &spec_path.child("selector")));
    errs
}

/// Events: metadata, and the namespace must agree with the involved object's.
pub fn validate_event(event: &Event) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&event.metadata, true);
    let namespace = event.metadata.namespace.as_deref().unwrap_or("");
    let involved_ns = event.involved_object.namespace.as_deref().unwrap_or("");
    let agrees =
        if involved_ns.is_empty() { namespace.is_empty() || namespace == "default" } else { namespace == involved_ns };
    if !agrees && event.event_time.is_none() {
        errs.push(FieldError::invalid("involvedObject.namespace", involved_ns, "does not match event.namespace"));
    }
    errs
}

/// Leases: metadata, a positive duration and non-negative transitions.
pub fn validate_lease(lease: &Lease) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&lease.metadata, true);
    let spec_path = Path::new("spec");
    if let Some(spec) = &lease.spec {
        if let Some(d) = spec.lease_duration_seconds.filter(|d| *d <= 0) {
            errs.push(FieldError::invalid(spec_path.child("leaseDurationSeconds"), d, "must be greater than 0"));
        }
        if let Some(t) = spec.lease_transitions.filter(|t| *t < 0) {
            errs.push(FieldError::invalid(
                spec_path.child("leaseTransitions"),
                t,
                "must be greater than or equal to 0",
            ));
        }
    }
    errs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::api::core::v1::{NodeSpec, ObjectReference, ServicePort, ServiceSpec, Taint};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::ByteString;

    fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
        ObjectMeta { name: Some(name.into()), namespace: ns.map(Into::into), ..Default::default() }
    }

    fn check(errs: Vec<FieldError>, expected: &[&str]) {
        let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn nodes_and_namespaces() {
        let mut node = Node { metadata: meta("node-1.example", None), ..Default::default() };
        check(validate_node(&node), &[]);
        node.spec = Some(NodeSpec {
            taints: Some(vec![Taint { key: "dedicated".into(), effect: "Sometimes".into(), ..Default::default() }]),
            ..Default::default()
        });
        check(
            validate_node(&node),
            &[
                r#"spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute""#,
            ],
        );
        check(validate_namespace(&Namespace { metadata: meta("team-a", None), ..Default::default() }), &[]);
        let errs = validate_namespace(&Namespace { metadata: meta("team.a", None), ..Default::default() });
        check(errs, &[r#"metadata.name: Invalid value: "team.a": must not contain dots"#]);
    }

    #[test]
    fn configmaps_and_secrets() {
        let cm = ConfigMap {
            metadata: meta("cfg", Some("default")),
            data: Some([("good.key".to_string(), "v".to_string()), ("a".to_string(), "v".to_string())].into()),
            binary_data: Some([("a".to_string(), ByteString(vec![1]))].into()),
            ..Default::default()
        };
        check(
            validate_configmap(&cm),
            &[
                r#"data[a]: Invalid value: "a": duplicate of key present in binaryData"#,
                r#"binaryData[a]: Invalid value: "a": duplicate of key present in data"#,
            ],
        );
        let bad = ConfigMap {
            metadata: meta("cfg", Some("default")),
            data: Some([("bad key".to_string(), String::new())].into()),
            ..Default::default()
        };
        check(
            validate_configmap(&bad),
            &[
                r#"data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"#,
            ],
        );
        let secret = Secret {
            metadata: meta("tls", Some("default")),
            type_: Some("kubernetes.io/tls".into()),
            string_data: Some([("tls.crt".to_string(), "x".to_string())].into()),
            ..Default::default()
        };
        check(validate_secret(&secret), &["data[tls.key]: Required value"]);
    }

    #[test]
    fn services() {
        let port =
            |name: Option<&str>, port: i32| ServicePort { name: name.map(Into::into), port, ..Default::default() };
        let svc = |ports: Vec<ServicePort>, type_: &str| Service {
            metadata: meta("web", Some("default")),
            spec: Some(ServiceSpec { ports: Some(ports), type_: Some(type_.into()), ..Default::default() }),
            ..Default::default()
        };
        check(validate_service(&svc(vec![port(None, 80)], "ClusterIP")), &[]);
        check(
            validate_service(&svc(vec![port(Some("http"), 80), port(None, 70000)], "Fancy")),
            &[
                "spec.ports[1].name: Required value",
                "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                r#"spec.type: Unsupported value: "Fancy": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#,
            ],
        );
        check(
            validate_service(&svc(vec![port(Some("a"), 80), port(Some("a"), 81)], "NodePort")),
            &[r#"spec.ports[1].name: Duplicate value: "a""#],
        );
        check(validate_service(&svc(vec![], "ClusterIP")), &["spec.ports: Required value"]);
        let mut named = svc(vec![port(None, 80)], "ClusterIP");
        named.metadata.name = Some("1web".into());
        assert!(validate_service(&named)[0].message().contains("a DNS-1035 label"));
    }

    #[test]
    fn events_and_leases() {
        let event = |ns: &str, involved: Option<&str>| Event {
            metadata: meta("e1", Some(ns)),
            involved_object: ObjectReference { namespace: involved.map(Into::into), ..Default::default() },
            ..Default::default()
        };
        check(validate_event(&event("default", Some("default"))), &[]);
        check(validate_event(&event("default", None)), &[]);
        check(
            validate_event(&event("team", Some("other"))),
            &[r#"involvedObject.namespace: Invalid value: "other": does not match event.namespace"#],
        );
        let lease = Lease {
            metadata: meta("n1", Some("kube-node-lease")),
            spec: Some(LeaseSpec {
                lease_duration_seconds: Some(0),
                lease_transitions: Some(-1),
                ..Default::default()
            }),
        };
        check(
            validate_lease(&lease),
            &[
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
            ],
        );
    }
}
