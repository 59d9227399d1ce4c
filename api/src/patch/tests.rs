use serde_json::{json, Value};

use super::*;

#[test]
fn json_merge_patch_rfc7386_examples() {
    // RFC 7386 appendix A, plus the bodies kubectl label/annotate send.
    let cases: Vec<(Value, Value, Value)> = vec![
        (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
        (json!({"a":"b"}), json!({"a":null}), json!({})),
        (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
        (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
        (json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}}), json!({"a":{"b":"d"}})),
        (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a":"b"}), json!(["c"]), json!(["c"])),
        (json!({"a":"foo"}), json!(null), json!(null)),
        (json!({"a":"foo"}), json!("bar"), json!("bar")),
        (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
        (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
        (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        (
            json!({"metadata":{"name":"web","labels":{"app":"web"}}}),
            json!({"metadata":{"labels":{"a":"b"}}}),
            json!({"metadata":{"name":"web","labels":{"app":"web","a":"b"}}}),
        ),
        (
            json!({"metadata":{"name":"web","labels":{"app":"web","a":"b"}}}),
            json!({"metadata":{"labels":{"a":null}}}),
            json!({"metadata":{"name":"web","labels":{"app":"web"}}}),
        ),
    ];
    for (target, patch, want) in cases {
        assert_eq!(json_merge_patch(&target, &patch), want, "target {target} patch {patch}");
    }
}

#[test]
fn json_patch_operations() {
    let doc = json!({"metadata":{"name":"p","labels":{"a":"1"}},"spec":{"containers":[{"name":"c"}]}});
    let ok: Vec<(Value, Value)> = vec![
        (
            json!([{"op":"add","path":"/metadata/labels/b","value":"2"}]),
            json!({"metadata":{"name":"p","labels":{"a":"1","b":"2"}},"spec":{"containers":[{"name":"c"}]}}),
        ),
        (
            json!([{"op":"remove","path":"/metadata/labels/a"}]),
            json!({"metadata":{"name":"p","labels":{}},"spec":{"containers":[{"name":"c"}]}}),
        ),
        (
            json!([{"op":"test","path":"/metadata/name","value":"p"},
                   {"op":"replace","path":"/spec/containers/0/name","value":"d"}]),
            json!({"metadata":{"name":"p","labels":{"a":"1"}},"spec":{"containers":[{"name":"d"}]}}),
        ),
        (
            json!([{"op":"add","path":"/spec/containers/-","value":{"name":"e"}}]),
            json!({"metadata":{"name":"p","labels":{"a":"1"}},"spec":{"containers":[{"name":"c"},{"name":"e"}]}}),
        ),
        (
            json!([{"op":"copy","from":"/metadata/labels","path":"/metadata/annotations"},
                   {"op":"move","from":"/metadata/labels/a","path":"/metadata/labels/z"}]),
            json!({"metadata":{"name":"p","labels":{"z":"1"},"annotations":{"a":"1"}},
                   "spec":{"containers":[{"name":"c"}]}}),
        ),
    ];
    for (patch, want) in ok {
        assert_eq!(json_patch(&doc, &patch).unwrap(), want, "patch {patch}");
    }

    let failing: Vec<(Value, PatchError)> = vec![
        (
            json!([{"op":"add","path":"/x","value":1},{"op":"test","path":"/metadata/name","value":"q"}]),
            PatchError::TestFailed { operation: 1, path: "/metadata/name".to_string() },
        ),
        (
            json!([{"op":"remove","path":"/metadata/annotations"}]),
            PatchError::PathNotFound { operation: 0, path: "/metadata/annotations".to_string() },
        ),
        (
            json!([{"op":"replace","path":"/spec/containers/5","value":1}]),
            PatchError::PathNotFound { operation: 0, path: "/spec/containers/5".to_string() },
        ),
    ];
    for (patch, want) in failing {
        let err = json_patch(&doc, &patch).unwrap_err();
        assert_eq!(err, want, "patch {patch}");
        assert_eq!(err.http_status(), 422);
    }

    for bad in [json!({"op":"add"}), json!([{"op":"frobnicate","path":"/a"}]), json!([{"path":"/a"}])] {
        let err = json_patch(&doc, &bad).unwrap_err();
        assert!(matches!(err, PatchError::InvalidDocument { .. }), "{bad}: {err:?}");
        assert_eq!(err.http_status(), 400);
    }
}

fn live_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "a1", "namespace": "default", "uid": "u1", "labels": {"app": "a1"},
                     "finalizers": ["x/a", "x/b"],
                     "ownerReferences": [{"uid": "o1", "kind": "ReplicaSet", "name": "rs"}]},
        "spec": {
            "containers": [
                {"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                 "terminationMessagePath": "/dev/termination-log"},
                {"name": "side", "image": "nginx"}
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "nodeSelector": {"disk": "ssd", "zone": "a"}
        },
        "status": {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}]}
    })
}

