//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into
//! the Kubernetes JSON form the rest of Berth stores and validates.
//!
//! kubectl 1.32+ sends protobuf, with no JSON fallback, for `create <kind>`, `run`, `expose`,
//! `autoscale` and `auth can-i`. A body is the magic `k8s\0` followed by a `runtime.Unknown`
//! envelope whose `raw` field holds the object. The object is decoded by a small wire-format
//! reader ([`wire`]) driven by hand-written per-message descriptor tables ([`types`], in the
//! vocabulary of [`schema`]); [`decode`] turns fields into JSON the way Go's `encoding/json`
//! prints the decoded Go struct, so a protobuf body yields the same JSON kubectl would have
//! sent. Anything the tables do not describe is an error rather than silently dropped data.

mod decode;
mod schema;
mod types;
mod wire;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use wire::{Reader, WireValue};

/// The four bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8; 4] = b"k8s\0";

const UNKNOWN: &str = "io.k8s.apimachinery.pkg.runtime.Unknown";
const TYPE_META: &str = "io.k8s.apimachinery.pkg.runtime.TypeMeta";

/// Why a protobuf body could not be decoded. The messages are meant to reach the API client.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("missing k8s protobuf magic prefix")]
    MissingMagic,
    /// The body ends inside a varint.
    #[error("truncated varint at byte {offset}")]
    TruncatedVarint {
        /// Offset of the varint's first byte in the body.
        offset: usize,
    },
    /// A varint is longer than ten bytes or exceeds 64 bits.
    #[error("varint at byte {offset} overflows 64 bits")]
    VarintOverflow {
        /// Offset of the varint's first byte in the body.
        offset: usize,
    },
    /// A length-delimited or fixed-width value runs past the end of its message.
    #[error("truncated field at byte {offset}: {needed} bytes needed, {available} left")]
    Truncated {
        /// Offset of the value in the body.
        offset: usize,
        /// Bytes the value claims.
        needed: u64,
        /// Bytes actually left in the enclosing message.
        available: usize,
    },
    /// A field key carries field number 0 or one beyond protobuf's 2^29-1.
    #[error("invalid field number {number} at byte {offset}")]
    InvalidFieldNumber {
        /// The decoded number.
        number: u64,
        /// Offset of the field key in the body.
        offset: usize,
    },
    /// A field uses the deprecated group encoding, which Kubernetes never produces.
    #[error("unsupported protobuf group (field {field}) at byte {offset}")]
    GroupsUnsupported {
        /// The group's field number.
        field: u32,
        /// Offset of the field key in the body.
        offset: usize,
    },
    /// A field key carries wire type 6 or 7, which do not exist.
    #[error("invalid wire type {wire_type} at byte {offset}")]
    InvalidWireType {
        /// The wire type bits of the key.
        wire_type: u8,
        /// Offset of the field key in the body.
        offset: usize,
    },
    /// A known field arrives with a wire type that does not match its declared type.
    #[error("field {field} in {message} has {found} wire type, expected {expected}")]
    WrongWireType {
        /// Full name of the message, e.g. `io.k8s.api.core.v1.Container`.
        message: &'static str,
        /// The field number.
        field: u32,
        /// The wire type found.
        found: &'static str,
        /// The wire type the schema calls for.
        expected: &'static str,
    },
    /// A field number this decoder does not know for the message (e.g. a field added in a
    /// newer Kubernetes). Refused so that data is never silently lost.
    #[error("unsupported field {field} in {message}")]
    UnknownField {
        /// Full name of the message.
        message: &'static str,
        /// The unknown field number.
        field: u32,
    },
    /// A map entry has a field other than 1 (key) and 2 (value).
    #[error("unsupported field {field} in a map entry of field {map_field} in {message}")]
    UnknownMapEntryField {
        /// Full name of the message holding the map.
        message: &'static str,
        /// The map field's number.
        map_field: u32,
        /// The unknown entry field number.
        field: u32,
    },
    /// The envelope has no `typeMeta` apiVersion or kind.
    #[error("protobuf body has no apiVersion or kind")]
    MissingTypeMeta,
    /// The envelope names an object this decoder has no descriptor for.
    #[error("unsupported kind {api_version} {kind} in protobuf body")]
    UnsupportedKind {
        /// The envelope's apiVersion, e.g. `apps/v1`.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// The envelope says `raw` is compressed or otherwise encoded.
    #[error("unsupported content encoding {0:?} in protobuf body")]
    UnsupportedContentEncoding(String),
    /// The envelope says `raw` is not protobuf.
    #[error("unsupported content type {0:?} in protobuf body")]
    UnsupportedContentType(String),
    /// An `IntOrString` whose type is neither 0 (int) nor 1 (string).
    #[error("invalid IntOrString type {kind}")]
    InvalidIntOrString {
        /// The type value found.
        kind: i64,
    },
    /// A timestamp that has no RFC 3339 form (before year 0 or after 9999).
    #[error("timestamp {seconds}s {nanos}ns is out of range")]
    TimeOutOfRange {
        /// Seconds since the Unix epoch.
        seconds: i64,
        /// Nanoseconds.
        nanos: i32,
    },
    /// A `RawExtension` or `FieldsV1` whose raw bytes are not JSON.
    #[error("invalid embedded JSON in {message}: {source}")]
    InvalidEmbeddedJson {
        /// Full name of the message carrying the bytes.
        message: &'static str,
        /// The JSON parse error.
        source: serde_json::Error,
    },
    /// Messages nested beyond the decoder's limit.
    #[error("protobuf messages nested deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
}

