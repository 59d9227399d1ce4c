//! Pod validation, following kube-apiserver's `ValidatePodCreate` / `ValidatePodUpdate` field by
//! field and message by message. It expects a defaulted pod (`defaults::default_pod`): fields the
//! defaulting fills in are only checked when present. Container rules are in `container`,
//! volume rules in `volume`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec, Toleration};

use super::container::{one_of, validate_containers, validate_init_containers, validate_quantity};
use super::error::{FieldError, Path};
use super::meta::{validate_labels, validate_object_meta, validate_object_meta_update};
use super::names;
use super::volume::validate_volumes;
use crate::quantity::Quantity;

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// The fields a pod update may change, in Kubernetes' words.
pub const POD_UPDATE_FORBIDDEN_MESSAGE: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// A new pod: metadata, then the spec rules of `ValidatePodSpec`.
pub fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&pod.metadata, true);
    match &pod.spec {
        Some(spec) => errs.extend(validate_pod_spec(spec, &Path::new("spec"))),
        None => errs.push(FieldError::required("spec.containers", "")),
    }
    errs
}

/// The pod spec rules (also usable for pod templates, with their own path).
pub fn validate_pod_spec(spec: &PodSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let volumes = validate_volumes(spec.volumes.as_deref().unwrap_or_default(), &path.child("volumes"), &mut errs);
    let grace = spec.termination_grace_period_seconds;
    validate_containers(&spec.containers, &volumes, grace, &path.child("containers"), &mut errs);
    validate_init_containers(spec, &volumes, grace, &path.child("initContainers"), &mut errs);
    if let Some(policy) = &spec.restart_policy {
        one_of(policy, RESTART_POLICIES, &path.child("restartPolicy"), &mut errs);
    }
    if let Some(policy) = &spec.dns_policy {
        one_of(policy, DNS_POLICIES, &path.child("dnsPolicy"), &mut errs);
    }
    errs.extend(validate_labels(spec.node_selector.as_ref(), &path.child("nodeSelector")));
    if let Some(name) = spec.service_account_name.as_deref().filter(|n| !n.is_empty()) {
        for msg in names::dns1123_subdomain(name) {
            errs.push(FieldError::invalid(path.child("serviceAccountName"), name, msg));
        }
    }
    if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        for msg in names::dns1123_subdomain(node) {
            errs.push(FieldError::invalid(path.child("nodeName"), node, msg));
        }
    }
    if let Some(secs) = spec.active_deadline_seconds {
        if !(1..=i64::from(i32::MAX)).contains(&secs) {
            errs.push(FieldError::invalid(
                path.child("activeDeadlineSeconds"),
                secs,
                names::inclusive_range_error(1, i64::from(i32::MAX)),
            ));
        }
    }
    if let Some(secs) = spec.termination_grace_period_seconds.filter(|s| *s < 0) {
        errs.push(FieldError::invalid(
            path.child("terminationGracePeriodSeconds"),
            secs,
            "must be greater than or equal to 0",
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            for msg in names::dns1123_label(v) {
                errs.push(FieldError::invalid(path.child(field), v, msg));
            }
        }
    }
    validate_tolerations(spec.tolerations.as_deref().unwrap_or_default(), &path.child("tolerations"), &mut errs);
    if let Some(overhead) = &spec.overhead {
        for (name, q) in overhead {
            validate_quantity(q, &path.child("overhead").key(name), &mut errs);
        }
    }
    errs
}

