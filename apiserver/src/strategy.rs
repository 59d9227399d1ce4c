//! Per-kind admission: decode into the typed k8s-openapi object (catching unknown fields), apply
//! Kubernetes' defaults, and validate. Everything else the server does is kind-independent JSON.

use std::marker::PhantomData;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret, Service};
use serde::de::DeserializeOwned;
use serde::Serialize;
use minik_api::validation::{self, FieldError};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::resources::{KindTag, ResourceInfo};

/// How unknown fields are treated (`?fieldValidation=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> ApiResult<Self> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other:?}; supported values: \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

/// Kind-specific defaulting and validation rules.
pub trait Rules: Serialize + DeserializeOwned + Send + Sync + 'static {
    fn defaults(&mut self) {}
    fn validate(&self) -> Vec<FieldError>;
    fn validate_update(&self, _old: &Self) -> Vec<FieldError> {
        self.validate()
    }
}

impl Rules for Pod {
    fn defaults(&mut self) {
        minik_api::defaults::default_pod(self);
    }
    fn validate(&self) -> Vec<FieldError> {
        validation::validate_pod(self)
    }
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        let mut errs = validation::validate_pod(self);
        errs.extend(validation::validate_pod_update(self, old));
        errs
    }
}

impl Rules for Node {
    fn validate(&self) -> Vec<FieldError> {
        validation::validate_node(self)
    }
}

impl Rules for Namespace {
    fn defaults(&mut self) {
        minik_api::defaults::default_namespace(self);
    }
    fn validate(&self) -> Vec<FieldError> {
        validation::validate_namespace(self)
    }
}

impl Rules for ConfigMap {
    fn validate(&self) -> Vec<FieldError> {
        validation::validate_configmap(self)
    }
}

impl Rules for Secret {
    fn defaults(&mut self) {
        minik_api::defaults::default_secret(self);
    }
    fn validate(&self) -> Vec<FieldError> {
        validation::validate_secret(self)
    }
}

impl Rules for Event {
    fn validate(&self) -> Vec<FieldError> {
        validation::validate_event(self)
    }
}

impl Rules for Service {
    fn defaults(&mut self) {
        minik_api::defaults::default_service(self);
    }
    fn validate(&self) -> Vec<FieldError> {
        validation::validate_service(self)
    }
}

impl Rules for Lease {
    fn validate(&self) -> Vec<FieldError> {
        validation::validate_lease(self)
    }
}

/// The result of admitting an object: its normalized JSON and any warnings for the client.
pub struct Admitted {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// Admission, object-safe so handlers can pick it by [`KindTag`].
pub trait KindOps: Sync {
    fn admit(&self, res: &ResourceInfo, obj: Value, old: Option<&Value>, fv: FieldValidation) -> ApiResult<Admitted>;
}

struct Typed<K>(PhantomData<fn() -> K>);

impl<K: Rules> KindOps for Typed<K> {
    fn admit(&self, res: &ResourceInfo, obj: Value, old: Option<&Value>, fv: FieldValidation) -> ApiResult<Admitted> {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut typed: K = serde_json::from_value(obj.clone())
            .map_err(|e| ApiError::bad_request(format!("{} in body cannot be decoded: {e}", res.kind)))?;
        let mut warnings = Vec::new();
        if fv != FieldValidation::Ignore {
            let normalized = serde_json::to_value(&typed).map_err(ApiError::internal)?;
            let mut unknown = Vec::new();
            unknown_fields(&obj, &normalized, String::new(), &mut unknown);
            if !unknown.is_empty() {
                match fv {
                    FieldValidation::Strict => {
                        let list = unknown.iter().map(|f| format!("unknown field {f:?}")).collect::<Vec<_>>();
                        return Err(ApiError::bad_request(format!("strict decoding error: {}", list.join(", "))));
                    }
                    _ => warnings.extend(unknown.iter().map(|f| format!("unknown field {f:?}"))),
                }
            }
        }
        typed.defaults();
        let errors = match old {
            None => typed.validate(),
            Some(old) => {
                let old: K = serde_json::from_value(old.clone()).map_err(ApiError::internal)?;
                typed.validate_update(&old)
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::Invalid { kind: res.kind.into(), group: res.group.into(), name, causes: errors });
        }
        let object = serde_json::to_value(&typed).map_err(ApiError::internal)?;
        Ok(Admitted { object, warnings })
    }
}

pub fn ops(tag: KindTag) -> &'static dyn KindOps {
    match tag {
        KindTag::Pod => &Typed::<Pod>(PhantomData),
        KindTag::Node => &Typed::<Node>(PhantomData),
        KindTag::Namespace => &Typed::<Namespace>(PhantomData),
        KindTag::ConfigMap => &Typed::<ConfigMap>(PhantomData),
        KindTag::Secret => &Typed::<Secret>(PhantomData),
        KindTag::Event => &Typed::<Event>(PhantomData),
        KindTag::Service => &Typed::<Service>(PhantomData),
        KindTag::Lease => &Typed::<Lease>(PhantomData),
    }
}

/// Paths present in `input` that did not survive decoding into the typed object.
fn unknown_fields(input: &Value, known: &Value, path: String, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, v) in i {
                let p = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match k.get(key) {
                    Some(kv) => unknown_fields(v, kv, p, out),
                    None if v.is_null() || is_empty_container(v) => {}
                    None if path.is_empty() && (key == "apiVersion" || key == "kind") => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (idx, (iv, kv)) in i.iter().zip(k.iter()).enumerate() {
                unknown_fields(iv, kv, format!("{path}[{idx}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_found_with_paths() {
        let input = json!({"spec": {"containers": [{"name": "a", "bogus": 1}], "x": {"y": 1}}, "metadata": {"name": "p"}});
        let known = json!({"spec": {"containers": [{"name": "a"}]}, "metadata": {"name": "p"}});
        let mut out = Vec::new();
        unknown_fields(&input, &known, String::new(), &mut out);
        assert_eq!(out, vec!["spec.containers[0].bogus".to_string(), "spec.x".to_string()]);
    }

    #[test]
    fn nulls_and_empty_maps_are_not_unknown() {
        let input = json!({"metadata": {"name": "p", "labels": {}, "annotations": null}});
        let known = json!({"metadata": {"name": "p"}});
        let mut out = Vec::new();
        unknown_fields(&input, &known, String::new(), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
