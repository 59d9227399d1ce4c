//! Query parameters: the raw pairs, and the list/watch options parsed from them.

use base64::Engine;
use minik_api::fields::FieldSelector;
use minik_api::labels::LabelSelector;
use minik_store::Revision;
use serde_json::json;

use crate::cache::Entry;
use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceInfo;

/// The decoded query string, repeated keys kept (exec's `command`).
#[derive(Clone, Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Query { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => {
                v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}")))
            }
        }
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => {
                Err(ApiError::bad_request(format!("dryRun: Unsupported value: {other:?}: supported values: \"All\"")))
            }
        }
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// `resourceVersionMatch`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RvMatch {
    NotOlderThan,
    Exact,
}

/// List and watch options.
pub struct ListOptions {
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
    pub limit: usize,
    pub continue_token: Option<ContinueToken>,
    /// `None`: a consistent (most recent) read; `Some(0)`: any; `Some(n)`: per `rv_match`.
    pub resource_version: Option<Revision>,
    pub rv_match: Option<RvMatch>,
    pub watch: bool,
    pub allow_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout_seconds: Option<u64>,
}

impl ListOptions {
    pub fn parse(q: &Query, res: &ResourceInfo) -> ApiResult<ListOptions> {
        let labels = match q.get("labelSelector") {
            Some(s) if !s.trim().is_empty() => {
                Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
            _ => None,
        };
        let fields = match q.get("fieldSelector") {
            Some(s) if !s.trim().is_empty() => {
                let sel = FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                for f in sel.fields() {
                    if !res.supports_field(f) {
                        return Err(ApiError::bad_request(format!("field label not supported: {f}")));
                    }
                }
                Some(sel)
            }
            _ => None,
        };
        let limit = match q.int("limit")? {
            Some(n) if n > 0 => n as usize,
            _ => 0,
        };
        let continue_token = match q.get("continue") {
            Some(t) if !t.is_empty() => Some(ContinueToken::decode(t)?),
            _ => None,
        };
        let resource_version = match q.get("resourceVersion") {
            None | Some("") => None,
            Some(v) => Some(
                v.parse::<Revision>().map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}")))?,
            ),
        };
        let rv_match = match q.get("resourceVersionMatch") {
            None | Some("") => None,
            Some("NotOlderThan") => Some(RvMatch::NotOlderThan),
            Some("Exact") => Some(RvMatch::Exact),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                )))
            }
        };
        if rv_match.is_some() && resource_version.is_none() && !q.flag("watch") {
            return Err(ApiError::bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided"));
        }
        if continue_token.is_some() && resource_version.is_some_and(|rv| rv != 0) {
            return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
        }
        let send_initial_events = q.get("sendInitialEvents").map(|v| v == "true");
        let timeout_seconds = q.int("timeoutSeconds")?.filter(|n| *n > 0).map(|n| n as u64);
        Ok(ListOptions {
            labels,
            fields,
            limit,
            continue_token,
            resource_version,
            rv_match,
            watch: q.flag("watch"),
            allow_bookmarks: q.flag("allowWatchBookmarks"),
            send_initial_events,
            timeout_seconds,
        })
    }

    /// Whether an object passes the label and field selectors.
    pub fn matches(&self, e: &Entry) -> bool {
        if let Some(l) = &self.labels {
            if !l.matches(&e.labels) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            if !f.matches(|name: &str| e.field(name)) {
                return false;
            }
        }
        true
    }
}

/// Where the next page of a list starts, and at which revision the list is consistent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContinueToken {
    pub rv: Revision,
    pub start_after: String,
}

impl ContinueToken {
    pub fn encode(&self) -> String {
        let raw = json!({ "v": "meta.k8s.io/v1", "rv": self.rv, "start": self.start_after }).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(token: &str) -> ApiResult<ContinueToken> {
        let bad = || ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        let v: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        let rv = v.get("rv").and_then(|r| r.as_i64()).ok_or_else(bad)?;
        let start_after = v.get("start").and_then(|s| s.as_str()).ok_or_else(bad)?.to_owned();
        Ok(ContinueToken { rv, start_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_token_round_trips() {
        let t = ContinueToken { rv: 42, start_after: "/registry/pods/default/a".into() };
        assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
        assert!(ContinueToken::decode("!!!").is_err());
    }

    #[test]
    fn repeated_keys_are_kept() {
        let q = Query::parse(Some("command=echo&command=hi%20there&stdout=true"));
        assert_eq!(q.all("command"), vec!["echo", "hi there"]);
        assert!(q.flag("stdout"));
        assert!(!q.flag("stdin"));
    }
}
