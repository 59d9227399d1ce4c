//! The scheduling loop: while leading, pop a pod, decide (under the state lock, reading the
//! cache's precomputed sums), assume it on the chosen node, and hand the binding to a bounded set
//! of concurrent binder tasks; failures go back to the queue and are reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::Api;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::algorithm::Algorithm;
use crate::filters::Candidate;
use crate::queue::{Pool, QueuedPod};
use crate::report::{Report, Reporter};
use crate::state::Shared;

/// How often the loop looks at the queue even when nothing signals it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Backoff and unschedulable pools are checked at most this often while pods keep coming.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

pub struct Cycle {
    pub shared: Arc<Shared>,
    pub client: kube::Client,
    pub algorithm: Algorithm,
    pub reporter: Reporter,
    pub binds: Arc<Semaphore>,
}

impl Cycle {
    pub async fn run(mut self, mut leading: watch::Receiver<bool>, shutdown: CancellationToken) {
        let mut last_flush: Option<Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            if !*leading.borrow_and_update() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = leading.changed() => if r.is_err() { return },
                }
                continue;
            }
            let (next, wake_at) = {
                let mut st = self.shared.lock();
                let now = Instant::now();
                if last_flush.is_none_or(|t| now >= t + FLUSH_EVERY) {
                    st.queue.flush(now);
                    last_flush = Some(now);
                }
                let mut next = st.queue.pop();
                if next.is_none() {
                    st.queue.flush(now);
                    last_flush = Some(now);
                    next = st.queue.pop();
                }
                (next, st.queue.next_wakeup())
            };
            match next {
                Some(qp) => self.schedule_one(qp).await,
                None => {
                    let until =
                        wake_at.map_or(IDLE_POLL, |t| t.saturating_duration_since(Instant::now()).min(IDLE_POLL));
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.shared.wake.notified() => {}
                        _ = tokio::time::sleep(until) => {}
                        _ = leading.changed() => {}
                    }
                }
            }
        }
    }

    async fn schedule_one(&mut self, qp: QueuedPod) {
        let candidate = Candidate::new(&qp.pod);
        let decision = {
            let mut st = self.shared.lock();
            if st.queue.pool(&qp.key) != Some(Pool::InFlight) {
                // Deleted or bound by someone else meanwhile.
                return;
            }
            match self.algorithm.schedule(&candidate, st.cache.nodes()) {
                Ok(i) => {
                    let node = st.cache.nodes()[i].name.clone();
                    st.cache.assume(candidate.info.clone(), &node);
                    Ok(node)
                }
                Err(fit) => {
                    st.queue.unschedulable(&qp.key, Instant::now());
                    Err(fit)
                }
            }
        };
        match decision {
            Ok(node) => {
                let Ok(permit) = self.binds.clone().acquire_owned().await else { return };
                let shared = self.shared.clone();
                let client = self.client.clone();
                let reporter = self.reporter.clone();
                tokio::spawn(async move {
                    let result = bind(client, &qp.pod, &node).await;
                    drop(permit);
                    finish_binding(&shared, &reporter, qp, node, result);
                });
            }
            Err(fit) => {
                let message = fit.to_string();
                tracing::debug!(pod = %qp.key, %message, "unschedulable");
                self.reporter.send(Report::Unschedulable { pod: qp.pod, message });
            }
        }
    }
}

/// POSTs `pods/{name}/binding` (with the pod's UID as precondition).
pub async fn bind(client: kube::Client, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client, ns);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            ..Default::default()
        },
    };
    api.create_subresource::<_, serde_json::Value>("binding", name, &PostParams::default(), &binding).await.map(|_| ())
}

fn finish_binding(shared: &Shared, reporter: &Reporter, qp: QueuedPod, node: String, result: Result<(), kube::Error>) {
    match result {
        Ok(()) => {
            shared.lock().queue.done(&qp.key);
            reporter.send(Report::Scheduled { pod: qp.pod, node });
        }
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {
            // Gone, or bound already (by another scheduler): the watch tells the truth.
            tracing::debug!(pod = %qp.key, code = status.code, "binding not applied");
            // Backoff rather than forget: a pod recreated under the same name is retried.
            let mut st = shared.lock();
            st.cache.forget(&qp.key);
            st.queue.error(&qp.key, Instant::now());
        }
        Err(e) => {
            tracing::warn!(pod = %qp.key, %node, error = %e, "binding failed; will retry");
            {
                let mut st = shared.lock();
                st.cache.forget(&qp.key);
                st.queue.error(&qp.key, Instant::now());
                st.queue.move_all_unschedulable(Instant::now());
            }
            shared.wake.notify_one();
            reporter.send(Report::BindFailed { pod: qp.pod, message: e.to_string() });
        }
    }
}
