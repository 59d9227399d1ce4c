//! Container rules shared by main and init containers: names, image, ports, env, resources,
//! probes and lifecycle hooks, as kube-apiserver's `validateContainers` / `validateInitContainers`.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, ExecAction, HTTPGetAction, Lifecycle, LifecycleHandler,
    ObjectFieldSelector, PodSpec, Probe, ResourceFieldSelector, ResourceRequirements, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::error::{FieldError, Path};
use super::names;
use super::volume::validate_volume_mounts;
use crate::quantity::Quantity;

const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];
const NOT_INIT_ALWAYS: &str = "may not be set for init containers without restartPolicy=Always";

pub(super) fn one_of(value: &str, supported: &[&str], path: &Path, errs: &mut Vec<FieldError>) {
    if value.is_empty() {
        errs.push(FieldError::required(path, ""));
    } else if !supported.contains(&value) {
        errs.push(FieldError::not_supported(path, value, supported));
    }
}

pub(super) fn validate_containers(
    containers: &[Container],
    volumes: &HashSet<String>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if containers.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let mut seen = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let cpath = path.index(i);
        validate_container_common(c, volumes, &cpath, errs);
        if !seen.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(cpath.child("name"), &c.name));
        }
        validate_container_hooks_and_probes(c, grace, &cpath, errs);
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(cpath.child("restartPolicy"), "may not be set for non-init containers"));
        }
    }
    host_port_conflicts(containers, path, errs);
}

pub(super) fn validate_init_containers(
    spec: &PodSpec,
    volumes: &HashSet<String>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    let mut names: HashSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in inits.iter().enumerate() {
        let cpath = path.index(i);
        validate_container_common(c, volumes, &cpath, errs);
        let mut sidecar = false;
        if let Some(policy) = &c.restart_policy {
            if policy == "Always" {
                sidecar = true;
            } else {
                errs.push(FieldError::not_supported(cpath.child("restartPolicy"), policy, &["Always"]));
            }
        }
        if names.contains(c.name.as_str()) {
            errs.push(FieldError::duplicate(cpath.child("name"), &c.name));
        } else if !c.name.is_empty() {
            names.insert(&c.name);
        }
        if sidecar {
            validate_container_hooks_and_probes(c, grace, &cpath, errs);
        } else {
            let forbidden = [
                ("lifecycle", c.lifecycle.is_some()),
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("startupProbe", c.startup_probe.is_some()),
            ];
            for (field, set) in forbidden {
                if set {
                    errs.push(FieldError::forbidden(cpath.child(field), NOT_INIT_ALWAYS));
                }
            }
        }
    }
    host_port_conflicts(inits, path, errs);
}

/// The checks every container gets (`validateContainerCommon`).
fn validate_container_common(c: &Container, volumes: &HashSet<String>, path: &Path, errs: &mut Vec<FieldError>) {
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        for msg in names::dns1123_label(&c.name) {
            errs.push(FieldError::invalid(&name_path, &c.name, msg));
        }
    }
    if c.image.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(path.child("image"), ""));
    }
    if let Some(policy) = &c.termination_message_policy {
        let p = path.child("terminationMessagePolicy");
        const POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
        if policy.is_empty() {
            errs.push(FieldError::required(p, "must be 'File' or 'FallbackToLogsOnError'"));
        } else if !POLICIES.contains(&policy.as_str()) {
            errs.push(FieldError::not_supported(p, policy, POLICIES));
        }
    }
    validate_ports(c.ports.as_deref().unwrap_or_default(), &path.child("ports"), errs);
    validate_env(c.env.as_deref().unwrap_or_default(), &path.child("env"), errs);
    validate_env_from(c.env_from.as_deref().unwrap_or_default(), &path.child("envFrom"), errs);
    validate_volume_mounts(c.volume_mounts.as_deref().unwrap_or_default(), volumes, &path.child("volumeMounts"), errs);
    if let Some(policy) = &c.image_pull_policy {
        one_of(policy, PULL_POLICIES, &path.child("imagePullPolicy"), errs);
    }
    if let Some(r) = &c.resources {
        validate_resources(r, &path.child("resources"), errs);
    }
}

