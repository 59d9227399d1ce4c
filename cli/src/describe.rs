//! `describe pod|node NAME`: kubectl's layout (its PrefixWriter levels through a Go tabwriter with
//! padding 2), with ages and statuses from `minik_api::printers`.

use jiff::Timestamp;
use minik_api::printers;
use minik_api::quantity::Quantity;
use serde_json::Value;

use crate::args::DescribeArgs;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::get::parse_targets;
use crate::output::name_of;
use crate::tabwriter::{self, TabWriter};

/// kubectl's PrefixWriter: lines at indentation levels of two spaces, cells split by tabs.
#[derive(Default)]
pub struct Out {
    text: String,
}

impl Out {
    fn line(&mut self, level: usize, s: &str) {
        self.text.push_str(&"  ".repeat(level));
        self.text.push_str(s);
        self.text.push('\n');
    }

    /// Aligns the collected text as kubectl's describe does.
    pub fn finish(self) -> String {
        TabWriter::new(tabwriter::DESCRIBE).format(&self.text)
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(v: &'a Value, ptr: &str) -> Vec<&'a Value> {
    v.pointer(ptr).and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
}

/// RFC 1123 with a numeric zone, as Go's `time.RFC1123Z`: `Mon, 02 Jan 2006 15:04:05 -0700`.
pub fn rfc1123z(ts: &str) -> String {
    match ts.parse::<Timestamp>() {
        Ok(t) => t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string(),
        Err(_) => ts.to_string(),
    }
}

/// `Labels:`-style multi-line maps: first entry on the title line, the rest below it.
fn multiline(o: &mut Out, level: usize, title: &str, map: Option<&Value>, sep: &str, skip: &[&str]) {
    let entries: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}{sep}{}", v.as_str().map(String::from).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    if entries.is_empty() {
        o.line(level, &format!("{title}:\t<none>"));
        return;
    }
    for (i, e) in entries.iter().enumerate() {
        if i == 0 {
            o.line(level, &format!("{title}:\t{e}"));
        } else {
            o.line(level, &format!("\t{e}"));
        }
    }
}

fn tolerations(o: &mut Out, pod: &Value) {
    let ts = arr(pod, "/spec/tolerations");
    if ts.is_empty() {
        o.line(0, "Tolerations:\t<none>");
        return;
    }
    for (i, t) in ts.iter().enumerate() {
        let mut text = s(t, "/key").to_string();
        if !s(t, "/value").is_empty() {
            text.push('=');
            text.push_str(s(t, "/value"));
        }
        if !s(t, "/effect").is_empty() {
            text.push(':');
            text.push_str(s(t, "/effect"));
        }
        if s(t, "/operator") == "Exists" {
            text.push_str(" op=Exists");
        }
        if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
            text.push_str(&format!(" for {secs}s"));
        }
        o.line(0, &if i == 0 { format!("Tolerations:\t{text}") } else { format!("\t{text}") });
    }
}

fn state(o: &mut Out, title: &str, st: &Value) {
    if let Some(r) = st.get("running") {
        o.line(2, &format!("{title}:\tRunning"));
        o.line(3, &format!("Started:\t{}", rfc1123z(s(r, "/startedAt"))));
    } else if let Some(t) = st.get("terminated") {
        o.line(2, &format!("{title}:\tTerminated"));
        if !s(t, "/reason").is_empty() {
            o.line(3, &format!("Reason:\t{}", s(t, "/reason")));
        }
        if !s(t, "/message").is_empty() {
            o.line(3, &format!("Message:\t{}", s(t, "/message")));
        }
        o.line(3, &format!("Exit Code:\t{}", t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)));
        if let Some(sig) = t.get("signal").and_then(Value::as_i64).filter(|s| *s > 0) {
            o.line(3, &format!("Signal:\t{sig}"));
        }
        o.line(3, &format!("Started:\t{}", rfc1123z(s(t, "/startedAt"))));
        o.line(3, &format!("Finished:\t{}", rfc1123z(s(t, "/finishedAt"))));
    } else {
        o.line(2, &format!("{title}:\tWaiting"));
        let reason = st.pointer("/waiting/reason").and_then(Value::as_str).unwrap_or("");
        if !reason.is_empty() {
            o.line(3, &format!("Reason:\t{reason}"));
        }
    }
}

