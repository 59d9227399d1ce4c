//! `FieldError`: one validation problem, worded as apimachinery's `field.Error`, and `Path`, the
//! dotted field path it points at (`spec.containers[0].name`).

use std::fmt;

/// The kind of a field error; each maps to a Kubernetes `StatusCause` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooLong,
    TooMany,
    NotFound,
}

impl FieldErrorKind {
    /// The `StatusCause.reason` Kubernetes uses.
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::NotFound => "FieldValueNotFound",
        }
    }

    /// The words that open the message ("Required value", "Invalid value", …).
    pub fn label(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::NotFound => "Not found",
        }
    }
}

/// One validation problem. `bad_value` is the offending value already rendered the way
/// Kubernetes prints it: strings quoted Go-style (`"Bad_Name"`), numbers bare (`70000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    pub field: String,
    pub bad_value: Option<String>,
    pub detail: String,
}

/// A value that can be shown in a field error.
pub trait BadValue {
    fn render(&self) -> String;
}

impl BadValue for str {
    fn render(&self) -> String {
        go_quote(self)
    }
}

impl BadValue for String {
    fn render(&self) -> String {
        go_quote(self)
    }
}

impl<T: BadValue + ?Sized> BadValue for &T {
    fn render(&self) -> String {
        (**self).render()
    }
}

macro_rules! bare_bad_value {
    ($($t:ty),*) => {$(
        impl BadValue for $t {
            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
bare_bad_value!(i32, i64, u32, u64, usize, bool);

/// Go's `%#v` of a string slice, as Kubernetes prints list values.
impl BadValue for [String] {
    fn render(&self) -> String {
        let items: Vec<String> = self.iter().map(|s| go_quote(s)).collect();
        format!("[]string{{{}}}", items.join(", "))
    }
}

impl FieldError {
    fn new(
        kind: FieldErrorKind,
        field: impl Into<String>,
        bad_value: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError { kind, field: field.into(), bad_value, detail: detail.into() }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, None, detail)
    }

    pub fn invalid(field: impl Into<String>, value: impl BadValue, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Invalid, field, Some(value.render()), detail)
    }

    /// `Unsupported value: "x": supported values: "a", "b"` (in the order given).
    pub fn not_supported(field: impl Into<String>, value: impl BadValue, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(FieldErrorKind::NotSupported, field, Some(value.render()), detail)
    }

    pub fn duplicate(field: impl Into<String>, value: impl BadValue) -> Self {
        Self::new(FieldErrorKind::Duplicate, field, Some(value.render()), "")
    }

    pub fn not_found(field: impl Into<String>, value: impl BadValue) -> Self {
        Self::new(FieldErrorKind::NotFound, field, Some(value.render()), "")
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, None, detail)
    }

    /// `Too long: must have at most N bytes`.
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        Self::new(FieldErrorKind::TooLong, field, None, format!("must have at most {max_bytes} bytes"))
    }

    /// `Too many: N: must have at most M items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self::new(FieldErrorKind::TooMany, field, Some(actual.to_string()), format!("must have at most {max} items"))
    }

    /// The `StatusCause.reason`, e.g. "FieldValueInvalid".
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The message without the field, e.g. `Invalid value: "x": must be ...`.
    pub fn message(&self) -> String {
        let mut s = self.kind.label().to_owned();
        let shows_value =
            !matches!(self.kind, FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong);
        if shows_value {
            s.push_str(": ");
            s.push_str(self.bad_value.as_deref().unwrap_or("null"));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

impl std::error::Error for FieldError {}

/// Go's `strconv.Quote`: double quotes, with `"`, `\` and non-printable characters escaped.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A field path under construction: `Path::new("spec").child("containers").index(0)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn new(root: &str) -> Path {
        Path(root.to_owned())
    }

    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_owned())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }

    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }

    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{}]", self.0, k))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.0
    }
}

impl From<&Path> for String {
    fn from(p: &Path) -> String {
        p.0.clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn check(err: FieldError, reason: &str, display: &str) {
        assert_eq!(err.reason(), reason);
        assert_eq!(err.to_string(), display);
    }

    #[test]
    fn messages_match_kubernetes() {
        check(FieldError::required("spec.containers", ""), "FieldValueRequired", "spec.containers: Required value");
        check(
            FieldError::required("spec.containers[0].livenessProbe", "must specify a handler type"),
            "FieldValueRequired",
            "spec.containers[0].livenessProbe: Required value: must specify a handler type",
        );
        check(
            FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "OnFailure", "Never"]),
            "FieldValueNotSupported",
            r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
        );
        check(
            FieldError::duplicate("spec.initContainers[0].name", "c1"),
            "FieldValueDuplicate",
            r#"spec.initContainers[0].name: Duplicate value: "c1""#,
        );
        check(
            FieldError::invalid(
                "spec.containers[0].ports[0].containerPort",
                70000,
                "must be between 1 and 65535, inclusive",
            ),
            "FieldValueInvalid",
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        );
        check(
            FieldError::not_found("spec.containers[0].volumeMounts[0].name", "x"),
            "FieldValueNotFound",
            r#"spec.containers[0].volumeMounts[0].name: Not found: "x""#,
        );
        check(FieldError::forbidden("spec", "nope"), "FieldValueForbidden", "spec: Forbidden: nope");
        check(
            FieldError::too_long("metadata.annotations", 262144),
            "FieldValueTooLong",
            "metadata.annotations: Too long: must have at most 262144 bytes",
        );
        check(FieldError::too_many("x", 3, 2), "FieldValueTooMany", "x: Too many: 3: must have at most 2 items");
        check(
            FieldError::invalid("values", &["a".to_owned()][..], "bad"),
            "FieldValueInvalid",
            r#"values: Invalid value: []string{"a"}: bad"#,
        );
    }

    #[test]
    fn quoting_and_paths() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
        let p = Path::new("spec").child("containers").index(2).child("resources").child("limits").key("cpu");
        assert_eq!(p.as_str(), "spec.containers[2].resources.limits[cpu]");
        assert_eq!(Path::new("").child("key").as_str(), "key");
    }
}
