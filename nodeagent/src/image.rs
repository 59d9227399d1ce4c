//! Images as the kubelet handles them: whether to pull (imagePullPolicy against what the node
//! has), and what a failed pull looks like over time (ErrImagePull, then ImagePullBackOff while
//! the image back-off runs: 10 s doubling to 300 s). Pure.

use std::time::Duration;

use jiff::Timestamp;

use crate::backoff;
use crate::runtime::PullPolicy;

pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";

/// How long a fresh pull failure shows as ErrImagePull before the status says ImagePullBackOff
/// (the kubelet switches on its next sync of the pod).
pub const SHOW_PULL_ERROR: Duration = Duration::from_secs(2);

/// What to do about a container's image before creating the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Use the image on the node.
    UsePresent,
    Pull,
    /// Missing, and the policy forbids pulling: Kubernetes' message.
    NeverPull(String),
}

pub fn decide(policy: PullPolicy, present: bool, image: &str) -> Decision {
    match (policy, present) {
        (PullPolicy::Always, _) | (PullPolicy::IfNotPresent, false) => Decision::Pull,
        (_, true) => Decision::UsePresent,
        (PullPolicy::Never, false) => {
            Decision::NeverPull(format!("Container image \"{image}\" is not present with pull policy of Never"))
        }
    }
}

/// A container whose image could not be had, remembered until its next try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFailure {
    pub image: String,
    /// `ErrImagePull` or `ErrImageNeverPull`.
    pub reason: String,
    pub message: String,
    pub failed_at: Timestamp,
    /// Failures in a row (1 after the first).
    pub failures: u32,
    /// Whether the BackOff event of this failure was sent.
    pub backoff_reported: bool,
}

impl ImageFailure {
    /// The failure after `previous` (if any) of the same container.
    pub fn next(previous: Option<&ImageFailure>, image: &str, reason: &str, message: String, now: Timestamp) -> Self {
        let failures = previous.filter(|p| p.image == image).map_or(0, |p| p.failures).saturating_add(1);
        ImageFailure {
            image: image.to_owned(),
            reason: reason.to_owned(),
            message,
            failed_at: now,
            failures,
            backoff_reported: false,
        }
    }

    /// The image back-off: 10 s after the first failure, doubling to 300 s.
    pub fn delay(&self) -> Duration {
        backoff::delay(self.failures.max(1))
    }

    pub fn retry_at(&self) -> Timestamp {
        self.failed_at + self.delay()
    }

    /// When the status changes from ErrImagePull to ImagePullBackOff.
    pub fn backoff_from(&self) -> Timestamp {
        self.failed_at + SHOW_PULL_ERROR
    }

    /// Whether the status says ImagePullBackOff now (pull failures only).
    pub fn backing_off(&self, now: Timestamp) -> bool {
        self.reason == ERR_IMAGE_PULL && now >= self.backoff_from()
    }

    /// The container's waiting reason and message now.
    pub fn waiting(&self, now: Timestamp) -> (&'static str, String) {
        if self.reason == ERR_IMAGE_NEVER_PULL {
            (ERR_IMAGE_NEVER_PULL, self.message.clone())
        } else if self.backing_off(now) {
            (IMAGE_PULL_BACK_OFF, backoff_message(&self.image))
        } else {
            (ERR_IMAGE_PULL, self.message.clone())
        }
    }
}

pub fn backoff_message(image: &str) -> String {
    format!("Back-off pulling image \"{image}\"")
}

pub fn pull_failed_message(image: &str, why: &str) -> String {
    format!("Failed to pull image \"{image}\": {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn t(secs: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1_000_000 + secs)
    }

    #[test]
    fn policies_decide_like_the_kubelet() {
        use Decision::*;
        use PullPolicy::*;
        let never = NeverPull("Container image \"x:1\" is not present with pull policy of Never".into());
        let table = [
            (Always, true, Pull),
            (Always, false, Pull),
            (IfNotPresent, true, UsePresent),
            (IfNotPresent, false, Pull),
            (Never, true, UsePresent),
            (Never, false, never),
        ];
        for (policy, present, want) in table {
            assert_eq!(decide(policy, present, "x:1"), want, "{policy:?} present={present}");
        }
        assert_eq!(PullPolicy::parse(Some("Always")), Always);
        assert_eq!(PullPolicy::parse(Some("Never")), Never);
        assert_eq!(PullPolicy::parse(Some("IfNotPresent")), IfNotPresent);
        assert_eq!(PullPolicy::parse(None), IfNotPresent);
    }

    #[test]
    fn pull_failures_show_err_image_pull_then_back_off() {
        let f = ImageFailure::next(None, "x:1", ERR_IMAGE_PULL, pull_failed_message("x:1", "no route"), t(0));
        assert_eq!(f.failures, 1);
        assert_eq!(f.waiting(t(1)), (ERR_IMAGE_PULL, "Failed to pull image \"x:1\": no route".to_string()));
        assert_eq!(f.waiting(t(2)), (IMAGE_PULL_BACK_OFF, "Back-off pulling image \"x:1\"".to_string()));
        assert_eq!(f.retry_at(), t(10));
        let delays: Vec<u64> = std::iter::successors(Some(f), |p| {
            Some(ImageFailure::next(Some(p), "x:1", ERR_IMAGE_PULL, "again".into(), p.retry_at()))
        })
        .take(8)
        .map(|f| f.delay().as_secs())
        .collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn never_pull_keeps_its_reason_and_a_new_image_starts_over() {
        let msg = "Container image \"x:1\" is not present with pull policy of Never".to_string();
        let f = ImageFailure::next(None, "x:1", ERR_IMAGE_NEVER_PULL, msg.clone(), t(0));
        assert_eq!(f.waiting(t(100)), (ERR_IMAGE_NEVER_PULL, msg));
        assert!(!f.backing_off(t(100)));
        let g = ImageFailure::next(Some(&f), "x:1", ERR_IMAGE_NEVER_PULL, "m".into(), t(10));
        assert_eq!(g.failures, 2);
        let h = ImageFailure::next(Some(&g), "y:2", ERR_IMAGE_PULL, "m".into(), t(20));
        assert_eq!(h.failures, 1);
    }
}
