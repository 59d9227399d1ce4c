//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's leaderelection: a
//! candidate takes the Lease when it is free or when its record has not changed for the lease
//! duration (measured on the local clock, so clocks need not agree); the leader renews every
//! retry period and steps down if it cannot renew within the renew deadline. Leadership is
//! published on a `watch` channel; on shutdown the leader releases the Lease.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::Api;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::LeaderElectionConfig;

/// The part of a Lease that tells whether its holder is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: String,
    renew_time: Option<jiff::Timestamp>,
    transitions: i32,
}

fn record(spec: &LeaseSpec) -> Record {
    Record {
        holder: spec.holder_identity.clone().unwrap_or_default(),
        renew_time: spec.renew_time.as_ref().map(|t| t.0),
        transitions: spec.lease_transitions.unwrap_or(0),
    }
}

/// Whether `me` may write the Lease now: it is free, already ours, or its record has not moved
/// for `lease_duration` since we first saw it.
pub fn may_acquire(holder: &str, me: &str, observed_at: Instant, now: Instant, lease_duration: Duration) -> bool {
    holder.is_empty() || holder == me || now >= observed_at + lease_duration
}

/// The Lease spec `me` writes to take or renew the Lease.
pub fn claim(current: Option<&LeaseSpec>, me: &str, lease_duration: Duration, now: jiff::Timestamp) -> LeaseSpec {
    let duration = i32::try_from(lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
    match current {
        Some(c) if c.holder_identity.as_deref() == Some(me) => {
            LeaseSpec { renew_time: Some(MicroTime(now)), lease_duration_seconds: Some(duration), ..c.clone() }
        }
        _ => LeaseSpec {
            holder_identity: Some(me.to_string()),
            lease_duration_seconds: Some(duration),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(
                current.and_then(|c| c.lease_transitions).unwrap_or(0) + i32::from(current.is_some()),
            ),
            ..Default::default()
        },
    }
}

struct Elector {
    api: Api<Lease>,
    namespaces: Api<Namespace>,
    cfg: LeaderElectionConfig,
    observed: Option<(Record, Instant)>,
}

impl Elector {
    /// One attempt to take or renew the Lease; true when we hold it afterwards.
    async fn try_acquire_or_renew(&mut self) -> bool {
        let now = Instant::now();
        let lease = match self.api.get_opt(&self.cfg.lease_name).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the leader election lease");
                return false;
            }
        };
        let Some(mut lease) = lease else { return self.create().await };
        let spec = lease.spec.clone().unwrap_or_default();
        let rec = record(&spec);
        if self.observed.as_ref().map(|(r, _)| r) != Some(&rec) {
            self.observed = Some((rec.clone(), now));
        }
        let observed_at = self.observed.as_ref().map_or(now, |(_, t)| *t);
        if !may_acquire(&rec.holder, &self.cfg.identity, observed_at, now, self.cfg.lease_duration) {
            return false;
        }
        let new_spec = claim(Some(&spec), &self.cfg.identity, self.cfg.lease_duration, jiff::Timestamp::now());
        lease.spec = Some(new_spec.clone());
        match self.api.replace(&self.cfg.lease_name, &PostParams::default(), &lease).await {
            Ok(_) => {
                self.observed = Some((record(&new_spec), Instant::now()));
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "lost the race for the leader election lease");
                false
            }
        }
    }

    async fn create(&mut self) -> bool {
        let spec = claim(None, &self.cfg.identity, self.cfg.lease_duration, jiff::Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.cfg.lease_name.clone()),
                namespace: Some(self.cfg.lease_namespace.clone()),
                ..Default::default()
            },
            spec: Some(spec.clone()),
        };
        let mut result = self.api.create(&PostParams::default(), &lease).await;
        if let Err(kube::Error::Api(s)) = &result {
            if s.code == 404 {
                // The namespace is missing: create it and try again.
                let ns = Namespace {
                    metadata: ObjectMeta { name: Some(self.cfg.lease_namespace.clone()), ..Default::default() },
                    ..Default::default()
                };
                let _ = self.namespaces.create(&PostParams::default(), &ns).await;
                result = self.api.create(&PostParams::default(), &lease).await;
            }
        }
        match result {
            Ok(_) => {
                self.observed = Some((record(&spec), Instant::now()));
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot create the leader election lease");
                false
            }
        }
    }

    /// Gives the Lease up so a follower need not wait for it to expire.
    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.lease_name).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        if let Err(e) = self.api.replace(&self.cfg.lease_name, &PostParams::default(), &lease).await {
            tracing::warn!(error = %e, "cannot release the leader election lease");
        }
    }
}

/// Campaigns until `shutdown`, publishing whether we lead on `leading`.
pub async fn run(
    client: kube::Client,
    cfg: LeaderElectionConfig,
    leading: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let mut e = Elector {
        api: Api::namespaced(client.clone(), &cfg.lease_namespace),
        namespaces: Api::all(client),
        cfg,
        observed: None,
    };
    let retry = e.cfg.retry_period;
    loop {
        // Candidate: try until we hold the Lease.
        loop {
            if e.try_acquire_or_renew().await {
                break;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(jittered(retry)) => {}
            }
        }
        tracing::info!(identity = %e.cfg.identity, lease = %e.cfg.lease_name, "became the leader");
        let _ = leading.send(true);
        // Leader: renew until we cannot within the deadline.
        let mut last_renew = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = leading.send(false);
                    e.release().await;
                    return;
                }
                _ = tokio::time::sleep(retry) => {}
            }
            if e.try_acquire_or_renew().await {
                last_renew = Instant::now();
            } else if last_renew.elapsed() >= e.cfg.renew_deadline {
                tracing::warn!(identity = %e.cfg.identity, "lost leadership: cannot renew the lease");
                let _ = leading.send(false);
                break;
            }
        }
    }
}

/// client-go waits `retry * (1 + 0.2 * rand)` between candidate attempts.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(1.0 + 0.2 * rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn may_acquire_table() {
        let t0 = Instant::now();
        let d = Duration::from_secs(15);
        let cases = [
            ("free lease", "", t0, t0, true),
            ("ours", "me", t0, t0, true),
            ("held, fresh", "other", t0, t0 + Duration::from_secs(14), false),
            ("held, expired", "other", t0, t0 + Duration::from_secs(15), true),
        ];
        for (name, holder, observed, now, want) in cases {
            assert_eq!(may_acquire(holder, "me", observed, now, d), want, "{name}");
        }
    }

    #[test]
    fn claim_takes_over_or_renews() {
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: jiff::Timestamp = "2026-01-01T00:00:05Z".parse().unwrap();
        let fresh = claim(None, "me", Duration::from_secs(15), t0);
        assert_eq!(fresh.holder_identity.as_deref(), Some("me"));
        assert_eq!(fresh.lease_transitions, Some(0));
        assert_eq!(fresh.lease_duration_seconds, Some(15));
        assert_eq!(fresh.acquire_time, Some(MicroTime(t0)));

        let renewed = claim(Some(&fresh), "me", Duration::from_secs(15), t1);
        assert_eq!(renewed.acquire_time, Some(MicroTime(t0)));
        assert_eq!(renewed.renew_time, Some(MicroTime(t1)));
        assert_eq!(renewed.lease_transitions, Some(0));

        let taken = claim(Some(&renewed), "other", Duration::from_secs(15), t1);
        assert_eq!(taken.holder_identity.as_deref(), Some("other"));
        assert_eq!(taken.acquire_time, Some(MicroTime(t1)));
        assert_eq!(taken.lease_transitions, Some(1));
    }
}