fn probe_text(p: &Value) -> String {
    let handler = if let Some(h) = p.get("httpGet") {
        let port =
            h.get("port").map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).unwrap_or_default();
        let scheme = s(h, "/scheme").to_lowercase();
        let scheme = if scheme.is_empty() { "http".to_string() } else { scheme };
        format!("http-get {scheme}://{}:{port}{}", s(h, "/host"), s(h, "/path"))
    } else if let Some(t) = p.get("tcpSocket") {
        let port =
            t.get("port").map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).unwrap_or_default();
        format!("tcp-socket {}:{port}", s(t, "/host"))
    } else if let Some(e) = p.get("exec") {
        let cmd: Vec<&str> = arr(e, "/command").into_iter().filter_map(Value::as_str).collect();
        format!("exec [{}]", cmd.join(" "))
    } else if let Some(g) = p.get("grpc") {
        format!("grpc <pod>:{} {}", g.get("port").map(Value::to_string).unwrap_or_default(), s(g, "/service"))
    } else {
        "unknown".to_string()
    };
    let n = |k: &str, d: i64| p.get(k).and_then(Value::as_i64).unwrap_or(d);
    format!(
        "{handler} delay={}s timeout={}s period={}s #success={} #failure={}",
        n("initialDelaySeconds", 0),
        n("timeoutSeconds", 1),
        n("periodSeconds", 10),
        n("successThreshold", 1),
        n("failureThreshold", 3)
    )
}

fn containers(o: &mut Out, title: &str, list: &[&Value], statuses: &[&Value]) {
    o.line(0, &format!("{title}:"));
    for c in list {
        let name = s(c, "/name");
        let status = statuses.iter().find(|st| s(st, "/name") == name);
        o.line(1, &format!("{name}:"));
        if let Some(st) = status {
            o.line(2, &format!("Container ID:\t{}", s(st, "/containerID")));
        }
        o.line(2, &format!("Image:\t{}", s(c, "/image")));
        if let Some(st) = status {
            o.line(2, &format!("Image ID:\t{}", s(st, "/imageID")));
        }
        let ports = arr(c, "/ports");
        let port = |p: &Value, k: &str| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            format!("{}/{proto}", p.get(k).and_then(Value::as_i64).unwrap_or(0))
        };
        match ports.len() {
            0 => {
                o.line(2, "Port:\t<none>");
                o.line(2, "Host Port:\t<none>");
            }
            1 => {
                o.line(2, &format!("Port:\t{}", port(ports[0], "containerPort")));
                o.line(2, &format!("Host Port:\t{}", port(ports[0], "hostPort")));
            }
            _ => {
                let cp: Vec<String> = ports.iter().map(|p| port(p, "containerPort")).collect();
                let hp: Vec<String> = ports.iter().map(|p| port(p, "hostPort")).collect();
                o.line(2, &format!("Ports:\t{}", cp.join(", ")));
                o.line(2, &format!("Host Ports:\t{}", hp.join(", ")));
            }
        }
        for (key, label) in [("command", "Command"), ("args", "Args")] {
            let items = arr(c, &format!("/{key}"));
            if !items.is_empty() {
                o.line(2, &format!("{label}:"));
                for i in items {
                    for l in i.as_str().unwrap_or("").split('\n') {
                        o.line(3, l);
                    }
                }
            }
        }
        if let Some(st) = status {
            state(o, "State", st.get("state").unwrap_or(&Value::Null));
            if let Some(last) = st.get("lastState").filter(|l| l.get("terminated").is_some()) {
                state(o, "Last State", last);
            }
            let ready = st.get("ready").and_then(Value::as_bool).unwrap_or(false);
            o.line(2, &format!("Ready:\t{}", if ready { "True" } else { "False" }));
            o.line(2, &format!("Restart Count:\t{}", st.get("restartCount").and_then(Value::as_i64).unwrap_or(0)));
        }
        for (key, label) in [("limits", "Limits"), ("requests", "Requests")] {
            if let Some(m) =
                c.pointer(&format!("/resources/{key}")).and_then(Value::as_object).filter(|m| !m.is_empty())
            {
                o.line(2, &format!("{label}:"));
                for (k, v) in m {
                    o.line(3, &format!("{k}:\t{}", v.as_str().map(String::from).unwrap_or_else(|| v.to_string())));
                }
            }
        }
        for (key, label) in
            [("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"), ("startupProbe", "Startup")]
        {
            if let Some(p) = c.get(key) {
                o.line(2, &format!("{label}:\t{}", probe_text(p)));
            }
        }
        let env = arr(c, "/env");
        if env.is_empty() {
            o.line(2, "Environment:\t<none>");
        } else {
            o.line(2, "Environment:");
            for e in env {
                let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
                    v.to_string()
                } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
                    format!("<set to the key '{}' of config map '{}'>", s(r, "/key"), s(r, "/name"))
                } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                    format!("<set to the key '{}' in secret '{}'>", s(r, "/key"), s(r, "/name"))
                } else if let Some(r) = e.pointer("/valueFrom/fieldRef") {
                    format!("({}:{})", s(r, "/apiVersion"), s(r, "/fieldPath"))
                } else {
                    String::new()
                };
                o.line(3, &format!("{}:\t{value}", s(e, "/name")));
            }
        }
        let mounts = arr(c, "/volumeMounts");
        if mounts.is_empty() {
            o.line(2, "Mounts:\t<none>");
        } else {
            o.line(2, "Mounts:");
            for m in mounts {
                let ro = if m.get("readOnly").and_then(Value::as_bool).unwrap_or(false) { "ro" } else { "rw" };
                o.line(3, &format!("{} from {} ({ro})", s(m, "/mountPath"), s(m, "/name")));
            }
        }
    }
}

