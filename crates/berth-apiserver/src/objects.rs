//! Helpers over stored objects: the stored form (canonical JSON without `resourceVersion`,
//! which is the store's modification revision and is spliced in on the way out), metadata
//! access, unknown-field detection and generated names.

use berth_store::KeyValue;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::status::ApiError;

/// RFC 3339 UTC with second precision, as Kubernetes writes timestamps.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A new random `metadata.uid` (a version 4 UUID).
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The five random characters Kubernetes appends to a `generateName` (no vowels, no
/// look-alike digits, so names never spell words or confuse readers).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// The object's `metadata` map, if it has one.
pub fn meta(v: &Value) -> Option<&Map<String, Value>> {
    v.get("metadata").and_then(Value::as_object)
}

/// The object's metadata map, created when missing or not a map.
pub fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let obj = match v {
        Value::Object(o) => o,
        _ => unreachable!("made an object above"),
    };
    let m = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    match m {
        Value::Object(o) => o,
        _ => unreachable!("made an object above"),
    }
}

/// The string `metadata.<field>` of an object, if it is one.
pub fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    meta(v).and_then(|m| m.get(field)).and_then(Value::as_str)
}

/// The object's `metadata.name`, empty when it has none.
pub fn name_of(v: &Value) -> &str {
    meta_str(v, "name").unwrap_or("")
}

/// The stored bytes with `"resourceVersion"` spliced into the top-level metadata, without
/// parsing: stored objects are written by [`encode_for_store`] in canonical order, so the first
/// `"metadata":{` is the top-level one (apiVersion and kind come before it and are plain strings).
pub fn with_resource_version(stored: &[u8], rv: i64) -> Vec<u8> {
    const KEY: &[u8] = b"\"metadata\":{";
    let rv_field = format!("\"resourceVersion\":\"{rv}\"");
    let Some(pos) = stored.windows(KEY.len()).position(|w| w == KEY) else {
        return stored.to_vec();
    };
    let at = pos + KEY.len();
    let mut out = Vec::with_capacity(stored.len() + rv_field.len() + 1);
    out.extend_from_slice(&stored[..at]);
    out.extend_from_slice(rv_field.as_bytes());
    if stored.get(at) != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(&stored[at..]);
    out
}

/// A stored object as JSON bytes ready to send.
pub fn wire_bytes(kv: &KeyValue) -> Vec<u8> {
    with_resource_version(&kv.value, kv.mod_revision)
}

/// A stored object parsed, with its resourceVersion.
pub fn decode_stored(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is corrupt: {e}", kv.key)))?;
    meta_mut(&mut v).insert(
        "resourceVersion".into(),
        Value::String(kv.mod_revision.to_string()),
    );
    Ok(v)
}

/// A stored object parsed without `metadata.managedFields`, with its resourceVersion: for Table
/// rows, metadata views and selector matching, none of which read field ownership. Skipping it
/// while parsing (instead of dropping it after) avoids allocating what is often half the object.
pub fn decode_stored_light(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(&kv.value);
    let mut v = serde::de::DeserializeSeed::deserialize(light::Top, &mut de)
        .map_err(|e| ApiError::internal(format!("stored object {} is corrupt: {e}", kv.key)))?;
    set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

mod light {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
    use serde_json::{Map, Value};

    /// The object: `metadata` goes through [`Meta`], everything else is parsed as usual.
    pub struct Top;
    struct Meta;

    impl<'de> DeserializeSeed<'de> for Top {
        type Value = Value;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Top {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let v = if key == "metadata" {
                    map.next_value_seed(Meta)?
                } else {
                    map.next_value::<Value>()?
                };
                out.insert(key, v);
            }
            Ok(Value::Object(out))
        }
    }

    impl<'de> DeserializeSeed<'de> for Meta {
        type Value = Value;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Meta {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("object metadata")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if key == "managedFields" {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    let v = map.next_value::<Value>()?;
                    out.insert(key, v);
                }
            }
            Ok(Value::Object(out))
        }
    }
}

/// Set the resourceVersion of an object (for responses built from values).
pub fn set_resource_version(v: &mut Value, rv: i64) {
    meta_mut(v).insert("resourceVersion".into(), Value::String(rv.to_string()));
}

/// The stored form: canonical field order, without resourceVersion.
pub fn encode_for_store(v: &Value) -> Result<Bytes, ApiError> {
    let mut v = v.clone();
    meta_mut(&mut v).remove("resourceVersion");
    // `metadata` must directly follow apiVersion and kind for `with_resource_version`.
    let ordered = reorder_top_level(v);
    serde_json::to_vec(&ordered)
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(format!("encoding object: {e}")))
}

fn reorder_top_level(v: Value) -> Value {
    let Value::Object(mut obj) = v else { return v };
    let mut out = Map::new();
    for k in ["apiVersion", "kind", "metadata"] {
        if let Some(val) = obj.remove(k) {
            out.insert(k.to_string(), val);
        }
    }
    out.extend(obj);
    Value::Object(out)
}

/// Paths of fields in `input` that the typed form dropped: the unknown fields.
pub fn unknown_fields(input: &Value, typed: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_unknown(input, typed, String::new(), &mut out);
    out
}

fn walk_unknown(input: &Value, typed: &Value, path: String, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(tv) => walk_unknown(v, tv, p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, tv)) in a.iter().zip(b.iter()).enumerate() {
                walk_unknown(v, tv, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splices_resource_version() {
        let v = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"metadata":"x"}});
        let stored = encode_for_store(&v).unwrap();
        let out: Value = serde_json::from_slice(&with_resource_version(&stored, 42)).unwrap();
        assert_eq!(out["metadata"]["resourceVersion"], "42");
        assert_eq!(out["metadata"]["name"], "a");
        let empty = encode_for_store(&json!({"kind":"X","metadata":{}})).unwrap();
        let out: Value = serde_json::from_slice(&with_resource_version(&empty, 7)).unwrap();
        assert_eq!(out["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn light_decoding_skips_managed_fields_only() {
        let v = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","managedFields":[{"manager":"m"}],"labels":{"x":"y"}},"spec":{"managedFields":1}});
        let kv = KeyValue {
            key: "/k".into(),
            value: encode_for_store(&v).unwrap(),
            create_revision: 1,
            mod_revision: 9,
            version: 1,
        };
        let light = decode_stored_light(&kv).unwrap();
        assert!(light["metadata"].get("managedFields").is_none());
        assert_eq!(light["metadata"]["labels"]["x"], "y");
        assert_eq!(light["metadata"]["resourceVersion"], "9");
        assert_eq!(light["spec"]["managedFields"], 1);
        assert!(decode_stored_light(&KeyValue {
            value: bytes::Bytes::from_static(b"[1]"),
            ..kv
        })
        .is_err());
    }

    #[test]
    fn finds_unknown_fields() {
        let input = json!({"spec": {"a": 1, "bogus": 2, "l": [{"x": 1, "y": 2}]}, "n": null});
        let typed = json!({"spec": {"a": 1, "l": [{"x": 1}]}});
        assert_eq!(
            unknown_fields(&input, &typed),
            ["spec.bogus", "spec.l[0].y"]
        );
    }

    #[test]
    fn suffixes_are_five_safe_characters() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
