//! `metadata` rules shared by every object: name syntax, namespace presence, labels,
//! annotations, finalizers, and the fields an update may not change.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::error::{FieldError, Path};
use super::names;

/// Total size of all annotation keys and values (apimachinery's `TotalAnnotationSizeLimitB`).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Which syntax an object's name must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain: pods, configmaps, secrets, nodes, leases, events.
    Subdomain,
    /// DNS-1123 label: namespaces.
    Label,
    /// DNS-1035 label (starts with a letter): services.
    Dns1035,
}

impl NameRule {
    /// The problems with `name`; with `prefix`, a generateName prefix (a trailing '-' is fine).
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && name.len() > 1 && name.ends_with('-') {
            masked = format!("{}a", &name[..name.len() - 1]);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Subdomain => names::dns1123_subdomain(name),
            NameRule::Label => names::dns1123_label(name),
            NameRule::Dns1035 => names::dns1035_label(name),
        }
    }
}

/// `metadata` of a new object whose name is a DNS subdomain (pods, configmaps, secrets, nodes,
/// leases, events). `namespaced`: whether the kind lives in a namespace.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool) -> Vec<FieldError> {
    validate_object_meta_with(meta, namespaced, NameRule::Subdomain)
}

/// `metadata` of a new object, with the kind's name rule.
pub fn validate_object_meta_with(meta: &ObjectMeta, namespaced: bool, rule: NameRule) -> Vec<FieldError> {
    let path = Path::new("metadata");
    let mut errs = Vec::new();
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            errs.push(FieldError::invalid(path.child("generateName"), generate_name, msg));
        }
    }
    match meta.name.as_deref().unwrap_or("") {
        "" if generate_name.is_empty() => {
            errs.push(FieldError::required(path.child("name"), "name or generateName is required"))
        }
        "" => {}
        name => {
            for msg in rule.check(name, false) {
                errs.push(FieldError::invalid(path.child("name"), name, msg));
            }
        }
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(path.child("namespace"), ""));
        } else {
            for msg in names::dns1123_label(namespace) {
                errs.push(FieldError::invalid(path.child("namespace"), namespace, msg));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(path.child("namespace"), "not allowed on this type"));
    }
    if let Some(generation) = meta.generation.filter(|g| *g < 0) {
        errs.push(FieldError::invalid(path.child("generation"), generation, "must be greater than or equal to 0"));
    }
    errs.extend(validate_labels(meta.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(meta.annotations.as_ref(), &path.child("annotations")));
    for finalizer in meta.finalizers.iter().flatten() {
        errs.extend(validate_finalizer(finalizer, &path.child("finalizers")));
    }
    errs
}

/// Label keys are qualified names, values label values (`ValidateLabels`).
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        for msg in names::qualified_name(k) {
            errs.push(FieldError::invalid(path, k, msg));
        }
        for msg in names::label_value(v) {
            errs.push(FieldError::invalid(path, v, msg));
        }
    }
    errs
}