fn volumes(o: &mut Out, pod: &Value) {
    let vols = arr(pod, "/spec/volumes");
    if vols.is_empty() {
        o.line(0, "Volumes:\t<none>");
        return;
    }
    o.line(0, "Volumes:");
    for v in vols {
        o.line(1, &format!("{}:", s(v, "/name")));
        if let Some(e) = v.get("emptyDir") {
            o.line(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)");
            o.line(2, &format!("Medium:\t{}", s(e, "/medium")));
            let limit = e.get("sizeLimit").and_then(Value::as_str).unwrap_or("<unset>");
            o.line(2, &format!("SizeLimit:\t{limit}"));
        } else if let Some(h) = v.get("hostPath") {
            o.line(2, "Type:\tHostPath (bare host directory volume)");
            o.line(2, &format!("Path:\t{}", s(h, "/path")));
            o.line(2, &format!("HostPathType:\t{}", s(h, "/type")));
        } else if let Some(c) = v.get("configMap") {
            o.line(2, "Type:\tConfigMap (a volume populated by a ConfigMap)");
            o.line(2, &format!("Name:\t{}", s(c, "/name")));
            o.line(2, &format!("Optional:\t{}", c.get("optional").and_then(Value::as_bool).unwrap_or(false)));
        } else if let Some(c) = v.get("secret") {
            o.line(2, "Type:\tSecret (a volume populated by a Secret)");
            o.line(2, &format!("SecretName:\t{}", s(c, "/secretName")));
            o.line(2, &format!("Optional:\t{}", c.get("optional").and_then(Value::as_bool).unwrap_or(false)));
        } else {
            o.line(2, "Type:\t<unknown>");
        }
    }
}