fn validate_container_hooks_and_probes(c: &Container, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(lc) = &c.lifecycle {
        validate_lifecycle(lc, grace, &path.child("lifecycle"), errs);
    }
    if let Some(p) = &c.liveness_probe {
        let pp = path.child("livenessProbe");
        validate_probe(p, &pp, errs);
        must_be_one(p, &pp, errs);
    }
    if let Some(p) = &c.readiness_probe {
        let pp = path.child("readinessProbe");
        validate_probe(p, &pp, errs);
        if p.termination_grace_period_seconds.is_some() {
            errs.push(FieldError::invalid(
                pp.child("terminationGracePeriodSeconds"),
                p.termination_grace_period_seconds.unwrap_or_default(),
                "must not be set for readinessProbes",
            ));
        }
    }
    if let Some(p) = &c.startup_probe {
        let pp = path.child("startupProbe");
        validate_probe(p, &pp, errs);
        must_be_one(p, &pp, errs);
    }
}

fn must_be_one(p: &Probe, path: &Path, errs: &mut Vec<FieldError>) {
    let success = p.success_threshold.unwrap_or(1);
    if success != 1 {
        errs.push(FieldError::invalid(path.child("successThreshold"), success, "must be 1"));
    }
}

fn validate_probe(p: &Probe, path: &Path, errs: &mut Vec<FieldError>) {
    let handlers = [
        ("exec", p.exec.is_some()),
        ("httpGet", p.http_get.is_some()),
        ("tcpSocket", p.tcp_socket.is_some()),
        ("grpc", p.grpc.is_some()),
    ];
    if one_handler(&handlers, path, errs) {
        validate_handler_details(p.exec.as_ref(), p.http_get.as_ref(), p.tcp_socket.as_ref(), path, errs);
        if let Some(g) = &p.grpc {
            for msg in names::port_num(i64::from(g.port)) {
                errs.push(FieldError::invalid(path.child("grpc").child("port"), g.port, msg));
            }
        }
    }
    let numbers = [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ];
    for (field, value) in numbers {
        if let Some(v) = value.filter(|v| *v < 0) {
            errs.push(FieldError::invalid(path.child(field), v, "must be greater than or equal to 0"));
        }
    }
    if let Some(t) = p.termination_grace_period_seconds.filter(|t| *t <= 0) {
        errs.push(FieldError::invalid(path.child("terminationGracePeriodSeconds"), t, "must be greater than 0"));
    }
}

/// Exactly one handler: the second one found is Forbidden, none is Required. Returns whether the
/// handler's own fields should be checked (exactly one present).
fn one_handler(handlers: &[(&str, bool)], path: &Path, errs: &mut Vec<FieldError>) -> bool {
    let mut found = 0;
    for (name, present) in handlers {
        if !present {
            continue;
        }
        if found > 0 {
            errs.push(FieldError::forbidden(path.child(name), "may not specify more than 1 handler type"));
        }
        found += 1;
    }
    if found == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    found == 1
}

fn validate_handler_details(
    exec: Option<&ExecAction>,
    http: Option<&HTTPGetAction>,
    tcp: Option<&TCPSocketAction>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if let Some(e) = exec {
        if e.command.as_deref().unwrap_or_default().is_empty() {
            errs.push(FieldError::required(path.child("exec").child("command"), ""));
        }
    }
    if let Some(h) = http {
        let hp = path.child("httpGet");
        if h.path.as_deref() == Some("") {
            errs.push(FieldError::required(hp.child("path"), ""));
        }
        port_num_or_name(&h.port, &hp.child("port"), errs);
        if let Some(scheme) = h.scheme.as_deref() {
            if scheme != "HTTP" && scheme != "HTTPS" {
                errs.push(FieldError::not_supported(hp.child("scheme"), scheme, &["HTTP", "HTTPS"]));
            }
        }
    }
    if let Some(t) = tcp {
        port_num_or_name(&t.port, &path.child("tcpSocket").child("port"), errs);
    }
}

