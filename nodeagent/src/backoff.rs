//! Restart back-off as the kubelet does it: the first restart is immediate, then 10 s, 20 s, 40 s …
//! capped at 300 s; a container that ran cleanly for 10 minutes starts over.

use std::time::Duration;

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);
/// A run at least this long resets the back-off.
pub const RESET_AFTER: Duration = Duration::from_secs(600);

/// The wait before restart number `level + 1` since the last reset.
pub fn delay(level: u32) -> Duration {
    if level == 0 {
        return Duration::ZERO;
    }
    let factor = 1u64.checked_shl(level - 1).unwrap_or(u64::MAX);
    INITIAL.checked_mul(u32::try_from(factor).unwrap_or(u32::MAX)).map_or(MAX, |d| d.min(MAX))
}

/// The level to use for the next restart, given the current one and how long the last run lasted.
pub fn effective_level(level: u32, last_run: Duration) -> u32 {
    if last_run >= RESET_AFTER {
        0
    } else {
        level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let table =
            [(0, 0), (1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 300), (7, 300), (40, 300), (u32::MAX, 300)];
        for (level, secs) in table {
            assert_eq!(delay(level), Duration::from_secs(secs), "level {level}");
        }
    }

    #[test]
    fn long_runs_reset() {
        assert_eq!(effective_level(5, Duration::from_secs(599)), 5);
        assert_eq!(effective_level(5, Duration::from_secs(600)), 0);
    }
}
