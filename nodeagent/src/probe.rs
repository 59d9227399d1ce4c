//! Probes and lifecycle hooks: the pure threshold state machine, the handlers (exec, httpGet,
//! tcpSocket, sleep) and the per-container probe task that reports changes to its pod worker.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::runtime::Runtime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// Consecutive successes and failures against the probe's thresholds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeState {
    success_threshold: u32,
    failure_threshold: u32,
    successes: u32,
    failures: u32,
    result: Option<bool>,
}

impl ProbeState {
    pub fn new(success_threshold: u32, failure_threshold: u32) -> ProbeState {
        ProbeState {
            success_threshold: success_threshold.max(1),
            failure_threshold: failure_threshold.max(1),
            successes: 0,
            failures: 0,
            result: None,
        }
    }

    pub fn from_probe(p: &Probe) -> ProbeState {
        let n = |v: Option<i32>, d: u32| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(d);
        ProbeState::new(n(p.success_threshold, 1), n(p.failure_threshold, 3))
    }

    pub fn result(&self) -> Option<bool> {
        self.result
    }

    /// Records one probe outcome; returns the new result when it changed.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        let new = if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            (self.successes >= self.success_threshold).then_some(true)
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            (self.failures >= self.failure_threshold).then_some(false)
        };
        match new {
            Some(r) if self.result != Some(r) => {
                self.result = Some(r);
                Some(r)
            }
            _ => None,
        }
    }
}

/// What a probe task tells its pod worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeEvent {
    /// The startup probe succeeded.
    Started {
        id: String,
    },
    Ready {
        id: String,
        ready: bool,
    },
    /// The liveness or startup probe failed past its threshold: the container must be killed.
    Unhealthy {
        id: String,
        kind: ProbeKind,
    },
    /// One failed attempt (an Unhealthy Event).
    Failed {
        id: String,
        container: String,
        kind: ProbeKind,
        message: String,
    },
}

/// Where network handlers connect, and what runs exec handlers.
#[derive(Clone)]
pub struct Target {
    pub runtime: Arc<dyn Runtime>,
    pub container_id: String,
    /// The pod's IP (the default host of httpGet and tcpSocket).
    pub pod_ip: String,
}

/// One handler: exec, httpGet, tcpSocket or sleep.
#[derive(Clone, Debug)]
pub enum Handler {
    Exec(Vec<String>),
    HttpGet(HTTPGetAction),
    TcpSocket(TCPSocketAction),
    Sleep(Duration),
    Unsupported(&'static str),
}

impl Handler {
    pub fn of_probe(p: &Probe) -> Handler {
        if let Some(e) = &p.exec {
            Handler::Exec(e.command.clone().unwrap_or_default())
        } else if let Some(h) = &p.http_get {
            Handler::HttpGet(h.clone())
        } else if let Some(t) = &p.tcp_socket {
            Handler::TcpSocket(t.clone())
        } else {
            Handler::Unsupported("grpc probes are not supported")
        }
    }

