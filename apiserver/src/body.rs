//! Request bodies in (JSON, YAML, Kubernetes protobuf; size-limited) and the response formats out
//! (JSON, YAML, Table, PartialObjectMetadata), chosen by Content-Type and Accept.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Bodies above this are refused with 413, as kube-apiserver does.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The patch type named by Content-Type, or 415.
pub fn patch_kind(headers: &HeaderMap) -> ApiResult<PatchKind> {
    match content_type(headers).as_str() {
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
        _ => Err(ApiError::UnsupportedMediaType {
            accepted: "application/json-patch+json, application/merge-patch+json, \
                       application/strategic-merge-patch+json, application/apply-patch+yaml"
                .into(),
        }),
    }
}

/// Decodes an object body by its Content-Type (JSON when absent).
pub fn decode_object(headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    if body.len() > MAX_BODY {
        return Err(ApiError::TooLarge { limit: MAX_BODY });
    }
    let ct = content_type(headers);
    match ct.as_str() {
        "" | "application/json" | "application/apply-patch+json" | "*/*" => parse_json(body),
        "application/yaml" | "application/apply-patch+yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(body),
        "application/vnd.kubernetes.protobuf" => minik_api::protobuf::decode(body).map_err(|e| match e {
            minik_api::protobuf::ProtobufError::UnsupportedKind { .. }
            | minik_api::protobuf::ProtobufError::UnsupportedEncoding(_) => {
                ApiError::UnsupportedMediaType { accepted: "application/json, application/yaml".into() }
            }
            other => ApiError::bad_request(format!("unable to decode protobuf body: {other}")),
        }),
        "application/json-patch+json" | "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            parse_json(body)
        }
        _ => Err(ApiError::UnsupportedMediaType {
            accepted: "application/json, application/yaml, application/vnd.kubernetes.protobuf".into(),
        }),
    }
}

pub fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

pub fn parse_yaml(body: &[u8]) -> ApiResult<Value> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("request body is not valid UTF-8"))?;
    // JSON is YAML; parse it directly when it looks like JSON (exact numbers, faster).
    if text.trim_start().starts_with('{') {
        if let Ok(v) = serde_json::from_str(text) {
            return Ok(v);
        }
    }
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML request body: {e}")))
}

/// What the client asked to receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    Table { include_object: IncludeObject },
    PartialMetadata,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// Picks the response format from Accept (first acceptable entry wins).
pub fn negotiate(headers: &HeaderMap, include_object: Option<&str>) -> ApiResult<Output> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Output::Json);
    };
    let include = match include_object {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    };
    let mut saw_protobuf = false;
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let media = params.first().copied().unwrap_or("").to_ascii_lowercase();
        let as_ = params.iter().find_map(|p| p.strip_prefix("as="));
        match (media.as_str(), as_) {
            ("application/json", Some("Table")) => return Ok(Output::Table { include_object: include }),
            ("application/json", Some("PartialObjectMetadata" | "PartialObjectMetadataList")) => {
                return Ok(Output::PartialMetadata)
            }
            ("application/json", Some(_)) => continue,
            ("application/json" | "*/*" | "application/*", None) => return Ok(Output::Json),
            ("application/yaml", None) => return Ok(Output::Yaml),
            ("application/vnd.kubernetes.protobuf", _) => saw_protobuf = true,
            _ => {}
        }
    }
    if saw_protobuf {
        return Err(ApiError::NotAcceptable { accepted: "application/json, application/yaml".into() });
    }
    Ok(Output::Json)
}

/// A JSON or YAML response with the given status.
pub fn respond(status: StatusCode, output: Output, body: &Value) -> Response {
    match output {
        Output::Yaml => match serde_saphyr::to_string(body) {
            Ok(text) => (status, [(header::CONTENT_TYPE, "application/yaml")], text).into_response(),
            Err(e) => ApiError::internal(e).into_response(),
        },
        _ => respond_json_bytes(status, Bytes::from(serde_json::to_vec(body).unwrap_or_default())),
    }
}

pub fn respond_json_bytes(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}
