//! Kubernetes' protobuf envelope, decoded to the JSON form for the objects kubectl sends that way
//! (`kubectl create configmap|secret|namespace|service`): ConfigMap, Secret, Namespace, Service.
//!
//! The body is `k8s\0` followed by a `runtime.Unknown` message
//! (`1: TypeMeta{1: apiVersion, 2: kind}, 2: raw object, 3: contentEncoding, 4: contentType`).
//! Field numbers follow k8s.io/api/core/v1/generated.proto and apimachinery's meta/v1 proto.
//!
//! Go's generated marshallers write every non-pointer field, zero values included, so empty
//! strings, zero integers, `false` and zero timestamps are read as "absent" (as JSON's
//! `omitempty` would drop them); pointer fields (`immutable`, `ipFamilyPolicy`, ...) keep their
//! value whenever present. Unknown fields are skipped.

use base64::Engine;
use serde_json::{Map, Value};

const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("protobuf body does not start with the k8s envelope magic")]
    MissingMagic,
    /// A varint or a length-delimited field runs past the end of its message.
    #[error("protobuf message is truncated")]
    Truncated,
    /// A varint longer than ten bytes.
    #[error("protobuf varint is too long")]
    VarintTooLong,
    /// Groups (wire types 3 and 4) and unknown wire types.
    #[error("unsupported protobuf wire type {wire_type} for field {field}")]
    UnsupportedWireType { field: u64, wire_type: u8 },
    /// A known field arrived with a wire type it cannot have.
    #[error("protobuf field {field} has the wrong wire type")]
    WrongWireType { field: &'static str },
    /// A string field that is not UTF-8.
    #[error("protobuf field {field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
    /// The envelope says the object is compressed or otherwise encoded.
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedEncoding(String),
    /// An object type this decoder does not know.
    #[error("decoding {api_version:?} {kind:?} from protobuf is not supported")]
    UnsupportedKind { api_version: String, kind: String },
}

/// Decodes a `k8s\0` protobuf body into the object's JSON form (apiVersion, kind, metadata, ...).
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let unknown = body.strip_prefix(MAGIC).ok_or(ProtobufError::MissingMagic)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut encoding = String::new();
    for field in Fields::new(unknown) {
        let (number, value) = field?;
        match number {
            1 => {
                for field in Fields::new(value.bytes("typeMeta")?) {
                    let (number, value) = field?;
                    match number {
                        1 => api_version = value.text("apiVersion")?.to_string(),
                        2 => kind = value.text("kind")?.to_string(),
                        _ => {}
                    }
                }
            }
            2 => raw = value.bytes("raw")?,
            3 => encoding = value.text("contentEncoding")?.to_string(),
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(encoding));
    }
    let body = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => config_map(raw)?,
        ("v1", "Secret") => secret(raw)?,
        ("v1", "Namespace") => namespace(raw)?,
        ("v1", "Service") => service(raw)?,
        _ => return Err(ProtobufError::UnsupportedKind { api_version, kind }),
    };
    let mut object = Map::new();
    object.insert("apiVersion".to_string(), Value::from(api_version));
    object.insert("kind".to_string(), Value::from(kind));
    object.extend(body);
    Ok(Value::Object(object))
}