fn validate_tolerations(tolerations: &[Toleration], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, t) in tolerations.iter().enumerate() {
        let tp = path.index(i);
        let key = t.key.as_deref().unwrap_or("");
        let op = t.operator.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        if !key.is_empty() {
            for msg in names::qualified_name(key) {
                errs.push(FieldError::invalid(tp.child("key"), key, msg));
            }
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                tp.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                tp.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "" | "Equal" => {
                let msgs = names::label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(tp.child("operator"), value, msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        tp.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(tp.child("operator"), other, &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
            errs.push(FieldError::not_supported(tp.child("effect"), effect, TAINT_EFFECTS));
        }
    }
}

/// What a pod update may not do: change immutable metadata, or change the spec beyond
/// container images, activeDeadlineSeconds (set or lowered), added tolerations, and
/// terminationGracePeriodSeconds from negative to 1. Run `validate_pod` on `new` as well.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata);
    let spec_path = Path::new("spec");
    let empty = PodSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&empty);
    let old_spec = old.spec.as_ref().unwrap_or(&empty);

    for (field, new_list, old_list) in [
        ("containers", &new_spec.containers[..], &old_spec.containers[..]),
        (
            "initContainers",
            new_spec.init_containers.as_deref().unwrap_or_default(),
            old_spec.init_containers.as_deref().unwrap_or_default(),
        ),
    ] {
        if new_list.len() != old_list.len() {
            errs.push(FieldError::forbidden(spec_path.child(field), "pod updates may not add or remove containers"));
            return errs;
        }
    }

    if let Some(secs) = new_spec.active_deadline_seconds {
        if old_spec.active_deadline_seconds.is_some_and(|o| o < secs) {
            errs.push(FieldError::invalid(
                spec_path.child("activeDeadlineSeconds"),
                secs,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
    } else if old_spec.active_deadline_seconds.is_some() {
        errs.push(FieldError {
            kind: super::FieldErrorKind::Invalid,
            field: spec_path.child("activeDeadlineSeconds").into(),
            bad_value: Some("null".into()),
            detail: "must not update from a positive integer to nil value".into(),
        });
    }

    let new_tolerations = new_spec.tolerations.as_deref().unwrap_or_default();
    for old_t in old_spec.tolerations.iter().flatten() {
        let kept = new_tolerations
            .iter()
            .any(|t| Toleration { toleration_seconds: t.toleration_seconds, ..old_t.clone() } == *t);
        if !kept {
            errs.push(FieldError::forbidden(
                spec_path.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }

    // Put the updatable fields back to their old values; anything else that differs is forbidden.
    let mut munged = new_spec.clone();
    for (c, old_c) in munged.containers.iter_mut().zip(&old_spec.containers) {
        c.image.clone_from(&old_c.image);
    }
    if let (Some(inits), Some(old_inits)) = (munged.init_containers.as_mut(), old_spec.init_containers.as_ref()) {
        for (c, old_c) in inits.iter_mut().zip(old_inits) {
            c.image.clone_from(&old_c.image);
        }
    }
    munged.active_deadline_seconds = old_spec.active_deadline_seconds;
    munged.tolerations.clone_from(&old_spec.tolerations);
    if old_spec.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old_spec.termination_grace_period_seconds;
    }
    // Scheduling gates may only be removed.
    let old_gates: BTreeSet<&str> = old_spec.scheduling_gates.iter().flatten().map(|g| g.name.as_str()).collect();
    if new_spec.scheduling_gates.iter().flatten().all(|g| old_gates.contains(g.name.as_str())) {
        munged.scheduling_gates.clone_from(&old_spec.scheduling_gates);
    }
    if !semantically_equal(&munged, old_spec) {
        errs.push(FieldError::forbidden(&spec_path, POD_UPDATE_FORBIDDEN_MESSAGE));
    }
    errs
}

/// Equality as apimachinery's `Semantic.DeepEqual`: absent, null and empty lists/maps are the
/// same, and quantities compare by amount.
fn semantically_equal(a: &PodSpec, b: &PodSpec) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => normalize(a, false) == normalize(b, false),
        _ => a == b,
    }
}

/// Drops empty values; under resource lists, quantities become their exact amount.
fn normalize(v: serde_json::Value, quantities: bool) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let q = quantities
                        || matches!(k.as_str(), "limits" | "requests" | "overhead" | "sizeLimit" | "divisor");
                    let v = normalize(v, q);
                    (k, v)
                })
                .filter(|(_, v)| !is_empty_value(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| normalize(v, quantities)).collect()),
        Value::String(s) if quantities => match Quantity::parse(&s) {
            Ok(q) => Value::String(format!("{}n", q.nanos())),
            Err(_) => Value::String(s),
        },
        other => other,
    }
}

fn is_empty_value(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
#[path = "pod_tests.rs"]
mod tests;