/// Applies `patch` to the live pod and returns the value at the dotted `path` of the result.
fn pod_after(patch: Value, path: &str) -> Value {
    let out = strategic_merge_patch(&live_pod(), &patch, "Pod").unwrap();
    let pointer = format!("/{}", path.replace('.', "/"));
    out.pointer(&pointer).cloned().unwrap_or(Value::Null)
}

#[test]
fn strategic_merge_patch_pod_cases() {
    let cases: Vec<(&str, Value, &str, Value)> = vec![
        (
            "the body of kubectl's second client-side apply",
            json!({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\n"},
                                "labels":{"tier":"backend"}},
                   "spec":{"$setElementOrder/containers":[{"name":"main"},{"name":"side"}],
                           "containers":[{"image":"busybox:1.37","name":"main"}]}}),
            "spec.containers",
            json!([
                {"name": "main", "image": "busybox:1.37", "command": ["sleep", "3600"],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                 "terminationMessagePath": "/dev/termination-log"},
                {"name": "side", "image": "nginx"}
            ]),
        ),
        (
            "labels merge",
            json!({"metadata":{"labels":{"tier":"backend"}}}),
            "metadata.labels",
            json!({"app":"a1","tier":"backend"}),
        ),
        (
            // Without $setElementOrder apimachinery puts items the live list lacks first.
            "a new container without $setElementOrder goes first",
            json!({"spec":{"containers":[{"name":"extra","image":"redis"}]}}),
            "spec.containers",
            json!([
                {"name": "extra", "image": "redis"},
                live_pod()["spec"]["containers"][0].clone(),
                {"name": "side", "image": "nginx"}
            ]),
        ),
        (
            "$setElementOrder puts a new container first",
            json!({"spec":{"$setElementOrder/containers":[{"name":"extra"},{"name":"main"},{"name":"side"}],
                           "containers":[{"name":"extra","image":"redis"}]}}),
            "spec.containers.0.name",
            json!("extra"),
        ),
        (
            "$patch: delete removes one container",
            json!({"spec":{"containers":[{"name":"side","$patch":"delete"}]}}),
            "spec.containers",
            json!([live_pod()["spec"]["containers"][0].clone()]),
        ),
        (
            "$patch: replace replaces the list",
            json!({"spec":{"containers":[{"name":"only","image":"x"},{"$patch":"replace"}]}}),
            "spec.containers",
            json!([{"name":"only","image":"x"}]),
        ),
        (
            "env merges by name, null deletes a field of an item",
            json!({"spec":{"containers":[{"name":"main","env":[{"name":"B","value":"3"},{"name":"C","value":"4"}],
                                          "command":null}]}}),
            "spec.containers.0",
            json!({"name": "main", "image": "busybox:1.36",
                   "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                   "ports": [{"containerPort": 80, "protocol": "TCP"}],
                   "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                   "terminationMessagePath": "/dev/termination-log"}),
        ),
        (
            "env item deleted with $patch",
            json!({"spec":{"containers":[{"name":"main","env":[{"name":"A","$patch":"delete"}]}]}}),
            "spec.containers.0.env",
            json!([{"name": "B", "value": "2"}]),
        ),
        (
            "ports merge by containerPort",
            json!({"spec":{"containers":[{"name":"main","ports":[{"containerPort":80,"name":"http"},{"containerPort":443}]}]}}),
            "spec.containers.0.ports",
            json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}]),
        ),
        (
            "volumeMounts merge by mountPath",
            json!({"spec":{"containers":[{"name":"main","volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true},
                                                                       {"name":"cfg","mountPath":"/etc/cfg"}]}]}}),
            "spec.containers.0.volumeMounts",
            json!([{"name":"data","mountPath":"/data","readOnly":true},{"name":"cfg","mountPath":"/etc/cfg"}]),
        ),
        (
            "tolerations are atomic",
            json!({"spec":{"tolerations":[{"key":"k2","operator":"Exists"}]}}),
            "spec.tolerations",
            json!([{"key":"k2","operator":"Exists"}]),
        ),
        (
            "command is atomic",
            json!({"spec":{"containers":[{"name":"main","command":["true"]}]}}),
            "spec.containers.0.command",
            json!(["true"]),
        ),
        (
            "volumes merge by name; $retainKeys drops the old source",
            json!({"spec":{"volumes":[{"name":"data","$retainKeys":["hostPath","name"],"hostPath":{"path":"/x"}}]}}),
            "spec.volumes",
            json!([{"name":"data","hostPath":{"path":"/x"}}]),
        ),
        (
            "$patch: replace on a map",
            json!({"spec":{"nodeSelector":{"$patch":"replace","gpu":"yes"}}}),
            "spec.nodeSelector",
            json!({"gpu":"yes"}),
        ),
        (
            "$patch: delete on a map",
            json!({"spec":{"nodeSelector":{"$patch":"delete"}}}),
            "spec.nodeSelector",
            json!({}),
        ),
        (
            "null deletes a map key",
            json!({"spec":{"nodeSelector":{"zone":null}}}),
            "spec.nodeSelector",
            json!({"disk":"ssd"}),
        ),
        (
            "null for an absent key is ignored",
            json!({"spec":{"nodeSelector":{"nothere":null}}}),
            "spec.nodeSelector",
            json!({"disk":"ssd","zone":"a"}),
        ),
        (
            "finalizers merge as a set, patch order first",
            json!({"metadata":{"finalizers":["x/c","x/a"]}}),
            "metadata.finalizers",
            json!(["x/c", "x/a", "x/b"]),
        ),
        (
            "$deleteFromPrimitiveList removes finalizers",
            json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["x/a"]}}),
            "metadata.finalizers",
            json!(["x/b"]),
        ),
        (
            "$setElementOrder on a primitive list",
            json!({"metadata":{"$setElementOrder/finalizers":["x/b","x/a"]}}),
            "metadata.finalizers",
            json!(["x/b", "x/a"]),
        ),
        (
            "ownerReferences merge by uid",
            json!({"metadata":{"ownerReferences":[{"uid":"o1","controller":true},{"uid":"o2","kind":"Job","name":"j"}]}}),
            "metadata.ownerReferences",
            json!([{"uid":"o1","kind":"ReplicaSet","name":"rs","controller":true},{"uid":"o2","kind":"Job","name":"j"}]),
        ),
        (
            "status conditions merge by type",
            json!({"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"}]}}),
            "status.conditions",
            // apimachinery's order: patch items first unless the live list had a live-only item earlier.
            json!([{"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"},
                   {"type":"Initialized","status":"True"}]),
        ),
        (
            "containerStatuses are atomic",
            json!({"status":{"containerStatuses":[{"name":"main","ready":true}]}}),
            "status.containerStatuses",
            json!([{"name":"main","ready":true}]),
        ),
        (
            "a new subtree is cleaned of nulls and directives",
            json!({"spec":{"initContainers":[{"name":"init","image":"busybox","args":null,
                                              "env":[{"name":"X","$patch":"delete"},{"name":"Y","value":"1"}]}],
                           "$setElementOrder/initContainers":[{"name":"init"}]}}),
            "spec.initContainers",
            json!([{"name":"init","image":"busybox","env":[{"name":"Y","value":"1"}]}]),
        ),
        ("a type change replaces", json!({"spec":{"nodeSelector":"oops"}}), "spec.nodeSelector", json!("oops")),
    ];
    for (name, patch, path, want) in cases {
        assert_eq!(pod_after(patch, path), want, "{name}");
    }
}

