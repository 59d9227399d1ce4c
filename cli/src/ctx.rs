//! The connection every command uses: a kube-rs client plus raw requests for what kube-rs does not
//! do (Table Accept headers, watches of Tables, arbitrary patch bodies).

use futures::{AsyncBufRead, AsyncBufReadExt, StreamExt};
use serde_json::Value;

use crate::args::Global;
use crate::error::CliError;

/// kubectl's Accept header for human-readable output.
pub const TABLE_ACCEPT: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

pub struct Ctx {
    pub client: kube::Client,
    /// The namespace from `-n`, the kubeconfig context, or `default`.
    pub namespace: String,
    /// Whether `-n` was given explicitly.
    pub namespace_explicit: bool,
    /// The API server's URL, for messages.
    pub server: String,
}

impl Ctx {
    pub async fn connect(g: &Global) -> Result<Ctx, CliError> {
        let opts = minik_client::ConnectOptions {
            server: g.server.clone(),
            kubeconfig: g.kubeconfig.clone(),
            context: g.context.clone(),
            namespace: g.namespace.clone(),
        };
        let config = minik_client::load_config(&opts).await.map_err(|e| CliError::usage(e.to_string()))?;
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config).map_err(|e| CliError::usage(e.to_string()))?;
        Ok(Ctx { client, namespace, namespace_explicit: g.namespace.is_some(), server })
    }

    pub fn kube_err(&self, e: kube::Error) -> CliError {
        CliError::from_kube(e, &self.server)
    }

    /// A request with an optional JSON body.
    pub fn request(
        method: http::Method,
        uri: &str,
        accept: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, CliError> {
        let mut b = http::Request::builder().method(method).uri(uri).header(http::header::ACCEPT, accept);
        if let Some(ct) = content_type {
            b = b.header(http::header::CONTENT_TYPE, ct);
        }
        b.body(body).map_err(|e| CliError::usage(format!("bad request {uri}: {e}")))
    }

    /// Sends a request and parses the JSON answer; error statuses become [`CliError::Api`].
    pub async fn call(&self, req: http::Request<Vec<u8>>) -> Result<Value, CliError> {
        let text = self.client.request_text(req).await.map_err(|e| self.kube_err(e))?;
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| CliError::Transport(format!("cannot decode the server's answer: {e}")))
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)], accept: &str) -> Result<Value, CliError> {
        let uri = with_query(path, query);
        self.call(Self::request(http::Method::GET, &uri, accept, None, Vec::new())?).await
    }

    pub async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        self.get(path, query, "application/json").await
    }

    pub async fn send_json(
        &self,
        method: http::Method,
        path: &str,
        query: &[(&str, String)],
        content_type: &str,
        body: &Value,
    ) -> Result<Value, CliError> {
        let uri = with_query(path, query);
        let bytes = serde_json::to_vec(body).map_err(|e| CliError::usage(e.to_string()))?;
        self.call(Self::request(method, &uri, "application/json", Some(content_type), bytes)?).await
    }

    /// Lists every page of a collection (`limit`/`continue`), returning the first page's answer
    /// with the items (or Table rows) of all pages, and the last page's resourceVersion.
    pub async fn list_all(
        &self,
        path: &str,
        query: &[(&str, String)],
        accept: &str,
        chunk: u32,
    ) -> Result<Value, CliError> {
        // Pages are fetched one after the other (each needs the previous continue token, read
        // cheaply from the page's metadata), while full decoding runs on blocking threads.
        let mut pending = Vec::new();
        let mut cont: Option<String> = None;
        loop {
            let mut q: Vec<(&str, String)> = query.to_vec();
            if chunk > 0 {
                q.push(("limit", chunk.to_string()));
            }
            if let Some(c) = &cont {
                q.push(("continue", c.clone()));
            }
            let uri = with_query(path, &q);
            let req = Self::request(http::Method::GET, &uri, accept, None, Vec::new())?;
            let text = self.client.request_text(req).await.map_err(|e| self.kube_err(e))?;
            let head: PageHead = serde_json::from_str(&text).unwrap_or_default();
            cont = head.metadata.continue_token.filter(|c| !c.is_empty());
            pending.push(tokio::task::spawn_blocking(move || serde_json::from_str::<Value>(&text)));
            if cont.is_none() || chunk == 0 {
                break;
            }
        }
        let mut merged: Option<Value> = None;
        for task in pending {
            let page = task
                .await
                .map_err(|e| CliError::Transport(e.to_string()))?
                .map_err(|e| CliError::Transport(format!("cannot decode the server's answer: {e}")))?;
            merged = Some(match merged {
                None => page,
                Some(m) => merge_page(m, page),
            });
        }
        Ok(merged.unwrap_or(Value::Null))
    }

    /// Opens a watch and yields each event (`{"type":..,"object":..}`) as it arrives.
    pub async fn watch(
        &self,
        path: &str,
        query: &[(&str, String)],
        accept: &str,
    ) -> Result<impl futures::Stream<Item = Result<Value, CliError>> + use<>, CliError> {
        let mut q = query.to_vec();
        q.push(("watch", "true".into()));
        let uri = with_query(path, &q);
        let req = Self::request(http::Method::GET, &uri, accept, None, Vec::new())?;
        let body = self.client.request_stream(req).await.map_err(|e| self.kube_err(e))?;
        Ok(lines(body).filter_map(|line| async move {
            match line {
                Ok(l) if l.trim().is_empty() => None,
                Ok(l) => Some(serde_json::from_str::<Value>(&l).map_err(|e| CliError::Transport(e.to_string()))),
                Err(e) => Some(Err(CliError::Transport(e.to_string()))),
            }
        }))
    }
}

