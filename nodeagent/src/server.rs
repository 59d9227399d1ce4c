//! The agent's own HTTP port, which the API server proxies to:
//! `GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&timestamps&previous&sinceSeconds&sinceTime&limitBytes`
//! and the exec WebSocket `GET /exec/{ns}/{pod}/{container}?command=..&stdin&stdout&stderr&tty`
//! speaking the `v5.channel.k8s.io` (and v4) channel protocol.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::agent::Agent;
use crate::runtime::{ExecRequest, LogOptions};

pub fn app(agent: Arc<Agent>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/containerLogs/{ns}/{pod}/{container}", get(container_logs))
        .route("/exec/{ns}/{pod}/{container}", get(exec).post(exec))
        .with_state(agent)
}

/// `a=1&b=x%20y&command=ls&command=-l` → pairs, in order.
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn flag(q: &[(String, String)], key: &str) -> bool {
    q.iter().any(|(k, v)| k == key && (v == "true" || v == "1" || v.is_empty()))
}

fn value<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A `metav1.Status` failure response.
fn status_error(code: StatusCode, reason: &str, message: String) -> Response {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn container_logs(
    State(agent): State<Arc<Agent>>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = parse_query(query.as_deref());
    let Some(entry) = agent.index.get(&ns, &pod) else {
        return status_error(StatusCode::NOT_FOUND, "NotFound", format!("pods \"{pod}\" not found"));
    };
    let observed = match agent.observe(&entry.uid).await {
        Ok(o) => o,
        Err(e) => return status_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()),
    };
    let previous = flag(&q, "previous");
    let instance = if previous { observed.previous(&container) } else { observed.latest(&container) };
    let Some(instance) = instance else {
        let known = entry.containers.contains(&container);
        let message = if !known {
            format!("container {container} is not valid for pod {pod}")
        } else if previous {
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")
        } else {
            format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating")
        };
        return status_error(StatusCode::BAD_REQUEST, "BadRequest", message);
    };
    let since = value(&q, "sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| Timestamp::now() - jiff::SignedDuration::from_secs(s))
        .or_else(|| value(&q, "sinceTime").and_then(|s| s.parse().ok()));
    let options = LogOptions {
        follow: flag(&q, "follow") && !previous,
        tail_lines: value(&q, "tailLines").and_then(|s| s.parse().ok()),
        timestamps: flag(&q, "timestamps"),
        since,
        limit_bytes: value(&q, "limitBytes").and_then(|s| s.parse().ok()),
    };
    let stream = match agent.runtime.logs(&instance.id, &options).await {
        Ok(s) => s,
        Err(e) => return status_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()),
    };
    let stream = limit(stream, options.limit_bytes);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Ends the stream after `limit` bytes.
fn limit(stream: crate::runtime::LogStream, limit: Option<u64>) -> crate::runtime::LogStream {
    let Some(limit) = limit else { return stream };
    let mut left = limit;
    Box::pin(stream.take_while(move |_| futures::future::ready(left > 0)).map(move |chunk| {
        chunk.map(|b| {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(b.len());
            left -= n as u64;
            b.slice(..n)
        })
    }))
}

async fn exec(
    State(agent): State<Arc<Agent>>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    request: axum::extract::Request,
) -> Response {
    let q = parse_query(query.as_deref());
    let (mut parts, _) = request.into_parts();
    let Ok(ws) = WebSocketUpgrade::from_request_parts(&mut parts, &()).await else {
        return status_error(StatusCode::BAD_REQUEST, "BadRequest", "Upgrade request required".into());
    };
    let Some(entry) = agent.index.get(&ns, &pod) else {
        return status_error(StatusCode::NOT_FOUND, "NotFound", format!("pods \"{pod}\" not found"));
    };
    let observed = match agent.observe(&entry.uid).await {
        Ok(o) => o,
        Err(e) => return status_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()),
    };
    let Some(instance) = observed.latest(&container).filter(|c| c.is_running()) else {
        return status_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("container {container} is not running in pod {pod}"),
        );
    };
    let request = ExecRequest {
        argv: q.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect(),
        stdin: flag(&q, "stdin"),
        tty: flag(&q, "tty"),
    };
    let want_stdout = flag(&q, "stdout");
    let want_stderr = flag(&q, "stderr");
    let id = instance.id.clone();
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| run_exec(agent, id, request, want_stdout, want_stderr, socket))
}

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// The status frame (channel 3) for an exit code.
pub fn exit_status(code: i32) -> serde_json::Value {
    if code == 0 {
        serde_json::json!({"metadata": {}, "status": "Success"})
    } else {
        serde_json::json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
        })
    }
}

