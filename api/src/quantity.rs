//! Kubernetes resource quantities ("100m", "32Mi", "1e3"), held exactly as a whole number of
//! nano-units, plus the resource-list sums the scheduler and node agent need (`pod_requests`,
//! `pod_limits`).
//!
//! Parsing follows apimachinery's grammar: `<sign>? <digits>(.<digits>)? <suffix>` where the suffix
//! is a binary one (`Ki` … `Ei`), a decimal one (`n u m "" k M G T P E`) or an exponent (`e3`,
//! `E-2`). As in Go, values are rounded up (away from zero) to the nearest nano-unit and capped at
//! 2^63-1 units. The text form is canonical: `0.1` prints as `100m`, `1024Mi` as `1Gi`, `1000` as
//! `1k`; the suffix family a quantity was written in is remembered.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, Sub};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// 2^63-1 units, in nanos: the largest magnitude a quantity holds (as apimachinery caps it).
const MAX_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// Why a quantity string was rejected. The message is apimachinery's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// The suffix family a quantity is printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `m`, `k`, `M`, … (powers of 1000).
    #[default]
    DecimalSI,
    /// `Ki`, `Mi`, … (powers of 1024).
    BinarySI,
    /// `e3`, `e-3`, … (powers of ten).
    DecimalExponent,
}

/// An exact resource quantity. Equality and order compare the amount only, not the format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

impl Quantity {
    /// Parses Kubernetes' quantity syntax.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let bytes = s.as_bytes();
        let mut pos = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                pos = 1;
                true
            }
            Some(b'+') => {
                pos = 1;
                false
            }
            _ => false,
        };
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let int_part = &s[int_start..pos];
        let mut frac_part = "";
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let frac_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            frac_part = &s[frac_start..pos];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(QuantityError::Format);
        }
        let (format, binary_power, exp10) = parse_suffix(&s[pos..])?;

        // The exact value is digits * 1024^binary_power * 10^(exp10 - frac_len); nanos add 9.
        let mut digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
        for _ in 0..binary_power {
            multiply_digits(&mut digits, 1024);
        }
        let exp = i64::from(exp10) - frac_part.len() as i64 + 9;
        let magnitude = round_up_to_integer(&digits, exp);
        let nanos = if negative { -magnitude } else { magnitude };
        Ok(Quantity { nanos, format })
    }

    /// An amount in thousandths of a unit (`from_milli(100)` is `100m`), in decimal format.
    pub fn from_milli(milli: impl Into<i128>) -> Quantity {
        Quantity { nanos: clamp(milli.into().saturating_mul(1_000_000)), format: Format::DecimalSI }
    }

    /// A whole number of units, in decimal format.
    pub fn from_value(value: impl Into<i128>) -> Quantity {
        Quantity { nanos: clamp(value.into().saturating_mul(NANOS_PER_UNIT)), format: Format::DecimalSI }
    }

    /// The same amount, printed in `format` (e.g. `BinarySI` for byte counts).
    pub fn with_format(self, format: Format) -> Quantity {
        Quantity { format, ..self }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The amount in nano-units, exact.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The amount in thousandths, rounded up (away from zero), like Go's `MilliValue`.
    pub fn milli_value(&self) -> i128 {
        div_round_up(self.nanos, 1_000_000)
    }

    /// The amount in whole units, rounded up (away from zero), like Go's `Value`.
    pub fn value(&self) -> i128 {
        div_round_up(self.nanos, NANOS_PER_UNIT)
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// The k8s-openapi form (the canonical string).
    pub fn to_k8s(&self) -> K8sQuantity {
        K8sQuantity(self.to_string())
    }

    /// Adds, saturating at the ±(2^63-1) units bound. The result keeps `self`'s format unless
    /// `self` is zero (then it takes `other`'s), as Go's `Quantity.Add` does.
    pub fn saturating_add(self, other: Quantity) -> Quantity {
        let format = if self.nanos == 0 { other.format } else { self.format };
        Quantity { nanos: clamp(self.nanos + other.nanos), format }
    }

    /// Subtracts, saturating at the ±(2^63-1) units bound; the format rule is `saturating_add`'s.
    pub fn saturating_sub(self, other: Quantity) -> Quantity {
        let format = if self.nanos == 0 { other.format } else { self.format };
        Quantity { nanos: clamp(self.nanos - other.nanos), format }
    }
}

/// Parses the value of a k8s-openapi quantity.
pub fn parse_k8s(q: &K8sQuantity) -> Result<Quantity, QuantityError> {
    Quantity::parse(&q.0)
}

/// `+` saturates (see [`Quantity::saturating_add`]).
impl Add for Quantity {
    type Output = Quantity;
    fn add(self, other: Quantity) -> Quantity {
        self.saturating_add(other)
    }
}

/// `-` saturates (see [`Quantity::saturating_sub`]).
impl Sub for Quantity {
    type Output = Quantity;
    fn sub(self, other: Quantity) -> Quantity {
        self.saturating_sub(other)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(s)
    }
}

/// The canonical form, as Go's `CanonicalizeBytes`: no fractional digits, the largest suffix
/// that loses no precision, binary only for whole numbers of at least 1024.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let binary = self.format == Format::BinarySI
            && self.nanos.abs() >= 1024 * NANOS_PER_UNIT
            && self.nanos % NANOS_PER_UNIT == 0;
        if binary {
            let mut units = self.nanos / NANOS_PER_UNIT;
            let mut power = 0;
            while power < 6 && units % 1024 == 0 {
                units /= 1024;
                power += 1;
            }
            const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
            return write!(f, "{units}{}", SUFFIXES[power]);
        }
        let mut mantissa = self.nanos;
        let mut exp: i32 = -9;
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exp += 1;
        }
        while exp.rem_euclid(3) != 0 {
            mantissa *= 10;
            exp -= 1;
        }
        if self.format == Format::DecimalExponent {
            return if exp == 0 { write!(f, "{mantissa}") } else { write!(f, "{mantissa}e{exp}") };
        }
        while exp > 18 {
            mantissa *= 1000;
            exp -= 3;
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        write!(f, "{mantissa}{suffix}")
    }
}

