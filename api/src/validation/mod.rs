//! Validation of API objects as kube-apiserver does it, with its wording: every function returns
//! the list of problems (`FieldError`s, empty = valid) that become a 422's `details.causes`.

pub mod error;
pub mod names;

pub use error::{FieldError, FieldErrorKind, Path};
