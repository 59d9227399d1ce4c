//! kubectl's JSONPath template dialect (`{.spec.containers[*].name}`, `{range .items[*]}...{end}`,
//! `{"\n"}`, literal text) on top of an RFC 9535 engine (`serde_json_path`). kubectl's path syntax
//! (`.a.b`, escaped dots, `[?(@.x=="y")]`) is translated to RFC 9535 before it is compiled.

use serde_json::Value;
use serde_json_path::JsonPath;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("unclosed action")]
    Unclosed,
    #[error("not in range, nothing to end")]
    StrayEnd,
    #[error("unterminated range: missing {{end}}")]
    MissingEnd,
    #[error("unrecognized identifier {0}")]
    BadPath(String),
    #[error("invalid string literal {0}")]
    BadString(String),
}

#[derive(Debug)]
enum Node {
    Text(String),
    Path(Query),
    Range(Query, Vec<Node>),
}

#[derive(Debug)]
struct Query {
    from_root: bool,
    path: JsonPath,
}

/// A compiled template.
#[derive(Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    /// Parses a template such as `{range .items[*]}{.metadata.name}{"\n"}{end}`.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let mut stack: Vec<(Query, Vec<Node>)> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut rest = src;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                push(&mut stack, &mut nodes, Node::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                push(&mut stack, &mut nodes, Node::Text(rest[..open].to_string()));
            }
            let close = find_close(&rest[open + 1..]).ok_or(TemplateError::Unclosed)? + open + 1;
            let action = rest[open + 1..close].trim();
            rest = &rest[close + 1..];
            if action == "end" {
                let (query, body) = stack.pop().ok_or(TemplateError::StrayEnd)?;
                push(&mut stack, &mut nodes, Node::Range(query, body));
            } else if let Some(path) = action.strip_prefix("range ") {
                stack.push((compile(path.trim())?, Vec::new()));
            } else if action.starts_with('"') {
                push(&mut stack, &mut nodes, Node::Text(unquote(action)?));
            } else {
                push(&mut stack, &mut nodes, Node::Path(compile(action)?));
            }
        }
        if !stack.is_empty() {
            return Err(TemplateError::MissingEnd);
        }
        Ok(Template { nodes })
    }

    /// kubectl's relaxed form used by `custom-columns` and `--sort-by`: `.a.b`, `a.b` and `{.a.b}`.
    pub fn parse_relaxed(expr: &str) -> Result<Template, TemplateError> {
        let e = expr.trim();
        let e = e.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(e);
        let e = if e.starts_with('.') || e.starts_with('$') || e.starts_with('@') {
            e.to_string()
        } else {
            format!(".{e}")
        };
        Template::parse(&format!("{{{e}}}"))
    }

    /// Renders the template against `data`, as `kubectl -o jsonpath` prints it.
    pub fn render(&self, data: &Value) -> String {
        let mut out = String::new();
        render_nodes(&self.nodes, data, data, &mut out);
        out
    }

    /// The values every path in the template selects (used by custom-columns and sorting).
    pub fn values<'a>(&self, data: &'a Value) -> Vec<&'a Value> {
        let mut found = Vec::new();
        for node in &self.nodes {
            if let Node::Path(q) = node {
                found.extend(q.path.query(data).all());
            }
        }
        found
    }
}

fn push(stack: &mut [(Query, Vec<Node>)], nodes: &mut Vec<Node>, node: Node) {
    match stack.last_mut() {
        Some((_, body)) => body.push(node),
        None => nodes.push(node),
    }
}

fn render_nodes(nodes: &[Node], root: &Value, current: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Path(q) => {
                let base = if q.from_root { root } else { current };
                let parts: Vec<String> = q.path.query(base).all().into_iter().map(text_of).collect();
                out.push_str(&parts.join(" "));
            }
            Node::Range(q, body) => {
                let base = if q.from_root { root } else { current };
                for item in q.path.query(base).all() {
                    render_nodes(body, root, item, out);
                }
            }
        }
    }
}

/// How kubectl prints one selected value: strings raw, everything else as compact JSON.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Index of the `}` closing an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' {
            quote = Some(c);
        } else if c == '}' {
            return Some(i);
        }
    }
    None
}

fn unquote(lit: &str) -> Result<String, TemplateError> {
    let inner = lit
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| TemplateError::BadString(lit.to_string()))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            _ => return Err(TemplateError::BadString(lit.to_string())),
        }
    }
    Ok(out)
}

fn compile(expr: &str) -> Result<Query, TemplateError> {
    let (from_root, rfc) = to_rfc9535(expr)?;
    let path = JsonPath::parse(&rfc).map_err(|_| TemplateError::BadPath(expr.to_string()))?;
    Ok(Query { from_root, path })
}

