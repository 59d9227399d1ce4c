//! Pure mapping from the runtime's specs to Docker Engine objects (API 1.41): container names,
//! the labels that identify what a container is, and the create bodies of the pause container
//! and of an app container. No IO here.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, PortMap, RestartPolicy, RestartPolicyNameEnum};

use crate::runtime::{ContainerSpec, ResourceLimits, SandboxSpec};

/// Every container the runtime makes carries these labels.
pub const LABEL_AGENT: &str = "io.minik.agent";
pub const LABEL_KIND: &str = "io.minik.kind";
pub const LABEL_POD_UID: &str = "io.minik.pod.uid";
pub const LABEL_POD_NAMESPACE: &str = "io.minik.pod.namespace";
pub const LABEL_POD_NAME: &str = "io.minik.pod.name";
pub const LABEL_SANDBOX: &str = "io.minik.sandbox";
pub const LABEL_CONTAINER: &str = "io.minik.container.name";
pub const LABEL_ATTEMPT: &str = "io.minik.container.attempt";
pub const LABEL_SHARE_PID: &str = "io.minik.share-pid";
pub const LABEL_HOST_NETWORK: &str = "io.minik.host-network";
pub const LABEL_TERMINATION_LOG: &str = "io.minik.termination-log";

pub const KIND_SANDBOX: &str = "sandbox";
pub const KIND_CONTAINER: &str = "container";

/// Docker's container names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]`.
fn name_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// `minik_POD_<pod>_<namespace>_<uid>`, like the dockershim's `k8s_POD_...`.
pub fn sandbox_name(spec: &SandboxSpec) -> String {
    format!("minik_POD_{}_{}_{}", name_part(&spec.name), name_part(&spec.namespace), name_part(&spec.pod_uid))
}

/// `minik_<container>_<pod>_<namespace>_<uid>_<attempt>`.
pub fn container_name(spec: &ContainerSpec) -> String {
    format!(
        "minik_{}_{}_{}_{}_{}",
        name_part(&spec.name),
        name_part(&spec.pod_name),
        name_part(&spec.pod_namespace),
        name_part(&spec.pod_uid),
        spec.attempt
    )
}

fn base_labels(agent: &str, kind: &str, uid: &str, namespace: &str, name: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_AGENT.to_owned(), agent.to_owned()),
        (LABEL_KIND.to_owned(), kind.to_owned()),
        (LABEL_POD_UID.to_owned(), uid.to_owned()),
        (LABEL_POD_NAMESPACE.to_owned(), namespace.to_owned()),
        (LABEL_POD_NAME.to_owned(), name.to_owned()),
    ])
}