    pub fn of_lifecycle(h: &k8s_openapi::api::core::v1::LifecycleHandler) -> Handler {
        if let Some(e) = &h.exec {
            Handler::Exec(e.command.clone().unwrap_or_default())
        } else if let Some(g) = &h.http_get {
            Handler::HttpGet(g.clone())
        } else if let Some(t) = &h.tcp_socket {
            Handler::TcpSocket(t.clone())
        } else if let Some(s) = &h.sleep {
            Handler::Sleep(Duration::from_secs(u64::try_from(s.seconds).unwrap_or(0)))
        } else {
            Handler::Unsupported("empty lifecycle handler")
        }
    }
}

/// Runs a handler once. `Err` carries the failure message (as kubelet words it).
pub async fn run_handler(
    handler: &Handler,
    container: &Container,
    target: &Target,
    timeout: Duration,
) -> Result<(), String> {
    match handler {
        Handler::Exec(argv) => {
            let out = target
                .runtime
                .exec_sync(&target.container_id, argv, timeout)
                .await
                .map_err(|e| format!("exec {argv:?} failed: {e}"))?;
            if out.exit_code == 0 {
                Ok(())
            } else {
                Err(format!("command {argv:?} exited with {}: {}", out.exit_code, out.output.trim_end()))
            }
        }
        Handler::HttpGet(h) => {
            if !target.runtime.network_probes() {
                return Ok(());
            }
            let port = resolve_port(&h.port, container)?;
            let host = h.host.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| target.pod_ip.clone());
            if h.scheme.as_deref() == Some("HTTPS") {
                return Err("HTTPS probes are not supported".into());
            }
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            let headers: Vec<(String, String)> =
                h.http_headers.iter().flatten().map(|hd| (hd.name.clone(), hd.value.clone())).collect();
            match tokio::time::timeout(timeout, http_get(&host, port, &path, &headers)).await {
                Ok(Ok(code)) if (200..400).contains(&code) => Ok(()),
                Ok(Ok(code)) => Err(format!("HTTP probe failed with statuscode: {code}")),
                Ok(Err(e)) => Err(format!("Get \"http://{host}:{port}{path}\": {e}")),
                Err(_) => Err(format!("Get \"http://{host}:{port}{path}\": context deadline exceeded")),
            }
        }
        Handler::TcpSocket(t) => {
            if !target.runtime.network_probes() {
                return Ok(());
            }
            let port = resolve_port(&t.port, container)?;
            let host = t.host.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| target.pod_ip.clone());
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host.as_str(), port))).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("dial tcp {host}:{port}: {e}")),
                Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
            }
        }
        Handler::Sleep(d) => {
            tokio::time::sleep(*d).await;
            Ok(())
        }
        Handler::Unsupported(why) => Err((*why).to_owned()),
    }
}

fn resolve_port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).map_err(|_| format!("invalid port {p}")),
        IntOrString::String(name) => {
            if let Ok(p) = name.parse::<u16>() {
                return Ok(p);
            }
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port {name} in container {}", c.name))
        }
    }
}

/// A minimal HTTP/1.0 GET; returns the status code.
async fn http_get(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    let mut req =
        format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let m = stream.read(&mut buf[n..]).await?;
        if m == 0 {
            break;
        }
        n += m;
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response"))
}

fn secs(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(default))
}

/// Probes one running container until `cancel` fires, reporting to `events`.
pub async fn probe_container(
    container: Container,
    target: Target,
    events: mpsc::UnboundedSender<ProbeEvent>,
    cancel: CancellationToken,
) {
    let id = target.container_id.clone();
    if let Some(p) = container.startup_probe.clone() {
        let passed = cancel
            .run_until_cancelled(run_probe(ProbeKind::Startup, &p, &container, &target, &events))
            .await
            .unwrap_or(false);
        if !passed {
            return;
        }
        let _ = events.send(ProbeEvent::Started { id: id.clone() });
    }
    let liveness = async {
        if let Some(p) = container.liveness_probe.clone() {
            run_probe(ProbeKind::Liveness, &p, &container, &target, &events).await;
        }
    };
    let readiness = async {
        if let Some(p) = container.readiness_probe.clone() {
            run_probe(ProbeKind::Readiness, &p, &container, &target, &events).await;
        }
    };
    cancel.run_until_cancelled(async { tokio::join!(liveness, readiness) }).await;
}