/// Only what paging needs from a list page.
#[derive(serde::Deserialize, Default)]
struct PageHead {
    #[serde(default)]
    metadata: PageMeta,
}

#[derive(serde::Deserialize, Default)]
struct PageMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// Appends a later page's items (or Table rows) to the first page and takes its resourceVersion.
fn merge_page(mut first: Value, mut page: Value) -> Value {
    let key = if first.get("rows").is_some() { "rows" } else { "items" };
    if let (Some(Value::Array(dst)), Some(Value::Array(src))) = (first.get_mut(key), page.get_mut(key)) {
        dst.append(src);
    }
    let rv = page.pointer("/metadata/resourceVersion").cloned();
    if let (Some(rv), Some(meta)) = (rv, first.get_mut("metadata").and_then(Value::as_object_mut)) {
        meta.insert("resourceVersion".into(), rv);
    }
    first
}

fn lines<R: AsyncBufRead + Unpin + Send + 'static>(r: R) -> impl futures::Stream<Item = std::io::Result<String>> {
    Box::pin(r).lines()
}

/// Appends `?k=v&...` (values percent-encoded, keys sorted like Go's `url.Values.Encode`).
pub fn with_query(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let mut q: Vec<&(&str, String)> = query.iter().collect();
    q.sort_by(|a, b| a.0.cmp(b.0));
    let parts: Vec<String> = q.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    format!("{path}?{}", parts.join("&"))
}

pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn pages_merge_in_order_with_the_last_resource_version() {
        let a = serde_json::json!({"metadata": {"resourceVersion": "5", "continue": "x"}, "rows": [1, 2]});
        let b = serde_json::json!({"metadata": {"resourceVersion": "6"}, "rows": [3]});
        let m = merge_page(a, b);
        assert_eq!(m["rows"], serde_json::json!([1, 2, 3]));
        assert_eq!(m["metadata"]["resourceVersion"], "6");
        let head: PageHead = serde_json::from_str(r#"{"metadata":{"continue":"abc"},"items":[{"a":1}]}"#).unwrap();
        assert_eq!(head.metadata.continue_token.as_deref(), Some("abc"));
    }

    #[test]
    fn query_encoding_sorted_like_go() {
        let q = [("limit", "500".to_string()), ("labelSelector", "app=web,tier!=x".to_string())];
        assert_eq!(with_query("/api/v1/pods", &q), "/api/v1/pods?labelSelector=app%3Dweb%2Ctier%21%3Dx&limit=500");
        assert_eq!(with_query("/x", &[]), "/x");
    }
}