#[test]
fn strategic_merge_patch_leaves_no_directives() {
    let patch = json!({"metadata":{"$setElementOrder/finalizers":["x/a"],"$deleteFromPrimitiveList/finalizers":["x/b"]},
                       "spec":{"$setElementOrder/containers":[{"name":"main"},{"name":"side"}],
                               "containers":[{"name":"main","$setElementOrder/env":[{"name":"B"},{"name":"A"}]}]}});
    let out = strategic_merge_patch(&live_pod(), &patch, "Pod").unwrap();
    assert!(!out.to_string().contains('$'), "{out}");
    assert_eq!(out["metadata"]["finalizers"], json!(["x/a"]));
    assert_eq!(out["spec"]["containers"][0]["env"], json!([{"name":"B","value":"2"},{"name":"A","value":"1"}]));
    // Everything the patch does not touch survives.
    assert_eq!(out["metadata"]["uid"], "u1");
    assert_eq!(out["status"], live_pod()["status"]);
}

#[test]
fn strategic_merge_patch_ordering() {
    // Live [a, b, x] (x added by the server), new configuration [b, a, c]: kubectl sends the order.
    let live = json!({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"x"}]}});
    let patch = json!({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"},{"name":"c"}],
                               "containers":[{"name":"c","image":"i"}]}});
    let out = strategic_merge_patch(&live, &patch, "Pod").unwrap();
    assert_eq!(out["spec"]["containers"], json!([{"name":"b"},{"name":"a"},{"name":"c","image":"i"},{"name":"x"}]));

    // A server-only item stays before a patch item that followed it in the live list.
    let live = json!({"spec":{"containers":[{"name":"a"},{"name":"x"},{"name":"b"}]}});
    let patch = json!({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}});
    let out = strategic_merge_patch(&live, &patch, "Pod").unwrap();
    assert_eq!(out["spec"]["containers"], json!([{"name":"x"},{"name":"b"},{"name":"a"}]));
}