/// Annotation keys are qualified names (case-insensitive); all of them together ≤ 256 KiB.
pub fn validate_annotations(annotations: Option<&BTreeMap<String, String>>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations.into_iter().flatten() {
        for msg in names::qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k, msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_finalizer(name: &str, path: &Path) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> =
        names::qualified_name(name).into_iter().map(|msg| FieldError::invalid(path, name, msg)).collect();
    let standard = matches!(name, "kubernetes" | "orphan" | "foregroundDeletion");
    if errs.is_empty() && !standard && !name.contains('/') {
        errs.push(FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
    errs
}

/// What an update may not change in `metadata`: name, namespace, uid and creationTimestamp.
/// An update that leaves uid or creationTimestamp out keeps the stored ones (as kube-apiserver's
/// `BeforeUpdate` fills them in), so only a different value is an error.
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> Vec<FieldError> {
    let path = Path::new("metadata");
    let mut errs = Vec::new();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut immutable = |field: &str, new: String, old: String| {
        if new != old {
            errs.push(FieldError::invalid(path.child(field), new, "field is immutable"));
        }
    };
    immutable("name", text(&new.name), text(&old.name));
    immutable("namespace", text(&new.namespace), text(&old.namespace));
    if new.uid.as_deref().is_some_and(|u| !u.is_empty()) {
        immutable("uid", text(&new.uid), text(&old.uid));
    }
    if let Some(created) = new.creation_timestamp.as_ref().filter(|t| Some(*t) != old.creation_timestamp.as_ref()) {
        errs.push(FieldError {
            kind: super::FieldErrorKind::Invalid,
            field: path.child("creationTimestamp").into(),
            bad_value: Some(go_time(created)),
            detail: "field is immutable".into(),
        });
    }
    errs
}

/// Go's `time.Time.String()` for a UTC instant: `2024-01-02 03:04:05 +0000 UTC`.
fn go_time(t: &Time) -> String {
    t.0.strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
        ObjectMeta { name: Some(name.into()), namespace: namespace.map(Into::into), ..Default::default() }
    }

    fn check(errs: Vec<FieldError>, expected: &[&str]) {
        let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn names_and_namespaces() {
        check(validate_object_meta(&meta("web", Some("default")), true), &[]);
        check(
            validate_object_meta(&meta("Bad_Name", Some("default")), true),
            &[
                r#"metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
            ],
        );
        check(
            validate_object_meta(&ObjectMeta::default(), false),
            &["metadata.name: Required value: name or generateName is required"],
        );
        let generated =
            ObjectMeta { generate_name: Some("web-".into()), namespace: Some("ns".into()), ..Default::default() };
        check(validate_object_meta(&generated, true), &[]);
        check(validate_object_meta(&meta("web", None), true), &["metadata.namespace: Required value"]);
        check(
            validate_object_meta(&meta("n1", Some("x")), false),
            &["metadata.namespace: Forbidden: not allowed on this type"],
        );
        check(
            validate_object_meta_with(&meta("a.b", None), false, NameRule::Label),
            &[r#"metadata.name: Invalid value: "a.b": must not contain dots"#],
        );
    }

    #[test]
    fn labels_annotations_finalizers() {
        let mut m = meta("web", Some("default"));
        m.labels = Some([("app".to_string(), "-bad".to_string())].into());
        m.annotations = Some([("Example.com/Key".to_string(), "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT))].into());
        m.finalizers = Some(vec!["kubernetes".into(), "example.com/f".into(), "custom".into()]);
        let errs = validate_object_meta(&m, true);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["metadata.labels", "metadata.annotations", "metadata.finalizers"]);
        assert!(errs[0].message().starts_with(r#"Invalid value: "-bad": a valid label must be"#));
        assert_eq!(errs[1].to_string(), "metadata.annotations: Too long: must have at most 262144 bytes");
        assert_eq!(
            errs[2].to_string(),
            r#"metadata.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified"#
        );
    }

    #[test]
    fn update_immutables() {
        let old = ObjectMeta { uid: Some("u1".into()), generation: Some(2), ..meta("web", Some("default")) };
        let mut new = old.clone();
        check(validate_object_meta_update(&new, &old), &[]);
        new.name = Some("other".into());
        new.uid = Some("u2".into());
        new.creation_timestamp = Some(Time("2024-01-02T03:04:05Z".parse().unwrap()));
        check(
            validate_object_meta_update(&new, &old),
            &[
                r#"metadata.name: Invalid value: "other": field is immutable"#,
                r#"metadata.uid: Invalid value: "u2": field is immutable"#,
                "metadata.creationTimestamp: Invalid value: 2024-01-02 03:04:05 +0000 UTC: field is immutable",
            ],
        );
        // Left out: kept from the stored object, not an error.
        let bare = ObjectMeta { uid: None, ..meta("web", Some("default")) };
        check(validate_object_meta_update(&bare, &old), &[]);
    }
}