/// Translates a kubectl path (`.metadata.labels.app\.kubernetes\.io/name`, `.items[*]`) to RFC 9535
/// (`$['metadata']['labels']['app.kubernetes.io/name']`). Returns whether it starts at the root (`$`).
pub fn to_rfc9535(expr: &str) -> Result<(bool, String), TemplateError> {
    let bad = || TemplateError::BadPath(expr.to_string());
    let mut chars: Vec<char> = expr.trim().chars().collect();
    let mut from_root = false;
    if chars.first() == Some(&'$') {
        from_root = true;
        chars.remove(0);
    } else if chars.first() == Some(&'@') {
        chars.remove(0);
    }
    let mut out = String::from("$");
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if chars.get(i + 1) == Some(&'.') {
                    out.push_str("..");
                    i += 2;
                    if chars.get(i) == Some(&'[') {
                        continue;
                    }
                } else {
                    i += 1;
                }
                let mut name = String::new();
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    name.push(chars[i]);
                    i += 1;
                }
                if name == "*" {
                    out.push_str("[*]");
                } else if !name.is_empty() {
                    out.push_str("['");
                    out.push_str(&name.replace('\\', "\\\\").replace('\'', "\\'"));
                    out.push_str("']");
                } else if i < chars.len() && chars[i] != '[' {
                    return Err(bad());
                }
            }
            '[' => {
                let start = i;
                let mut depth = 0;
                let mut quote: Option<char> = None;
                while i < chars.len() {
                    let c = chars[i];
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None if c == '"' || c == '\'' => quote = Some(c),
                        None if c == '[' => depth += 1,
                        None if c == ']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        None => {}
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(bad());
                }
                out.extend(&chars[start..=i]);
                i += 1;
            }
            _ => return Err(bad()),
        }
    }
    Ok((from_root, out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::json;

    fn check(template: &str, data: Value, expect: &str) {
        let t = Template::parse(template).unwrap();
        assert_eq!(t.render(&data), expect, "template {template}");
    }

    fn pod() -> Value {
        json!({"metadata": {"name": "test-pod1", "labels": {"app.kubernetes.io/name": "web", "tier": "fe"}},
               "spec": {"restartPolicy": "Always", "containers": [{"name": "nginx1", "image": "nginx", "ports": [{"containerPort": 80}]},
                                         {"name": "nginx2", "image": "busybox"}]}})
    }

    #[test]
    fn container_names_are_space_separated() {
        check("{.spec.containers[*].name}", pod(), "nginx1 nginx2");
    }

    #[test]
    fn range_over_items_with_newlines() {
        let list = json!({"items": [pod(), {"metadata": {"name": "b"}}]});
        check("{range .items[*]}{.metadata.name}{\"\\n\"}{end}", list, "test-pod1\nb\n");
    }

    #[test]
    fn literal_text_and_index() {
        let list = json!({"items": [pod()]});
        check(
            "name={.items[0].metadata.name} policy={.items[0].spec.restartPolicy}",
            list,
            "name=test-pod1 policy=Always",
        );
    }

    #[test]
    fn escaped_dots_in_keys() {
        check("{.metadata.labels.app\\.kubernetes\\.io/name}", pod(), "web");
    }

    #[test]
    fn filters_numbers_and_objects() {
        check("{.spec.containers[?(@.name==\"nginx2\")].image}", pod(), "busybox");
        check("{.spec.containers[0].ports[0].containerPort}", pod(), "80");
        check("{.spec.containers[0].ports[0]}", pod(), "{\"containerPort\":80}");
    }

    #[test]
    fn missing_keys_print_nothing() {
        check("[{.status.phase}]", pod(), "[]");
    }

    #[test]
    fn root_inside_range() {
        let list = json!({"kind": "List", "items": [{"n": 1}, {"n": 2}]});
        check("{range .items[*]}{$.kind}:{.n},{end}", list, "List:1,List:2,");
    }

    #[test]
    fn nested_ranges() {
        let list = json!({"items": [pod()]});
        check("{range .items[*]}{range .spec.containers[*]}{.name};{end}{end}", list, "nginx1;nginx2;");
    }

    #[test]
    fn errors() {
        assert_eq!(Template::parse("{.a").unwrap_err(), TemplateError::Unclosed);
        assert_eq!(Template::parse("{end}").unwrap_err(), TemplateError::StrayEnd);
        assert_eq!(Template::parse("{range .a}x").unwrap_err(), TemplateError::MissingEnd);
        assert!(matches!(Template::parse("{.a[}").unwrap_err(), TemplateError::Unclosed | TemplateError::BadPath(_)));
    }

    #[test]
    fn relaxed_forms() {
        for e in [".metadata.name", "metadata.name", "{.metadata.name}"] {
            assert_eq!(Template::parse_relaxed(e).unwrap().render(&pod()), "test-pod1");
        }
    }

    #[test]
    fn translation() {
        assert_eq!(to_rfc9535(".a.b[*].c").unwrap(), (false, "$['a']['b'][*]['c']".to_string()));
        assert_eq!(to_rfc9535("$.a").unwrap(), (true, "$['a']".to_string()));
        assert_eq!(to_rfc9535("..name").unwrap(), (false, "$..['name']".to_string()));
        assert_eq!(to_rfc9535(".").unwrap(), (false, "$".to_string()));
    }
}