/// One field's payload.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Fixed32,
    Bytes(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn bytes(self, field: &'static str) -> Result<&'a [u8], ProtobufError> {
        match self {
            Wire::Bytes(b) => Ok(b),
            _ => Err(ProtobufError::WrongWireType { field }),
        }
    }

    fn text(self, field: &'static str) -> Result<&'a str, ProtobufError> {
        std::str::from_utf8(self.bytes(field)?).map_err(|_| ProtobufError::InvalidUtf8 { field })
    }

    fn varint(self, field: &'static str) -> Result<u64, ProtobufError> {
        match self {
            Wire::Varint(v) => Ok(v),
            _ => Err(ProtobufError::WrongWireType { field }),
        }
    }

    /// int32 and int64 fields: negative values are sign-extended to 64 bits on the wire.
    fn int(self, field: &'static str) -> Result<i64, ProtobufError> {
        self.varint(field).map(|v| v as i64)
    }

    fn boolean(self, field: &'static str) -> Result<bool, ProtobufError> {
        self.varint(field).map(|v| v != 0)
    }
}

/// The fields of one message, in wire order.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn read_varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(ProtobufError::Truncated)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintTooLong)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len()).ok_or(ProtobufError::Truncated)?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn read_field(&mut self) -> Result<(u64, Wire<'a>), ProtobufError> {
        let key = self.read_varint()?;
        let field = key >> 3;
        let wire = match (key & 7) as u8 {
            0 => Wire::Varint(self.read_varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = usize::try_from(self.read_varint()?).map_err(|_| ProtobufError::Truncated)?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            wire_type => return Err(ProtobufError::UnsupportedWireType { field, wire_type }),
        };
        Ok((field, wire))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), ProtobufError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let item = self.read_field();
        if item.is_err() {
            // Stop after the first error: the rest of the buffer cannot be trusted.
            self.pos = self.buf.len();
        }
        Some(item)
    }
}

type Object = Map<String, Value>;

fn put_text(out: &mut Object, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.to_string(), Value::from(value));
    }
}

fn put_int(out: &mut Object, key: &str, value: i64) {
    if value != 0 {
        out.insert(key.to_string(), Value::from(value));
    }
}

/// A non-pointer bool: only `true` is worth writing.
fn put_flag(out: &mut Object, key: &str, value: bool) {
    if value {
        out.insert(key.to_string(), Value::from(true));
    }
}

fn push_text(out: &mut Object, key: &str, value: &str) {
    if let Value::Array(list) = out.entry(key.to_string()).or_insert_with(|| Value::Array(Vec::new())) {
        list.push(Value::from(value));
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `map<string, V>` entry `{1: key, 2: value}`; the value's bytes are returned raw.
fn map_entry<'a>(entry: &'a [u8], field: &'static str) -> Result<(&'a str, &'a [u8]), ProtobufError> {
    let mut key = "";
    let mut value: &[u8] = &[];
    for f in Fields::new(entry) {
        let (number, wire) = f?;
        match number {
            1 => key = wire.text(field)?,
            2 => value = wire.bytes(field)?,
            _ => {}
        }
    }
    Ok((key, value))
}

/// Inserts a map entry with a string value into the map at `out[key]`.
fn put_string_entry(out: &mut Object, key: &str, entry: &[u8], field: &'static str) -> Result<(), ProtobufError> {
    let (k, v) = map_entry(entry, field)?;
    let v = std::str::from_utf8(v).map_err(|_| ProtobufError::InvalidUtf8 { field })?;
    insert_at(out, key, k, Value::from(v));
    Ok(())
}

/// Inserts a map entry with a bytes value (as base64) into the map at `out[key]`.
fn put_bytes_entry(out: &mut Object, key: &str, entry: &[u8], field: &'static str) -> Result<(), ProtobufError> {
    let (k, v) = map_entry(entry, field)?;
    insert_at(out, key, k, Value::from(base64(v)));
    Ok(())
}

/// `out[key][k] = v`, creating the map `out[key]` on first use.
fn insert_at(out: &mut Object, key: &str, k: &str, v: Value) {
    if let Value::Object(map) = out.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new())) {
        map.insert(k.to_string(), v);
    }
}

/// metav1.Time `{1: seconds, 2: nanos}` as RFC 3339 with second precision; `None` when zero.
fn time(bytes: &[u8], field: &'static str) -> Result<Option<String>, ProtobufError> {
    let mut seconds = 0;
    for f in Fields::new(bytes) {
        let (number, wire) = f?;
        if number == 1 {
            seconds = wire.int(field)?;
        }
    }
    if seconds == 0 {
        return Ok(None);
    }
    Ok(jiff::Timestamp::from_second(seconds).ok().map(|t| t.to_string()))
}

