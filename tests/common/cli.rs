//! Running miniktl and the pinned kubectl in tests: (exit code, stdout, stderr).
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use super::{kubectl, miniktl, run, Minik};

pub type Out = (i32, String, String);

/// The pinned real kubectl against `m`.
pub fn kc(m: &Minik, args: &[&str]) -> Out {
    let mut c =
        kubectl(&m.url).expect("the pinned kubectl (kubectl.1.32 beside the kubectl dispatcher) must be installed");
    run(c.args(args))
}

/// miniktl against `m`.
pub fn mk(m: &Minik, args: &[&str]) -> Out {
    run(miniktl(&m.url).args(args))
}

/// Runs `cmd` with `input` on its standard input.
pub fn with_stdin(mut cmd: Command, input: &str) -> Out {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn with stdin");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}
