//! The shared API rules, with no IO: quantities, label and field selectors, validation and
//! defaulting of objects, patch semantics (JSON merge, JSON patch, strategic merge, apply), the
//! printing rules behind server-side Tables (STATUS, AGE, ...), and Kubernetes' protobuf envelope
//! for the few objects kubectl sends that way. Types are k8s-openapi's; nothing here does IO.

pub mod defaults;
pub mod fields;
pub mod labels;
pub mod patch;
pub mod printers;
pub mod protobuf;
pub mod quantity;
pub mod validation;
