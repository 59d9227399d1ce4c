//! `pods/log`, `pods/exec` and `pods/attach`: found through the pod's Node and proxied to the node
//! agent (`/containerLogs/...` over HTTP, `/exec/...` and `/attach/...` over WebSocket, frames relayed
//! verbatim in both directions).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite;

use crate::error::{ApiError, ApiResult};
use crate::objects::Target;
use crate::query::Query;
use crate::resources::{find, KindTag};
use crate::AppState;

const SUBPROTOCOLS: &[&str] =
    &["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"];

struct PodLocation {
    base: String,
    container: String,
}

async fn locate(state: &AppState, ns: &str, name: &str, q: &Query) -> ApiResult<PodLocation> {
    let pods = find("", "v1", "pods").ok_or(ApiError::NoRoute)?;
    let target = Target { res: pods, namespace: Some(ns.to_owned()), name: Some(name.to_owned()), sub: None };
    let pod = state.get_entry(&target, None).await?.value()?;
    let containers = |field: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|c| c.get("name")?.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let main = containers("containers");
    let all: Vec<String> =
        main.iter().cloned().chain(containers("initContainers")).chain(containers("ephemeralContainers")).collect();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) if all.iter().any(|n| n == c) => c.to_owned(),
        Some(c) => return Err(ApiError::bad_request(format!("container {c} is not valid for pod {name}"))),
        None if main.len() == 1 => main[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                main.join(" ")
            )))
        }
    };
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} does not have a host assigned")))?;
    let nodes = crate::resources::by_tag(KindTag::Node);
    let node_target = Target { res: nodes, namespace: None, name: Some(node_name.to_owned()), sub: None };
    let node = state.get_entry(&node_target, Some(0)).await?.value()?;
    let addresses = node.pointer("/status/addresses").and_then(Value::as_array).cloned().unwrap_or_default();
    let address = ["InternalIP", "Hostname", "ExternalIP"]
        .iter()
        .find_map(|t| {
            addresses.iter().find(|a| a.get("type").and_then(Value::as_str) == Some(t))?.get("address")?.as_str()
        })
        .ok_or_else(|| ApiError::bad_request(format!("node {node_name} has no address")))?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_i64)
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::bad_request(format!("node {node_name} reports no kubelet port")))?;
    let host = if address.contains(':') { format!("[{address}]") } else { address.to_owned() };
    Ok(PodLocation { base: format!("{host}:{port}"), container })
}

fn with_container(q: &Query, container: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in q.pairs() {
        if k != "container" {
            s.append_pair(k, v);
        }
    }
    s.append_pair("container", container);
    s.finish()
}

/// `GET pods/{name}/log`
pub async fn logs(
    State(state): State<Arc<AppState>>,
    Path((ns, name)): Path<(String, String)>,
    req: Request,
) -> Response {
    let q = Query::parse(req.uri().query());
    match proxy_logs(&state, &ns, &name, &q).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn proxy_logs(state: &AppState, ns: &str, name: &str, q: &Query) -> ApiResult<Response> {
    let loc = locate(state, ns, name, q).await?;
    let url = format!(
        "http://{}/containerLogs/{ns}/{name}/{}?{}",
        loc.base,
        loc.container,
        with_container(q, &loc.container)
    );
    let uri: hyper::Uri = url.parse().map_err(ApiError::internal)?;
    let resp = state.http.get(uri).await.map_err(|e| ApiError::ServiceUnavailable {
        message: format!("cannot reach the node agent for pod {name}: {e}"),
    })?;
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    let body = Body::new(resp.into_body());
    let mut out = (status, body).into_response();
    if let Some(ct) = content_type {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    Ok(out)
}

/// `GET|POST pods/{name}/exec` (WebSocket)
pub async fn exec(state: State<Arc<AppState>>, path: Path<(String, String)>, req: Request) -> Response {
    stream_proxy(state, path, req, "exec").await
}

/// `GET|POST pods/{name}/attach` (WebSocket)
pub async fn attach(state: State<Arc<AppState>>, path: Path<(String, String)>, req: Request) -> Response {
    stream_proxy(state, path, req, "attach").await
}

async fn stream_proxy(
    State(state): State<Arc<AppState>>,
    Path((ns, name)): Path<(String, String)>,
    req: Request,
    verb: &'static str,
) -> Response {
    let q = Query::parse(req.uri().query());
    let (mut parts, _) = req.into_parts();
    let offered: Vec<String> = parts
        .headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_owned()))
        .collect();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws,
        Err(_) => {
            return ApiError::bad_request("Upgrade request required").into_response();
        }
    };
    let loc = match locate(&state, &ns, &name, &q).await {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let Some(protocol) = SUBPROTOCOLS.iter().find(|p| offered.iter().any(|o| o == *p)).copied() else {
        return (StatusCode::BAD_REQUEST, "no supported streaming subprotocol offered").into_response();
    };
    let url = format!("ws://{}/{verb}/{ns}/{name}/{}?{}", loc.base, loc.container, with_container(&q, &loc.container));
    let upstream = match connect_upstream(&url, protocol).await {
        Ok(u) => u,
        Err(e) => {
            return ApiError::ServiceUnavailable { message: format!("cannot reach the node agent for pod {name}: {e}") }
                .into_response()
        }
    };
    ws.protocols([protocol]).on_upgrade(move |client| relay(client, upstream))
}

type Upstream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect_upstream(url: &str, protocol: &str) -> Result<Upstream, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request()?;
    if let Ok(v) = protocol.parse() {
        request.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    let (stream, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(stream)
}

async fn relay(client: WebSocket, upstream: Upstream) {
    let (mut client_tx, mut client_rx) = client.split();
    let (mut up_tx, mut up_rx) = upstream.split();
    let to_agent = async {
        while let Some(Ok(msg)) = client_rx.next().await {
            let out = match msg {
                Message::Binary(b) => tungstenite::Message::Binary(b),
                Message::Text(t) => tungstenite::Message::Text(t.as_str().into()),
                Message::Ping(p) => tungstenite::Message::Ping(p),
                Message::Pong(p) => tungstenite::Message::Pong(p),
                Message::Close(frame) => {
                    let frame = frame.map(|f| tungstenite::protocol::CloseFrame {
                        code: f.code.into(),
                        reason: f.reason.as_str().into(),
                    });
                    let _ = up_tx.send(tungstenite::Message::Close(frame)).await;
                    return;
                }
            };
            if up_tx.send(out).await.is_err() {
                break;
            }
        }
        let _ = up_tx.send(tungstenite::Message::Close(None)).await;
    };
    let to_client = async {
        while let Some(Ok(msg)) = up_rx.next().await {
            let out = match msg {
                tungstenite::Message::Binary(b) => Message::Binary(b),
                tungstenite::Message::Text(t) => Message::Text(t.as_str().into()),
                tungstenite::Message::Ping(p) => Message::Ping(p),
                tungstenite::Message::Pong(p) => Message::Pong(p),
                tungstenite::Message::Close(frame) => {
                    let frame = frame.map(|f| axum::extract::ws::CloseFrame {
                        code: f.code.into(),
                        reason: f.reason.as_str().into(),
                    });
                    let _ = client_tx.send(Message::Close(frame)).await;
                    return;
                }
                tungstenite::Message::Frame(_) => continue,
            };
            if client_tx.send(out).await.is_err() {
                break;
            }
        }
        let normal = axum::extract::ws::CloseFrame { code: 1000, reason: "".into() };
        let _ = client_tx.send(Message::Close(Some(normal))).await;
    };
    tokio::select! {
        _ = to_agent => {}
        _ = to_client => {}
    }
}
