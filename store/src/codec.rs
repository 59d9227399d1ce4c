//! How the sled backend lays out bytes: a fixed header of revisions in front of each value, and
//! the reserved key that holds the store's revision counter.

use bytes::Bytes;

use crate::{KeyValue, Revision, StoreError};

/// Keys starting with this byte belong to the store itself; they can never collide with
/// `/registry/...` keys, and the API rejects user keys that start with it.
pub(crate) const RESERVED_PREFIX: u8 = 0x00;

/// Holds the revision of the last commit, written in the same sled batch as that commit's data.
pub(crate) const REVISION_KEY: &[u8] = b"\x00revision";

/// mod_revision, create_revision and version, each an `i64` in little-endian order.
pub(crate) const HEADER_LEN: usize = 24;

pub(crate) fn is_reserved(key: &[u8]) -> bool {
    key.first() == Some(&RESERVED_PREFIX)
}

/// The stored form of a key's value: header then value bytes.
pub(crate) fn encode_value(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + kv.value.len());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    out.extend_from_slice(&kv.value);
    out
}

fn read_i64(raw: &[u8], at: usize) -> Option<i64> {
    let bytes: [u8; 8] = raw.get(at..at + 8)?.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// Rebuilds a [`KeyValue`] from a sled entry. The value bytes share sled's buffer (no copy).
pub(crate) fn decode(key: &[u8], raw: sled::IVec) -> Result<KeyValue, StoreError> {
    let key = std::str::from_utf8(key).map_err(|_| StoreError::Backend(format!("stored key {key:?} is not UTF-8")))?;
    let corrupt = || StoreError::Backend(format!("stored value of {key} has a corrupt header"));
    let mod_revision = read_i64(&raw, 0).ok_or_else(corrupt)?;
    let create_revision = read_i64(&raw, 8).ok_or_else(corrupt)?;
    let version = read_i64(&raw, 16).ok_or_else(corrupt)?;
    let value = Bytes::from_owner(raw).slice(HEADER_LEN..);
    Ok(KeyValue { key: key.to_owned(), value, create_revision, mod_revision, version })
}

pub(crate) fn encode_revision(rev: Revision) -> [u8; 8] {
    rev.to_le_bytes()
}

pub(crate) fn decode_revision(raw: &[u8]) -> Result<Revision, StoreError> {
    read_i64(raw, 0)
        .filter(|_| raw.len() == 8)
        .ok_or_else(|| StoreError::Backend("stored revision counter is corrupt".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn value_round_trips_through_the_header() {
        let kv = KeyValue {
            key: "/registry/pods/default/a".into(),
            value: Bytes::from_static(b"{\"kind\":\"Pod\"}"),
            create_revision: 3,
            mod_revision: 9,
            version: 4,
        };
        let raw = sled::IVec::from(encode_value(&kv));
        assert_eq!(raw.len(), HEADER_LEN + kv.value.len());
        assert_eq!(decode(kv.key.as_bytes(), raw).unwrap(), kv);
    }

    #[test]
    fn short_values_are_reported_not_panicked_on() {
        let err = decode(b"/registry/x", sled::IVec::from(&[1u8, 2, 3][..])).unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        assert!(decode_revision(&[1, 2]).is_err());
        assert_eq!(decode_revision(&encode_revision(77)).unwrap(), 77);
    }

    #[test]
    fn reserved_keys_sort_before_registry_keys() {
        assert!(is_reserved(REVISION_KEY));
        assert!(!is_reserved(b"/registry/pods"));
        assert!(REVISION_KEY < b"/registry".as_slice());
    }
}
