//! Label selectors: the string syntax of `?labelSelector=` (`a=b,c!=d,e in (x,y),!f`) parsed as
//! apimachinery's `labels.Parse` does (same grammar, same error wording), metav1 `LabelSelector`
//! objects (matchLabels / matchExpressions), matching against a label map, and printing back.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use crate::validation::error::{FieldError, Path};
use crate::validation::names;

/// Why a selector was rejected; the text is apimachinery's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The string does not follow the grammar (e.g. `found ')', expected: identifier`).
    #[error("{0}")]
    Syntax(String),
    /// A requirement in the string syntax is malformed or invalid.
    #[error("unable to parse requirement: {0}")]
    Requirement(String),
    /// A requirement is invalid (bad key or value, wrong number of values), as `NewRequirement`
    /// reports it.
    #[error("{0}")]
    Invalid(String),
    /// A matchExpressions operator that is not In, NotIn, Exists or DoesNotExist.
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
}

/// A requirement's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One condition on one label key. Values are sorted and unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, checking it as apimachinery's `NewRequirement` does.
    pub fn new(key: &str, op: Operator, values: Vec<String>) -> Result<Requirement, SelectorError> {
        let mut errs = Vec::new();
        let key_msgs = names::qualified_name(key);
        if !key_msgs.is_empty() {
            errs.push(FieldError::invalid("key", key, key_msgs.join("; ")));
        }
        let values_path = Path::new("values");
        match op {
            Operator::In | Operator::NotIn if values.is_empty() => errs.push(FieldError::invalid(
                &values_path,
                &values[..],
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => errs.push(
                FieldError::invalid(&values_path, &values[..], "exact-match compatibility requires one single value"),
            ),
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(FieldError::invalid(
                &values_path,
                &values[..],
                "values set must be empty for exists and does not exist",
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        &values_path,
                        &values[..],
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(FieldError::invalid(
                            values_path.index(i),
                            v,
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = names::label_value(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(values_path.index(i).key(key), v, msgs.join("; ")));
            }
        }
        if !errs.is_empty() {
            return Err(SelectorError::Invalid(aggregate(&errs)));
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement { key: key.to_owned(), op, values })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.op
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let has = |v: &String| self.values.binary_search(v).is_ok();
        match self.op {
            Operator::In | Operator::Equals | Operator::DoubleEquals => value.is_some_and(has),
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(has),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), [wanted]) = (value, self.values.as_slice()) else { return false };
                let (Ok(actual), Ok(wanted)) = (actual.parse::<i64>(), wanted.parse::<i64>()) else { return false };
                if self.op == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

/// Errors inside the string syntax are reported as "unable to parse requirement: ...".
fn in_requirement(e: SelectorError) -> SelectorError {
    match e {
        SelectorError::Invalid(m) => SelectorError::Requirement(m),
        other => other,
    }
}

/// apimachinery's aggregate error text: one error alone, several in brackets.
fn aggregate(errs: &[FieldError]) -> String {
    match errs {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let list = self.values.join(",");
        if matches!(self.op, Operator::In | Operator::NotIn) {
            write!(f, "({list})")
        } else {
            f.write_str(&list)
        }
    }
}

/// A label selector: all requirements must hold (AND). The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// Parses the `?labelSelector=` syntax.
    pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Parser { tokens: lex(s), pos: 0 }.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// One `key=value` requirement per entry (service selectors, nodeSelector, matchLabels).
    pub fn from_match_labels(labels: &BTreeMap<String, String>) -> Result<LabelSelector, SelectorError> {
        let requirements = labels
            .iter()
            .map(|(k, v)| Requirement::new(k, Operator::Equals, vec![v.clone()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LabelSelector { requirements })
    }

    /// A metav1 `LabelSelector` (matchLabels AND matchExpressions), as `LabelSelectorAsSelector`.
    pub fn from_k8s(selector: &metav1::LabelSelector) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::new(k, Operator::Equals, vec![v.clone()])?);
        }
        for expr in selector.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::Operator(other.to_owned())),
            };
            requirements.push(Requirement::new(&expr.key, op, expr.values.clone().unwrap_or_default())?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for LabelSelector {
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

impl std::str::FromStr for LabelSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<LabelSelector, SelectorError> {
        LabelSelector::parse(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn symbol(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "!" => Tok::DoesNotExist,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::GreaterThan,
        "<" => Tok::LessThan,
        "!=" => Tok::NotEquals,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

/// Splits the selector into tokens, as apimachinery's lexer: identifiers run until whitespace or a
/// symbol; symbols are the longest run that is a known operator.
fn lex(s: &str) -> Vec<(Tok, String)> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    loop {
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\r' | '\n') {
            i += 1;
        }
        if i >= chars.len() {
            tokens.push((Tok::End, String::new()));
            return tokens;
        }
        if is_special(chars[i]) {
            let mut buffer = String::new();
            let mut last: Option<(Tok, String)> = None;
            while i < chars.len() && is_special(chars[i]) {
                buffer.push(chars[i]);
                if let Some(tok) = symbol(&buffer) {
                    last = Some((tok, buffer.clone()));
                } else if last.is_some() {
                    break;
                }
                i += 1;
            }
            match last {
                Some(t) => tokens.push(t),
                None => {
                    tokens.push((Tok::Error, format!("error expected: keyword found '{buffer}'")));
                }
            }
        } else {
            let start = i;
            while i < chars.len() && !is_special(chars[i]) && !matches!(chars[i], ' ' | '\t' | '\r' | '\n') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let tok = match word.as_str() {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Identifier,
            };
            tokens.push((tok, word));
        }
    }
}

/// Whether `in`/`notin` are keywords (operator position) or plain words (keys and values).
#[derive(Clone, Copy, PartialEq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    tokens: Vec<(Tok, String)>,
    pos: usize,
}

impl Parser {
    fn peek(&self, ctx: Context) -> (Tok, String) {
        let (tok, lit) = self.tokens.get(self.pos).cloned().unwrap_or((Tok::End, String::new()));
        match tok {
            Tok::In | Tok::NotIn if ctx == Context::Values => (Tok::Identifier, lit),
            _ => (tok, lit),
        }
    }

    fn next(&mut self, ctx: Context) -> (Tok, String) {
        let t = self.peek(ctx);
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let syntax = |m: String| Err(SelectorError::Syntax(m));
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.peek(Context::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    requirements.push(self.requirement()?);
                    let (t, l) = self.next(Context::Values);
                    match t {
                        Tok::End => return Ok(requirements),
                        Tok::Comma => {
                            let (t2, l2) = self.peek(Context::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return syntax(format!("found '{l2}', expected: identifier after ','"));
                            }
                        }
                        _ => return syntax(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(requirements),
                _ => return syntax(format!("found '{lit}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let wrap = |m: String| SelectorError::Requirement(m);
        let (mut tok, mut lit) = self.next(Context::Values);
        let mut negated = false;
        if tok == Tok::DoesNotExist {
            negated = true;
            (tok, lit) = self.next(Context::Values);
        }
        if tok != Tok::Identifier {
            return Err(wrap(format!("found '{lit}', expected: identifier")));
        }
        let key = lit;
        let key_msgs = names::qualified_name(&key);
        if !key_msgs.is_empty() {
            return Err(wrap(FieldError::invalid("key", &key, key_msgs.join("; ")).to_string()));
        }
        let (next, _) = self.peek(Context::Values);
        if negated || next == Tok::End || next == Tok::Comma {
            let op = if negated { Operator::DoesNotExist } else { Operator::Exists };
            return Requirement::new(&key, op, Vec::new()).map_err(in_requirement);
        }
        let (tok, lit) = self.next(Context::KeyAndOperator);
        let op = match tok {
            Tok::In => Operator::In,
            Tok::NotIn => Operator::NotIn,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::NotEquals => Operator::NotEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            _ => return Err(wrap(format!("found '{lit}', expected: in, notin, =, ==, !=, gt, lt"))),
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.value_set().map_err(wrap)?,
            _ => self.exact_value().map_err(wrap)?,
        };
        Requirement::new(&key, op, values).map_err(in_requirement)
    }

    /// `( a, b, ... )`; empty entries stand for the empty string, as in apimachinery.
    fn value_set(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.next(Context::Values);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.peek(Context::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let values = self.identifiers()?;
                let (tok, _) = self.next(Context::Values);
                if tok != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Tok::ClosedPar => {
                self.next(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn identifiers(&mut self) -> Result<Vec<String>, String> {
        let mut values = Vec::new();
        loop {
            let (tok, lit) = self.next(Context::Values);
            match tok {
                Tok::Identifier => {
                    values.push(lit);
                    let (t2, l2) = self.peek(Context::Values);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    let (t2, _) = self.peek(Context::Values);
                    if t2 == Tok::ClosedPar {
                        values.push(String::new());
                        return Ok(values);
                    }
                    if t2 == Tok::Comma {
                        self.next(Context::Values);
                        values.push(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.peek(Context::Values);
        if tok == Tok::End || tok == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.next(Context::Values);
        if tok == Tok::Identifier {
            Ok(vec![lit])
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    /// Parses `input`; on success compares the printed form, on failure the error text.
    fn check(input: &str, expected: Result<&str, &str>) {
        let got = LabelSelector::parse(input).map(|s| s.to_string()).map_err(|e| e.to_string());
        let want = expected.map(str::to_owned).map_err(str::to_owned);
        assert_eq!(got, want, "input {input:?}");
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_the_string_syntax() {
        check("", Ok(""));
        check("a=b", Ok("a=b"));
        check("a==b", Ok("a==b"));
        check("a!=b", Ok("a!=b"));
        check(" a in ( y , x ) ", Ok("a in (x,y)"));
        check("a notin (x)", Ok("a notin (x)"));
        check("a", Ok("a"));
        check("!a", Ok("!a"));
        check("z=1,a", Ok("a,z=1"));
        check("a=", Ok("a="));
        check("a in ()", Ok("a in ()"));
        check("a in (x,)", Ok("a in (,x)"));
        check("x>1,y<2", Ok("x>1,y<2"));
        check("example.com/app=web", Ok("example.com/app=web"));
        check("in in (in,notin)", Ok("in in (in,notin)"));
    }

    #[test]
    fn rejects_bad_selectors() {
        check("a=b,", Err("found '', expected: identifier after ','"));
        check(",a", Err("found ',', expected: !, identifier, or 'end of string'"));
        check("a b", Err("unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"));
        check("a in x", Err("unable to parse requirement: found 'x' expected: '('"));
        check("a in (x", Err("unable to parse requirement: found '', expected: ',' or ')'"));
        check("a=b c", Err("found 'c', expected: ',' or 'end of string'"));
        check("a=(", Err("unable to parse requirement: found '(', expected: identifier"));
        check("a!!b", Err("unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"));
        check(
            "-a=b",
            Err("unable to parse requirement: key: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
        );
        check(
            "a=-b",
            Err("unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
        );
        check(
            "a>b",
            Err("unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"),
        );
    }

    #[test]
    fn never_panics() {
        let l = labels(&[("a", "1"), ("b", "x")]);
        for s in crate::validation::fuzz::strings("ab1 =!(),<>in/.-_é", 20_000, 14) {
            if let Ok(sel) = LabelSelector::parse(&s) {
                let _ = sel.matches(&l);
                // The printed form parses back to the same selector.
                assert_eq!(LabelSelector::parse(&sel.to_string()), Ok(sel.clone()), "input {s:?}");
            }
        }
    }

    #[test]
    fn matches_labels() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("app in (db,web)"));
        assert!(!m("app notin (db,web)"));
        assert!(m("missing notin (x)"));
        assert!(!m("missing in (x)"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("n>4,n<6"));
        assert!(!m("n>5"));
        assert!(!m("app>1"));
        assert!(!m("app=web,tier=back"));
    }

    #[test]
    fn from_k8s_selectors() {
        let sel = metav1::LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![
                metav1::LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["front".into(), "edge".into()]),
                },
                metav1::LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        let s = LabelSelector::from_k8s(&sel).unwrap();
        assert_eq!(s.to_string(), "app=web,!legacy,tier in (edge,front)");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "edge")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "edge"), ("legacy", "")])));
        assert!(LabelSelector::from_k8s(&metav1::LabelSelector::default()).unwrap().is_empty());
        let bad = metav1::LabelSelector {
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "a".into(),
                operator: "Gt".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert_eq!(
            LabelSelector::from_k8s(&bad).unwrap_err().to_string(),
            "\"Gt\" is not a valid label selector operator"
        );
        let empty_in = metav1::LabelSelector {
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "a".into(),
                operator: "In".into(),
                values: Some(vec![]),
            }]),
            ..Default::default()
        };
        assert_eq!(
            LabelSelector::from_k8s(&empty_in).unwrap_err().to_string(),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
        let m = LabelSelector::from_match_labels(&labels(&[("a", "1")])).unwrap();
        assert!(m.matches(&labels(&[("a", "1")])) && !m.matches(&labels(&[])));
    }
}
