//! What the scheduler is told at start: the command-line flags and the resolved configuration.

use std::time::Duration;

use crate::queue::QueueTimings;

/// What the scheduler needs to run.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Pods whose `spec.schedulerName` is this are ours.
    pub scheduler_name: String,
    /// Threads used to filter nodes in large clusters.
    pub parallelism: usize,
    /// Percentage of nodes to find feasible before scoring; 0 = adaptive (kube-scheduler's rule).
    pub percentage_of_nodes_to_score: u32,
    /// Binding calls in flight at once.
    pub bind_concurrency: usize,
    pub queue: QueueTimings,
    /// `None`: no leader election, this scheduler is always active.
    pub leader_election: Option<LeaderElectionConfig>,
}

/// Leader election through a `coordination.k8s.io/v1` Lease, timings as client-go's.
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    pub lease_namespace: String,
    pub lease_name: String,
    /// This scheduler's identity in the Lease's `holderIdentity`.
    pub identity: String,
    /// How long followers wait after the last observed renewal before taking over.
    pub lease_duration: Duration,
    /// The leader gives up if it cannot renew for this long.
    pub renew_deadline: Duration,
    /// How often candidates retry and the leader renews.
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    pub fn new(identity: impl Into<String>) -> LeaderElectionConfig {
        LeaderElectionConfig {
            lease_namespace: "kube-system".into(),
            lease_name: "kube-scheduler".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A unique-enough identity: host name, process id and a random suffix (client-go uses
/// `hostname_uuid`).
pub fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "minik".into());
    format!("{host}_{}_{:08x}", std::process::id(), rand::random::<u32>())
}

impl Default for SchedulerConfig {
    /// Standalone defaults: no leader election (used by `minik up`, where only one scheduler runs).
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: "default-scheduler".into(),
            parallelism: 16,
            percentage_of_nodes_to_score: 0,
            bind_concurrency: 64,
            queue: QueueTimings::default(),
            leader_election: None,
        }
    }
}

/// `minik scheduler` flags (besides `--server`, which the binary handles).
#[derive(clap::Args, Clone, Debug)]
pub struct SchedulerArgs {
    /// Schedule pods whose spec.schedulerName is this.
    #[arg(long, default_value = "default-scheduler")]
    pub scheduler_name: String,
    /// Threads used to filter nodes in large clusters.
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
    /// Percentage of nodes to find feasible before scoring (0 = adaptive, as kube-scheduler).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub percentage_of_nodes_to_score: u32,
    /// Binding calls in flight at once.
    #[arg(long, default_value_t = 64)]
    pub bind_concurrency: usize,
    /// Elect a leader through a Lease, so several schedulers can run with one active.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Namespace of the leader election Lease.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "kube-scheduler")]
    pub leader_elect_resource_name: String,
    /// How long followers wait after the leader's last renewal (seconds, fractions allowed).
    #[arg(long, default_value_t = 15.0)]
    pub leader_elect_lease_duration: f64,
    /// How long the leader keeps trying to renew before giving up (seconds).
    #[arg(long, default_value_t = 10.0)]
    pub leader_elect_renew_deadline: f64,
    /// How often to retry acquiring or renewing (seconds).
    #[arg(long, default_value_t = 2.0)]
    pub leader_elect_retry_period: f64,
    /// Identity in the Lease (default: host name, pid and a random suffix).
    #[arg(long)]
    pub leader_elect_identity: Option<String>,
    /// First retry delay of a pod that could not be scheduled (seconds).
    #[arg(long, default_value_t = 1.0)]
    pub pod_initial_backoff: f64,
    /// Longest retry delay (seconds).
    #[arg(long, default_value_t = 10.0)]
    pub pod_max_backoff: f64,
}

fn secs(s: f64, fallback: Duration) -> Duration {
    Duration::try_from_secs_f64(s).ok().filter(|d| !d.is_zero()).unwrap_or(fallback)
}

impl SchedulerArgs {
    pub fn into_config(self) -> SchedulerConfig {
        let defaults = SchedulerConfig::default();
        let leader_election = self.leader_elect.then(|| {
            let base = LeaderElectionConfig::new(self.leader_elect_identity.clone().unwrap_or_else(default_identity));
            LeaderElectionConfig {
                lease_namespace: self.leader_elect_resource_namespace.clone(),
                lease_name: self.leader_elect_resource_name.clone(),
                lease_duration: secs(self.leader_elect_lease_duration, base.lease_duration),
                renew_deadline: secs(self.leader_elect_renew_deadline, base.renew_deadline),
                retry_period: secs(self.leader_elect_retry_period, base.retry_period),
                ..base
            }
        });
        SchedulerConfig {
            scheduler_name: self.scheduler_name,
            parallelism: self.parallelism.max(1),
            percentage_of_nodes_to_score: self.percentage_of_nodes_to_score,
            bind_concurrency: self.bind_concurrency.max(1),
            queue: QueueTimings {
                initial_backoff: secs(self.pod_initial_backoff, defaults.queue.initial_backoff),
                max_backoff: secs(self.pod_max_backoff, defaults.queue.max_backoff),
                ..defaults.queue
            },
            leader_election,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("scheduler failed: {0}")]
    Failed(String),
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SchedulerArgs,
    }

    fn parse(args: &[&str]) -> SchedulerConfig {
        Cli::try_parse_from(std::iter::once("minik").chain(args.iter().copied())).unwrap().args.into_config()
    }

    #[test]
    fn flags() {
        let c = parse(&[]);
        assert_eq!(c.scheduler_name, "default-scheduler");
        assert_eq!(c.parallelism, 16);
        assert_eq!(c.percentage_of_nodes_to_score, 0);
        let le = c.leader_election.unwrap();
        assert_eq!((le.lease_namespace.as_str(), le.lease_name.as_str()), ("kube-system", "kube-scheduler"));
        assert_eq!(le.lease_duration, Duration::from_secs(15));

        let c = parse(&[
            "--leader-elect=false",
            "--parallelism",
            "4",
            "--percentage-of-nodes-to-score",
            "30",
            "--scheduler-name",
            "other",
        ]);
        assert!(c.leader_election.is_none());
        assert_eq!((c.parallelism, c.percentage_of_nodes_to_score, c.scheduler_name.as_str()), (4, 30, "other"));

        let c = parse(&["--leader-elect", "--leader-elect-lease-duration", "1.5", "--leader-elect-identity", "me"]);
        let le = c.leader_election.unwrap();
        assert_eq!((le.lease_duration, le.identity.as_str()), (Duration::from_millis(1500), "me"));

        assert!(Cli::try_parse_from(["minik", "--percentage-of-nodes-to-score", "101"]).is_err());
    }
}
