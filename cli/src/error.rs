//! miniktl's errors and how they are shown: kubectl's wording for server errors (`Error from server
//! (NotFound): pods "x" not found`, `The Pod "bad" is invalid: ...`) and its exit codes.

use kube::core::Status;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A mistake in the command line or in a local file; printed as `error: <message>`.
    #[error("{0}")]
    Usage(String),
    /// The server answered with a `Status`; `context` is e.g. `error when creating "pod.yaml"`.
    #[error("{}", render_status(status, context.as_deref()))]
    Api { status: Box<Status>, context: Option<String> },
    /// Nothing listens at the server address.
    #[error("The connection to the server {server} was refused - did you specify the right host or port?")]
    Refused { server: String },
    /// Any other failure talking to the server.
    #[error("{0}")]
    Transport(String),
    /// A remote command exited with this code (`exec`); nothing is printed.
    #[error("command terminated with exit code {0}")]
    Exit(i32),
    /// Already printed (e.g. some of several objects failed); exit 1.
    #[error("")]
    Reported,
}

impl CliError {
    pub fn usage(msg: impl Into<String>) -> CliError {
        CliError::Usage(msg.into())
    }

    /// Turns a kube-rs error into ours; `server` names the API server for connection errors.
    pub fn from_kube(e: kube::Error, server: &str) -> CliError {
        match e {
            kube::Error::Api(status) => CliError::Api { status, context: None },
            other => {
                let chain = error_chain(&other);
                if chain.contains("Connection refused") || chain.contains("connection refused") {
                    CliError::Refused { server: host_port(server) }
                } else {
                    CliError::Transport(chain)
                }
            }
        }
    }

    /// Adds kubectl's `error when creating "file"` context to a server error.
    pub fn with_context(self, context: String) -> CliError {
        match self {
            CliError::Api { status, .. } => CliError::Api { status, context: Some(context) },
            other => other,
        }
    }

    /// The HTTP code of a server error, if this is one.
    pub fn code(&self) -> Option<u16> {
        match self {
            CliError::Api { status, .. } => Some(status.code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Exit(code) => *code,
            _ => 1,
        }
    }

    /// The text printed on stderr, or `None` when nothing should be printed.
    pub fn message(&self) -> Option<String> {
        match self {
            CliError::Exit(code) => Some(format!("command terminated with exit code {code}")),
            CliError::Reported => None,
            CliError::Usage(m) | CliError::Transport(m) => Some(format!("error: {m}")),
            other => Some(other.to_string()),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = inner.source();
    }
    s
}

fn host_port(server: &str) -> String {
    let s = server.split("://").nth(1).unwrap_or(server);
    s.trim_end_matches('/').to_string()
}

/// kubectl's rendering of a failure `Status`.
pub fn render_status(status: &Status, context: Option<&str>) -> String {
    let details = status.details.as_ref();
    let causes: Vec<String> = details
        .map(|d| {
            d.causes
                .iter()
                .map(|c| if c.field.is_empty() { c.message.clone() } else { format!("{}: {}", c.field, c.message) })
                .collect()
        })
        .unwrap_or_default();
    if status.reason == "Invalid" && context.is_none() && !causes.is_empty() {
        let kind = details.map(|d| d.kind.as_str()).unwrap_or_default();
        let kind = kind_for_display(kind);
        let name = details.map(|d| d.name.as_str()).unwrap_or_default();
        return if causes.len() == 1 {
            format!("The {kind} {name:?} is invalid: {}", causes[0])
        } else {
            let lines: Vec<String> = causes.iter().map(|c| format!("* {c}")).collect();
            format!("The {kind} {name:?} is invalid: \n{}", lines.join("\n"))
        };
    }
    if status.code == 401 {
        return format!("error: You must be logged in to the server ({})", status.message);
    }
    let reason = if status.reason.is_empty() || status.reason == "Failed to parse error data" {
        match status.code {
            404 => "NotFound".to_string(),
            400 => "BadRequest".to_string(),
            409 => "Conflict".to_string(),
            _ => "InternalError".to_string(),
        }
    } else {
        status.reason.clone()
    };
    match context {
        Some(ctx) => format!("Error from server ({reason}): {ctx}: {}", status.message),
        None => format!("Error from server ({reason}): {}", status.message),
    }
}

/// Status details name the kind in either form (`Pod` or `pods`); kubectl shows the kind.
fn kind_for_display(kind: &str) -> String {
    match crate::resource::lookup(kind) {
        Some(r) => r.kind.to_string(),
        None => kind.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use kube::core::response::{StatusCause, StatusDetails};

    fn status(code: u16, reason: &str, message: &str) -> Status {
        Status { code, reason: reason.into(), message: message.into(), ..Status::failure(message, reason) }
    }

    #[test]
    fn not_found() {
        let s = status(404, "NotFound", "pods \"nope\" not found");
        assert_eq!(render_status(&s, None), "Error from server (NotFound): pods \"nope\" not found");
    }

    #[test]
    fn already_exists_with_file_context() {
        let s = status(409, "AlreadyExists", "pods \"p1\" already exists");
        assert_eq!(
            render_status(&s, Some("error when creating \"pod.yaml\"")),
            "Error from server (AlreadyExists): error when creating \"pod.yaml\": pods \"p1\" already exists"
        );
    }

    #[test]
    fn invalid_one_and_two_causes() {
        let cause =
            |f: &str, m: &str| StatusCause { reason: "FieldValueRequired".into(), message: m.into(), field: f.into() };
        let mut s = status(422, "Invalid", "Pod \"bad\" is invalid: spec.containers[0].image: Required value");
        s.details = Some(StatusDetails {
            name: "bad".into(),
            kind: "Pod".into(),
            group: String::new(),
            uid: String::new(),
            causes: vec![cause("spec.containers[0].image", "Required value")],
            retry_after_seconds: 0,
        });
        assert_eq!(render_status(&s, None), "The Pod \"bad\" is invalid: spec.containers[0].image: Required value");
        if let Some(d) = s.details.as_mut() {
            d.causes.push(cause("metadata.name", "Invalid value: \"Bad_3\""));
        }
        assert_eq!(
            render_status(&s, None),
            "The Pod \"bad\" is invalid: \n* spec.containers[0].image: Required value\n* metadata.name: Invalid value: \"Bad_3\""
        );
    }

    #[test]
    fn exit_codes_and_messages() {
        assert_eq!(CliError::Exit(3).exit_code(), 3);
        assert_eq!(CliError::usage("boom").message().unwrap(), "error: boom");
        assert_eq!(CliError::Reported.message(), None);
        assert_eq!(
            CliError::Refused { server: host_port("http://127.0.0.1:8080") }.message().unwrap(),
            "The connection to the server 127.0.0.1:8080 was refused - did you specify the right host or port?"
        );
    }
}
