//! `miniktl`, minik's kubectl look-alike: command-line parsing, kubectl-compatible output (server-side
//! Tables, JSON/YAML/JSONPath/custom-columns, tabwriter alignment, error wording and exit codes), and
//! the commands themselves, all over the API through kube-rs and raw requests.

pub mod args;
pub mod ctx;
pub mod error;
pub mod get;
pub mod jsonpath;
pub mod output;
pub mod resource;
pub mod tabwriter;
pub mod yaml;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::ctx::Ctx;
use crate::error::CliError;

/// Runs miniktl with the process's arguments and returns its exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt.block_on(run(cli)),
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
        _ => Err(CliError::usage("not implemented yet")),
    }
}
