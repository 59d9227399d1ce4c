//! `exec [-i] [-t] [-c C] POD -- CMD...` over WebSocket (`v5.channel.k8s.io`, kube-rs `ws`); the
//! remote exit code becomes ours, as with kubectl.

use std::io::IsTerminal;
use std::process::{Command, Stdio};

use futures::SinkExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{AttachParams, TerminalSize};
use tokio::io::AsyncWriteExt;

use crate::args::ExecArgs;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::logs::pick_container;

/// The exit code a failure `Status` from the exec stream carries (`NonZeroExitCode`).
pub fn exit_code(status: &Status) -> Option<i32> {
    if status.reason.as_deref() != Some("NonZeroExitCode") {
        return None;
    }
    let causes = status.details.as_ref()?.causes.as_ref()?;
    causes.iter().find(|c| c.reason.as_deref() == Some("ExitCode")).and_then(|c| c.message.as_deref()?.parse().ok())
}

/// Puts the controlling terminal in raw mode with `stty` and restores it when dropped.
struct RawTerminal {
    saved: Option<String>,
}

impl RawTerminal {
    fn enter() -> RawTerminal {
        let saved = Command::new("stty")
            .arg("-g")
            .stdin(Stdio::inherit())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if saved.is_some() {
            let _ = Command::new("stty").args(["raw", "-echo"]).stdin(Stdio::inherit()).status();
        }
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(s) = &self.saved {
            let _ = Command::new("stty").arg(s).stdin(Stdio::inherit()).status();
        }
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    let out = Command::new("stty").arg("size").stdin(Stdio::inherit()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
    let rows = it.next()??;
    let cols = it.next()??;
    Some((cols, rows))
}

pub async fn run(ctx: &Ctx, a: ExecArgs) -> Result<(), CliError> {
    let name = a.pod.strip_prefix("pod/").or_else(|| a.pod.strip_prefix("pods/")).unwrap_or(&a.pod).to_string();
    let pod = ctx.get_json(&format!("/api/v1/namespaces/{}/pods/{name}", ctx.namespace), &[]).await?;
    let (container, notice) = pick_container(&pod, a.container.as_deref())?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let mut tty = a.tty;
    if tty && !(a.stdin && std::io::stdin().is_terminal()) {
        eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        tty = false;
    }
    let params = AttachParams {
        container: Some(container),
        stdin: a.stdin,
        stdout: true,
        stderr: !tty,
        tty,
        ..AttachParams::default()
    };
    let api: kube::Api<Pod> = kube::Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let _raw = tty.then(RawTerminal::enter);
    let mut proc = api.exec(&name, a.command.clone(), &params).await.map_err(|e| ctx.kube_err(e))?;
    if tty {
        if let (Some(mut sizes), Some((width, height))) = (proc.terminal_size(), terminal_size()) {
            let _ = sizes.send(TerminalSize { width, height }).await;
        }
    }
    let status = proc.take_status();
    let mut tasks = Vec::new();
    if let Some(mut out) = proc.stdout() {
        tasks.push(tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            let _ = tokio::io::copy(&mut out, &mut stdout).await;
            let _ = stdout.flush().await;
        }));
    }
    if let Some(mut err) = proc.stderr() {
        tasks.push(tokio::spawn(async move {
            let mut stderr = tokio::io::stderr();
            let _ = tokio::io::copy(&mut err, &mut stderr).await;
            let _ = stderr.flush().await;
        }));
    }
    if let Some(mut input) = proc.stdin() {
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let _ = tokio::io::copy(&mut stdin, &mut input).await;
            let _ = input.shutdown().await;
        });
    }
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    let joined = proc.join().await;
    for t in tasks {
        let _ = t.await;
    }
    drop(_raw);
    if let Some(st) = status {
        if let Some(code) = exit_code(&st) {
            return Err(CliError::Exit(code));
        }
        if st.status.as_deref() == Some("Failure") {
            let converted =
                serde_json::to_value(&st).ok().and_then(|v| serde_json::from_value::<kube::core::Status>(v).ok());
            return Err(match converted {
                Some(status) => CliError::Api { status: Box::new(status), context: None },
                None => CliError::Transport(st.message.unwrap_or_default()),
            });
        }
    }
    joined.map_err(|e| CliError::Transport(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn exit_codes_from_status() {
        let s: Status = serde_json::from_str(
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#,
        )
        .unwrap();
        assert_eq!(exit_code(&s), Some(3));
        let ok: Status = serde_json::from_str(r#"{"metadata":{},"status":"Success"}"#).unwrap();
        assert_eq!(exit_code(&ok), None);
    }
}