/// The `Events:` section, oldest first.
pub fn events(o: &mut Out, list: &[Value], now: Timestamp) {
    if list.is_empty() {
        o.line(0, "Events:\t<none>");
        return;
    }
    let mut sorted: Vec<&Value> = list.iter().collect();
    sorted.sort_by_key(|e| {
        let t = s(e, "/lastTimestamp");
        if t.is_empty() {
            s(e, "/eventTime").to_string()
        } else {
            t.to_string()
        }
    });
    o.line(0, "Events:");
    o.line(1, "Type\tReason\tAge\tFrom\tMessage");
    o.line(1, "----\t------\t----\t----\t-------");
    for e in sorted {
        let (first, last, count) = printers::event_times(e, now);
        let age = if count > 1 { format!("{last} (x{count} over {first})") } else { first };
        let from = {
            let c = s(e, "/source/component");
            if c.is_empty() {
                s(e, "/reportingComponent")
            } else {
                c
            }
        };
        o.line(1, &format!("{}\t{}\t{age}\t{from}\t{}", s(e, "/type"), s(e, "/reason"), s(e, "/message").trim()));
    }
}

/// The whole `describe pod` text.
pub fn pod_text(pod: &Value, evs: Option<&[Value]>, now: Timestamp) -> String {
    let mut o = Out::default();
    o.line(0, &format!("Name:\t{}", s(pod, "/metadata/name")));
    o.line(0, &format!("Namespace:\t{}", s(pod, "/metadata/namespace")));
    if let Some(p) = pod.pointer("/spec/priority").and_then(Value::as_i64) {
        o.line(0, &format!("Priority:\t{p}"));
    }
    if !s(pod, "/spec/priorityClassName").is_empty() {
        o.line(0, &format!("Priority Class Name:\t{}", s(pod, "/spec/priorityClassName")));
    }
    o.line(0, &format!("Service Account:\t{}", s(pod, "/spec/serviceAccountName")));
    match s(pod, "/spec/nodeName") {
        "" => o.line(0, "Node:\t<none>"),
        node => o.line(0, &format!("Node:\t{node}/{}", s(pod, "/status/hostIP"))),
    }
    if !s(pod, "/status/startTime").is_empty() {
        o.line(0, &format!("Start Time:\t{}", rfc1123z(s(pod, "/status/startTime"))));
    }
    multiline(&mut o, 0, "Labels", pod.pointer("/metadata/labels"), "=", &[]);
    multiline(&mut o, 0, "Annotations", pod.pointer("/metadata/annotations"), ": ", &[crate::patch::LAST_APPLIED]);
    if let Some(del) = pod.pointer("/metadata/deletionTimestamp").and_then(Value::as_str) {
        o.line(0, &format!("Status:\tTerminating (lasts {})", printers::age(Some(del), now)));
        let grace = pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
        o.line(0, &format!("Termination Grace Period:\t{grace}s"));
    } else {
        o.line(0, &format!("Status:\t{}", s(pod, "/status/phase")));
    }
    if !s(pod, "/status/reason").is_empty() {
        o.line(0, &format!("Reason:\t{}", s(pod, "/status/reason")));
    }
    if !s(pod, "/status/message").is_empty() {
        o.line(0, &format!("Message:\t{}", s(pod, "/status/message")));
    }
    o.line(0, &format!("IP:\t{}", s(pod, "/status/podIP")));
    let ips = arr(pod, "/status/podIPs");
    if ips.is_empty() {
        o.line(0, "IPs:\t<none>");
    } else {
        o.line(0, "IPs:");
        for ip in ips {
            o.line(1, &format!("IP:\t{}", s(ip, "/ip")));
        }
    }
    if !s(pod, "/status/nominatedNodeName").is_empty() {
        o.line(0, &format!("NominatedNodeName:\t{}", s(pod, "/status/nominatedNodeName")));
    }
    let inits = arr(pod, "/spec/initContainers");
    if !inits.is_empty() {
        containers(&mut o, "Init Containers", &inits, &arr(pod, "/status/initContainerStatuses"));
    }
    containers(&mut o, "Containers", &arr(pod, "/spec/containers"), &arr(pod, "/status/containerStatuses"));
    let conds = arr(pod, "/status/conditions");
    if !conds.is_empty() {
        o.line(0, "Conditions:");
        o.line(1, "Type\tStatus");
        for c in conds {
            o.line(1, &format!("{} \t{} ", s(c, "/type"), s(c, "/status")));
        }
    }
    volumes(&mut o, pod);
    o.line(0, &format!("QoS Class:\t{}", s(pod, "/status/qosClass")));
    multiline(&mut o, 0, "Node-Selectors", pod.pointer("/spec/nodeSelector"), "=", &[]);
    tolerations(&mut o, pod);
    if let Some(evs) = evs {
        events(&mut o, evs, now);
    }
    o.finish()
}