fn port_num_or_name(port: &IntOrString, path: &Path, errs: &mut Vec<FieldError>) {
    match port {
        IntOrString::Int(n) => {
            for msg in names::port_num(i64::from(*n)) {
                errs.push(FieldError::invalid(path, *n, msg));
            }
        }
        IntOrString::String(s) => {
            for msg in names::port_name(s) {
                errs.push(FieldError::invalid(path, s, msg));
            }
        }
    }
}

fn validate_lifecycle(lc: &Lifecycle, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
    for (name, hook) in [("postStart", &lc.post_start), ("preStop", &lc.pre_stop)] {
        if let Some(h) = hook {
            validate_hook(h, grace, &path.child(name), errs);
        }
    }
}

fn validate_hook(h: &LifecycleHandler, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
    let handlers = [
        ("exec", h.exec.is_some()),
        ("httpGet", h.http_get.is_some()),
        ("tcpSocket", h.tcp_socket.is_some()),
        ("sleep", h.sleep.is_some()),
    ];
    if one_handler(&handlers, path, errs) {
        validate_handler_details(h.exec.as_ref(), h.http_get.as_ref(), h.tcp_socket.as_ref(), path, errs);
        if let Some(s) = &h.sleep {
            let grace = grace.unwrap_or(30);
            if s.seconds <= 0 || s.seconds > grace {
                errs.push(FieldError::invalid(
                    path.child("sleep").child("seconds"),
                    s.seconds,
                    format!("must be greater than 0 and less than terminationGracePeriodSeconds ({grace})"),
                ));
            }
        }
    }
}

fn validate_ports(ports: &[ContainerPort], path: &Path, errs: &mut Vec<FieldError>) {
    let mut names_seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let pp = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = names::port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(FieldError::invalid(pp.child("name"), name, msg));
                }
            } else if !names_seen.insert(name) {
                errs.push(FieldError::duplicate(pp.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(pp.child("containerPort"), ""));
        } else {
            for msg in names::port_num(i64::from(port.container_port)) {
                errs.push(FieldError::invalid(pp.child("containerPort"), port.container_port, msg));
            }
        }
        if let Some(host) = port.host_port.filter(|p| *p != 0) {
            for msg in names::port_num(i64::from(host)) {
                errs.push(FieldError::invalid(pp.child("hostPort"), host, msg));
            }
        }
        if let Some(protocol) = &port.protocol {
            one_of(protocol, PROTOCOLS, &pp.child("protocol"), errs);
        }
    }
}

fn host_port_conflicts(containers: &[Container], path: &Path, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, port) in c.ports.iter().flatten().enumerate() {
            let Some(host) = port.host_port.filter(|p| *p != 0) else { continue };
            let key = format!(
                "{}/{}/{}",
                port.host_ip.as_deref().unwrap_or(""),
                port.protocol.as_deref().unwrap_or("TCP"),
                host
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(path.index(ci).child("ports").index(pi).child("hostPort"), key));
            }
        }
    }
}

fn validate_env(env: &[EnvVar], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, ev) in env.iter().enumerate() {
        let ep = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(ep.child("name"), ""));
        } else {
            for msg in names::env_var_name(&ev.name) {
                errs.push(FieldError::invalid(ep.child("name"), &ev.name, msg));
            }
        }
        let Some(from) = &ev.value_from else { continue };
        let fp = ep.child("valueFrom");
        let mut sources = 0;
        if let Some(f) = &from.field_ref {
            sources += 1;
            validate_field_ref(f, &fp.child("fieldRef"), errs);
        }
        if let Some(r) = &from.resource_field_ref {
            sources += 1;
            validate_resource_field_ref(r, &fp.child("resourceFieldRef"), errs);
        }
        if let Some(s) = &from.config_map_key_ref {
            sources += 1;
            key_selector(&s.name, &s.key, &fp.child("configMapKeyRef"), errs);
        }
        if let Some(s) = &from.secret_key_ref {
            sources += 1;
            key_selector(&s.name, &s.key, &fp.child("secretKeyRef"), errs);
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !ev.value.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::invalid(&fp, "", "may not be specified when `value` is not empty"));
        } else if sources > 1 {
            errs.push(FieldError::invalid(&fp, "", "may not have more than one field specified at a time"));
        }
    }
}

