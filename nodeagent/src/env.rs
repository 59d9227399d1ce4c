//! A container's environment as Kubernetes builds it: envFrom, env values with `$(VAR)`
//! expansion, the downward API (fieldRef, resourceFieldRef), configMap and secret keys; and the
//! expansion of command and args. Pure: ConfigMaps and Secrets are fetched by the caller.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Container, Pod};
use minik_api::quantity::Quantity;

/// What the node offers: the defaults of unset limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allocatable {
    pub cpu_millis: i128,
    pub memory_bytes: i128,
    pub ephemeral_storage_bytes: i128,
}

/// ConfigMaps and Secrets the container refers to, fetched beforehand (`None`: not found).
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub config_maps: HashMap<String, Option<BTreeMap<String, String>>>,
    pub secrets: HashMap<String, Option<BTreeMap<String, String>>>,
}

/// Where the pod runs (for status.* field references).
#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub host_ip: String,
    pub pod_ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound { namespace: String, name: String, key: String },
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound { namespace: String, name: String, key: String },
    #[error("unsupported fieldPath {0}")]
    BadFieldPath(String),
    #[error("unsupported resource {0}")]
    BadResource(String),
    #[error("invalid quantity {0}")]
    BadQuantity(String),
}

/// The names of the ConfigMaps and Secrets the container's env refers to.
pub fn referenced(c: &Container) -> (Vec<String>, Vec<String>) {
    let mut cms = Vec::new();
    let mut secrets = Vec::new();
    for from in c.env_from.iter().flatten() {
        if let Some(r) = &from.config_map_ref {
            cms.push(r.name.clone());
        }
        if let Some(r) = &from.secret_ref {
            secrets.push(r.name.clone());
        }
    }
    for e in c.env.iter().flatten() {
        let Some(v) = &e.value_from else { continue };
        if let Some(r) = &v.config_map_key_ref {
            cms.push(r.name.clone());
        }
        if let Some(r) = &v.secret_key_ref {
            secrets.push(r.name.clone());
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

/// The container's environment, in order (later entries win on equal names).
pub fn build(
    pod: &Pod,
    c: &Container,
    sources: &Sources,
    placement: &Placement,
    allocatable: &Allocatable,
) -> Result<Vec<(String, String)>, EnvError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let mut env: Vec<(String, String)> = Vec::new();
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match sources.config_maps.get(&r.name).cloned().flatten() {
                Some(data) => env.extend(data.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v))),
                None if r.optional == Some(true) => {}
                None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
            }
        }
        if let Some(r) = &from.secret_ref {
            match sources.secrets.get(&r.name).cloned().flatten() {
                Some(data) => env.extend(data.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v))),
                None if r.optional == Some(true) => {}
                None => return Err(EnvError::SecretNotFound(r.name.clone())),
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(v) = &e.value_from {
            if let Some(f) = &v.field_ref {
                Some(field_value(pod, &f.field_path, placement)?)
            } else if let Some(r) = &v.resource_field_ref {
                let target = match r.container_name.as_deref() {
                    Some(name) if !name.is_empty() => plan_container(pod, name).unwrap_or(c),
                    _ => c,
                };
                Some(resource_value(target, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()), allocatable)?)
            } else if let Some(r) = &v.config_map_key_ref {
                match sources.config_maps.get(&r.name).cloned().flatten() {
                    Some(data) => match data.get(&r.key) {
                        Some(v) => Some(v.clone()),
                        None if r.optional == Some(true) => None,
                        None => {
                            return Err(EnvError::ConfigMapKeyNotFound {
                                namespace: namespace.clone(),
                                name: r.name.clone(),
                                key: r.key.clone(),
                            })
                        }
                    },
                    None if r.optional == Some(true) => None,
                    None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
                }
            } else if let Some(r) = &v.secret_key_ref {
                match sources.secrets.get(&r.name).cloned().flatten() {
                    Some(data) => match data.get(&r.key) {
                        Some(v) => Some(v.clone()),
                        None if r.optional == Some(true) => None,
                        None => {
                            return Err(EnvError::SecretKeyNotFound {
                                namespace: namespace.clone(),
                                name: r.name.clone(),
                                key: r.key.clone(),
                            })
                        }
                    },
                    None if r.optional == Some(true) => None,
                    None => return Err(EnvError::SecretNotFound(r.name.clone())),
                }
            } else {
                None
            }
        } else {
            // `$(VAR)` in a value refers to variables defined before it.
            let known: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            Some(expand(e.value.as_deref().unwrap_or_default(), &known))
        };
        if let Some(value) = value {
            env.retain(|(k, _)| k != &e.name);
            env.push((e.name.clone(), value));
        }
    }
    Ok(env)
}

fn plan_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    crate::plan::containers(pod).iter().chain(crate::plan::init_containers(pod)).find(|c| c.name == name)
}

