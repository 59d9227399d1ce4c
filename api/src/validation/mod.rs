//! Validation of API objects as kube-apiserver does it, with its wording: every function returns
//! the list of problems (`FieldError`s, empty = valid) that become a 422's `details.causes`.
//!
//! `error` holds `FieldError` and field paths, `names` the name/key syntax checks, `meta` the
//! metadata rules, `pod` (with `container` and `volume`) the pod rules, `objects` the other kinds.

mod container;
pub mod error;
pub mod meta;
pub mod names;
pub mod objects;
pub mod pod;
mod volume;

#[cfg(test)]
pub(crate) mod fuzz;

pub use error::{FieldError, FieldErrorKind, Path};
pub use meta::{validate_object_meta, validate_object_meta_update, validate_object_meta_with, NameRule};
pub use objects::{
    validate_configmap, validate_event, validate_lease, validate_namespace, validate_node, validate_secret,
    validate_service,
};
pub use pod::{validate_pod, validate_pod_spec, validate_pod_update};
