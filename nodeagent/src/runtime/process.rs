//! The `process` runtime.
