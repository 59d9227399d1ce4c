//! Ages as kubectl prints them: apimachinery's `duration.HumanDuration` and the printers'
//! `translateTimestampSince`.

use jiff::{SignedDuration, Timestamp};

/// A short, human duration with two or three significant figures, e.g. "59s", "3m49s", "60m",
/// "5h10m", "5d10h", "2y3d". Slightly negative durations (clock skew under 2 s) print "0s";
/// more negative ones "<invalid>".
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        let years = hours / 24 / 365;
        return if days == 0 { format!("{years}y") } else { format!("{years}y{days}d") };
    }
    format!("{}y", hours / 24 / 365)
}

/// Parses an RFC 3339 timestamp as found in object JSON; `None` when absent or malformed.
pub fn parse_time(ts: Option<&str>) -> Option<Timestamp> {
    ts.and_then(|s| s.parse::<Timestamp>().ok())
}

/// How long ago `ts` (RFC 3339) was, as kubectl's AGE column prints it; "<unknown>" when the
/// timestamp is absent or unreadable.
pub fn age(ts: Option<&str>, now: Timestamp) -> String {
    since(parse_time(ts), now)
}

pub(crate) fn since(ts: Option<Timestamp>, now: Timestamp) -> String {
    match ts {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        let cases: &[(i64, &str)] = &[
            (-5, "<invalid>"),
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (119, "119s"),
            (120, "2m"),
            (229, "3m49s"),
            (599, "9m59s"),
            (600, "10m"),
            (3600, "60m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 10 * 60, "5h10m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (5 * 86400 + 10 * 3600, "5d10h"),
            (7 * 86400 + 23 * 3600, "7d23h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (2 * 365 * 86400, "2y"),
            (2 * 365 * 86400 + 3 * 86400, "2y3d"),
            (8 * 365 * 86400 + 100 * 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(SignedDuration::from_secs(*secs)), *want, "{secs}s");
        }
        // Sub-second parts truncate toward zero, as Go's int(d.Seconds()) does.
        assert_eq!(human_duration(SignedDuration::from_millis(-1500)), "0s");
        assert_eq!(human_duration(SignedDuration::from_millis(59_999)), "59s");
    }

    #[test]
    fn ages() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let cases: &[(Option<&str>, &str)] = &[
            (None, "<unknown>"),
            (Some("not a time"), "<unknown>"),
            (Some("2024-05-01T12:00:00Z"), "0s"),
            (Some("2024-05-01T11:56:11Z"), "3m49s"),
            (Some("2024-05-01T11:00:00Z"), "60m"),
            (Some("2024-04-26T02:00:00Z"), "5d10h"),
            (Some("2024-05-01T12:00:30Z"), "<invalid>"),
        ];
        for (ts, want) in cases {
            assert_eq!(age(*ts, now), *want, "{ts:?}");
        }
    }
}
