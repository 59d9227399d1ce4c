//! Validation of API objects as kube-apiserver does it, with its wording: every function returns
//! the list of problems (`FieldError`s, empty = valid) that become a 422's `details.causes`.

pub mod error;
pub mod names;

pub use error::{FieldError, FieldErrorKind, Path};
pub mod meta;
pub mod pod;

pub use meta::{validate_object_meta, validate_object_meta_update, validate_object_meta_with, NameRule};
pub use pod::{validate_pod, validate_pod_spec, validate_pod_update};
pub mod objects;

pub use objects::{
    validate_configmap, validate_event, validate_lease, validate_namespace, validate_node, validate_secret,
    validate_service,
};

#[cfg(test)]
pub(crate) mod fuzz;
