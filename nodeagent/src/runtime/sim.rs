//! The `sim` runtime: like KWOK, nothing runs. Containers become Running at once, or as the pod's
//! annotations say:
//! - `sim.minik.io/start-delay: 2s` — containers stay Created that long after a start;
//! - `sim.minik.io/exit-after: 5s` and `sim.minik.io/exit-code: "1"` — containers exit after running
//!   that long (with that code, default 0);
//! - `sim.minik.io/exec-exit-code: "1"` — every exec (so every exec probe and hook) exits so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{broadcast, oneshot};

use super::{
    ContainerInfo, ContainerSpec, ContainerState, ContainerStats, ExecOutput, ExecRequest, ExecSession, ExitReason,
    Listing, LogOptions, LogStream, Runtime, RuntimeError, SandboxInfo, SandboxSpec,
};

pub const START_DELAY: &str = "sim.minik.io/start-delay";
pub const EXIT_AFTER: &str = "sim.minik.io/exit-after";
pub const EXIT_CODE: &str = "sim.minik.io/exit-code";
pub const EXEC_EXIT_CODE: &str = "sim.minik.io/exec-exit-code";

#[derive(Clone, Debug, Default)]
struct Behaviour {
    start_delay: Option<Duration>,
    exit_after: Option<Duration>,
    exit_code: i32,
    exec_exit_code: i32,
}

impl Behaviour {
    fn from_annotations(a: &std::collections::BTreeMap<String, String>) -> Behaviour {
        Behaviour {
            start_delay: a.get(START_DELAY).and_then(|s| parse_duration(s)),
            exit_after: a.get(EXIT_AFTER).and_then(|s| parse_duration(s)),
            exit_code: a.get(EXIT_CODE).and_then(|s| s.trim().parse().ok()).unwrap_or(0),
            exec_exit_code: a.get(EXEC_EXIT_CODE).and_then(|s| s.trim().parse().ok()).unwrap_or(0),
        }
    }
}

/// `500ms`, `2s`, `3m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[derive(Clone, Debug)]
struct SimContainer {
    info: ContainerInfo,
    behaviour: Behaviour,
    /// When start was asked for.
    start_requested: Option<Timestamp>,
    stopped: Option<(i32, Timestamp)>,
}

impl SimContainer {
    /// The container's state as of `now`, from when it was started and its behaviour.
    fn at(&self, now: Timestamp) -> ContainerInfo {
        let mut info = self.info.clone();
        let Some(requested) = self.start_requested else { return info };
        let started = requested + self.behaviour.start_delay.unwrap_or_default();
        if let Some((exit_code, finished_at)) = self.stopped {
            info.started_at = (started <= finished_at).then_some(started);
            info.state = ContainerState::Exited { exit_code, finished_at, reason: ExitReason::Normal, message: None };
            return info;
        }
        if now < started {
            return info;
        }
        info.started_at = Some(started);
        info.state = match self.behaviour.exit_after {
            Some(after) if now >= started + after => ContainerState::Exited {
                exit_code: self.behaviour.exit_code,
                finished_at: started + after,
                reason: ExitReason::Normal,
                message: None,
            },
            _ => ContainerState::Running,
        };
        info
    }
}

#[derive(Default)]
struct State {
    sandboxes: HashMap<String, (SandboxInfo, Behaviour)>,
    containers: HashMap<String, SimContainer>,
    /// The sandbox and container ids of each pod: a pod's listing must not scan every pod's
    /// (one agent carries 150,000 pods).
    by_pod: HashMap<String, PodIds>,
}

#[derive(Default)]
struct PodIds {
    sandboxes: Vec<String>,
    containers: Vec<String>,
}

impl State {
    fn add_sandbox(&mut self, info: SandboxInfo, behaviour: Behaviour) {
        self.by_pod.entry(info.pod_uid.clone()).or_default().sandboxes.push(info.id.clone());
        self.sandboxes.insert(info.id.clone(), (info, behaviour));
    }

