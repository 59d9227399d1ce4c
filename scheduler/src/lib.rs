//! The scheduler: watches unbound Pods, Nodes and bound Pods through the API server, picks a
//! node for each pending Pod with Kubernetes' filters and scores, and binds it (`pods/binding`),
//! reporting outcomes as Kubernetes does (events, the PodScheduled condition). Leader election
//! through a Lease lets several schedulers run with one active.
//!
//! Pure parts (no IO), unit-tested with tables: [`filters`], [`scores`], [`algorithm`],
//! [`queue`], [`cache`], [`fit_error`], [`state`]. IO: `informers` (watches), `cycle`
//! (scheduling loop and binder), [`report`] (events, conditions), [`leader`].

// Tests may unwrap; the library itself may not (checked by clippy on the non-test target).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod algorithm;
pub mod cache;
mod config;
mod cycle;
pub mod filters;
pub mod fit_error;
mod informers;
pub mod leader;
pub mod podinfo;
pub mod queue;
pub mod report;
pub mod resources;
pub mod scores;
pub mod state;

use std::sync::Arc;

use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

pub use config::{default_identity, LeaderElectionConfig, SchedulerArgs, SchedulerConfig, SchedulerError};

/// Runs until `shutdown` fires: watches, leader election (if configured) and the scheduling loop.
pub async fn run(
    config: SchedulerConfig,
    client: kube::Client,
    shutdown: CancellationToken,
) -> Result<(), SchedulerError> {
    let shared = Arc::new(state::Shared::new(state::State::new(&config.scheduler_name, config.queue)));
    let identity = config.leader_election.as_ref().map_or_else(default_identity, |le| le.identity.clone());
    let (reporter, reports) =
        report::start(client.clone(), report::Source { component: config.scheduler_name.clone(), instance: identity });

    let (pods_synced_tx, mut pods_synced) = watch::channel(false);
    let (nodes_synced_tx, mut nodes_synced) = watch::channel(false);
    let pods = tokio::spawn(informers::watch_pods(client.clone(), shared.clone(), pods_synced_tx, shutdown.clone()));
    let nodes = tokio::spawn(informers::watch_nodes(client.clone(), shared.clone(), nodes_synced_tx, shutdown.clone()));

    // Like kube-scheduler, decide only once the caches hold a complete picture.
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = async {
            let _ = pods_synced.wait_for(|s| *s).await;
            let _ = nodes_synced.wait_for(|s| *s).await;
        } => tracing::info!(scheduler = %config.scheduler_name, "caches synced"),
    }

    let (leading_tx, leading) = watch::channel(config.leader_election.is_none());
    // Without an elector the sender stays here, so the channel stays open while we run.
    let (elector, _always_leading) = match config.leader_election.clone() {
        Some(le) => (Some(tokio::spawn(leader::run(client.clone(), le, leading_tx, shutdown.clone()))), None),
        None => (None, Some(leading_tx)),
    };

    let cycle = cycle::Cycle {
        shared,
        client,
        algorithm: algorithm::Algorithm::new(algorithm::Options {
            percentage_of_nodes_to_score: config.percentage_of_nodes_to_score,
            parallelism: config.parallelism,
        }),
        reporter,
        binds: Arc::new(Semaphore::new(config.bind_concurrency.max(1))),
    };
    cycle.run(leading, shutdown.clone()).await;

    if let Some(elector) = elector {
        elector.await.map_err(|e| SchedulerError::Failed(format!("leader election task: {e}")))?;
    }
    for task in [pods, nodes] {
        task.await.map_err(|e| SchedulerError::Failed(format!("watch task: {e}")))?;
    }
    // The reporter task ends once the binders' and the cycle's reporters are gone.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reports).await;
    Ok(())
}
