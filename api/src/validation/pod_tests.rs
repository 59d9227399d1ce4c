use super::*;
use serde_json::{json, Value};

/// A pod named `web` in `default` with the given spec.
fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": spec,
    }))
    .unwrap()
}

/// Validates a pod with `spec` and compares the error lines.
fn check(spec: Value, expected: &[&str]) {
    let got: Vec<String> = validate_pod(&pod(spec.clone())).iter().map(|e| e.to_string()).collect();
    assert_eq!(got, expected, "spec {spec}");
}

fn c(extra: Value) -> Value {
    let mut base = json!({"name": "app", "image": "nginx"});
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    base
}

#[test]
fn valid_pods_pass() {
    check(json!({"containers": [c(json!({}))]}), &[]);
    check(
        json!({
            "restartPolicy": "OnFailure",
            "dnsPolicy": "ClusterFirst",
            "terminationGracePeriodSeconds": 0,
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}}],
            "initContainers": [c(json!({"name": "init"})), c(json!({"name": "side", "restartPolicy": "Always",
                "readinessProbe": {"tcpSocket": {"port": 80}}}))],
            "containers": [c(json!({
                "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
                "env": [{"name": "A", "value": "1"}, {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/cfg", "subPath": "x"}],
                "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "0.5", "memory": "1Gi"}},
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "successThreshold": 1},
                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}}
            }))],
            "tolerations": [{"operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 5}]
        }),
        &[],
    );
}

#[test]
fn containers_and_names() {
    check(json!({"containers": []}), &["spec.containers: Required value"]);
    check(
        json!({"containers": [{"name": "Bad_Name"}]}),
        &[
            r#"spec.containers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
            "spec.containers[0].image: Required value",
        ],
    );
    check(
        json!({"initContainers": [c(json!({}))], "containers": [c(json!({})), c(json!({}))]}),
        &[
            r#"spec.containers[1].name: Duplicate value: "app""#,
            r#"spec.initContainers[0].name: Duplicate value: "app""#,
        ],
    );
    check(
        json!({"restartPolicy": "Sometimes", "dnsPolicy": "Bogus", "containers": [c(json!({"imagePullPolicy": "Maybe", "restartPolicy": "Always"}))]}),
        &[
            r#"spec.containers[0].imagePullPolicy: Unsupported value: "Maybe": supported values: "Always", "IfNotPresent", "Never""#,
            "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
            r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
            r#"spec.dnsPolicy: Unsupported value: "Bogus": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None""#,
        ],
    );
    check(
        json!({"initContainers": [c(json!({"name": "i", "restartPolicy": "OnFailure", "livenessProbe": {"exec": {"command": ["x"]}}}))],
               "containers": [c(json!({}))]}),
        &[
            r#"spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always""#,
            "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
        ],
    );
    check(
        json!({"nodeName": "Node_1", "terminationGracePeriodSeconds": -1, "activeDeadlineSeconds": 0, "containers": [c(json!({}))]}),
        &[
            r#"spec.nodeName: Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
            "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0",
        ],
    );
}

#[test]
fn ports() {
    check(
        json!({"containers": [c(json!({"ports": [
            {"containerPort": 70000, "protocol": "TCP"},
            {"containerPort": 0, "hostPort": 70000, "protocol": "ICMP"},
            {"containerPort": 80, "hostPort": 8080, "name": "web"},
            {"containerPort": 81, "hostPort": 8080, "name": "web"}
        ]}))]}),
        &[
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[1].containerPort: Required value",
            "spec.containers[0].ports[1].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            r#"spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP""#,
            r#"spec.containers[0].ports[3].name: Duplicate value: "web""#,
            r#"spec.containers[0].ports[3].hostPort: Duplicate value: "/TCP/8080""#,
        ],
    );
}