fn validate_field_ref(f: &ObjectFieldSelector, path: &Path, errs: &mut Vec<FieldError>) {
    let version = f.api_version.as_deref().unwrap_or("v1");
    if version.is_empty() {
        errs.push(FieldError::required(path.child("apiVersion"), ""));
        return;
    }
    if f.field_path.is_empty() {
        errs.push(FieldError::required(path.child("fieldPath"), ""));
        return;
    }
    if version != "v1" {
        errs.push(FieldError::invalid(
            path.child("fieldPath"),
            &f.field_path,
            format!("error converting fieldPath: unsupported pod version: {version}"),
        ));
        return;
    }
    if let Some((field, subscript)) = split_subscript(&f.field_path) {
        let msgs = match field {
            "metadata.annotations" => names::qualified_name(&subscript.to_lowercase()),
            "metadata.labels" => names::qualified_name(subscript),
            _ => {
                errs.push(FieldError::invalid(path, field, "does not support subscript"));
                return;
            }
        };
        for msg in msgs {
            errs.push(FieldError::invalid(path, subscript, msg));
        }
    } else if !ENV_FIELD_PATHS.contains(&f.field_path.as_str())
        || matches!(f.field_path.as_str(), "metadata.annotations" | "metadata.labels")
    {
        errs.push(FieldError::not_supported(path.child("fieldPath"), &f.field_path, ENV_FIELD_PATHS));
    }
}

/// `metadata.labels['app']` → (`metadata.labels`, `app`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let (field, rest) = path.split_once("['")?;
    let key = rest.strip_suffix("']")?;
    Some((field, key))
}

fn validate_resource_field_ref(r: &ResourceFieldSelector, path: &Path, errs: &mut Vec<FieldError>) {
    if r.resource.is_empty() {
        errs.push(FieldError::required(path.child("resource"), ""));
        return;
    }
    if !RESOURCE_FIELD_PATHS.contains(&r.resource.as_str()) && !r.resource.contains(".hugepages-") {
        errs.push(FieldError::not_supported(path.child("resource"), &r.resource, RESOURCE_FIELD_PATHS));
        return;
    }
    let Some(divisor) = &r.divisor else { return };
    let dp = path.child("divisor");
    let Ok(q) = Quantity::parse(&divisor.0) else {
        validate_quantity(divisor, &dp, errs);
        return;
    };
    if r.resource.ends_with(".cpu") {
        if q != Quantity::from_milli(1) && q != Quantity::from_value(1) {
            errs.push(FieldError::invalid(
                &dp,
                q.to_string(),
                "only divisor's values 1m and 1 are supported with the cpu resource",
            ));
        }
    } else {
        const DIVISORS: &[&str] = &["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"];
        let ok = DIVISORS.iter().any(|d| Quantity::parse(d).is_ok_and(|d| d == q));
        if !ok {
            let kind = if r.resource.ends_with(".memory") { "memory" } else { "local ephemeral storage" };
            errs.push(FieldError::invalid(
                &dp,
                q.to_string(),
                format!("only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the {kind} resource"),
            ));
        }
    }
}

fn key_selector(name: &str, key: &str, path: &Path, errs: &mut Vec<FieldError>) {
    for msg in names::dns1123_subdomain(name) {
        errs.push(FieldError::invalid(path.child("name"), name, msg));
    }
    if key.is_empty() {
        errs.push(FieldError::required(path.child("key"), ""));
    } else {
        for msg in names::config_map_key(key) {
            errs.push(FieldError::invalid(path.child("key"), key, msg));
        }
    }
}