fn object_meta(bytes: &[u8]) -> Result<Object, ProtobufError> {
    let mut meta = Object::new();
    for f in Fields::new(bytes) {
        let (number, wire) = f?;
        match number {
            1 => put_text(&mut meta, "name", wire.text("metadata.name")?),
            2 => put_text(&mut meta, "generateName", wire.text("metadata.generateName")?),
            3 => put_text(&mut meta, "namespace", wire.text("metadata.namespace")?),
            5 => put_text(&mut meta, "uid", wire.text("metadata.uid")?),
            6 => put_text(&mut meta, "resourceVersion", wire.text("metadata.resourceVersion")?),
            7 => put_int(&mut meta, "generation", wire.int("metadata.generation")?),
            8 => {
                if let Some(t) = time(wire.bytes("metadata.creationTimestamp")?, "metadata.creationTimestamp")? {
                    meta.insert("creationTimestamp".to_string(), Value::from(t));
                }
            }
            9 => {
                if let Some(t) = time(wire.bytes("metadata.deletionTimestamp")?, "metadata.deletionTimestamp")? {
                    meta.insert("deletionTimestamp".to_string(), Value::from(t));
                }
            }
            10 => {
                let seconds = wire.int("metadata.deletionGracePeriodSeconds")?;
                meta.insert("deletionGracePeriodSeconds".to_string(), Value::from(seconds));
            }
            11 => put_string_entry(&mut meta, "labels", wire.bytes("metadata.labels")?, "metadata.labels")?,
            12 => {
                put_string_entry(&mut meta, "annotations", wire.bytes("metadata.annotations")?, "metadata.annotations")?
            }
            13 => {
                let owner = owner_reference(wire.bytes("metadata.ownerReferences")?)?;
                if let Value::Array(list) =
                    meta.entry("ownerReferences".to_string()).or_insert_with(|| Value::Array(Vec::new()))
                {
                    list.push(Value::Object(owner));
                }
            }
            14 => push_text(&mut meta, "finalizers", wire.text("metadata.finalizers")?),
            _ => {}
        }
    }
    Ok(meta)
}

fn owner_reference(bytes: &[u8]) -> Result<Object, ProtobufError> {
    let mut owner = Object::new();
    for f in Fields::new(bytes) {
        let (number, wire) = f?;
        match number {
            1 => put_text(&mut owner, "kind", wire.text("ownerReferences.kind")?),
            3 => put_text(&mut owner, "name", wire.text("ownerReferences.name")?),
            4 => put_text(&mut owner, "uid", wire.text("ownerReferences.uid")?),
            5 => put_text(&mut owner, "apiVersion", wire.text("ownerReferences.apiVersion")?),
            6 => {
                owner.insert("controller".to_string(), Value::from(wire.boolean("ownerReferences.controller")?));
            }
            7 => {
                let block = wire.boolean("ownerReferences.blockOwnerDeletion")?;
                owner.insert("blockOwnerDeletion".to_string(), Value::from(block));
            }
            _ => {}
        }
    }
    Ok(owner)
}

fn with_metadata(
    bytes: &[u8],
    mut rest: impl FnMut(&mut Object, u64, Wire) -> Result<(), ProtobufError>,
) -> Result<Object, ProtobufError> {
    let mut out = Object::new();
    out.insert("metadata".to_string(), Value::Object(Object::new()));
    for f in Fields::new(bytes) {
        let (number, wire) = f?;
        if number == 1 {
            out.insert("metadata".to_string(), Value::Object(object_meta(wire.bytes("metadata")?)?));
        } else {
            rest(&mut out, number, wire)?;
        }
    }
    Ok(out)
}

fn config_map(bytes: &[u8]) -> Result<Object, ProtobufError> {
    with_metadata(bytes, |out, number, wire| {
        match number {
            2 => put_string_entry(out, "data", wire.bytes("data")?, "data")?,
            3 => put_bytes_entry(out, "binaryData", wire.bytes("binaryData")?, "binaryData")?,
            4 => {
                out.insert("immutable".to_string(), Value::from(wire.boolean("immutable")?));
            }
            _ => {}
        }
        Ok(())
    })
}

