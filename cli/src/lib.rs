//! `miniktl`, minik's kubectl look-alike: command-line parsing, kubectl-compatible output (server-side
//! Tables, JSON/YAML/JSONPath/custom-columns, tabwriter alignment, error wording and exit codes), and
//! the commands themselves, all over the API through kube-rs and raw requests.

pub mod apply;
pub mod args;
pub mod ctx;
pub mod delete;
pub mod describe;
pub mod error;
pub mod exec;
pub mod get;
pub mod info;
pub mod jsonpath;
pub mod logs;
pub mod manifest;
pub mod meta;
pub mod output;
pub mod patch;
pub mod resource;
pub mod run;
pub mod tabwriter;
pub mod wait;
pub mod yaml;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::ctx::Ctx;
use crate::error::CliError;

/// Runs miniktl with the process's arguments and returns its exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => {
            let code = rt.block_on(run(cli));
            // A blocked stdin read (exec -i) must not keep the process alive.
            rt.shutdown_timeout(std::time::Duration::from_millis(100));
            code
        }
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            1
        }
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Runs one parsed command line; prints errors kubectl's way and returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    match dispatch(cli).await {
        Ok(()) => 0,
        Err(e) => {
            if let Some(m) = e.message() {
                eprintln!("{m}");
            }
            e.exit_code()
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    if let Command::Completion { shell } = &cli.command {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(*shell, &mut cmd, "miniktl", &mut std::io::stdout());
        return Ok(());
    }
    let ctx = Ctx::connect(&cli.global).await?;
    match cli.command {
        Command::Get(a) => get::run(&ctx, a).await,
        Command::Describe(a) => describe::run(&ctx, a).await,
        Command::Create(a) => apply::create(&ctx, a).await,
        Command::Apply(a) => apply::apply(&ctx, a).await,
        Command::Delete(a) => delete::run(&ctx, a).await,
        Command::Run(a) => run::run(&ctx, a).await,
        Command::Label(a) => meta::label_or_annotate(&ctx, a, "labels").await,
        Command::Annotate(a) => meta::label_or_annotate(&ctx, a, "annotations").await,
        Command::Cordon(a) => meta::cordon(&ctx, &a.node, true).await,
        Command::Uncordon(a) => meta::cordon(&ctx, &a.node, false).await,
        Command::Wait(a) => wait::run(&ctx, a).await,
        Command::Logs(a) => logs::run(&ctx, a).await,
        Command::Exec(a) => exec::run(&ctx, a).await,
        Command::ApiResources(a) => info::api_resources(&ctx, a).await,
        Command::Version(a) => info::version(Some(&ctx), a).await,
        Command::Completion { .. } => Ok(()),
    }
}
