//! The event row (core/v1 Event), as kube-apiserver prints it: LAST SEEN falls back to FIRST SEEN,
//! FIRST SEEN to `eventTime`; a series overrides the last time and the count.

use jiff::Timestamp;
use serde_json::Value;

use super::duration::{parse_time, since};
use super::json::{int, string};

/// OBJECT: "pod/web" (the involved object's lower-cased kind and name), or just the kind.
pub fn event_object(event: &Value) -> String {
    let involved = &event["involvedObject"];
    let kind = string(involved, "kind").to_lowercase();
    match string(involved, "name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    }
}

/// SOURCE: "component, host" (falling back to the reporting controller and instance).
pub fn event_source(event: &Value) -> String {
    let first = |a: &'static str, b: &'static str| -> String {
        match string(&event["source"], a) {
            "" => string(event, b).to_string(),
            s => s.to_string(),
        }
    };
    let component = first("component", "reportingComponent");
    let instance = first("host", "reportingInstance");
    if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    }
}

/// The ages shown for an event: (first seen, last seen, count).
pub fn event_times(event: &Value, now: Timestamp) -> (String, String, i64) {
    let first_ts = parse_time(event["firstTimestamp"].as_str()).or_else(|| parse_time(event["eventTime"].as_str()));
    let first = since(first_ts, now);
    let mut last = match parse_time(event["lastTimestamp"].as_str()) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = int(event, "count");
    if let Some(series) = event["series"].as_object() {
        last = since(series.get("lastObservedTime").and_then(Value::as_str).and_then(|s| s.parse().ok()), now);
        count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    (first, last, count)
}

/// Last Seen, Type, Reason, Object, Subobject, Source, Message, First Seen, Count, Name.
pub(crate) fn row(event: &Value, now: Timestamp) -> Vec<Value> {
    let (first, last, count) = event_times(event, now);
    vec![
        Value::from(last),
        Value::from(string(event, "type")),
        Value::from(string(event, "reason")),
        Value::from(event_object(event)),
        Value::from(string(&event["involvedObject"], "fieldPath")),
        Value::from(event_source(event)),
        Value::from(string(event, "message").trim()),
        Value::from(first),
        Value::from(count),
        Value::from(string(&event["metadata"], "name")),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_and_sources() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"involvedObject": {"kind": "Pod", "name": "web"}, "source": {"component": "kubelet", "host": "node1"}}),
                "pod/web",
                "kubelet, node1",
            ),
            (json!({"involvedObject": {"kind": "Node"}, "source": {"component": "minik"}}), "node", "minik"),
            (
                json!({"involvedObject": {"kind": "Pod", "name": "p"}, "reportingComponent": "default-scheduler",
                       "reportingInstance": "sched-1"}),
                "pod/p",
                "default-scheduler, sched-1",
            ),
            (json!({}), "", ""),
        ];
        for (event, object, source) in cases {
            assert_eq!(event_object(&event), object, "{event}");
            assert_eq!(event_source(&event), source, "{event}");
        }
    }

    #[test]
    fn times() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let cases: Vec<(Value, (&str, &str, i64))> = vec![
            (
                json!({"firstTimestamp": "2024-05-01T11:00:00Z", "lastTimestamp": "2024-05-01T11:59:30Z", "count": 4}),
                ("60m", "30s", 4),
            ),
            (json!({"firstTimestamp": "2024-05-01T11:59:00Z"}), ("60s", "60s", 1)),
            (json!({"eventTime": "2024-05-01T11:58:00.000000Z"}), ("2m", "2m", 1)),
            (json!({}), ("<unknown>", "<unknown>", 1)),
            (
                json!({"eventTime": "2024-05-01T11:00:00.000000Z",
                       "series": {"count": 7, "lastObservedTime": "2024-05-01T11:59:50.000000Z"}}),
                ("60m", "10s", 7),
            ),
        ];
        for (event, (first, last, count)) in cases {
            assert_eq!(event_times(&event, now), (first.to_string(), last.to_string(), count), "{event}");
        }
    }

    #[test]
    fn row_cells() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let event = json!({"metadata": {"name": "web.17c"}, "type": "Normal", "reason": "Pulled",
            "message": "  Container image \"nginx\" already present on machine\n",
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": "2024-05-01T11:56:11Z", "lastTimestamp": "2024-05-01T11:56:11Z", "count": 1});
        assert_eq!(
            row(&event, now),
            vec![
                json!("3m49s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node1"),
                json!("Container image \"nginx\" already present on machine"),
                json!("3m49s"),
                json!(1),
                json!("web.17c")
            ]
        );
    }
}
