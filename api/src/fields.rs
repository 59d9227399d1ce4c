//! Field selectors (`?fieldSelector=spec.nodeName=n1,status.phase!=Failed`), parsed as
//! apimachinery's `fields.ParseSelector`: comma-separated `f=v`, `f==v`, `f!=v` terms, empty
//! values allowed, `\` escaping `\`, `,` and `=` in values. Which fields exist is the API server's
//! business: `fields()` lists the ones a selector names so it can reject the unsupported.

use std::fmt;

/// Why a field selector was rejected; the text is apimachinery's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Term { selector: String, term: String },
    #[error("invalid field selector: invalid escape sequence: {0}")]
    EscapeSequence(String),
    /// Go prints the character as its code point number.
    #[error("invalid field selector: unescaped character in value: {}", *.0 as u32)]
    UnescapedRune(char),
}

/// `=` (also written `==`) or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

/// One term: `field op value`, with the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

impl FieldRequirement {
    /// Whether the object's value of this field (`""` when missing) satisfies the term.
    pub fn matches(&self, actual: Option<&str>) -> bool {
        let actual = actual.unwrap_or("");
        match self.op {
            FieldOp::Equals => actual == self.value,
            FieldOp::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            FieldOp::Equals => "=",
            FieldOp::NotEquals => "!=",
        };
        write!(f, "{}{}{}", self.field, op, escape_value(&self.value))
    }
}

/// A parsed field selector: every term must hold. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(selector: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::with_capacity(terms.len());
        for term in terms {
            if term.is_empty() {
                continue;
            }
            let bad_term = || FieldSelectorError::Term { selector: selector.to_owned(), term: term.to_owned() };
            let (field, op, raw) = split_term(term).ok_or_else(bad_term)?;
            requirements.push(FieldRequirement { field: field.to_owned(), op, value: unescape_value(raw)? });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The field names the selector uses, in order (a name may repeat).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.requirements.iter().map(|r| r.field.as_str())
    }

    /// Whether an object matches; `get` returns a field's value, `None` reading as `""`.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| r.matches(get(&r.field).as_deref()))
    }

    /// The value a selector pins `field` to with `=`, if any (e.g. `metadata.name` for a get-like
    /// list, or `spec.nodeName` to narrow a watch).
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && r.op == FieldOp::Equals).map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;
    fn from_str(s: &str) -> Result<FieldSelector, FieldSelectorError> {
        FieldSelector::parse(s)
    }
}

/// Splits on commas that are not escaped (escapes stay in the terms).
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at the first operator (`!=` and `==` are tried before `=`).
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op_text, op) in [("!=", FieldOp::NotEquals), ("==", FieldOp::Equals), ("=", FieldOp::Equals)] {
            if let Some(value) = rest.strip_prefix(op_text) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

fn unescape_value(s: &str) -> Result<String, FieldSelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => return Err(FieldSelectorError::EscapeSequence(format!("\\{other}"))),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(FieldSelectorError::UnescapedRune(c)),
            other => out.push(other),
        }
    }
    if in_slash {
        return Err(FieldSelectorError::EscapeSequence("\\".to_owned()));
    }
    Ok(out)
}

/// Escapes `\`, `,` and `=` so a value can be written back into a selector.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    /// Parses `input`; compares the (field, op, value) triples or the error text.
    fn check(input: &str, expected: Result<&[(&str, FieldOp, &str)], &str>) {
        let got = FieldSelector::parse(input)
            .map(|s| s.requirements().iter().map(|r| (r.field.clone(), r.op, r.value.clone())).collect::<Vec<_>>())
            .map_err(|e| e.to_string());
        let want = expected
            .map(|v| v.iter().map(|(f, o, x)| (f.to_string(), *o, x.to_string())).collect::<Vec<_>>())
            .map_err(str::to_owned);
        assert_eq!(got, want, "input {input:?}");
    }

    use FieldOp::{Equals as Eq, NotEquals as Ne};

    #[test]
    fn parses_terms() {
        check("", Ok(&[]));
        check("metadata.name=web", Ok(&[("metadata.name", Eq, "web")]));
        check("metadata.name==web", Ok(&[("metadata.name", Eq, "web")]));
        check(
            "spec.nodeName=node1,status.phase!=Succeeded,status.phase!=Failed",
            Ok(&[("spec.nodeName", Eq, "node1"), ("status.phase", Ne, "Failed"), ("status.phase", Ne, "Succeeded")]),
        );
        check(
            "involvedObject.namespace=,involvedObject.kind=Node",
            Ok(&[("involvedObject.kind", Eq, "Node"), ("involvedObject.namespace", Eq, "")]),
        );
        check(r"a=x\,y\=z\\", Ok(&[("a", Eq, r"x,y=z\")]));
        check("a=b,,", Ok(&[("a", Eq, "b")]));
    }

    #[test]
    fn rejects_bad_terms() {
        check("a", Err("invalid selector: 'a'; can't understand 'a'"));
        check("x=1,a", Err("invalid selector: 'x=1,a'; can't understand 'a'"));
        check(r"a=\x", Err(r"invalid field selector: invalid escape sequence: \x"));
        check(r"a=b\", Err(r"invalid field selector: invalid escape sequence: \"));
        check("a=b=c", Err("invalid field selector: unescaped character in value: 61"));
    }

    #[test]
    fn never_panics() {
        for s in crate::validation::fuzz::strings("ab.=!,\\ é", 20_000, 12) {
            if let Ok(sel) = FieldSelector::parse(&s) {
                let _ = sel.matches(|_| None);
                // The printed form parses back to the same terms (the order may differ: terms are
                // sorted as written, and `==` prints as `=`).
                let key = |s: &FieldSelector| {
                    let mut v: Vec<String> = s.requirements().iter().map(|r| format!("{r:?}")).collect();
                    v.sort();
                    v
                };
                assert_eq!(FieldSelector::parse(&sel.to_string()).map(|r| key(&r)), Ok(key(&sel)), "input {s:?}");
            }
        }
    }

    #[test]
    fn matches_and_prints() {
        let s = FieldSelector::parse("status.phase!=Failed,spec.nodeName=n1").unwrap();
        let obj = |node: Option<&str>, phase: &str| {
            let (node, phase) = (node.map(str::to_owned), phase.to_owned());
            move |f: &str| match f {
                "spec.nodeName" => node.clone(),
                "status.phase" => Some(phase.clone()),
                _ => None,
            }
        };
        assert!(s.matches(obj(Some("n1"), "Running")));
        assert!(!s.matches(obj(Some("n1"), "Failed")));
        assert!(!s.matches(obj(None, "Running")));
        let unbound = FieldSelector::parse("spec.nodeName=").unwrap();
        assert!(unbound.matches(obj(None, "Pending")));
        assert_eq!(s.fields().collect::<Vec<_>>(), ["spec.nodeName", "status.phase"]);
        assert_eq!(s.to_string(), "spec.nodeName=n1,status.phase!=Failed");
        assert_eq!(s.exact_value("spec.nodeName"), Some("n1"));
        assert_eq!(s.exact_value("status.phase"), None);
        assert_eq!(FieldSelector::parse(r"a=x\,y").unwrap().to_string(), r"a=x\,y");
        assert!(FieldSelector::parse("").unwrap().matches(|_| None));
    }
}