/// Splits a suffix into (format, power of 1024, power of ten).
fn parse_suffix(suffix: &str) -> Result<(Format, u32, i32), QuantityError> {
    let decimal = |e| Ok((Format::DecimalSI, 0, e));
    let binary = |p| Ok((Format::BinarySI, p, 0));
    match suffix {
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E']).ok_or_else(|| suffix_error(suffix))?;
            let unsigned = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return Err(suffix_error(suffix));
            }
            // Exponents beyond ±1000 only saturate or round; clamp them so arithmetic stays small.
            let exp = rest.parse::<i64>().unwrap_or(if rest.starts_with('-') { -1000 } else { 1000 });
            Ok((Format::DecimalExponent, 0, exp.clamp(-1000, 1000) as i32))
        }
    }
}

/// A bad suffix made of the grammar's characters is a suffix error, anything else a format error.
fn suffix_error(suffix: &str) -> QuantityError {
    let shape_ok = {
        let body = suffix.trim_end_matches(|c: char| c.is_ascii_digit());
        let body = body.strip_suffix(['+', '-']).unwrap_or(body);
        body.chars().all(|c| "eEinumkKMGTP".contains(c))
    };
    if shape_ok {
        QuantityError::Suffix
    } else {
        QuantityError::Format
    }
}