    /// Removes a sandbox and the containers in it.
    fn remove_sandbox(&mut self, id: &str) {
        let Some((info, _)) = self.sandboxes.remove(id) else { return };
        let Some(ids) = self.by_pod.get_mut(&info.pod_uid) else { return };
        ids.sandboxes.retain(|s| s != id);
        let containers = &mut self.containers;
        ids.containers.retain(|c| match containers.get(c) {
            Some(sc) if sc.info.sandbox_id == id => {
                containers.remove(c);
                false
            }
            Some(_) => true,
            None => false,
        });
        if ids.sandboxes.is_empty() && ids.containers.is_empty() {
            self.by_pod.remove(&info.pod_uid);
        }
    }

    fn add_container(&mut self, c: SimContainer) {
        self.by_pod.entry(c.info.pod_uid.clone()).or_default().containers.push(c.info.id.clone());
        self.containers.insert(c.info.id.clone(), c);
    }

    fn remove_container(&mut self, id: &str) {
        let Some(c) = self.containers.remove(id) else { return };
        if let Some(ids) = self.by_pod.get_mut(&c.info.pod_uid) {
            ids.containers.retain(|x| x != id);
            if ids.sandboxes.is_empty() && ids.containers.is_empty() {
                self.by_pod.remove(&c.info.pod_uid);
            }
        }
    }
}

/// The simulated runtime. Cheap: one agent carries thousands of pods on it.
pub struct SimRuntime {
    state: Arc<Mutex<State>>,
    next_id: AtomicU64,
    exits: broadcast::Sender<String>,
}

