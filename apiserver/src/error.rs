//! Every failure the API server reports, and how it becomes a `metav1.Status` response.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use minik_api::validation::FieldError;
use serde_json::{json, Value};

use minik_store::StoreError;

/// An API error, always answered as a `metav1.Status` with the matching HTTP code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String },
    #[error("{kind} \"{name}\" not found")]
    NotFound { kind: String, name: String },
    #[error("the server could not find the requested resource")]
    NoRoute,
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists { kind: String, name: String },
    #[error("Operation cannot be fulfilled on {kind} \"{name}\": {detail}")]
    Conflict { kind: String, name: String, detail: String },
    #[error("{message}")]
    Gone { message: String },
    #[error("{kind} \"{name}\" is invalid: {}", join_causes(causes))]
    Invalid { kind: String, group: String, name: String, causes: Vec<FieldError> },
    #[error("{message}")]
    Unprocessable { message: String },
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("the body of the request was in an unknown format - accepted media types include: {accepted}")]
    UnsupportedMediaType { accepted: String },
    #[error("only {accepted} may be returned for this request")]
    NotAcceptable { accepted: String },
    #[error("the request is too large: limit is {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{message}")]
    Forbidden { kind: String, name: String, message: String },
    #[error("{message}")]
    Timeout { message: String },
    #[error("{message}")]
    ServiceUnavailable { message: String },
    #[error("Internal error occurred: {message}")]
    Internal { message: String },
}

fn join_causes(causes: &[FieldError]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into() }
    }

    pub fn not_found(kind: &str, name: &str) -> Self {
        ApiError::NotFound { kind: kind.to_owned(), name: name.to_owned() }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError::Internal { message: message.to_string() }
    }

    pub fn conflict_modified(kind: &str, name: &str) -> Self {
        ApiError::Conflict {
            kind: kind.to_owned(),
            name: name.to_owned(),
            detail: "the object has been modified; please apply your changes to the latest version and try again"
                .into(),
        }
    }

    pub fn expired(message: impl Into<String>) -> Self {
        ApiError::Gone { message: message.into() }
    }

    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::Invalid { .. } | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Gone { .. } => "Expired",
            ApiError::Invalid { .. } | ApiError::Unprocessable { .. } => "Invalid",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::NotAcceptable { .. } => "NotAcceptable",
            ApiError::TooLarge { .. } => "RequestEntityTooLarge",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::Timeout { .. } => "Timeout",
            ApiError::ServiceUnavailable { .. } => "ServiceUnavailable",
            ApiError::Internal { .. } => "InternalError",
        }
    }

    /// The `metav1.Status` body.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let details = match self {
            ApiError::NotFound { kind, name }
            | ApiError::AlreadyExists { kind, name }
            | ApiError::Conflict { kind, name, .. }
            | ApiError::Forbidden { kind, name, .. } => Some(json!({ "name": name, "kind": kind })),
            ApiError::Invalid { kind, group, name, causes } => Some(json!({
                "name": name,
                "group": group,
                "kind": kind,
                "causes": causes.iter().map(|c| json!({
                    "reason": c.reason(),
                    "message": c.message(),
                    "field": c.field,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        };
        if let Some(mut d) = details {
            if let Some(obj) = d.as_object_mut() {
                obj.retain(|k, v| k != "group" || v.as_str().is_some_and(|g| !g.is_empty()));
            }
            status["details"] = d;
        }
        status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Compacted { .. } => ApiError::expired(format!("too old resource version: {e}")),
            StoreError::FutureRevision { requested, .. } => {
                ApiError::Timeout { message: format!("Too large resource version: {requested}") }
            }
            StoreError::Closed => ApiError::ServiceUnavailable { message: "the store is shutting down".into() },
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Internal { .. }) {
            tracing::error!(error = %self, "internal error");
        }
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        (self.code(), [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
