//! The service row: TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S) and SELECTOR as kubectl prints them.

use jiff::Timestamp;
use serde_json::Value;

use super::json::{format_map, int, items, string};

/// PORT(S): "80/TCP", "80:30080/TCP" with a node port, comma-separated; "<none>" without ports.
pub fn service_ports(service: &Value) -> String {
    let pieces: Vec<String> = items(&service["spec"], "ports")
        .iter()
        .map(|p| {
            let protocol = match string(p, "protocol") {
                "" => "TCP",
                proto => proto,
            };
            match int(p, "nodePort") {
                n if n > 0 => format!("{}:{n}/{protocol}", int(p, "port")),
                _ => format!("{}/{protocol}", int(p, "port")),
            }
        })
        .collect();
    if pieces.is_empty() {
        "<none>".to_string()
    } else {
        pieces.join(",")
    }
}

fn strings(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(Value::as_str).collect()
}

/// Load balancer ingress addresses; shortened to 16 characters ("...") unless `wide`.
fn load_balancer_ips(service: &Value, wide: bool) -> String {
    let ingress = items(&service["status"]["loadBalancer"], "ingress");
    let ips: Vec<&str> = ingress
        .iter()
        .map(|i| match string(i, "ip") {
            "" => string(i, "hostname"),
            ip => ip,
        })
        .filter(|s| !s.is_empty())
        .collect();
    let joined = ips.join(",");
    if !wide && joined.len() > 16 {
        let cut: String = joined.chars().take(13).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

/// EXTERNAL-IP: external IPs, load balancer ingress (or "<pending>"), the external name, or
/// "<none>". A service without a type is treated as ClusterIP (the API server's default).
pub fn service_external_ip(service: &Value, wide: bool) -> String {
    let spec = &service["spec"];
    let external = strings(items(spec, "externalIPs"));
    match string(spec, "type") {
        "" | "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ips(service, wide);
            let mut all: Vec<&str> = lb.split(',').filter(|s| !s.is_empty()).collect();
            all.extend(external.iter().copied());
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => string(spec, "externalName").to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// Name, Type, Cluster-IP, External-IP, Port(s), Age, Selector.
pub(crate) fn row(service: &Value, now: Timestamp) -> Vec<Value> {
    let spec = &service["spec"];
    let cluster_ip = strings(items(spec, "clusterIPs"))
        .first()
        .copied()
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| string(spec, "clusterIP"));
    let kind = match string(spec, "type") {
        "" => "ClusterIP",
        t => t,
    };
    vec![
        Value::from(string(&service["metadata"], "name")),
        Value::from(kind),
        Value::from(super::json::none_if_empty(cluster_ip)),
        Value::from(service_external_ip(service, true)),
        Value::from(service_ports(service)),
        Value::from(super::age(service["metadata"]["creationTimestamp"].as_str(), now)),
        Value::from(format_map(&spec["selector"])),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ports() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "<none>"),
            (json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}), "80/TCP"),
            (json!({"spec": {"ports": [{"port": 80}]}}), "80/TCP"),
            (
                json!({"spec": {"ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}),
                "80:30080/TCP,53/UDP",
            ),
        ];
        for (svc, want) in cases {
            assert_eq!(service_ports(&svc), want, "{svc}");
        }
    }

    #[test]
    fn external_ips() {
        let cases: Vec<(Value, bool, &str)> = vec![
            (json!({"spec": {"type": "ClusterIP"}}), false, "<none>"),
            (json!({"spec": {}}), false, "<none>"),
            (json!({"spec": {"type": "NodePort", "externalIPs": ["1.2.3.4", "5.6.7.8"]}}), false, "1.2.3.4,5.6.7.8"),
            (json!({"spec": {"type": "LoadBalancer"}}), false, "<pending>"),
            (
                json!({"spec": {"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]},
                       "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}}),
                false,
                "1.1.1.1,9.9.9.9",
            ),
            (
                json!({"spec": {"type": "LoadBalancer"},
                       "status": {"loadBalancer": {"ingress": [{"hostname": "a-very-long-hostname.example.com"}]}}}),
                false,
                "a-very-long-h...",
            ),
            (
                json!({"spec": {"type": "LoadBalancer"},
                       "status": {"loadBalancer": {"ingress": [{"hostname": "a-very-long-hostname.example.com"}]}}}),
                true,
                "a-very-long-hostname.example.com",
            ),
            (json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}), false, "db.example.com"),
            (json!({"spec": {"type": "Weird"}}), false, "<unknown>"),
        ];
        for (svc, wide, want) in cases {
            assert_eq!(service_external_ip(&svc, wide), want, "{svc}");
        }
    }

    #[test]
    fn row_cells() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let svc = json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:59:01Z"},
                         "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                                  "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
                                  "selector": {"tier": "fe", "app": "web"}}});
        assert_eq!(
            row(&svc, now),
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80:30080/TCP"),
                json!("59s"),
                json!("app=web,tier=fe")
            ]
        );
        let bare = json!({"metadata": {"name": "x"}, "spec": {}});
        assert_eq!(
            row(&bare, now),
            vec![
                json!("x"),
                json!("ClusterIP"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<none>")
            ]
        );
    }
}