fn secret(bytes: &[u8]) -> Result<Object, ProtobufError> {
    let mut out = with_metadata(bytes, |out, number, wire| {
        match number {
            2 => put_bytes_entry(out, "data", wire.bytes("data")?, "data")?,
            3 => put_text(out, "type", wire.text("type")?),
            4 => put_string_entry(out, "stringData", wire.bytes("stringData")?, "stringData")?,
            5 => {
                out.insert("immutable".to_string(), Value::from(wire.boolean("immutable")?));
            }
            _ => {}
        }
        Ok(())
    })?;
    out.entry("type".to_string()).or_insert_with(|| Value::from("Opaque"));
    Ok(out)
}

fn namespace(bytes: &[u8]) -> Result<Object, ProtobufError> {
    let mut out = with_metadata(bytes, |out, number, wire| {
        match number {
            2 => {
                let mut spec = Object::new();
                for f in Fields::new(wire.bytes("spec")?) {
                    let (number, wire) = f?;
                    if number == 1 {
                        push_text(&mut spec, "finalizers", wire.text("spec.finalizers")?);
                    }
                }
                out.insert("spec".to_string(), Value::Object(spec));
            }
            3 => {
                let mut status = Object::new();
                for f in Fields::new(wire.bytes("status")?) {
                    let (number, wire) = f?;
                    if number == 1 {
                        put_text(&mut status, "phase", wire.text("status.phase")?);
                    }
                }
                out.insert("status".to_string(), Value::Object(status));
            }
            _ => {}
        }
        Ok(())
    })?;
    out.entry("spec".to_string()).or_insert_with(|| Value::Object(Object::new()));
    Ok(out)
}

fn service(bytes: &[u8]) -> Result<Object, ProtobufError> {
    let mut out = with_metadata(bytes, |out, number, wire| {
        if number == 2 {
            out.insert("spec".to_string(), Value::Object(service_spec(wire.bytes("spec")?)?));
        }
        Ok(())
    })?;
    out.entry("spec".to_string()).or_insert_with(|| Value::Object(Object::new()));
    Ok(out)
}

fn service_spec(bytes: &[u8]) -> Result<Object, ProtobufError> {
    let mut spec = Object::new();
    for f in Fields::new(bytes) {
        let (number, wire) = f?;
        match number {
            1 => {
                let port = service_port(wire.bytes("spec.ports")?)?;
                if let Value::Array(list) = spec.entry("ports".to_string()).or_insert_with(|| Value::Array(Vec::new()))
                {
                    list.push(Value::Object(port));
                }
            }
            2 => put_string_entry(&mut spec, "selector", wire.bytes("spec.selector")?, "spec.selector")?,
            3 => put_text(&mut spec, "clusterIP", wire.text("spec.clusterIP")?),
            4 => put_text(&mut spec, "type", wire.text("spec.type")?),
            5 => push_text(&mut spec, "externalIPs", wire.text("spec.externalIPs")?),
            7 => put_text(&mut spec, "sessionAffinity", wire.text("spec.sessionAffinity")?),
            8 => put_text(&mut spec, "loadBalancerIP", wire.text("spec.loadBalancerIP")?),
            9 => push_text(&mut spec, "loadBalancerSourceRanges", wire.text("spec.loadBalancerSourceRanges")?),
            10 => put_text(&mut spec, "externalName", wire.text("spec.externalName")?),
            11 => put_text(&mut spec, "externalTrafficPolicy", wire.text("spec.externalTrafficPolicy")?),
            12 => put_int(&mut spec, "healthCheckNodePort", wire.int("spec.healthCheckNodePort")?),
            13 => put_flag(&mut spec, "publishNotReadyAddresses", wire.boolean("spec.publishNotReadyAddresses")?),
            17 => {
                spec.insert("ipFamilyPolicy".to_string(), Value::from(wire.text("spec.ipFamilyPolicy")?));
            }
            18 => push_text(&mut spec, "clusterIPs", wire.text("spec.clusterIPs")?),
            19 => push_text(&mut spec, "ipFamilies", wire.text("spec.ipFamilies")?),
            20 => {
                let allocate = wire.boolean("spec.allocateLoadBalancerNodePorts")?;
                spec.insert("allocateLoadBalancerNodePorts".to_string(), Value::from(allocate));
            }
            21 => {
                spec.insert("loadBalancerClass".to_string(), Value::from(wire.text("spec.loadBalancerClass")?));
            }
            22 => {
                let policy = wire.text("spec.internalTrafficPolicy")?;
                spec.insert("internalTrafficPolicy".to_string(), Value::from(policy));
            }
            _ => {}
        }
    }
    Ok(spec)
}