#[test]
fn strategic_merge_patch_other_kinds() {
    let node = json!({"metadata":{"name":"n1"},
        "spec":{"taints":[{"key":"a","effect":"NoSchedule"}],"podCIDRs":["10.0.0.0/24"]},
        "status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname","address":"n1"}],
                  "conditions":[{"type":"Ready","status":"True"}]}});
    let service = json!({"metadata":{"name":"s"},
        "spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"web"}}});
    let cm = json!({"metadata":{"name":"c"},"data":{"a":"1","b":"2"}});
    let cases: Vec<(&str, Value, Value, &str, Value)> = vec![
        ("Node", node.clone(), json!({"spec":{"unschedulable":true}}), "/spec/unschedulable", json!(true)),
        (
            "Node",
            node.clone(),
            json!({"spec":{"taints":[{"key":"b","effect":"NoExecute"}]}}),
            "/spec/taints",
            json!([{"key":"b","effect":"NoExecute"}]),
        ),
        (
            "Node",
            node.clone(),
            json!({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.2"}]}}),
            "/status/addresses",
            json!([{"type":"InternalIP","address":"10.0.0.2"},{"type":"Hostname","address":"n1"}]),
        ),
        (
            "Node",
            node.clone(),
            json!({"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}}),
            "/status/conditions",
            json!([{"type":"Ready","status":"Unknown"}]),
        ),
        (
            "Service",
            service.clone(),
            json!({"spec":{"ports":[{"port":80,"nodePort":30080},{"port":443,"protocol":"TCP"}]}}),
            "/spec/ports",
            json!([{"port":80,"protocol":"TCP","targetPort":8080,"nodePort":30080},{"port":443,"protocol":"TCP"}]),
        ),
        (
            "Service",
            service,
            json!({"spec":{"selector":{"tier":"fe"}}}),
            "/spec/selector",
            json!({"app":"web","tier":"fe"}),
        ),
        ("ConfigMap", cm.clone(), json!({"data":{"a":null,"c":"3"}}), "/data", json!({"b":"2","c":"3"})),
        ("ConfigMap", cm, json!({"data":{"$patch":"replace","z":"9"}}), "/data", json!({"z":"9"})),
    ];
    for (kind, live, patch, pointer, want) in cases {
        let out = strategic_merge_patch(&live, &patch, kind).unwrap();
        assert_eq!(out.pointer(pointer).cloned().unwrap_or(Value::Null), want, "{kind} {patch}");
    }
}

#[test]
fn strategic_merge_patch_errors() {
    let cases: Vec<(Value, u16)> = vec![
        (json!(["not", "an", "object"]), 400),
        (json!({"spec":{"containers":[{"image":"no-name"}]}}), 400),
        (json!({"spec":{"containers":[{"$patch":"delete"}]}}), 400),
        (json!({"spec":{"containers":[{"name":"main","$patch":"merge"}]}}), 400),
        (json!({"spec":{"nodeSelector":{"$patch":"explode"}}}), 400),
        (json!({"spec":{"$setElementOrder/containers":{"name":"main"}}}), 400),
        (json!({"metadata":{"$deleteFromPrimitiveList/finalizers":"x/a"}}), 400),
        (json!({"spec":{"$retainKeys":"containers"}}), 400),
        (json!({"spec":{"$retainKeys":["volumes"],"nodeName":"n1"}}), 422),
        (json!({"metadata":{"finalizers":[{"a":1}]}}), 400),
    ];
    for (patch, status) in cases {
        let err = strategic_merge_patch(&live_pod(), &patch, "Pod").unwrap_err();
        assert_eq!(err.http_status(), status, "{patch}: {err}");
    }
}

#[test]
fn strategic_merge_patch_top_level_directives() {
    let out = strategic_merge_patch(&live_pod(), &json!({"$patch":"replace","kind":"Pod","x":null}), "Pod").unwrap();
    assert_eq!(out, json!({"kind":"Pod"}));
    let out = strategic_merge_patch(&json!(null), &json!({"a":{"b":1}}), "ConfigMap").unwrap();
    assert_eq!(out, json!({"a":{"b":1}}));
}

#[test]
fn apply_patch_creates_and_merges() {
    let applied = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"s1","namespace":"default","labels":null},
                         "spec":{"containers":[{"name":"main","image":"busybox:1.37"}]}});
    let created = apply_patch(None, &applied, "Pod").unwrap();
    assert_eq!(
        created,
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"s1","namespace":"default"},
               "spec":{"containers":[{"name":"main","image":"busybox:1.37"}]}})
    );

    let live = json!({"apiVersion":"v1","kind":"Pod",
        "metadata":{"name":"s1","namespace":"default","uid":"u","resourceVersion":"7","labels":{"keep":"me"}},
        "spec":{"containers":[{"name":"main","image":"busybox:1.36","imagePullPolicy":"IfNotPresent"},
                              {"name":"side","image":"nginx"}],
                "restartPolicy":"Always"},
        "status":{"phase":"Running"}});
    let merged = apply_patch(Some(&live), &applied, "Pod").unwrap();
    assert_eq!(merged["metadata"]["uid"], "u");
    assert_eq!(merged["metadata"]["labels"], Value::Null);
    assert_eq!(
        merged["spec"]["containers"],
        json!([{"name":"main","image":"busybox:1.37","imagePullPolicy":"IfNotPresent"},{"name":"side","image":"nginx"}])
    );
    assert_eq!(merged["spec"]["restartPolicy"], "Always");
    assert_eq!(merged["status"]["phase"], "Running");

    assert!(matches!(apply_patch(None, &json!("x"), "Pod"), Err(PatchError::InvalidDocument { .. })));
    assert_eq!(apply_patch(Some(&json!(3)), &applied, "Pod"), Err(PatchError::NotAnObject));
}
