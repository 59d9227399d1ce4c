//! YAML output the way `kubectl -o yaml` writes it (Go's yaml encoder through JSON): keys sorted,
//! two-space indent, list dashes level with their parent key, strings that would read back as
//! another type double-quoted, multi-line strings as literal blocks.

use serde_json::Value;

/// Renders one document (no leading `---`).
pub fn to_yaml(v: &Value) -> String {
    let mut lines = Vec::new();
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(m, 0, &mut lines),
        Value::Array(a) if !a.is_empty() => emit_list(a, 0, &mut lines),
        other => {
            let (inline, extra) = scalar(other, 0);
            lines.push(inline);
            lines.extend(extra);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn emit_map(m: &serde_json::Map<String, Value>, indent: usize, lines: &mut Vec<String>) {
    for (k, v) in m {
        let key = format!("{}{}:", pad(indent), quote_str(k));
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                lines.push(key);
                emit_map(inner, indent + 2, lines);
            }
            Value::Array(items) if !items.is_empty() => {
                lines.push(key);
                emit_list(items, indent, lines);
            }
            other => {
                let (inline, extra) = scalar(other, indent + 2);
                let start = key.chars().count() + 1;
                lines.push(format!("{key} {}", fold(&inline, start, indent + 2)));
                lines.extend(extra);
            }
        }
    }
}

/// Go's YAML emitter breaks plain and quoted scalars at a space once the line is past 80
/// columns (when the next character is not a space too); continuation lines are indented.
fn fold(text: &str, start_col: usize, indent: usize) -> String {
    if text.starts_with('|') || start_col + text.chars().count() <= 80 {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut col = start_col;
    for (i, &c) in chars.iter().enumerate() {
        let prev_space = i > 0 && chars[i - 1] == ' ';
        let next_space = chars.get(i + 1) == Some(&' ');
        if c == ' ' && !prev_space && col > 80 && !next_space && i + 1 < chars.len() {
            out.push('\n');
            out.push_str(&pad(indent));
            col = indent;
            continue;
        }
        out.push(c);
        col += 1;
    }
    out
}

fn emit_list(items: &[Value], indent: usize, lines: &mut Vec<String>) {
    for item in items {
        match item {
            Value::Object(m) if !m.is_empty() => {
                let mut sub = Vec::new();
                emit_map(m, indent + 2, &mut sub);
                dash_first(&mut sub, indent);
                lines.extend(sub);
            }
            Value::Array(a) if !a.is_empty() => {
                let mut sub = Vec::new();
                emit_list(a, indent + 2, &mut sub);
                dash_first(&mut sub, indent);
                lines.extend(sub);
            }
            other => {
                let (inline, extra) = scalar(other, indent + 2);
                lines.push(format!("{}- {}", pad(indent), fold(&inline, indent + 2, indent + 2)));
                lines.extend(extra);
            }
        }
    }
}

fn dash_first(sub: &mut [String], indent: usize) {
    if let Some(first) = sub.first_mut() {
        let body = first[indent + 2..].to_string();
        *first = format!("{}- {body}", pad(indent));
    }
}

/// The inline text of a scalar and, for literal blocks, the block's lines at `indent`.
fn scalar(v: &Value, indent: usize) -> (String, Vec<String>) {
    match v {
        Value::Null => ("null".into(), vec![]),
        Value::Bool(b) => (b.to_string(), vec![]),
        Value::Number(n) => (n.to_string(), vec![]),
        Value::Object(_) => ("{}".into(), vec![]),
        Value::Array(_) => ("[]".into(), vec![]),
        Value::String(s) if s.contains('\n') && literal_ok(s) => {
            let trailing = s.len() - s.trim_end_matches('\n').len();
            let chomp = match trailing {
                0 => "|-",
                1 => "|",
                _ => "|+",
            };
            let body = if trailing == 0 { s.as_str() } else { &s[..s.len() - 1] };
            let block: Vec<String> = body
                .split('\n')
                .map(|l| if l.is_empty() { String::new() } else { format!("{}{l}", pad(indent)) })
                .collect();
            (chomp.into(), block)
        }
        Value::String(s) => (quote_str(s), vec![]),
    }
}

fn literal_ok(s: &str) -> bool {
    !s.starts_with(' ') && !s.starts_with('\n') && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
}

/// A string as a plain, single-quoted or double-quoted YAML scalar.
pub fn quote_str(s: &str) -> String {
    if s.is_empty() || resolves_to_non_string(s) {
        return format!("\"{s}\"");
    }
    if s.chars().any(|c| c.is_control()) {
        return double_quoted(s);
    }
    if needs_single_quotes(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn needs_single_quotes(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        let second = s.chars().nth(1);
        let plain_ok = matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ');
        if !plain_ok {
            return true;
        }
    }
    s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || s.starts_with("---")
        || s.starts_with("...")
}

/// Would YAML 1.1 (Go's decoder) read this plain string back as a bool, null, number or timestamp?
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON",
        "off", "Off", "OFF", "y", "Y", "n", "N", "null", "Null", "NULL", "~", "<<", ".inf", ".Inf", ".INF", "-.inf",
        "-.Inf", "-.INF", "+.inf", ".nan", ".NaN", ".NAN",
    ];
    WORDS.contains(&s) || is_number(s) || is_timestamp(s)
}