fn service_port(bytes: &[u8]) -> Result<Object, ProtobufError> {
    let mut port = Object::new();
    for f in Fields::new(bytes) {
        let (number, wire) = f?;
        match number {
            1 => put_text(&mut port, "name", wire.text("ports.name")?),
            2 => put_text(&mut port, "protocol", wire.text("ports.protocol")?),
            3 => put_int(&mut port, "port", wire.int("ports.port")?),
            4 => {
                if let Some(target) = int_or_string(wire.bytes("ports.targetPort")?)? {
                    port.insert("targetPort".to_string(), target);
                }
            }
            5 => put_int(&mut port, "nodePort", wire.int("ports.nodePort")?),
            6 => {
                port.insert("appProtocol".to_string(), Value::from(wire.text("ports.appProtocol")?));
            }
            _ => {}
        }
    }
    Ok(port)
}

/// intstr.IntOrString `{1: type (0 int, 1 string), 2: intVal, 3: strVal}`; `None` for the zero
/// value (int 0), which the API server defaults to the port.
fn int_or_string(bytes: &[u8]) -> Result<Option<Value>, ProtobufError> {
    let mut kind = 0;
    let mut int_val = 0;
    let mut str_val = "";
    for f in Fields::new(bytes) {
        let (number, wire) = f?;
        match number {
            1 => kind = wire.int("targetPort.type")?,
            2 => int_val = wire.int("targetPort.intVal")?,
            3 => str_val = wire.text("targetPort.strVal")?,
            _ => {}
        }
    }
    Ok(match kind {
        1 if !str_val.is_empty() => Some(Value::from(str_val)),
        0 if int_val != 0 => Some(Value::from(int_val)),
        _ => None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use serde_json::json;

    use super::*;

    // A tiny encoder that writes what Go's generated marshallers write.

    fn varint(mut n: u64, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    fn bytes_field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3 | 2, &mut out);
        varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }

    fn text(number: u64, s: &str) -> Vec<u8> {
        bytes_field(number, s.as_bytes())
    }

    fn int(number: u64, n: i64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3, &mut out);
        varint(n as u64, &mut out);
        out
    }

    fn entry(number: u64, key: &str, value: &[u8]) -> Vec<u8> {
        bytes_field(number, &[text(1, key), bytes_field(2, value)].concat())
    }

    /// ObjectMeta as kubectl's typed client marshals it: every plain field, empty or not.
    fn meta(name: &str, namespace: &str, labels: &[(&str, &str)]) -> Vec<u8> {
        let mut m = [
            text(1, name),
            text(2, ""),
            text(3, namespace),
            text(4, ""),
            text(5, ""),
            text(6, ""),
            int(7, 0),
            bytes_field(8, &[int(1, 0), int(2, 0)].concat()),
        ]
        .concat();
        for (k, v) in labels {
            m.extend(entry(11, k, v.as_bytes()));
        }
        m
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [text(1, api_version), text(2, kind)].concat();
        let unknown = [bytes_field(1, &type_meta), bytes_field(2, raw), text(3, ""), text(4, "")].concat();
        [MAGIC.to_vec(), unknown].concat()
    }

    #[test]
    fn decodes_what_kubectl_sends() {
        let configmap = [
            bytes_field(1, &meta("c1", "", &[("app", "c1")])),
            entry(2, "a", b"1"),
            entry(2, "b", b"two words"),
            entry(3, "bin", &[0, 1, 2]),
        ]
        .concat();
        let secret_generic =
            [bytes_field(1, &meta("sec9", "default", &[])), entry(2, "password", b"s3cr\xffet"), text(3, "Opaque")]
                .concat();
        let secret_tls = [
            bytes_field(1, &meta("tls1", "", &[])),
            entry(2, "tls.crt", b"CERT"),
            entry(2, "tls.key", b"KEY"),
            text(3, "kubernetes.io/tls"),
        ]
        .concat();
        let secret_untyped = [bytes_field(1, &meta("s0", "", &[])), text(3, ""), entry(4, "k", b"v")].concat();
        let namespace =
            [bytes_field(1, &meta("ns9", "", &[])), bytes_field(2, &[]), bytes_field(3, &text(1, ""))].concat();
        let port = [
            text(1, "80-8080"),
            text(2, "TCP"),
            int(3, 80),
            bytes_field(4, &[int(1, 0), int(2, 8080), text(3, "")].concat()),
            int(5, 0),
        ]
        .concat();
        let node_port = [
            text(1, "http"),
            text(2, "TCP"),
            int(3, 443),
            bytes_field(4, &[int(1, 1), int(2, 0), text(3, "https")].concat()),
            int(5, 30443),
        ]
        .concat();
        let service = [
            bytes_field(1, &meta("svc9", "", &[("app", "svc9")])),
            bytes_field(
                2,
                &[
                    bytes_field(1, &port),
                    bytes_field(1, &node_port),
                    entry(2, "app", b"svc9"),
                    text(3, ""),
                    text(4, "NodePort"),
                    text(7, ""),
                    text(10, ""),
                    int(12, 0),
                    int(13, 0),
                ]
                .concat(),
            ),
            bytes_field(3, &bytes_field(1, &[])),
        ]
        .concat();
        let headless = [
            bytes_field(1, &meta("h", "", &[])),
            bytes_field(
                2,
                &[text(3, "None"), text(4, "ClusterIP"), bytes_field(1, &[text(2, "TCP"), int(3, 53)].concat())]
                    .concat(),
            ),
        ]
        .concat();

        let cases: Vec<(&str, &str, Vec<u8>, Value)> = vec![
            (
                "v1",
                "ConfigMap",
                configmap,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "labels": {"app": "c1"}},
                       "data": {"a": "1", "b": "two words"}, "binaryData": {"bin": "AAEC"}}),
            ),
            (
                "v1",
                "Secret",
                secret_generic,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec9", "namespace": "default"},
                       "data": {"password": "czNjcv9ldA=="}, "type": "Opaque"}),
            ),
            (
                "v1",
                "Secret",
                secret_tls,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls1"},
                       "data": {"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"}, "type": "kubernetes.io/tls"}),
            ),
            (
                "v1",
                "Secret",
                secret_untyped,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s0"}, "stringData": {"k": "v"},
                       "type": "Opaque"}),
            ),
            (
                "v1",
                "Namespace",
                namespace,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns9"}, "spec": {}, "status": {}}),
            ),
            (
                "v1",
                "Service",
                service,
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc9", "labels": {"app": "svc9"}},
                       "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                                          {"name": "http", "protocol": "TCP", "port": 443, "targetPort": "https",
                                           "nodePort": 30443}],
                                "selector": {"app": "svc9"}, "type": "NodePort"}}),
            ),
            (
                "v1",
                "Service",
                headless,
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "h"},
                       "spec": {"clusterIP": "None", "type": "ClusterIP", "ports": [{"protocol": "TCP", "port": 53}]}}),
            ),
        ];
        for (api_version, kind, raw, want) in cases {
            assert_eq!(decode(&envelope(api_version, kind, &raw)).unwrap(), want, "{kind}");
        }
    }

    #[test]
    fn metadata_details() {
        let owner = [text(1, "ReplicaSet"), text(3, "rs"), text(4, "u1"), text(5, "apps/v1"), int(6, 1)].concat();
        let raw = [
            bytes_field(
                1,
                &[
                    meta("", "team-a", &[("b", "2"), ("a", "1")]),
                    text(2, "gen-"),
                    int(7, 3),
                    bytes_field(8, &int(1, 1_714_564_800)),
                    entry(12, "note", b"hello"),
                    bytes_field(13, &owner),
                    text(14, "x/f"),
                    text(14, "y/g"),
                    int(10, 30),
                ]
                .concat(),
            ),
            int(4, 1),
        ]
        .concat();
        let got = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            got,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": true,
                   "metadata": {"namespace": "team-a", "generateName": "gen-", "generation": 3,
                                "creationTimestamp": "2024-05-01T12:00:00Z",
                                "labels": {"a": "1", "b": "2"}, "annotations": {"note": "hello"},
                                "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "u1",
                                                     "apiVersion": "apps/v1", "controller": true}],
                                "finalizers": ["x/f", "y/g"], "deletionGracePeriodSeconds": 30}})
        );
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() {
        let mut fixed64 = Vec::new();
        varint(99 << 3 | 1, &mut fixed64);
        fixed64.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut fixed32 = Vec::new();
        varint(98 << 3 | 5, &mut fixed32);
        fixed32.extend_from_slice(&[1, 2, 3, 4]);
        let raw = [
            bytes_field(1, &[meta("c", "", &[]), text(50, "future"), int(51, -1)].concat()),
            fixed64,
            fixed32,
            text(97, "ignored"),
            int(96, 7),
            entry(2, "k", b"v"),
        ]
        .concat();
        let got = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            got,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn errors() {
        let good = envelope("v1", "ConfigMap", &bytes_field(1, &meta("c", "", &[])));
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 3);
        let mut group = MAGIC.to_vec();
        varint(5 << 3 | 3, &mut group);
        let mut long_varint = MAGIC.to_vec();
        long_varint.extend_from_slice(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let gzip =
            [MAGIC.to_vec(), bytes_field(1, &[text(1, "v1"), text(2, "ConfigMap")].concat()), text(3, "gzip")].concat();
        let bad_utf8 = envelope("v1", "ConfigMap", &bytes_field(1, &bytes_field(1, &[0xff, 0xfe])));
        let wrong_type = envelope("v1", "ConfigMap", &bytes_field(1, &int(1, 5)));
        let cases: Vec<(Vec<u8>, ProtobufError)> = vec![
            (b"{\"kind\":\"ConfigMap\"}".to_vec(), ProtobufError::MissingMagic),
            (Vec::new(), ProtobufError::MissingMagic),
            (truncated, ProtobufError::Truncated),
            (group, ProtobufError::UnsupportedWireType { field: 5, wire_type: 3 }),
            (long_varint, ProtobufError::VarintTooLong),
            (gzip, ProtobufError::UnsupportedEncoding("gzip".to_string())),
            (bad_utf8, ProtobufError::InvalidUtf8 { field: "metadata.name" }),
            (wrong_type, ProtobufError::WrongWireType { field: "metadata.name" }),
            (
                envelope("v1", "Pod", &[]),
                ProtobufError::UnsupportedKind { api_version: "v1".to_string(), kind: "Pod".to_string() },
            ),
            (
                envelope("apps/v1", "ConfigMap", &[]),
                ProtobufError::UnsupportedKind { api_version: "apps/v1".to_string(), kind: "ConfigMap".to_string() },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(decode(&body), Err(want.clone()), "{want}");
        }
    }

    #[test]
    fn empty_object_still_has_metadata() {
        assert_eq!(
            decode(&envelope("v1", "Namespace", &[])).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {}, "spec": {}})
        );
    }
}