/// Multiplies a big-endian decimal digit vector in place.
fn multiply_digits(digits: &mut Vec<u8>, factor: u32) {
    let mut carry = 0u32;
    for d in digits.iter_mut().rev() {
        let v = u32::from(*d) * factor + carry;
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    while carry > 0 {
        digits.insert(0, (carry % 10) as u8);
        carry /= 10;
    }
}

/// ceil(digits * 10^exp), capped at `MAX_NANOS`.
fn round_up_to_integer(digits: &[u8], exp: i64) -> i128 {
    let start = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    let digits = &digits[start..];
    if digits.is_empty() {
        return 0;
    }
    let (whole, round_up) = if exp >= 0 {
        (digits, false)
    } else {
        let drop = usize::try_from(-exp).unwrap_or(usize::MAX).min(digits.len());
        let (whole, rest) = digits.split_at(digits.len() - drop);
        (whole, rest.iter().any(|&d| d != 0))
    };
    let whole_len = whole.len() as i64 + exp.max(0);
    // MAX_NANOS has 28 digits; anything longer is over the cap.
    if whole_len > 28 {
        return MAX_NANOS;
    }
    let mut value: i128 = 0;
    for &d in whole {
        value = value * 10 + i128::from(d);
    }
    for _ in 0..exp.max(0) {
        value *= 10;
    }
    (value + i128::from(round_up)).min(MAX_NANOS)
}

fn clamp(nanos: i128) -> i128 {
    nanos.clamp(-MAX_NANOS, MAX_NANOS)
}

fn div_round_up(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 {
        q
    } else if n > 0 {
        q + 1
    } else {
        q - 1
    }
}

/// A parsed resource list (`cpu` → `500m`, …). Unparsable entries are left out.
pub fn parse_list(list: Option<&BTreeMap<String, K8sQuantity>>) -> BTreeMap<String, Quantity> {
    list.into_iter().flatten().filter_map(|(k, v)| parse_k8s(v).ok().map(|q| (k.clone(), q))).collect()
}

fn add_into(total: &mut BTreeMap<String, Quantity>, list: &BTreeMap<String, Quantity>) {
    for (name, q) in list {
        let entry = total.entry(name.clone()).or_default();
        *entry = *entry + *q;
    }
}

fn max_into(total: &mut BTreeMap<String, Quantity>, list: &BTreeMap<String, Quantity>) {
    for (name, q) in list {
        match total.get_mut(name) {
            Some(current) if *current >= *q => {}
            Some(current) => *current = *q,
            None => {
                total.insert(name.clone(), *q);
            }
        }
    }
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Kubernetes' effective pod total for one side of `resources` (requests or limits): the sum over
/// main containers and native sidecars, against the max over each init container's use (its own
/// amount plus the sidecars started before it).
fn pod_total(
    spec: &PodSpec,
    side: impl Fn(&Container) -> Option<&BTreeMap<String, K8sQuantity>>,
) -> BTreeMap<String, Quantity> {
    let mut total = BTreeMap::new();
    for c in &spec.containers {
        add_into(&mut total, &parse_list(side(c)));
    }
    let mut sidecars = BTreeMap::new();
    let mut init_max = BTreeMap::new();
    for c in spec.init_containers.iter().flatten() {
        let own = parse_list(side(c));
        if is_sidecar(c) {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            max_into(&mut init_max, &sidecars);
        } else {
            let mut use_ = own;
            add_into(&mut use_, &sidecars);
            max_into(&mut init_max, &use_);
        }
    }
    max_into(&mut total, &init_max);
    total
}

/// What a pod requests, as Kubernetes computes it for scheduling: the sum of the main containers'
/// (and native sidecars') requests against the largest init container's use, plus `spec.overhead`.
/// Entries that do not parse are ignored (validation rejects them before they are stored).
pub fn pod_requests(spec: &PodSpec) -> BTreeMap<String, Quantity> {
    let mut total = pod_total(spec, |c| c.resources.as_ref().and_then(|r| r.requests.as_ref()));
    add_into(&mut total, &parse_list(spec.overhead.as_ref()));
    total
}

/// A pod's limits by the same rule; overhead is added only to resources that have a limit.
pub fn pod_limits(spec: &PodSpec) -> BTreeMap<String, Quantity> {
    let mut total = pod_total(spec, |c| c.resources.as_ref().and_then(|r| r.limits.as_ref()));
    for (name, q) in parse_list(spec.overhead.as_ref()) {
        if let Some(current) = total.get_mut(&name) {
            *current = *current + q;
        }
    }
    total
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    /// Parses `input` and compares (canonical text, milli value) or the error.
    fn check(input: &str, expected: Result<(&str, i128), QuantityError>) {
        let got = Quantity::parse(input).map(|q| (q.to_string(), q.milli_value()));
        let want = expected.map(|(s, m)| (s.to_owned(), m));
        assert_eq!(got, want, "input {input:?}");
    }

    #[test]
    fn parses_and_canonicalizes() {
        check("100m", Ok(("100m", 100)));
        check("0.1", Ok(("100m", 100)));
        check("1", Ok(("1", 1000)));
        check("32Mi", Ok(("32Mi", 32 * 1024 * 1024 * 1000)));
        check("1Gi", Ok(("1Gi", 1073741824000)));
        check("1024Mi", Ok(("1Gi", 1073741824000)));
        check("1536Mi", Ok(("1536Mi", 1610612736000)));
        check("1.5Gi", Ok(("1536Mi", 1610612736000)));
        check("0.5Gi", Ok(("512Mi", 536870912000)));
        check("0.5Ki", Ok(("512", 512000)));
        check("1e3", Ok(("1e3", 1_000_000)));
        check("1E3", Ok(("1e3", 1_000_000)));
        check("1.5e3", Ok(("1500", 1_500_000)));
        check("1e-3", Ok(("1e-3", 1)));
        check("1.5", Ok(("1500m", 1500)));
        check("500M", Ok(("500M", 500_000_000_000)));
        check("2k", Ok(("2k", 2_000_000)));
        check("1000", Ok(("1k", 1_000_000)));
        check("+1", Ok(("1", 1000)));
        check("-1", Ok(("-1", -1000)));
        check("-100m", Ok(("-100m", -100)));
        check("0", Ok(("0", 0)));
        check("0.0", Ok(("0", 0)));
        check("0Mi", Ok(("0", 0)));
        check("010", Ok(("10", 10_000)));
        check("1.", Ok(("1", 1000)));
        check(".5", Ok(("500m", 500)));
        check("1n", Ok(("1n", 1)));
        check("1500u", Ok(("1500u", 2)));
        check("0.1m", Ok(("100u", 1)));
        check("1.0000000001", Ok(("1000000001n", 1001)));
        check("0.0000000001", Ok(("1n", 1)));
        check("1E", Ok(("1E", 1_000_000_000_000_000_000_000)));
        check("8Ei", Ok(("9223372036854775807", 9_223_372_036_854_775_807_000)));
        check("1e100", Ok(("9223372036854775807", 9_223_372_036_854_775_807_000)));
    }

    #[test]
    fn rejects_bad_input() {
        check("", Err(QuantityError::Format));
        check("1.2.3", Err(QuantityError::Format));
        check("abc", Err(QuantityError::Format));
        check("1Mb", Err(QuantityError::Format));
        check("--1", Err(QuantityError::Format));
        check("-", Err(QuantityError::Format));
        check(".", Err(QuantityError::Format));
        check("1 ", Err(QuantityError::Format));
        check("1e", Err(QuantityError::Suffix));
        check("1ki", Err(QuantityError::Suffix));
        check("1KiB", Err(QuantityError::Format));
        check("1e1.5", Err(QuantityError::Format));
    }

    #[test]
    fn never_panics() {
        for s in crate::validation::fuzz::strings("0123456789.+-eEinumkKMGTPi é", 20_000, 12) {
            if let Ok(q) = Quantity::parse(&s) {
                // Whatever parses prints in a form that parses back to the same amount.
                assert_eq!(Quantity::parse(&q.to_string()), Ok(q), "input {s:?} printed {q}");
                let _ = (q.milli_value(), q.value(), q + q, q - q);
            }
        }
    }

    #[test]
    fn values_round_up_away_from_zero() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(q("100m").value(), 1);
        assert_eq!(q("1001m").value(), 2);
        assert_eq!(q("-1001m").value(), -2);
        assert_eq!(q("1").value(), 1);
        assert_eq!(q("1500u").milli_value(), 2);
        assert_eq!(q("32Mi").value(), 33554432);
    }

    #[test]
    fn arithmetic_and_order() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert!(q("100m") < q("0.2"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!((q("500m") + q("500m")).to_string(), "1");
        assert_eq!((q("1Gi") + q("1Gi")).to_string(), "2Gi");
        assert_eq!((Quantity::default() + q("1Gi")).to_string(), "1Gi");
        assert_eq!((q("1") - q("1500m")).to_string(), "-500m");
        assert_eq!(q("8Ei") + q("8Ei"), q("8Ei"));
        assert!(q("0").is_zero());
        assert_eq!(Quantity::from_milli(250).to_string(), "250m");
        assert_eq!(Quantity::from_milli(1500i64).to_string(), "1500m");
        assert_eq!(Quantity::from_value(i128::MAX), q("8Ei"));
        assert_eq!(Quantity::from_value(2048).to_string(), "2048");
        assert_eq!(Quantity::from_value(2048).with_format(Format::BinarySI).to_string(), "2Ki");
        assert_eq!(parse_k8s(&K8sQuantity("64Mi".into())).unwrap().value(), 64 << 20);
        assert_eq!(q("1.5Gi").to_k8s(), K8sQuantity("1536Mi".into()));
    }

    fn container(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)], sidecar: bool) -> Container {
        let list = |l: &[(&str, &str)]| {
            (!l.is_empty()).then(|| l.iter().map(|(k, v)| (k.to_string(), K8sQuantity(v.to_string()))).collect())
        };
        Container {
            name: name.into(),
            resources: Some(ResourceRequirements { requests: list(requests), limits: list(limits), claims: None }),
            restart_policy: sidecar.then(|| "Always".to_owned()),
            ..Default::default()
        }
    }

    fn text(list: &BTreeMap<String, Quantity>) -> String {
        list.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }

    #[test]
    fn pod_requests_follow_kubernetes_rule() {
        let spec = PodSpec {
            containers: vec![
                container("a", &[("cpu", "100m"), ("memory", "64Mi")], &[("cpu", "200m")], false),
                container("b", &[("cpu", "200m")], &[], false),
            ],
            init_containers: Some(vec![container(
                "i",
                &[("cpu", "1"), ("memory", "32Mi")],
                &[("memory", "1Gi")],
                false,
            )]),
            overhead: Some([("cpu".to_string(), K8sQuantity("10m".into()))].into()),
            ..Default::default()
        };
        assert_eq!(text(&pod_requests(&spec)), "cpu=1010m,memory=64Mi");
        // Overhead only lands on limited resources; the init container's memory limit wins.
        assert_eq!(text(&pod_limits(&spec)), "cpu=210m,memory=1Gi");
    }

    #[test]
    fn native_sidecars_add_up() {
        let spec = PodSpec {
            containers: vec![container("main", &[("cpu", "500m")], &[], false)],
            init_containers: Some(vec![
                container("side", &[("cpu", "300m")], &[], true),
                container("init", &[("cpu", "1")], &[], false),
            ]),
            ..Default::default()
        };
        // Main + sidecar = 800m; init use = 1 + 300m (sidecar already running) = 1300m.
        assert_eq!(text(&pod_requests(&spec)), "cpu=1300m");

        let spec = PodSpec {
            containers: vec![container("main", &[("cpu", "2")], &[], false)],
            init_containers: Some(vec![
                container("init", &[("cpu", "1")], &[], false),
                container("side", &[("cpu", "300m")], &[], true),
            ]),
            ..Default::default()
        };
        assert_eq!(text(&pod_requests(&spec)), "cpu=2300m");
        assert!(pod_requests(&PodSpec::default()).is_empty());
    }
}
