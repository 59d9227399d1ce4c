//! The command line, kubectl's flags and spellings.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "miniktl", version, about = "miniktl controls a minik cluster (a kubectl look-alike)")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// The address of the API server (e.g. http://127.0.0.1:8080).
    #[arg(short = 's', long, global = true)]
    pub server: Option<String>,
    /// Path to the kubeconfig file to use.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace scope for this request.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Display one or many resources.
    Get(GetArgs),
    /// Show details of a specific resource.
    Describe(DescribeArgs),
    /// Create a resource from a file or from stdin.
    Create(CreateArgs),
    /// Apply a configuration to a resource by file name or stdin.
    Apply(ApplyArgs),
    /// Delete resources by file names, stdin, resources and names, or by label selector.
    Delete(DeleteArgs),
    /// Run a particular image in a pod.
    Run(RunArgs),
    /// Update the labels on a resource.
    Label(MetaArgs),
    /// Update the annotations on a resource.
    Annotate(MetaArgs),
    /// Mark node as unschedulable.
    Cordon(NodeArgs),
    /// Mark node as schedulable.
    Uncordon(NodeArgs),
    /// Wait for a specific condition on one or many resources.
    Wait(WaitArgs),
    /// Print the logs for a container in a pod.
    Logs(LogsArgs),
    /// Execute a command in a container.
    Exec(ExecArgs),
    /// Print the supported API resources on the server.
    ApiResources(ApiResourcesArgs),
    /// Print the client and server version information.
    Version(VersionArgs),
    /// Output shell completion code for the specified shell (bash, zsh or fish).
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug, Default, Clone)]
pub struct GetArgs {
    /// TYPE[.GROUP] [NAME ...], TYPE/NAME ..., or TYPE1,TYPE2
    pub args: Vec<String>,
    /// Output format: wide, yaml, json, name, jsonpath=..., custom-columns=...
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Label selector to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Show all labels as the last column.
    #[arg(long)]
    pub show_labels: bool,
    /// Labels to show as columns.
    #[arg(short = 'L', long = "label-columns", value_delimiter = ',')]
    pub label_columns: Vec<String>,
    /// Sort list types using this JSONPath expression.
    #[arg(long)]
    pub sort_by: Option<String>,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Watch for changes without listing first.
    #[arg(long)]
    pub watch_only: bool,
    /// Don't print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Items fetched per list request (0 fetches everything at once).
    #[arg(long, default_value_t = 500)]
    pub chunk_size: u32,
    /// Show the resource type in the NAME column.
    #[arg(long)]
    pub show_kind: bool,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// TYPE NAME... or TYPE/NAME
    pub args: Vec<String>,
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CreateArgs {
    /// Files, directories or `-` for stdin.
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<String>,
    /// Output format (name, json, yaml).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// `server` sends the request with dryRun=All.
    #[arg(long)]
    pub dry_run: Option<String>,
    #[command(subcommand)]
    pub what: Option<CreateWhat>,
}

#[derive(Subcommand, Debug)]
pub enum CreateWhat {
    /// Create a namespace.
    #[command(alias = "ns")]
    Namespace { name: String },
    /// Create a config map from literal values or files.
    #[command(alias = "cm")]
    Configmap(FromSources),
    /// Create a secret.
    Secret {
        #[command(subcommand)]
        kind: SecretKind,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretKind {
    /// A secret from literal values or files.
    Generic(FromSources),
}

#[derive(Args, Debug)]
pub struct FromSources {
    pub name: String,
    /// key=value pairs.
    #[arg(long = "from-literal")]
    pub literals: Vec<String>,
    /// [key=]path files.
    #[arg(long = "from-file")]
    pub files: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[arg(short = 'f', long = "filename", required = true)]
    pub filenames: Vec<String>,
    /// Use server-side apply.
    #[arg(long)]
    pub server_side: bool,
    /// With --server-side, take over conflicting fields.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Field manager name.
    #[arg(long)]
    pub field_manager: Option<String>,
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// TYPE NAME... or TYPE/NAME
    pub args: Vec<String>,
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<String>,
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete all resources of the type in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Seconds the resource has to terminate gracefully (-1: its own default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// Delete immediately (with --grace-period=0).
    #[arg(long)]
    pub force: bool,
    /// Wait for the resources to be gone before returning.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
    /// Treat "not found" as success.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// How long to wait (e.g. 60s); 0 waits a week, like kubectl.
    #[arg(long, default_value = "0s")]
    pub timeout: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub name: String,
    #[arg(long)]
    pub image: String,
    /// Always, OnFailure or Never.
    #[arg(long, default_value = "Always")]
    pub restart: String,
    /// Environment variables (KEY=VALUE).
    #[arg(long)]
    pub env: Vec<String>,
    /// Labels (k=v,k2=v2); the default is run=NAME.
    #[arg(short = 'l', long)]
    pub labels: Option<String>,
    /// Treat the arguments after -- as the command rather than its args.
    #[arg(long)]
    pub command: bool,
    /// The container port to expose.
    #[arg(long)]
    pub port: Option<i32>,
    /// Image pull policy.
    #[arg(long)]
    pub image_pull_policy: Option<String>,
    /// `client` prints the pod without creating it; `server` asks for dryRun=All.
    #[arg(long)]
    pub dry_run: Option<String>,
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Arguments (or the command, with --command).
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct MetaArgs {
    /// TYPE NAME KEY=VAL... KEY-  (or TYPE/NAME KEY=VAL...)
    #[arg(required = true)]
    pub args: Vec<String>,
    /// Allow replacing existing values.
    #[arg(long)]
    pub overwrite: bool,
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct NodeArgs {
    pub node: String,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// TYPE NAME... or TYPE/NAME
    pub args: Vec<String>,
    /// condition=NAME[=value], delete, or jsonpath={path}=value
    #[arg(long = "for")]
    pub condition: String,
    /// How long to wait (e.g. 30s, 2m).
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// POD or TYPE/NAME
    pub pod: String,
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines of recent log to show (-1: all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    #[arg(short = 'p', long)]
    pub previous: bool,
    #[arg(long)]
    pub timestamps: bool,
    /// Only logs newer than this duration (e.g. 5s, 2m, 3h).
    #[arg(long)]
    pub since: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    pub pod: String,
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Pass stdin to the container.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Stdin is a TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ApiResourcesArgs {
    /// Only namespaced (true) or cluster-scoped (false) types.
    #[arg(long)]
    pub namespaced: Option<bool>,
    /// wide or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Only the client version.
    #[arg(long)]
    pub client: bool,
    /// json or yaml.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("miniktl").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn get_flags() {
        let cli = parse(&[
            "-n",
            "x",
            "get",
            "pods",
            "-o",
            "wide",
            "-l",
            "app=web",
            "-L",
            "a,b",
            "-w",
            "--server",
            "http://h:1",
        ]);
        assert_eq!(cli.global.namespace.as_deref(), Some("x"));
        assert_eq!(cli.global.server.as_deref(), Some("http://h:1"));
        let Command::Get(g) = cli.command else { panic!("not get") };
        assert_eq!(g.args, ["pods"]);
        assert_eq!(g.output.as_deref(), Some("wide"));
        assert_eq!(g.label_columns, ["a", "b"]);
        assert!(g.watch);
    }

    #[test]
    fn run_and_exec_take_args_after_dashes() {
        let Command::Run(r) = parse(&["run", "r1", "--image=busybox", "--env", "A=1", "--", "sleep", "3600"]).command
        else {
            panic!("not run")
        };
        assert_eq!(r.args, ["sleep", "3600"]);
        assert_eq!(r.env, ["A=1"]);
        let Command::Exec(e) = parse(&["exec", "-it", "p", "-c", "c1", "--", "sh", "-c", "echo hi"]).command else {
            panic!("not exec")
        };
        assert!(e.stdin && e.tty);
        assert_eq!(e.command, ["sh", "-c", "echo hi"]);
    }

    #[test]
    fn delete_flags() {
        let Command::Delete(d) = parse(&["delete", "pod", "a", "--grace-period=0", "--force", "--wait=false"]).command
        else {
            panic!("not delete")
        };
        assert_eq!(d.grace_period, 0);
        assert!(d.force && !d.wait);
        let Command::Delete(d) = parse(&["delete", "pod", "a"]).command else { panic!("not delete") };
        assert!(d.wait);
        assert_eq!(d.grace_period, -1);
    }

    #[test]
    fn create_subcommands_and_files() {
        let Command::Create(c) = parse(&["create", "-f", "-"]).command else { panic!("not create") };
        assert_eq!(c.filenames, ["-"]);
        let Command::Create(c) = parse(&["create", "configmap", "c1", "--from-literal", "a=b"]).command else {
            panic!("not create")
        };
        assert!(matches!(c.what, Some(CreateWhat::Configmap(_))));
    }

    #[test]
    fn logs_flags() {
        let Command::Logs(l) =
            parse(&["logs", "p", "-c", "c", "-f", "--tail", "3", "--since", "5m", "--timestamps"]).command
        else {
            panic!("not logs")
        };
        assert_eq!(l.tail, 3);
        assert!(l.follow && l.timestamps);
        assert_eq!(l.since.as_deref(), Some("5m"));
    }
}
