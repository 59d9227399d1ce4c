//! Per-kind admission: decode into the typed k8s-openapi object (catching unknown fields), apply
//! Kubernetes' defaults, and validate. Everything else the server does is kind-independent JSON.

use std::marker::PhantomData;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret, Service};
use minik_api::validation::{self, FieldError};
use serde::de::DeserializeOwned;
use serde::Serialize;
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
        let mut unknown = Vec::new();
        let decoded: Result<K, _> = serde_ignored::deserialize(&obj, |path| {
            if fv != FieldValidation::Ignore {
                unknown.push(field_path(&path));
            }
        });
        let mut typed =
            decoded.map_err(|e| ApiError::bad_request(format!("{} in body cannot be decoded: {e}", res.kind)))?;
        let mut warnings = Vec::new();
        if !unknown.is_empty() {
            let list = unknown.iter().map(|f| format!("unknown field {f:?}")).collect::<Vec<_>>();
            match fv {
                FieldValidation::Strict => {
                    return Err(ApiError::bad_request(format!("strict decoding error: {}", list.join(", "))));
                }
                _ => warnings.extend(list),
            }
        }
        drop(obj);
        typed.defaults();
        let errors = match old {
            None => typed.validate(),
            Some(old) => {
                let old: K = K::deserialize(old).map_err(ApiError::internal)?;
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

/// `spec.containers[0].bogus` from serde_ignored's path.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let p = field_path(parent);
            if p.is_empty() {
                key.clone()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => field_path(parent),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;
    use serde_json::json;

    fn admit(obj: Value, fv: FieldValidation) -> ApiResult<Admitted> {
        let pods = find("", "v1", "pods").unwrap();
        ops(KindTag::Pod).admit(pods, obj, None, fv)
    }

    #[test]
    fn unknown_fields_are_reported_with_paths() {
        let obj = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [{"name": "a", "image": "i", "bogus": 1}], "x": {"y": 1}}});
        let err = admit(obj.clone(), FieldValidation::Strict).err().expect("strict rejects");
        let msg = err.to_string();
        assert!(msg.contains("unknown field \"spec.containers[0].bogus\""), "{msg}");
        assert!(msg.contains("unknown field \"spec.x\""), "{msg}");
        let warned = admit(obj.clone(), FieldValidation::Warn).expect("warn admits");
        assert_eq!(warned.warnings.len(), 2);
        assert!(admit(obj, FieldValidation::Ignore).expect("ignore admits").warnings.is_empty());
    }

    #[test]
    fn known_fields_nulls_and_type_meta_pass_strict() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "labels": {}, "annotations": null},
            "spec": {"containers": [{"name": "a", "image": "i"}]}});
        let ok = admit(obj, FieldValidation::Strict).expect("valid");
        assert_eq!(ok.object["spec"]["restartPolicy"], "Always");
    }
}