#[test]
fn resources() {
    check(
        json!({"containers": [c(json!({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}))]}),
        &[r#"spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1"#],
    );
    check(
        json!({"containers": [c(json!({"resources": {"requests": {"memory": "1Mb", "gpu": "1"}, "limits": {"cpu": "-1"}}}))]}),
        &[
            r#"spec.containers[0].resources.limits[cpu]: Invalid value: "-1": must be greater than or equal to 0"#,
            r#"spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers"#,
            r#"spec.containers[0].resources.requests[memory]: Invalid value: "1Mb": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"#,
        ],
    );
    check(
        json!({"containers": [c(json!({"resources": {"requests": {"example.com/dev": "1"}, "limits": {"example.com/dev": "2"}}}))]}),
        &[r#"spec.containers[0].resources.requests: Invalid value: "1": must be equal to example.com/dev limit of 2"#],
    );
    check(
        json!({"containers": [c(json!({"resources": {"requests": {"cpu": "100m", "memory": "0.5Gi"}, "limits": {"cpu": "1e3", "memory": "512Mi"}}}))]}),
        &[],
    );
}

#[test]
fn probes_and_hooks() {
    check(
        json!({"containers": [c(json!({
            "livenessProbe": {"successThreshold": 2},
            "readinessProbe": {"exec": {"command": ["true"]}, "httpGet": {"port": 80}, "periodSeconds": -1},
            "startupProbe": {"tcpSocket": {"port": 0}, "terminationGracePeriodSeconds": 0},
            "lifecycle": {"postStart": {}, "preStop": {"httpGet": {"port": "no_good", "scheme": "FTP"}}}
        }))]}),
        &[
            "spec.containers[0].lifecycle.postStart: Required value: must specify a handler type",
            r#"spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: "no_good": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"#,
            r#"spec.containers[0].lifecycle.preStop.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS""#,
            "spec.containers[0].livenessProbe: Required value: must specify a handler type",
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 handler type",
            "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.containers[0].startupProbe.tcpSocket.port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.containers[0].startupProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0",
        ],
    );
}

#[test]
fn volumes_and_mounts() {
    check(
        json!({
            "volumes": [{"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "a"}, {"name": "B", "emptyDir": {}}],
            "containers": [c(json!({"volumeMounts": [
                {"name": "x", "mountPath": "/m"},
                {"name": "a", "mountPath": "/m", "subPath": "../up"},
                {"name": "a", "mountPath": ""}
            ]}))]
        }),
        &[
            "spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[1]: Required value: must specify a volume type",
            r#"spec.volumes[1].name: Duplicate value: "a""#,
            r#"spec.volumes[2].name: Invalid value: "B": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
            r#"spec.containers[0].volumeMounts[0].name: Not found: "x""#,
            r#"spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/m": must be unique"#,
            r#"spec.containers[0].volumeMounts.subPath: Invalid value: "../up": must not contain '..'"#,
            "spec.containers[0].volumeMounts[2].mountPath: Required value",
        ],
    );
    check(
        json!({"volumes": [{"name": "s", "secret": {"defaultMode": 1000}}], "containers": [c(json!({}))]}),
        &[
            "spec.volumes[0].secret.secretName: Required value",
            "spec.volumes[0].secret.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive",
        ],
    );
}

#[test]
fn env() {
    check(
        json!({"containers": [c(json!({"env": [
            {"name": "1BAD"},
            {"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "B", "valueFrom": {}},
            {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}},
            {"name": "D", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": ""}, "secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "E", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "2"}}}
        ]}))]}),
        &[
            r#"spec.containers[0].env[0].name: Invalid value: "1BAD": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"#,
            r#"spec.containers[0].env[1].valueFrom: Invalid value: "": may not be specified when `value` is not empty"#,
            r#"spec.containers[0].env[2].valueFrom: Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"#,
            r#"spec.containers[0].env[3].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.bogus": supported values: "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs""#,
            "spec.containers[0].env[4].valueFrom.configMapKeyRef.key: Required value",
            r#"spec.containers[0].env[4].valueFrom: Invalid value: "": may not have more than one field specified at a time"#,
            r#"spec.containers[0].env[5].valueFrom.resourceFieldRef.divisor: Invalid value: "2": only divisor's values 1m and 1 are supported with the cpu resource"#,
        ],
    );
}

#[test]
fn tolerations() {
    check(
        json!({"containers": [c(json!({}))], "tolerations": [
            {"operator": "Equal", "value": "x"},
            {"key": "k", "operator": "Exists", "value": "v"},
            {"key": "k", "operator": "Maybe", "effect": "NoSchedule", "tolerationSeconds": 1},
            {"key": "k", "effect": "Never"}
        ]}),
        &[
            r#"spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys""#,
            r#"spec.tolerations[1].operator: Invalid value: "v": value must be empty when `operator` is 'Exists'"#,
            r#"spec.tolerations[2].effect: Invalid value: "NoSchedule": effect must be 'NoExecute' when `tolerationSeconds` is set"#,
            r#"spec.tolerations[2].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists""#,
            r#"spec.tolerations[3].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute""#,
        ],
    );
}

fn check_update(old_spec: Value, new_spec: Value, expected: &[&str]) {
    let (old, new) = (pod(old_spec), pod(new_spec.clone()));
    let got: Vec<String> = validate_pod_update(&new, &old).iter().map(|e| e.to_string()).collect();
    assert_eq!(got, expected, "new spec {new_spec}");
}

#[test]
fn pod_updates() {
    let base = json!({"containers": [c(json!({"resources": {"limits": {"cpu": "1"}}}))], "activeDeadlineSeconds": 100,
                      "tolerations": [{"key": "a", "operator": "Exists"}]});
    let forbidden = format!("spec: Forbidden: {POD_UPDATE_FORBIDDEN_MESSAGE}");
    check_update(base.clone(), base.clone(), &[]);
    // Image, a lower deadline and an added toleration are allowed; "1000m" is the same cpu as "1".
    check_update(
        base.clone(),
        json!({"containers": [c(json!({"image": "nginx:2", "resources": {"limits": {"cpu": "1000m"}}}))], "activeDeadlineSeconds": 50,
               "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}], "volumes": []}),
        &[],
    );
    check_update(
        base.clone(),
        json!({"containers": [c(json!({"resources": {"limits": {"cpu": "2"}}}))], "activeDeadlineSeconds": 100,
               "tolerations": [{"key": "a", "operator": "Exists"}]}),
        &[&forbidden],
    );
    check_update(
        base.clone(),
        json!({"containers": [c(json!({"resources": {"limits": {"cpu": "1"}}}))], "activeDeadlineSeconds": 200, "tolerations": []}),
        &["spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"],
    );
    check_update(
        base.clone(),
        json!({"containers": [c(json!({"resources": {"limits": {"cpu": "1"}}}))], "tolerations": []}),
        &[
            "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value",
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",
        ],
    );
    check_update(
        base.clone(),
        json!({"containers": [c(json!({})), c(json!({"name": "b"}))]}),
        &["spec.containers: Forbidden: pod updates may not add or remove containers"],
    );
    check_update(
        json!({"containers": [c(json!({}))], "terminationGracePeriodSeconds": -5}),
        json!({"containers": [c(json!({}))], "terminationGracePeriodSeconds": 1}),
        &[],
    );
    check_update(
        json!({"containers": [c(json!({}))], "terminationGracePeriodSeconds": 30}),
        json!({"containers": [c(json!({}))], "terminationGracePeriodSeconds": 10}),
        &[&forbidden],
    );
    let mut renamed = pod(json!({"containers": [c(json!({}))]}));
    renamed.metadata.namespace = Some("other".into());
    let errs = validate_pod_update(&renamed, &pod(json!({"containers": [c(json!({}))]})));
    assert_eq!(errs[0].to_string(), r#"metadata.namespace: Invalid value: "other": field is immutable"#);
}