/// The pause container: it holds the pod's network and IPC namespaces (and PID, when the pod
/// shares its process namespace); its hostname is the pod's.
pub fn sandbox_body(agent: &str, spec: &SandboxSpec, image: &str, network: Option<&str>) -> ContainerCreateBody {
    let mut labels = base_labels(agent, KIND_SANDBOX, &spec.pod_uid, &spec.namespace, &spec.name);
    labels.insert(LABEL_SHARE_PID.to_owned(), spec.share_process_namespace.to_string());
    labels.insert(LABEL_HOST_NETWORK.to_owned(), spec.host_network.to_string());
    let network_mode = if spec.host_network { Some("host".to_owned()) } else { network.map(str::to_owned) };
    // With the host's network the ports are the host's already; Docker refuses bindings there.
    let ports = if spec.host_network { None } else { port_bindings(spec) };
    ContainerCreateBody {
        exposed_ports: ports.as_ref().map(|p| p.keys().cloned().collect()),
        // With the host's network the pod also has the host's name, as in Kubernetes.
        hostname: (!spec.host_network).then(|| spec.hostname.clone()),
        image: Some(image.to_owned()),
        labels: Some(labels),
        host_config: Some(HostConfig {
            ipc_mode: Some("shareable".to_owned()),
            network_mode,
            port_bindings: ports,
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            init: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The pod's hostPorts as Docker's port bindings on the pause container (`80/tcp` → host port),
/// several host ports of one container port in one list.
pub fn port_bindings(spec: &SandboxSpec) -> Option<PortMap> {
    let mut map = PortMap::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.container_port, p.protocol.to_ascii_lowercase());
        let binding = PortBinding { host_ip: p.host_ip.clone(), host_port: Some(p.host_port.to_string()) };
        map.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(binding);
    }
    (!map.is_empty()).then_some(map)
}

/// Kubernetes' mapping of `command` and `args` over the image's Entrypoint and Cmd, as the
/// (Entrypoint, Cmd) Docker is given (`None`: the image's own):
/// command → Entrypoint, with Cmd = args (or nothing); args alone → the image's Entrypoint with
/// args as Cmd; neither → both of the image's.
pub fn entrypoint_and_cmd(command: &[String], args: &[String]) -> (Option<Vec<String>>, Option<Vec<String>>) {
    match (command.is_empty(), args.is_empty()) {
        (false, _) => (Some(command.to_vec()), Some(args.to_vec())),
        (true, false) => (None, Some(args.to_vec())),
        (true, true) => (None, None),
    }
}

/// What the sandbox looks like to a container joining it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxJoin {
    pub id: String,
    pub share_pid: bool,
}

/// An app or init container joined to its sandbox's namespaces.
/// `command` and `args` map over the image's Entrypoint and Cmd as [`entrypoint_and_cmd`] says.
pub fn container_body(
    agent: &str,
    spec: &ContainerSpec,
    sandbox: &SandboxJoin,
    termination_log: Option<&Path>,
) -> ContainerCreateBody {
    let mut labels = base_labels(agent, KIND_CONTAINER, &spec.pod_uid, &spec.pod_namespace, &spec.pod_name);
    labels.insert(LABEL_SANDBOX.to_owned(), sandbox.id.clone());
    labels.insert(LABEL_CONTAINER.to_owned(), spec.name.clone());
    labels.insert(LABEL_ATTEMPT.to_owned(), spec.attempt.to_string());
    let mut binds: Vec<String> = spec
        .mounts
        .iter()
        .map(|m| {
            let mode = if m.read_only { ":ro" } else { "" };
            format!("{}:{}{mode}", m.host_path.display(), m.container_path)
        })
        .collect();
    if let (Some(host), Some(path)) = (termination_log, spec.termination_message_path.as_deref()) {
        labels.insert(LABEL_TERMINATION_LOG.to_owned(), host.display().to_string());
        binds.push(format!("{}:{path}", host.display()));
    }
    let (entrypoint, cmd) = entrypoint_and_cmd(&spec.command, &spec.args);
    let joined = format!("container:{}", sandbox.id);
    let ResourceLimits { memory_bytes, cpu_millis } = spec.limits;
    let memory = memory_bytes.and_then(|m| i64::try_from(m).ok());
    let period = 100_000i64;
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint,
        cmd,
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: spec.working_dir.clone().filter(|w| !w.is_empty()),
        tty: Some(spec.tty),
        open_stdin: Some(spec.stdin),
        attach_stdin: Some(false),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(joined.clone()),
            ipc_mode: Some(joined.clone()),
            pid_mode: sandbox.share_pid.then_some(joined),
            binds: (!binds.is_empty()).then_some(binds),
            memory,
            // No swap beyond the limit, as the kubelet sets it.
            memory_swap: memory,
            cpu_period: cpu_millis.map(|_| period),
            // Kubernetes' quota: millicores × period / 1000, at least 1 ms.
            cpu_quota: cpu_millis.map(|m| (i64::try_from(m).unwrap_or(i64::MAX / period) * period / 1000).max(1000)),
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The image reference split into the repository and tag Docker's pull (`fromImage`, `tag`) want;
/// a digest stays in the repository part.
pub fn split_image(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_owned(), String::new());
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (image[..last_slash + i].to_owned(), image[last_slash + i + 1..].to_owned()),
        None => (image.to_owned(), "latest".to_owned()),
    }
}

/// The pod status' imageID of an image with engine id `id` and the registry digests it has.
pub fn status_image_id(id: &str, repo_digests: &[String]) -> String {
    match repo_digests.first() {
        Some(digest) => format!("docker-pullable://{digest}"),
        None => format!("docker://{id}"),
    }
}