/// Runs one probe on its schedule. Startup: returns true once it succeeds, false once it failed
/// for good. Liveness: returns after reporting the container unhealthy. Readiness: runs forever.
async fn run_probe(
    kind: ProbeKind,
    probe: &Probe,
    container: &Container,
    target: &Target,
    events: &mpsc::UnboundedSender<ProbeEvent>,
) -> bool {
    let id = target.container_id.clone();
    let handler = Handler::of_probe(probe);
    let mut state = ProbeState::from_probe(probe);
    let period = secs(probe.period_seconds, 10).max(Duration::from_secs(1));
    let timeout = secs(probe.timeout_seconds, 1).max(Duration::from_secs(1));
    tokio::time::sleep(secs(probe.initial_delay_seconds, 0)).await;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome = run_handler(&handler, container, target, timeout).await;
        if let Err(message) = &outcome {
            let _ = events.send(ProbeEvent::Failed {
                id: id.clone(),
                container: container.name.clone(),
                kind,
                message: message.clone(),
            });
        }
        let Some(result) = state.record(outcome.is_ok()) else { continue };
        match (kind, result) {
            (ProbeKind::Startup, true) => return true,
            (ProbeKind::Startup | ProbeKind::Liveness, false) => {
                let _ = events.send(ProbeEvent::Unhealthy { id, kind });
                return false;
            }
            (ProbeKind::Liveness, true) => {}
            (ProbeKind::Readiness, ready) => {
                let _ = events.send(ProbeEvent::Ready { id: id.clone(), ready });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_table() {
        // (success threshold, failure threshold, outcomes, results reported after each)
        type Row = (u32, u32, &'static [bool], &'static [Option<bool>]);
        let table: &[Row] = &[
            (1, 3, &[true], &[Some(true)]),
            (1, 3, &[false, false, false], &[None, None, Some(false)]),
            (1, 3, &[false, false, true, false, false, false], &[None, None, Some(true), None, None, Some(false)]),
            (2, 1, &[true, false, true, true], &[None, Some(false), None, Some(true)]),
            (1, 1, &[true, true, false, false], &[Some(true), None, Some(false), None]),
            (0, 0, &[false], &[Some(false)]),
        ];
        for (s, f, outcomes, want) in table {
            let mut st = ProbeState::new(*s, *f);
            let got: Vec<Option<bool>> = outcomes.iter().map(|o| st.record(*o)).collect();
            assert_eq!(&got, want, "success {s} failure {f} outcomes {outcomes:?}");
        }
    }

    #[test]
    fn defaults_from_probe() {
        let p: Probe = serde_json::from_value(serde_json::json!({"failureThreshold": 2})).unwrap();
        let mut st = ProbeState::from_probe(&p);
        assert_eq!(st.record(false), None);
        assert_eq!(st.record(false), Some(false));
        assert_eq!(st.result(), Some(false));
    }

    #[test]
    fn named_ports_resolve() {
        let c: Container = serde_json::from_value(
            serde_json::json!({"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}),
        )
        .unwrap();
        assert_eq!(resolve_port(&IntOrString::String("http".into()), &c), Ok(8080));
        assert_eq!(resolve_port(&IntOrString::Int(81), &c), Ok(81));
        assert!(resolve_port(&IntOrString::String("nope".into()), &c).is_err());
    }

    #[tokio::test]
    async fn http_and_tcp_handlers_against_a_local_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let code = if req.starts_with("GET /ok ") { "200 OK" } else { "503 Unavailable" };
                let _ = s.write_all(format!("HTTP/1.0 {code}\r\n\r\n").as_bytes()).await;
            }
        });
        let target = Target {
            runtime: Arc::new(crate::runtime::sim::SimRuntime::new()) as Arc<dyn Runtime>,
            container_id: "x".into(),
            pod_ip: "127.0.0.1".into(),
        };
        // The sim runtime skips network probes; a runtime that reaches the network does not.
        let c: Container = serde_json::from_value(serde_json::json!({"name": "c"})).unwrap();
        let get = |path: &str| HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(port.into()),
            ..Default::default()
        };
        assert_eq!(run_handler(&Handler::HttpGet(get("/bad")), &c, &target, Duration::from_secs(1)).await, Ok(()));
        assert_eq!(http_get("127.0.0.1", port, "/ok", &[]).await.unwrap(), 200);
        assert_eq!(http_get("127.0.0.1", port, "/bad", &[]).await.unwrap(), 503);
    }
}