fn quantity(v: Option<&Value>) -> Quantity {
    v.and_then(Value::as_str).and_then(|q| Quantity::parse(q).ok()).unwrap_or_default()
}

fn pod_resources(pod: &Value, kind: &str, res: &str) -> Quantity {
    arr(pod, "/spec/containers")
        .into_iter()
        .map(|c| quantity(c.pointer(&format!("/resources/{kind}/{res}"))))
        .fold(Quantity::default(), |a, b| a + b)
}

fn with_percent(q: Quantity, of: Quantity) -> String {
    let pct = if of.milli_value() > 0 { (q.milli_value() as f64 / of.milli_value() as f64 * 100.0) as i64 } else { 0 };
    format!("{q} ({pct}%)")
}

/// The whole `describe node` text; `pods` are the node's non-terminated pods.
pub fn node_text(
    node: &Value,
    pods: &[Value],
    lease: Result<&Value, String>,
    evs: Option<&[Value]>,
    now: Timestamp,
) -> String {
    let mut o = Out::default();
    o.line(0, &format!("Name:\t{}", s(node, "/metadata/name")));
    o.line(0, &format!("Roles:\t{}", printers::node_roles(node)));
    multiline(&mut o, 0, "Labels", node.pointer("/metadata/labels"), "=", &[]);
    multiline(&mut o, 0, "Annotations", node.pointer("/metadata/annotations"), ": ", &[crate::patch::LAST_APPLIED]);
    o.line(0, &format!("CreationTimestamp:\t{}", rfc1123z(s(node, "/metadata/creationTimestamp"))));
    let taints = arr(node, "/spec/taints");
    if taints.is_empty() {
        o.line(0, "Taints:\t<none>");
    } else {
        for (i, t) in taints.iter().enumerate() {
            let mut text = s(t, "/key").to_string();
            if !s(t, "/value").is_empty() {
                text = format!("{text}={}", s(t, "/value"));
            }
            text = format!("{text}:{}", s(t, "/effect"));
            o.line(0, &if i == 0 { format!("Taints:\t{text}") } else { format!("\t{text}") });
        }
    }
    o.line(
        0,
        &format!("Unschedulable:\t{}", node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false)),
    );
    match lease {
        Ok(l) => {
            o.line(0, "Lease:");
            let holder = s(l, "/spec/holderIdentity");
            o.line(1, &format!("HolderIdentity:\t{}", if holder.is_empty() { "<unset>" } else { holder }));
            let t = |p: &str| {
                let v = s(l, p);
                if v.is_empty() {
                    "<unset>".to_string()
                } else {
                    rfc1123z(v)
                }
            };
            o.line(1, &format!("AcquireTime:\t{}", t("/spec/acquireTime")));
            o.line(1, &format!("RenewTime:\t{}", t("/spec/renewTime")));
        }
        Err(message) => o.line(0, &format!("Lease:\tFailed to get lease: {message}")),
    }
    let conds = arr(node, "/status/conditions");
    if !conds.is_empty() {
        o.line(0, "Conditions:");
        o.line(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage");
        o.line(1, "----\t------\t-----------------\t------------------\t------\t-------");
        for c in conds {
            o.line(
                1,
                &format!(
                    "{} \t{} \t{} \t{} \t{} \t{}",
                    s(c, "/type"),
                    s(c, "/status"),
                    rfc1123z(s(c, "/lastHeartbeatTime")),
                    rfc1123z(s(c, "/lastTransitionTime")),
                    s(c, "/reason"),
                    s(c, "/message")
                ),
            );
        }
    }
    o.line(0, "Addresses:");
    for a in arr(node, "/status/addresses") {
        o.line(1, &format!("{}:\t{}", s(a, "/type"), s(a, "/address")));
    }
    for (key, label) in [("capacity", "Capacity"), ("allocatable", "Allocatable")] {
        if let Some(m) = node.pointer(&format!("/status/{key}")).and_then(Value::as_object).filter(|m| !m.is_empty()) {
            o.line(0, &format!("{label}:"));
            for (k, v) in m {
                o.line(1, &format!("{k}:\t{}", v.as_str().unwrap_or("")));
            }
        }
    }
    {
        let info = node.pointer("/status/nodeInfo").unwrap_or(&Value::Null);
        o.line(0, "System Info:");
        for (k, label) in [
            ("machineID", "Machine ID"),
            ("systemUUID", "System UUID"),
            ("bootID", "Boot ID"),
            ("kernelVersion", "Kernel Version"),
            ("osImage", "OS Image"),
            ("operatingSystem", "Operating System"),
            ("architecture", "Architecture"),
            ("containerRuntimeVersion", "Container Runtime Version"),
            ("kubeletVersion", "Kubelet Version"),
            ("kubeProxyVersion", "Kube-Proxy Version"),
        ] {
            o.line(1, &format!("{label}:\t{}", s(info, &format!("/{k}"))));
        }
    }
    if !s(node, "/spec/podCIDR").is_empty() {
        o.line(0, &format!("PodCIDR:\t{}", s(node, "/spec/podCIDR")));
        let cidrs: Vec<&str> = arr(node, "/spec/podCIDRs").into_iter().filter_map(Value::as_str).collect();
        o.line(0, &format!("PodCIDRs:\t{}", cidrs.join(",")));
    }
    let alloc = |r: &str| quantity(node.pointer(&format!("/status/allocatable/{r}")));
    o.line(0, &format!("Non-terminated Pods:\t({} in total)", pods.len()));
    o.line(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge");
    o.line(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---");
    let (mut cr, mut cl, mut mr, mut ml) =
        (Quantity::default(), Quantity::default(), Quantity::default(), Quantity::default());
    for p in pods {
        let (a, b, c, d) = (
            pod_resources(p, "requests", "cpu"),
            pod_resources(p, "limits", "cpu"),
            pod_resources(p, "requests", "memory"),
            pod_resources(p, "limits", "memory"),
        );
        o.line(
            1,
            &format!(
                "{}\t{}\t\t{}\t{}\t{}\t{}\t{}",
                s(p, "/metadata/namespace"),
                name_of(p),
                with_percent(a, alloc("cpu")),
                with_percent(b, alloc("cpu")),
                with_percent(c, alloc("memory")),
                with_percent(d, alloc("memory")),
                printers::age(p.pointer("/metadata/creationTimestamp").and_then(Value::as_str), now)
            ),
        );
        cr = cr + a;
        cl = cl + b;
        mr = mr + c;
        ml = ml + d;
    }
    o.line(0, "Allocated resources:");
    o.line(1, "(Total limits may be over 100 percent, i.e., overcommitted.)");
    o.line(1, "Resource\tRequests\tLimits");
    o.line(1, "--------\t--------\t------");
    o.line(1, &format!("cpu\t{}\t{}", with_percent(cr, alloc("cpu")), with_percent(cl, alloc("cpu"))));
    o.line(1, &format!("memory\t{}\t{}", with_percent(mr, alloc("memory")), with_percent(ml, alloc("memory"))));
    let (er, el) = pods.iter().fold((Quantity::default(), Quantity::default()), |(r, l), p| {
        (r + pod_resources(p, "requests", "ephemeral-storage"), l + pod_resources(p, "limits", "ephemeral-storage"))
    });
    let eph = alloc("ephemeral-storage");
    o.line(1, &format!("ephemeral-storage\t{}\t{}", with_percent(er, eph), with_percent(el, eph)));
    if let Some(evs) = evs {
        events(&mut o, evs, now);
    }
    o.finish()
}

pub async fn run(ctx: &Ctx, a: DescribeArgs) -> Result<(), CliError> {
    let targets = parse_targets(&a.args)?;
    let mut first = true;
    for t in targets {
        let names: Vec<String> = if t.names.is_empty() {
            let mut q = Vec::new();
            if let Some(l) = &a.selector {
                q.push(("labelSelector", l.clone()));
            }
            let ns = if a.all_namespaces { None } else { Some(ctx.namespace.as_str()) };
            let list = ctx.list_all(&t.resource.collection_path(ns), &q, "application/json", 500).await?;
            list.get("items").and_then(Value::as_array).into_iter().flatten().map(|o| name_of(o).to_string()).collect()
        } else {
            t.names.clone()
        };
        for name in names {
            let obj = ctx.get_json(&t.resource.object_path(&ctx.namespace, &name), &[]).await?;
            let now = Timestamp::now();
            let text = match t.resource.plural {
                "pods" => {
                    let evs = involved_events(ctx, &obj, "Pod").await;
                    pod_text(&obj, Some(&evs), now)
                }
                "nodes" => {
                    let q = vec![(
                        "fieldSelector",
                        format!("spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed"),
                    )];
                    let pods = ctx.list_all("/api/v1/pods", &q, "application/json", 500).await?;
                    let pods: Vec<Value> = pods.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                    let lease = ctx
                        .get_json(
                            &format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"),
                            &[],
                        )
                        .await
                        .map_err(|e| match e {
                            CliError::Api { status, .. } => status.message,
                            other => other.to_string(),
                        });
                    let evs = involved_events(ctx, &obj, "Node").await;
                    node_text(&obj, &pods, lease.as_ref().map_err(Clone::clone), Some(&evs), now)
                }
                _ => {
                    let mut o = Out::default();
                    o.line(0, &format!("Name:\t{name}"));
                    if t.resource.namespaced {
                        o.line(0, &format!("Namespace:\t{}", ctx.namespace));
                    }
                    multiline(&mut o, 0, "Labels", obj.pointer("/metadata/labels"), "=", &[]);
                    multiline(
                        &mut o,
                        0,
                        "Annotations",
                        obj.pointer("/metadata/annotations"),
                        ": ",
                        &[crate::patch::LAST_APPLIED],
                    );
                    o.finish() + &crate::yaml::to_yaml(&obj)
                }
            };
            if !first {
                println!();
                println!();
            }
            first = false;
            print!("{text}");
        }
    }
    Ok(())
}

async fn involved_events(ctx: &Ctx, obj: &Value, kind: &str) -> Vec<Value> {
    let ns = s(obj, "/metadata/namespace");
    let path = if ns.is_empty() { "/api/v1/events".to_string() } else { format!("/api/v1/namespaces/{ns}/events") };
    let selector = format!(
        "involvedObject.name={},involvedObject.namespace={ns},involvedObject.uid={},involvedObject.kind={kind}",
        s(obj, "/metadata/name"),
        s(obj, "/metadata/uid")
    );
    match ctx.list_all(&path, &[("fieldSelector", selector)], "application/json", 500).await {
        Ok(list) => list.get("items").and_then(Value::as_array).cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn pod() -> Value {
        json!({"metadata": {"name": "test-pod1", "namespace": "default", "uid": "u1", "labels": {"app": "web", "tier": "fe"},
                            "creationTimestamp": "2024-05-01T11:00:00Z"},
               "spec": {"nodeName": "node1", "serviceAccountName": "default", "priority": 0, "restartPolicy": "Always",
                        "containers": [{"name": "nginx1", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                        "env": [{"name": "A", "value": "1"}], "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                        "resources": {"requests": {"cpu": "100m"}}}],
                        "volumes": [{"name": "data", "emptyDir": {}}]},
               "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
                          "startTime": "2024-05-01T11:00:00Z", "qosClass": "Burstable",
                          "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
                          "containerStatuses": [{"name": "nginx1", "ready": true, "restartCount": 1, "containerID": "minik://c1", "imageID": "",
                                                 "state": {"running": {"startedAt": "2024-05-01T11:00:01Z"}},
                                                 "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2024-05-01T10:59:00Z", "finishedAt": "2024-05-01T11:00:00Z"}}}]}})
    }

    #[test]
    fn pod_layout() {
        let ev = json!({"type": "Normal", "reason": "Scheduled", "message": "Successfully assigned default/test-pod1 to node1",
                        "source": {"component": "default-scheduler"}, "firstTimestamp": "2024-05-01T11:59:55Z", "lastTimestamp": "2024-05-01T11:59:55Z", "count": 1});
        let text = pod_text(&pod(), Some(&[ev]), now());
        let expect = "\
Name:             test-pod1
Namespace:        default
Priority:         0
Service Account:  default
Node:             node1/10.0.0.1
Start Time:       Wed, 01 May 2024 11:00:00 +0000
Labels:           app=web
                  tier=fe
Annotations:      <none>
Status:           Running
IP:               10.244.0.5
IPs:
  IP:  10.244.0.5
Containers:
  nginx1:
    Container ID:   minik://c1
    Image:          nginx
    Image ID:       
    Port:           80/TCP
    Host Port:      0/TCP
    State:          Running
      Started:      Wed, 01 May 2024 11:00:01 +0000
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
      Started:      Wed, 01 May 2024 10:59:00 +0000
      Finished:     Wed, 01 May 2024 11:00:00 +0000
    Ready:          True
    Restart Count:  1
    Requests:
      cpu:  100m
    Environment:
      A:  1
    Mounts:
      /data from data (rw)
Conditions:
  Type           Status
  Ready          True 
  PodScheduled   True 
Volumes:
  data:
    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:      
    SizeLimit:   <unset>
QoS Class:       Burstable
Node-Selectors:  <none>
Tolerations:     <none>
Events:
  Type    Reason     Age   From               Message
  ----    ------     ----  ----               -------
  Normal  Scheduled  5s    default-scheduler  Successfully assigned default/test-pod1 to node1
";
        assert_eq!(text, expect);
    }

    #[test]
    fn repeated_events_and_none() {
        let ev = json!({"type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
                        "source": {"component": "kubelet"}, "firstTimestamp": "2024-05-01T11:50:00Z", "lastTimestamp": "2024-05-01T11:59:00Z", "count": 7});
        let mut o = Out::default();
        events(&mut o, &[ev], now());
        assert!(o
            .finish()
            .contains("Warning  BackOff  60s (x7 over 10m)  kubelet  Back-off restarting failed container"));
        let mut o = Out::default();
        events(&mut o, &[], now());
        assert_eq!(o.finish(), "Events:  <none>\n");
    }

    #[test]
    fn node_layout_has_allocations() {
        let node = json!({"metadata": {"name": "node1", "creationTimestamp": "2024-05-01T00:00:00Z", "labels": {"kubernetes.io/hostname": "node1"}},
                          "spec": {},
                          "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}, "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                                     "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready",
                                                     "lastHeartbeatTime": "2024-05-01T11:59:00Z", "lastTransitionTime": "2024-05-01T00:00:00Z"}],
                                     "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}});
        let text =
            node_text(&node, &[pod()], Err("leases.coordination.k8s.io \"node1\" not found".into()), Some(&[]), now());
        assert!(text.contains("Roles:              <none>\n"), "{text}");
        assert!(text.contains("Non-terminated Pods:          (1 in total)\n"), "{text}");
        assert!(text.contains("  cpu                100m (5%)  0 (0%)\n"), "{text}");
        assert!(text.contains("  ephemeral-storage  0 (0%)     0 (0%)\n"), "{text}");
        assert!(
            text.contains(
                "  default                     test-pod1    100m (5%)     0 (0%)      0 (0%)           0 (0%)         60m\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("Lease:              Failed to get lease: leases.coordination.k8s.io \"node1\" not found\n")
        );
        assert!(text.contains("System Info:\n  Machine ID:                 \n"), "{text}");
        assert!(text.ends_with("Events:              <none>\n"), "{text}");
    }
}