/// Whether an image reference names the `latest` tag (explicitly or by having none), which
/// makes Kubernetes' default pull policy `Always`.
pub fn is_latest(image: &str) -> bool {
    !image.contains('@') && split_image(image).1 == "latest"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Mount;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            sandbox_id: "sb".into(),
            pod_uid: "u-1".into(),
            pod_namespace: "default".into(),
            pod_name: "web".into(),
            name: "app".into(),
            attempt: 2,
            image: "busybox:1.36".into(),
            ..Default::default()
        }
    }

    #[test]
    fn names_are_unique_per_attempt_and_valid() {
        let mut s = spec();
        assert_eq!(container_name(&s), "minik_app_web_default_u-1_2");
        s.pod_name = "a/b c".into();
        assert_eq!(container_name(&s), "minik_app_a-b-c_default_u-1_2");
        let sb = SandboxSpec { pod_uid: "u".into(), namespace: "ns".into(), name: "p".into(), ..Default::default() };
        assert_eq!(sandbox_name(&sb), "minik_POD_p_ns_u");
    }

    #[test]
    fn sandbox_holds_hostname_ipc_and_labels() {
        let sb = SandboxSpec {
            pod_uid: "u".into(),
            namespace: "ns".into(),
            name: "p".into(),
            hostname: "p".into(),
            share_process_namespace: true,
            ..Default::default()
        };
        let body = sandbox_body("agent-a", &sb, "minik/pause:latest", None);
        assert_eq!(body.hostname.as_deref(), Some("p"));
        let hc = body.host_config.unwrap();
        assert_eq!(hc.ipc_mode.as_deref(), Some("shareable"));
        assert_eq!(hc.network_mode, None);
        let labels = body.labels.unwrap();
        assert_eq!(labels[LABEL_AGENT], "agent-a");
        assert_eq!(labels[LABEL_KIND], KIND_SANDBOX);
        assert_eq!(labels[LABEL_POD_UID], "u");
        assert_eq!(labels[LABEL_SHARE_PID], "true");

        let host = SandboxSpec { host_network: true, ..sb };
        let body = sandbox_body("a", &host, "img", Some("lab"));
        assert_eq!(body.hostname, None);
        assert_eq!(body.host_config.unwrap().network_mode.as_deref(), Some("host"));
    }

    #[test]
    fn container_joins_sandbox_namespaces() {
        let join = SandboxJoin { id: "abc".into(), share_pid: false };
        let body = container_body("a", &spec(), &join, None);
        let hc = body.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("container:abc"));
        assert_eq!(hc.ipc_mode.as_deref(), Some("container:abc"));
        assert_eq!(hc.pid_mode, None);
        let shared = container_body("a", &spec(), &SandboxJoin { share_pid: true, ..join }, None);
        assert_eq!(shared.host_config.unwrap().pid_mode.as_deref(), Some("container:abc"));
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_and_args_map_over_the_image_like_kubernetes() {
        // (command, args) → (Entrypoint, Cmd); None keeps the image's own.
        type Row = (
            &'static [&'static str],
            &'static [&'static str],
            Option<&'static [&'static str]>,
            Option<&'static [&'static str]>,
        );
        let table: [Row; 4] = [
            (&[], &[], None, None),
            (&["sh", "-c", "echo hi"], &[], Some(&["sh", "-c", "echo hi"]), Some(&[])),
            (&["sh", "-c"], &["echo $0", "x"], Some(&["sh", "-c"]), Some(&["echo $0", "x"])),
            (&[], &["--port", "80"], None, Some(&["--port", "80"])),
        ];
        let join = SandboxJoin { id: "x".into(), share_pid: false };
        for (command, args, entrypoint, cmd) in table {
            let s = ContainerSpec { command: strings(command), args: strings(args), ..spec() };
            let body = container_body("a", &s, &join, None);
            assert_eq!(body.entrypoint, entrypoint.map(strings), "command {command:?} args {args:?}");
            assert_eq!(body.cmd, cmd.map(strings), "command {command:?} args {args:?}");
        }
    }

    #[test]
    fn host_ports_are_published_on_the_pause_container() {
        use crate::runtime::PortMapping;
        let port = |c: u16, h: u16, proto: &str, ip: Option<&str>| PortMapping {
            container_port: c,
            host_port: h,
            protocol: proto.into(),
            host_ip: ip.map(str::to_owned),
        };
        let sb = SandboxSpec {
            pod_uid: "u".into(),
            ports: vec![
                port(80, 8080, "TCP", Some("127.0.0.1")),
                port(80, 8081, "TCP", None),
                port(53, 5353, "UDP", None),
            ],
            ..Default::default()
        };
        let body = sandbox_body("a", &sb, "img", None);
        let mut exposed = body.exposed_ports.unwrap();
        exposed.sort();
        assert_eq!(exposed, strings(&["53/udp", "80/tcp"]));
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        let b80 = bindings["80/tcp"].clone().unwrap();
        assert_eq!(b80.len(), 2);
        assert_eq!((b80[0].host_ip.as_deref(), b80[0].host_port.as_deref()), (Some("127.0.0.1"), Some("8080")));
        assert_eq!((b80[1].host_ip.as_deref(), b80[1].host_port.as_deref()), (None, Some("8081")));
        let b53 = bindings["53/udp"].clone().unwrap();
        assert_eq!(b53[0].host_port.as_deref(), Some("5353"));

        let none = sandbox_body("a", &SandboxSpec::default(), "img", None);
        assert_eq!((none.exposed_ports, none.host_config.unwrap().port_bindings), (None, None));
        let host = sandbox_body("a", &SandboxSpec { host_network: true, ..sb }, "img", None);
        assert_eq!(host.host_config.unwrap().port_bindings, None);
    }

    #[test]
    fn env_mounts_limits_and_termination_log() {
        let s = ContainerSpec {
            env: vec![("A".into(), "1".into()), ("B".into(), "x=y".into())],
            working_dir: Some("/work".into()),
            mounts: vec![
                Mount { host_path: "/data/pods/u/v1".into(), container_path: "/cache".into(), read_only: false },
                Mount { host_path: "/etc/cfg".into(), container_path: "/cfg".into(), read_only: true },
            ],
            limits: ResourceLimits { memory_bytes: Some(64 << 20), cpu_millis: Some(250) },
            termination_message_path: Some("/dev/termination-log".into()),
            ..spec()
        };
        let join = SandboxJoin { id: "x".into(), share_pid: false };
        let body = container_body("a", &s, &join, Some(Path::new("/data/term/app-2")));
        assert_eq!(body.env, Some(vec!["A=1".to_string(), "B=x=y".into()]));
        assert_eq!(body.working_dir.as_deref(), Some("/work"));
        let labels = body.labels.unwrap();
        assert_eq!(labels[LABEL_ATTEMPT], "2");
        assert_eq!(labels[LABEL_SANDBOX], "x");
        assert_eq!(labels[LABEL_TERMINATION_LOG], "/data/term/app-2");
        let hc = body.host_config.unwrap();
        assert_eq!(
            hc.binds,
            Some(vec![
                "/data/pods/u/v1:/cache".to_string(),
                "/etc/cfg:/cfg:ro".into(),
                "/data/term/app-2:/dev/termination-log".into()
            ])
        );
        assert_eq!(hc.memory, Some(64 << 20));
        assert_eq!(hc.memory_swap, Some(64 << 20));
        assert_eq!((hc.cpu_period, hc.cpu_quota), (Some(100_000), Some(25_000)));
    }

    #[test]
    fn image_ids_name_the_registry_digest_when_there_is_one() {
        assert_eq!(status_image_id("sha256:ab", &[]), "docker://sha256:ab");
        let digests = vec!["busybox@sha256:cd".to_string(), "other@sha256:cd".into()];
        assert_eq!(status_image_id("sha256:ab", &digests), "docker-pullable://busybox@sha256:cd");
    }

    #[test]
    fn image_references_split_like_docker() {
        assert_eq!(split_image("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(split_image("busybox:1.36"), ("busybox".into(), "1.36".into()));
        assert_eq!(split_image("localhost:5000/a/b"), ("localhost:5000/a/b".into(), "latest".into()));
        assert_eq!(split_image("localhost:5000/a/b:v2"), ("localhost:5000/a/b".into(), "v2".into()));
        assert_eq!(split_image("a@sha256:00"), ("a@sha256:00".into(), String::new()));
        assert!(is_latest("minik-test/busybox"));
        assert!(is_latest("minik-test/busybox:latest"));
        assert!(!is_latest("busybox:1.36"));
    }
}