fn is_number(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    if t.is_empty() {
        return false;
    }
    if let Some(hex) = t.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    if let Some(bin) = t.strip_prefix("0b") {
        return !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1' || c == '_');
    }
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit() || c == '_');
    match frac {
        None => !int.is_empty() && int.starts_with(|c: char| c.is_ascii_digit()) && digits(int),
        Some(f) => (!int.is_empty() || !f.is_empty()) && digits(int) && digits(f) && (!int.is_empty() || !f.is_empty()),
    }
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && s[5..].splitn(3, '-').take(2).all(|p| {
            let d: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
            (1..=2).contains(&d.len())
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_like_kubectl() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "creationTimestamp": "2024-01-01T00:00:00Z", "resourceVersion": "12",
                         "labels": {"app": "web"}, "annotations": {"note": "a: b", "last": "{\"a\":1}\n"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25", "args": ["sleep", "3600"], "ports": [{"containerPort": 80}], "env": []}],
                     "restartPolicy": "Always", "nodeSelector": {}},
            "status": {}});
        let expect = "\
apiVersion: v1
kind: Pod
metadata:
  annotations:
    last: |
      {\"a\":1}
    note: 'a: b'
  creationTimestamp: \"2024-01-01T00:00:00Z\"
  labels:
    app: web
  name: web
  resourceVersion: \"12\"
spec:
  containers:
  - args:
    - sleep
    - \"3600\"
    env: []
    image: nginx:1.25
    name: c
    ports:
    - containerPort: 80
  nodeSelector: {}
  restartPolicy: Always
status: {}
";
        assert_eq!(to_yaml(&pod), expect);
    }

    #[test]
    fn long_strings_fold_at_80_columns_like_go() {
        let msg = "container nginx1 has no command: the process runtime runs command and args on the host and does not read images";
        let doc = json!({"status": {"containerStatuses": [{"state": {"waiting": {"message": msg}}}]}});
        let expect = "status:\n  containerStatuses:\n  - state:\n      waiting:\n        message: 'container nginx1 has no command: the process runtime runs command\n          and args on the host and does not read images'\n";
        assert_eq!(to_yaml(&doc), expect);
        let words = "word ".repeat(30);
        let folded = to_yaml(&json!({"k": words.trim()}));
        assert!(folded.lines().all(|l| l.len() <= 90), "{folded}");
        assert_eq!(folded.replace("\n  ", " "), format!("k: {}\n", words.trim()));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_str(""), "\"\"");
        assert_eq!(quote_str("true"), "\"true\"");
        assert_eq!(quote_str("yes"), "\"yes\"");
        assert_eq!(quote_str("1.5"), "\"1.5\"");
        assert_eq!(quote_str("1e3"), "\"1e3\"");
        assert_eq!(quote_str("100m"), "100m");
        assert_eq!(quote_str("*x"), "'*x'");
        assert_eq!(quote_str("it's: x"), "'it''s: x'");
        assert_eq!(quote_str("-x"), "-x");
        assert_eq!(quote_str("- x"), "'- x'");
        assert_eq!(quote_str("a\tb"), "\"a\\tb\"");
        assert_eq!(quote_str("sh"), "sh");
        assert_eq!(quote_str("/bin/sh"), "/bin/sh");
    }

    #[test]
    fn blocks_and_nested_lists() {
        assert_eq!(to_yaml(&json!({"a": "x\ny"})), "a: |-\n  x\n  y\n");
        assert_eq!(to_yaml(&json!([[1, 2], {"k": null}])), "- - 1\n  - 2\n- k: null\n");
        assert_eq!(to_yaml(&json!({})), "{}\n");
    }
}