/// The container's command and args, each with `$(VAR)` expanded from the container's env.
pub fn command_and_args(c: &Container, env: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let known: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let expand_all = |list: &Option<Vec<String>>| list.iter().flatten().map(|s| expand(s, &known)).collect();
    (expand_all(&c.command), expand_all(&c.args))
}

/// Kubernetes' `$(VAR)` expansion: known variables are replaced, unknown references stay as
/// written, and `$$` is an escaped `$`.
pub fn expand(input: &str, vars: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            match tail.find(')') {
                Some(end) => {
                    let name = &tail[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = tail;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A downward API field of the pod.
pub fn field_value(pod: &Pod, path: &str, placement: &Placement) -> Result<String, EnvError> {
    let m = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let map_key = |prefix: &str| -> Option<String> {
        let inner = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(inner.to_owned())
    };
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.node_name.unwrap_or_default(),
        "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => placement.host_ip.clone(),
        "status.podIP" | "status.podIPs" => placement.pod_ip.clone(),
        "metadata.labels" => format_map(m.labels.as_ref()),
        "metadata.annotations" => format_map(m.annotations.as_ref()),
        _ => {
            if let Some(k) = map_key("metadata.labels['") {
                m.labels.as_ref().and_then(|l| l.get(&k)).cloned().unwrap_or_default()
            } else if let Some(k) = map_key("metadata.annotations['") {
                m.annotations.as_ref().and_then(|l| l.get(&k)).cloned().unwrap_or_default()
            } else {
                return Err(EnvError::BadFieldPath(path.to_owned()));
            }
        }
    })
}

/// `key="value"` lines, sorted, as the downward API volume writes whole label/annotation maps.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A resourceFieldRef value: CPU rounded up to whole units of the divisor, memory and storage
/// divided (rounded up); unset limits are the node's allocatable.
pub fn resource_value(
    c: &Container,
    resource: &str,
    divisor: Option<&str>,
    allocatable: &Allocatable,
) -> Result<String, EnvError> {
    let divisor = match divisor {
        Some(d) if !d.is_empty() => Quantity::parse(d).map_err(|_| EnvError::BadQuantity(d.to_owned()))?,
        _ => Quantity::from_value(1),
    };
    let resources = c.resources.clone().unwrap_or_default();
    let get = |which: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
               key: &str|
     -> Result<Option<Quantity>, EnvError> {
        match which.as_ref().and_then(|m| m.get(key)) {
            Some(q) => Quantity::parse(&q.0).map(Some).map_err(|_| EnvError::BadQuantity(q.0.clone())),
            None => Ok(None),
        }
    };
    let (kind, key) = resource.split_once('.').ok_or_else(|| EnvError::BadResource(resource.to_owned()))?;
    let set = match kind {
        "limits" => get(&resources.limits, key)?,
        "requests" => get(&resources.requests, key)?,
        _ => return Err(EnvError::BadResource(resource.to_owned())),
    };
    let node_default = match key {
        "cpu" => Quantity::from_milli(allocatable.cpu_millis),
        "memory" => Quantity::from_value(allocatable.memory_bytes),
        "ephemeral-storage" => Quantity::from_value(allocatable.ephemeral_storage_bytes),
        _ => return Err(EnvError::BadResource(resource.to_owned())),
    };
    let amount = match (kind, set) {
        (_, Some(q)) => q,
        ("limits", None) => node_default,
        _ => Quantity::from_value(0),
    };
    let value = if key == "cpu" {
        let d = divisor.milli_value().max(1);
        div_ceil(amount.milli_value(), d)
    } else {
        let d = divisor.nanos().max(1);
        div_ceil(amount.nanos(), d)
    };
    Ok(value.to_string())
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && (a > 0) == (b > 0) {
        q + 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "test-env-demo", "namespace": "default", "uid": "u-1",
                          "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "a\"b"}},
            "spec": spec
        }))
        .unwrap()
    }

    const NODE: Allocatable =
        Allocatable { cpu_millis: 4000, memory_bytes: 8 << 30, ephemeral_storage_bytes: 100 << 30 };

    fn env_of(p: &Pod, sources: &Sources) -> Result<Vec<(String, String)>, EnvError> {
        let placement = Placement { host_ip: "192.168.0.10".into(), pod_ip: "10.244.0.7".into() };
        build(p, &p.spec.as_ref().unwrap().containers[0], sources, &placement, &NODE)
    }

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn expansion_table() {
        let vars: HashMap<&str, &str> = [("A", "1"), ("B", "two")].into();
        let table = [
            ("plain", "plain"),
            ("$(A)", "1"),
            ("x$(A)y$(B)z", "x1ytwoz"),
            ("$(MISSING)", "$(MISSING)"),
            ("$$(A)", "$(A)"),
            ("$$", "$"),
            ("cost $5", "cost $5"),
            ("$(A", "$(A"),
            ("$", "$"),
            ("$$$(A)", "$1"),
        ];
        for (input, want) in table {
            assert_eq!(expand(input, &vars), want, "{input}");
        }
    }

    #[test]
    fn seed_resource_example() {
        let p = pod(json!({"containers": [{
            "name": "test-env-demo-container",
            "resources": {"requests": {"memory": "32Mi", "cpu": "125m"}, "limits": {"memory": "64Mi", "cpu": "250m"}},
            "env": [
                {"name": "CPU_REQUEST", "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": "requests.cpu"}}},
                {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": "limits.cpu"}}},
                {"name": "MEM_REQUEST", "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": "requests.memory"}}},
                {"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "test-env-demo-container", "resource": "limits.memory"}}},
                {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}
            ]
        }]}));
        let env = env_of(&p, &Sources::default()).unwrap();
        assert_eq!(get(&env, "CPU_REQUEST"), Some("1"));
        assert_eq!(get(&env, "CPU_LIMIT"), Some("1"));
        assert_eq!(get(&env, "MEM_REQUEST"), Some("33554432"));
        assert_eq!(get(&env, "MEM_LIMIT"), Some("67108864"));
        assert_eq!(get(&env, "CPU_M"), Some("125"));
        assert_eq!(get(&env, "MEM_MI"), Some("64"));
    }

    #[test]
    fn unset_limits_default_to_allocatable() {
        let c: Container = serde_json::from_value(json!({"name": "c"})).unwrap();
        assert_eq!(resource_value(&c, "limits.cpu", None, &NODE).unwrap(), "4");
        assert_eq!(resource_value(&c, "limits.memory", None, &NODE).unwrap(), (8u64 << 30).to_string());
        assert_eq!(resource_value(&c, "requests.memory", None, &NODE).unwrap(), "0");
        assert!(resource_value(&c, "limits.gpu", None, &NODE).is_err());
    }

    #[test]
    fn values_fields_and_expansion() {
        let p = pod(json!({"nodeName": "n1", "serviceAccountName": "sa", "containers": [{
            "name": "c",
            "command": ["sh", "-c", "echo $(GREETING) $$(HOME)"],
            "args": ["$(POD)"],
            "env": [
                {"name": "SAVE_TIME", "value": "60"},
                {"name": "GREETING", "value": "hi-$(SAVE_TIME)-$(NOPE)"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
            ]
        }]}));
        let env = env_of(&p, &Sources::default()).unwrap();
        let want = [
            ("SAVE_TIME", "60"),
            ("GREETING", "hi-60-$(NOPE)"),
            ("POD", "test-env-demo"),
            ("NS", "default"),
            ("UID", "u-1"),
            ("APP", "web"),
            ("NOTE", "a\"b"),
            ("NODE", "n1"),
            ("SA", "sa"),
            ("HOST_IP", "192.168.0.10"),
            ("POD_IP", "10.244.0.7"),
        ];
        for (k, v) in want {
            assert_eq!(get(&env, k), Some(v), "{k}");
        }
        let (command, args) = command_and_args(&p.spec.as_ref().unwrap().containers[0], &env);
        assert_eq!(command, vec!["sh", "-c", "echo hi-60-$(NOPE) $(HOME)"]);
        assert_eq!(args, vec!["test-env-demo"]);
    }

    #[test]
    fn config_maps_and_secrets() {
        let p = pod(json!({"containers": [{
            "name": "c",
            "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "missing", "optional": true}}],
            "env": [
                {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                {"name": "S", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "nope", "optional": true}}}
            ]
        }]}));
        let mut sources = Sources::default();
        sources.config_maps.insert("cm".into(), Some([("k".to_string(), "v".to_string())].into()));
        sources.secrets.insert("sec".into(), Some([("password".to_string(), "hunter2".to_string())].into()));
        sources.secrets.insert("missing".into(), None);
        let env = env_of(&p, &sources).unwrap();
        assert_eq!(get(&env, "CM_k"), Some("v"));
        assert_eq!(get(&env, "K"), Some("v"));
        assert_eq!(get(&env, "S"), Some("hunter2"));
        assert_eq!(get(&env, "OPT"), None);
        let (cms, secrets) = referenced(&p.spec.as_ref().unwrap().containers[0]);
        assert_eq!((cms, secrets), (vec!["cm".to_string()], vec!["missing".to_string(), "sec".to_string()]));

        sources.secrets.insert("sec".into(), Some(BTreeMap::new()));
        assert_eq!(env_of(&p, &sources).unwrap_err().to_string(), "couldn't find key password in Secret default/sec");
        sources.config_maps.insert("cm".into(), None);
        assert_eq!(env_of(&p, &sources).unwrap_err().to_string(), "configmap \"cm\" not found");
    }
}