async fn run_exec(
    agent: Arc<Agent>,
    id: String,
    request: ExecRequest,
    want_stdout: bool,
    want_stderr: bool,
    socket: WebSocket,
) {
    let (mut sink, mut incoming) = socket.split();
    let session = match agent.runtime.exec(&id, &request).await {
        Ok(s) => s,
        Err(e) => {
            let status = serde_json::json!({"metadata": {}, "status": "Failure", "message": e.to_string(), "reason": "InternalError"});
            let mut frame = vec![STATUS];
            frame.extend_from_slice(status.to_string().as_bytes());
            let _ = sink.send(Message::Binary(frame.into())).await;
            let _ = sink.close().await;
            return;
        }
    };
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<(u8, Bytes)>(64);
    let mut pumps = Vec::new();
    for (channel, reader, wanted) in [(STDOUT, session.stdout, want_stdout), (STDERR, session.stderr, want_stderr)] {
        let Some(mut reader) = reader else { continue };
        let tx = out_tx.clone();
        pumps.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if wanted && tx.send((channel, Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }));
    }
    drop(out_tx);
    // Client → stdin and resize.
    let mut stdin = session.stdin;
    let resize = session.resize;
    let input = tokio::spawn(async move {
        while let Some(Ok(msg)) = incoming.next().await {
            let data = match msg {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            let Some((&channel, payload)) = data.split_first() else { continue };
            match channel {
                STDIN => {
                    if let Some(w) = stdin.as_mut() {
                        if w.write_all(payload).await.is_err() || w.flush().await.is_err() {
                            stdin = None;
                        }
                    }
                }
                RESIZE => {
                    if let (Some(tx), Ok(size)) = (&resize, serde_json::from_slice::<serde_json::Value>(payload)) {
                        let w = size["Width"].as_u64().and_then(|v| u16::try_from(v).ok()).unwrap_or(0);
                        let h = size["Height"].as_u64().and_then(|v| u16::try_from(v).ok()).unwrap_or(0);
                        let _ = tx.send((w, h)).await;
                    }
                }
                CLOSE if payload.first() == Some(&STDIN) => {
                    if let Some(mut w) = stdin.take() {
                        let _ = w.shutdown().await;
                    }
                }
                _ => {}
            }
        }
    });
    while let Some((channel, data)) = out_rx.recv().await {
        let mut frame = Vec::with_capacity(data.len() + 1);
        frame.push(channel);
        frame.extend_from_slice(&data);
        if sink.send(Message::Binary(frame.into())).await.is_err() {
            break;
        }
    }
    let code =
        tokio::time::timeout(Duration::from_secs(3600), session.exit).await.ok().and_then(Result::ok).unwrap_or(-1);
    let mut frame = vec![STATUS];
    frame.extend_from_slice(exit_status(code).to_string().as_bytes());
    let _ = sink.send(Message::Binary(frame.into())).await;
    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
    // Let the client answer the close before the connection goes.
    let abort = input.abort_handle();
    let _ = tokio::time::timeout(Duration::from_secs(2), input).await;
    abort.abort();
    for p in pumps {
        p.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse() {
        let q = parse_query(Some("command=sh&command=-c&command=echo%20hi+there&stdin=true&tty=false&x"));
        let cmds: Vec<&str> = q.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.as_str()).collect();
        assert_eq!(cmds, vec!["sh", "-c", "echo hi there"]);
        assert!(flag(&q, "stdin"));
        assert!(!flag(&q, "tty"));
        assert!(flag(&q, "x"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%2F%zz"), "/%zz");
    }

    use crate::agent::{Agent, PodIndex};
    use crate::runtime::sim::SimRuntime;
    use crate::runtime::{ContainerSpec, Runtime, SandboxSpec};
    use axum::body::to_bytes;
    use tower::ServiceExt;

    async fn agent_with_pod() -> Arc<Agent> {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let runtime = Arc::new(SimRuntime::new());
        let agent = Arc::new(Agent {
            client: kube::Client::try_from(config).unwrap(),
            runtime: runtime.clone(),
            recorder: crate::events::Recorder::disabled(),
            data_dir: std::env::temp_dir(),
            index: PodIndex::default(),
            prepare_volumes: false,
        });
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": "c"}]}
        }))
        .unwrap();
        agent.index.put(&pod);
        let sb = runtime.create_sandbox(&SandboxSpec { pod_uid: "u1".into(), ..Default::default() }).await.unwrap();
        let spec = ContainerSpec { sandbox_id: sb.id, pod_uid: "u1".into(), name: "c".into(), ..Default::default() };
        let id = runtime.create_container(&spec).await.unwrap();
        runtime.start_container(&id).await.unwrap();
        agent
    }

    async fn get(agent: Arc<Agent>, uri: &str) -> (StatusCode, String) {
        let req = axum::http::Request::builder().uri(uri).body(Body::empty()).unwrap();
        let resp = app(agent).oneshot(req).await.unwrap();
        let status = resp.status();
        let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn container_logs_endpoint() {
        let agent = agent_with_pod().await;
        let (code, body) = get(agent.clone(), "/containerLogs/ns/web/c").await;
        assert_eq!((code, body.as_str()), (StatusCode::OK, "simulated container c started\n"));
        let (code, body) = get(agent.clone(), "/containerLogs/ns/web/c?limitBytes=9").await;
        assert_eq!((code, body.as_str()), (StatusCode::OK, "simulated"));
        let (code, body) = get(agent.clone(), "/containerLogs/ns/nope/c").await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert!(body.contains("\"reason\":\"NotFound\""), "{body}");
        let (code, body) = get(agent.clone(), "/containerLogs/ns/web/c?previous=true").await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(body.contains("previous terminated container \\\"c\\\" in pod \\\"web\\\" not found"), "{body}");
        let (code, _) = get(agent, "/exec/ns/web/c?command=ls").await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "exec needs a WebSocket upgrade");
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(exit_status(0)["status"], "Success");
        let s = exit_status(3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(s["message"], "command terminated with non-zero exit code: exit status 3");
    }
}