impl Default for SimRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl SimRuntime {
    pub fn new() -> SimRuntime {
        let (exits, _) = broadcast::channel(4096);
        SimRuntime { state: Arc::default(), next_id: AtomicU64::new(1), exits }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn id(&self, prefix: &str) -> String {
        format!("{prefix}{:012x}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Tells the agent when a container changes state by itself (starts after a delay, exits).
    fn schedule_notify(&self, pod_uid: &str, after: Duration) {
        let exits = self.exits.clone();
        let uid = pod_uid.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(after + Duration::from_millis(5)).await;
            let _ = exits.send(uid);
        });
    }
}

#[async_trait]
impl Runtime for SimRuntime {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn network_probes(&self) -> bool {
        false
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<SandboxInfo, RuntimeError> {
        let info = SandboxInfo {
            id: self.id("sb-"),
            pod_uid: spec.pod_uid.clone(),
            namespace: spec.namespace.clone(),
            name: spec.name.clone(),
            ip: if spec.host_network { None } else { spec.ip.clone() },
            created_at: Timestamp::now(),
            ready: true,
        };
        self.lock().add_sandbox(info.clone(), Behaviour::from_annotations(&spec.annotations));
        Ok(info)
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        self.lock().remove_sandbox(sandbox_id);
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let id = self.id("sim-");
        let mut state = self.lock();
        if !state.sandboxes.contains_key(&spec.sandbox_id) {
            return Err(RuntimeError::NoSandbox(spec.sandbox_id.clone()));
        }
        let info = ContainerInfo {
            id: id.clone(),
            sandbox_id: spec.sandbox_id.clone(),
            pod_uid: spec.pod_uid.clone(),
            name: spec.name.clone(),
            attempt: spec.attempt,
            image: spec.image.clone(),
            image_id: None,
            state: ContainerState::Created,
            created_at: Timestamp::now(),
            started_at: None,
        };
        let behaviour = Behaviour::from_annotations(&spec.annotations);
        state.add_container(SimContainer { info, behaviour, start_requested: None, stopped: None });
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        let (uid, delay, exit_after) = {
            let mut state = self.lock();
            let c = state.containers.get_mut(id).ok_or_else(|| RuntimeError::NoContainer(id.to_owned()))?;
            c.start_requested = Some(Timestamp::now());
            (c.info.pod_uid.clone(), c.behaviour.start_delay, c.behaviour.exit_after)
        };
        if let Some(delay) = delay {
            self.schedule_notify(&uid, delay);
        }
        if let Some(after) = exit_after {
            self.schedule_notify(&uid, delay.unwrap_or_default() + after);
        }
        Ok(())
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<(), RuntimeError> {
        let now = Timestamp::now();
        let mut state = self.lock();
        let c = state.containers.get_mut(id).ok_or_else(|| RuntimeError::NoContainer(id.to_owned()))?;
        if c.at(now).is_running() {
            // Killed by SIGTERM, as a shell would be: 128 + 15.
            c.stopped = Some((143, now));
        } else if c.stopped.is_none() && c.start_requested.is_some() && c.behaviour.exit_after.is_none() {
            c.stopped = Some((143, now));
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.lock().remove_container(id);
        Ok(())
    }

    async fn list(&self) -> Result<Listing, RuntimeError> {
        let now = Timestamp::now();
        let state = self.lock();
        Ok(Listing {
            sandboxes: state.sandboxes.values().map(|(s, _)| s.clone()).collect(),
            containers: state.containers.values().map(|c| c.at(now)).collect(),
        })
    }

    async fn list_pod(&self, pod_uid: &str) -> Result<Listing, RuntimeError> {
        let now = Timestamp::now();
        let state = self.lock();
        let Some(ids) = state.by_pod.get(pod_uid) else { return Ok(Listing::default()) };
        let sandboxes: Vec<SandboxInfo> =
            ids.sandboxes.iter().filter_map(|id| state.sandboxes.get(id)).map(|(s, _)| s.clone()).collect();
        let containers = match sandboxes.is_empty() {
            true => Vec::new(),
            false => ids.containers.iter().filter_map(|id| state.containers.get(id)).map(|c| c.at(now)).collect(),
        };
        Ok(Listing { sandboxes, containers })
    }

    async fn exec_sync(&self, id: &str, _argv: &[String], _timeout: Duration) -> Result<ExecOutput, RuntimeError> {
        let state = self.lock();
        let c = state.containers.get(id).ok_or_else(|| RuntimeError::NoContainer(id.to_owned()))?;
        Ok(ExecOutput { exit_code: c.behaviour.exec_exit_code, output: String::new() })
    }

    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecSession, RuntimeError> {
        let code = {
            let state = self.lock();
            let c = state.containers.get(id).ok_or_else(|| RuntimeError::NoContainer(id.to_owned()))?;
            if !c.at(Timestamp::now()).is_running() {
                return Err(RuntimeError::NotRunning(id.to_owned()));
            }
            c.behaviour.exec_exit_code
        };
        // The simulated command prints its argv, like `echo`.
        let out = format!("{}\n", request.argv.join(" "));
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(code);
        Ok(ExecSession {
            stdin: None,
            stdout: Some(Box::pin(std::io::Cursor::new(out.into_bytes()))),
            stderr: None,
            resize: None,
            exit: rx,
        })
    }

    async fn logs(&self, id: &str, options: &LogOptions) -> Result<LogStream, RuntimeError> {
        let info = {
            let state = self.lock();
            state.containers.get(id).ok_or_else(|| RuntimeError::NoContainer(id.to_owned()))?.at(Timestamp::now())
        };
        let mut out = String::new();
        if let Some(started) = info.started_at {
            if options.timestamps {
                out.push_str(&format!("{} ", started.round(jiff::Unit::Nanosecond).unwrap_or(started)));
            }
            out.push_str(&format!("simulated container {} started\n", info.name));
        }
        Ok(Box::pin(futures::stream::iter([Ok(Bytes::from(out))])))
    }

    async fn stats(&self, id: &str) -> Result<ContainerStats, RuntimeError> {
        let state = self.lock();
        let c = state.containers.get(id).ok_or_else(|| RuntimeError::NoContainer(id.to_owned()))?;
        let running = c.at(Timestamp::now()).is_running();
        let ran = c.start_requested.map(|t| Timestamp::now().duration_since(t)).unwrap_or(SignedDuration::ZERO);
        Ok(ContainerStats {
            memory_bytes: if running { 4 << 20 } else { 0 },
            cpu_usage_nanos: u64::try_from(ran.as_nanos() / 1000).unwrap_or(0),
        })
    }

    fn watch_exits(&self) -> broadcast::Receiver<String> {
        self.exits.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("1y"), None);
    }

    #[test]
    fn state_follows_behaviour() {
        let b = Behaviour::from_annotations(&annotations(&[(START_DELAY, "1s"), (EXIT_AFTER, "2s"), (EXIT_CODE, "3")]));
        let t0 = Timestamp::UNIX_EPOCH;
        let c = SimContainer {
            info: ContainerInfo {
                id: "c".into(),
                sandbox_id: "s".into(),
                pod_uid: "u".into(),
                name: "n".into(),
                attempt: 0,
                image: "i".into(),
                image_id: None,
                state: ContainerState::Created,
                created_at: t0,
                started_at: None,
            },
            behaviour: b,
            start_requested: Some(t0),
            stopped: None,
        };
        let secs = |s: i64| t0 + SignedDuration::from_millis(s);
        assert_eq!(c.at(secs(500)).state, ContainerState::Created);
        assert_eq!(c.at(secs(1500)).state, ContainerState::Running);
        assert_eq!(c.at(secs(1500)).started_at, Some(secs(1000)));
        assert_eq!(c.at(secs(3500)).exit_code(), Some(3));
    }

    #[tokio::test]
    async fn lifecycle_through_the_trait() {
        let rt = SimRuntime::new();
        let sb = rt
            .create_sandbox(&SandboxSpec { pod_uid: "u1".into(), ip: Some("10.0.0.2".into()), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(sb.ip.as_deref(), Some("10.0.0.2"));
        let id = rt
            .create_container(&ContainerSpec {
                sandbox_id: sb.id.clone(),
                pod_uid: "u1".into(),
                name: "app".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rt.list().await.unwrap().containers[0].state, ContainerState::Created);
        rt.start_container(&id).await.unwrap();
        assert!(rt.list().await.unwrap().containers[0].is_running());
        rt.stop_container(&id, Duration::from_secs(1)).await.unwrap();
        assert_eq!(rt.list().await.unwrap().containers[0].exit_code(), Some(143));
        rt.remove_sandbox(&sb.id).await.unwrap();
        let listing = rt.list().await.unwrap();
        assert!(listing.containers.is_empty() && listing.sandboxes.is_empty());
    }

    /// A pod's listing holds its own sandbox and containers only, and follows removals.
    #[tokio::test]
    async fn list_pod_sees_only_that_pod() {
        let rt = SimRuntime::new();
        let mut ids = Vec::new();
        for uid in ["u1", "u2"] {
            let sb = rt.create_sandbox(&SandboxSpec { pod_uid: uid.into(), ..Default::default() }).await.unwrap();
            let mut containers = Vec::new();
            for name in ["a", "b"] {
                let spec = ContainerSpec {
                    sandbox_id: sb.id.clone(),
                    pod_uid: uid.into(),
                    name: name.into(),
                    ..Default::default()
                };
                containers.push(rt.create_container(&spec).await.unwrap());
            }
            ids.push((sb.id, containers));
        }
        let names = |l: &Listing| {
            let mut v: Vec<String> = l.containers.iter().map(|c| format!("{}/{}", c.pod_uid, c.name)).collect();
            v.sort();
            v
        };
        let u1 = rt.list_pod("u1").await.unwrap();
        assert_eq!(u1.sandboxes.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [ids[0].0.as_str()]);
        assert_eq!(names(&u1), ["u1/a", "u1/b"]);
        rt.remove_container(&ids[0].1[0]).await.unwrap();
        assert_eq!(names(&rt.list_pod("u1").await.unwrap()), ["u1/b"]);
        rt.remove_sandbox(&ids[0].0).await.unwrap();
        let gone = rt.list_pod("u1").await.unwrap();
        assert!(gone.sandboxes.is_empty() && gone.containers.is_empty());
        assert_eq!(names(&rt.list_pod("u2").await.unwrap()), ["u2/a", "u2/b"]);
        assert_eq!(rt.list().await.unwrap().containers.len(), 2);
    }
}