/// Decode a whole request body: the 4-byte magic `k8s\0` then a `runtime.Unknown` message
/// (field 1 typeMeta {1: apiVersion, 2: kind}, field 2 raw bytes, 3 contentEncoding, 4 contentType);
/// `raw` is the protobuf encoding of the object named by typeMeta. Returns the object as
/// Kubernetes JSON (camelCase field names as in the Kubernetes JSON API) with "apiVersion" and "kind" set.
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let mut type_meta = None;
    let mut raw: (&[u8], usize) = (&[], MAGIC.len());
    let mut content_encoding = String::new();
    let mut content_type = String::new();
    let mut reader = Reader::new(envelope, MAGIC.len());
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, WireValue::Len(data, at)) => type_meta = Some(decode_type_meta(data, at)?),
            (2, WireValue::Len(data, at)) => raw = (data, at),
            (3, WireValue::Len(data, _)) => content_encoding = lossy(data),
            (4, WireValue::Len(data, _)) => content_type = lossy(data),
            (1..=4, other) => {
                return Err(ProtobufError::WrongWireType {
                    message: UNKNOWN,
                    field: number,
                    found: other.wire_name(),
                    expected: "length-delimited",
                })
            }
            (field, _) => {
                return Err(ProtobufError::UnknownField {
                    message: UNKNOWN,
                    field,
                })
            }
        }
    }
    // Go's client writes these fields empty; anything else would mean `raw` is not plain
    // protobuf, which this decoder cannot read.
    if !content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedContentEncoding(content_encoding));
    }
    if !content_type.is_empty() && content_type != "application/vnd.kubernetes.protobuf" {
        return Err(ProtobufError::UnsupportedContentType(content_type));
    }
    let (api_version, kind) = match type_meta {
        Some((v, k)) if !v.is_empty() && !k.is_empty() => (v, k),
        _ => return Err(ProtobufError::MissingTypeMeta),
    };
    let Some(message) = types::lookup(&api_version, &kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version, kind });
    };
    let fields = decode::decode_message(message, raw.0, raw.1, 0)?;
    // TypeMeta comes first in Go's JSON form, kind before apiVersion.
    let mut object = Map::new();
    object.insert("kind".to_owned(), Value::String(kind));
    object.insert("apiVersion".to_owned(), Value::String(api_version));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// `runtime.TypeMeta` {1: apiVersion, 2: kind}.
fn decode_type_meta(data: &[u8], at: usize) -> Result<(String, String), ProtobufError> {
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut reader = Reader::new(data, at);
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, WireValue::Len(s, _)) => api_version = lossy(s),
            (2, WireValue::Len(s, _)) => kind = lossy(s),
            (1 | 2, other) => {
                return Err(ProtobufError::WrongWireType {
                    message: TYPE_META,
                    field: number,
                    found: other.wire_name(),
                    expected: "length-delimited",
                })
            }
            (field, _) => {
                return Err(ProtobufError::UnknownField {
                    message: TYPE_META,
                    field,
                })
            }
        }
    }
    Ok((api_version, kind))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
