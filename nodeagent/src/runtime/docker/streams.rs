//! Exec and logs through the engine: Docker's multiplexed output turned into the runtime's
//! streams (separate stdout/stderr readers, a stdin writer, the exit code; log bytes).

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::ResizeExecOptions;
use bollard::Docker;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use super::engine;
use crate::runtime::{ExecOutput, ExecRequest, ExecSession, LogStream, RuntimeError};

async fn create(docker: &Docker, id: &str, argv: &[String], stdin: bool, tty: bool) -> Result<String, RuntimeError> {
    if argv.is_empty() {
        return Err(RuntimeError::InvalidSpec("empty command".into()));
    }
    let config = ExecConfig {
        attach_stdin: Some(stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(tty),
        cmd: Some(argv.to_vec()),
        ..Default::default()
    };
    match docker.create_exec(id, config).await {
        Ok(r) => Ok(r.id),
        Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
            Err(RuntimeError::NoContainer(id.to_owned()))
        }
        Err(DockerError::DockerResponseServerError { status_code: 409, .. }) => {
            Err(RuntimeError::NotRunning(id.to_owned()))
        }
        Err(e) => Err(engine(format!("exec in {id}"), e)),
    }
}

async fn exit_code(docker: &Docker, exec_id: &str) -> i32 {
    // The exit code may lag the end of the output by a moment.
    for _ in 0..50 {
        match docker.inspect_exec(exec_id).await {
            Ok(r) if r.running != Some(true) => {
                return r.exit_code.and_then(|c| i32::try_from(c).ok()).unwrap_or(-1);
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(_) => return -1,
        }
    }
    -1
}

/// Runs `argv` in the container to completion, stdout and stderr together.
pub async fn exec_sync(
    docker: &Docker,
    id: &str,
    argv: &[String],
    timeout: Duration,
) -> Result<ExecOutput, RuntimeError> {
    let exec_id = create(docker, id, argv, false, false).await?;
    let run = async {
        let started = docker
            .start_exec(&exec_id, Some(StartExecOptions { detach: false, tty: false, output_capacity: None }))
            .await
            .map_err(|e| engine(format!("exec in {id}"), e))?;
        let mut output = Vec::new();
        if let StartExecResults::Attached { output: mut out, .. } = started {
            while let Some(chunk) = out.next().await {
                match chunk {
                    Ok(o) => output.extend_from_slice(&o.into_bytes()),
                    Err(_) => break,
                }
            }
        }
        Ok::<_, RuntimeError>(output)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(output)) => {
            let exit_code = exit_code(docker, &exec_id).await;
            Ok(ExecOutput { exit_code, output: String::from_utf8_lossy(&output).into_owned() })
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(ExecOutput { exit_code: -1, output: format!("command timed out after {}s", timeout.as_secs()) }),
    }
}

/// Starts an interactive command: stdout and stderr come back as separate readers (one with a
/// TTY), stdin is a writer, resizes go to the engine.
pub async fn exec(docker: &Docker, id: &str, request: &ExecRequest) -> Result<ExecSession, RuntimeError> {
    let exec_id = create(docker, id, &request.argv, request.stdin, request.tty).await?;
    let started = docker
        .start_exec(&exec_id, Some(StartExecOptions { detach: false, tty: request.tty, output_capacity: None }))
        .await
        .map_err(|e| engine(format!("exec in {id}"), e))?;
    let StartExecResults::Attached { mut output, input } = started else {
        return Err(RuntimeError::Unsupported("the engine detached the exec".into()));
    };
    let (out_w, out_r) = tokio::io::duplex(64 * 1024);
    let (err_w, err_r) = tokio::io::duplex(64 * 1024);
    let (tx, exit) = oneshot::channel();
    let pump_docker = docker.clone();
    let pump_id = exec_id.clone();
    tokio::spawn(async move {
        let (mut out_w, mut err_w) = (Some(out_w), Some(err_w));
        while let Some(Ok(chunk)) = output.next().await {
            let (target, bytes) = match chunk {
                LogOutput::StdErr { message } => (&mut err_w, message),
                LogOutput::StdOut { message } | LogOutput::Console { message } => (&mut out_w, message),
                LogOutput::StdIn { .. } => continue,
            };
            if let Some(w) = target {
                if w.write_all(&bytes).await.is_err() {
                    // The reader is gone; keep draining the other stream.
                    *target = None;
                }
            }
        }
        drop((out_w, err_w));
        let _ = tx.send(exit_code(&pump_docker, &pump_id).await);
    });
    let resize = if request.tty {
        let (rtx, mut rrx) = mpsc::channel::<(u16, u16)>(8);
        let docker = docker.clone();
        let exec_id = exec_id.clone();
        tokio::spawn(async move {
            while let Some((width, height)) = rrx.recv().await {
                if width > 0 && height > 0 {
                    let _ = docker
                        .resize_exec(&exec_id, ResizeExecOptions { w: i32::from(width), h: i32::from(height) })
                        .await;
                }
            }
        });
        Some(rtx)
    } else {
        None
    };
    Ok(ExecSession {
        stdin: request.stdin.then_some(input),
        stdout: Some(Box::pin(out_r)),
        stderr: (!request.tty).then(|| Box::pin(err_r) as _),
        resize,
        exit,
    })
}

/// The engine's log stream as the runtime's: bytes in order, at most `limit_bytes`.
pub fn log_stream(
    stream: impl Stream<Item = Result<LogOutput, DockerError>> + Send + 'static,
    limit_bytes: Option<u64>,
) -> LogStream {
    let stream = stream.scan(limit_bytes, |left, item| {
        let next = match item {
            Err(e) => Some(Err(engine("read container logs", e))),
            Ok(o) => {
                let b: Bytes = o.into_bytes();
                match left {
                    Some(0) => None,
                    Some(n) => {
                        let take = usize::try_from(*n).unwrap_or(usize::MAX).min(b.len());
                        *n -= take as u64;
                        Some(Ok(b.slice(..take)))
                    }
                    None => Some(Ok(b)),
                }
            }
        };
        futures::future::ready(next)
    });
    Box::pin(stream)
}