fn validate_env_from(sources: &[EnvFromSource], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, s) in sources.iter().enumerate() {
        let sp = path.index(i);
        if let Some(prefix) = s.prefix.as_deref().filter(|p| !p.is_empty()) {
            for msg in names::env_var_name(prefix) {
                errs.push(FieldError::invalid(sp.child("prefix"), prefix, msg));
            }
        }
        let mut count = 0;
        if let Some(r) = &s.config_map_ref {
            count += 1;
            for msg in names::dns1123_subdomain(&r.name) {
                errs.push(FieldError::invalid(sp.child("configMapRef").child("name"), &r.name, msg));
            }
        }
        if let Some(r) = &s.secret_ref {
            count += 1;
            for msg in names::dns1123_subdomain(&r.name) {
                errs.push(FieldError::invalid(sp.child("secretRef").child("name"), &r.name, msg));
            }
        }
        if count == 0 {
            errs.push(FieldError::invalid(&sp, "", "must specify one of: `configMapRef` or `secretRef`"));
        } else if count > 1 {
            errs.push(FieldError::invalid(&sp, "", "may not have more than one field specified at a time"));
        }
    }
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

/// Native resources (no domain, or a kubernetes.io domain) other than hugepages may be overcommitted.
fn overcommit_allowed(name: &str) -> bool {
    let native = match name.split_once('/') {
        None => true,
        Some((domain, _)) => domain == "kubernetes.io" || domain.ends_with(".kubernetes.io"),
    };
    native && !name.starts_with("hugepages-")
}

pub(super) fn validate_quantity(q: &K8sQuantity, path: &Path, errs: &mut Vec<FieldError>) -> Option<Quantity> {
    match Quantity::parse(&q.0) {
        Err(e) => {
            errs.push(FieldError::invalid(path, &q.0, e.to_string()));
            None
        }
        Ok(parsed) if parsed < Quantity::default() => {
            errs.push(FieldError::invalid(path, parsed.to_string(), "must be greater than or equal to 0"));
            None
        }
        Ok(parsed) => Some(parsed),
    }
}

fn validate_resources(r: &ResourceRequirements, path: &Path, errs: &mut Vec<FieldError>) {
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let mut limits = BTreeMap::new();
    for (name, q) in r.limits.iter().flatten() {
        let p = lim_path.key(name);
        resource_name(name, &p, errs);
        if let Some(parsed) = validate_quantity(q, &p, errs) {
            limits.insert(name.as_str(), parsed);
        }
    }
    for (name, q) in r.requests.iter().flatten() {
        let p = req_path.key(name);
        resource_name(name, &p, errs);
        let Some(request) = validate_quantity(q, &p, errs) else { continue };
        match limits.get(name.as_str()) {
            Some(limit) if request != *limit && !overcommit_allowed(name) => errs.push(FieldError::invalid(
                &req_path,
                request.to_string(),
                format!("must be equal to {name} limit of {limit}"),
            )),
            Some(limit) if request > *limit => errs.push(FieldError::invalid(
                &req_path,
                request.to_string(),
                format!("must be less than or equal to {name} limit of {limit}"),
            )),
            Some(_) => {}
            None if !overcommit_allowed(name) && !r.limits.as_ref().is_some_and(|l| l.contains_key(name)) => {
                errs.push(FieldError::required(&lim_path, "Limit must be set for non overcommitable resources"))
            }
            None => {}
        }
    }
}

fn resource_name(name: &str, path: &Path, errs: &mut Vec<FieldError>) {
    for msg in names::qualified_name(name) {
        errs.push(FieldError::invalid(path, name, msg));
    }
    if !name.contains('/') && !is_standard_container_resource(name) {
        errs.push(FieldError::invalid(path, name, "must be a standard resource for containers"));
    }
}
