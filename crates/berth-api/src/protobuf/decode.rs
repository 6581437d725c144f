//! Schema-driven decoding of one protobuf message into its Kubernetes JSON object, including
//! the Kubernetes types whose JSON form is not a plain object (`Time`, `MicroTime`,
//! `Duration`, `IntOrString`, `Quantity`, `RawExtension`, `FieldsV1`).
//!
//! The aim is byte-for-byte the JSON that Go's `encoding/json` would print for the object the
//! Go protobuf decoder builds, because that is what kubectl sends when it speaks JSON and what
//! the rest of Berth is written against.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::schema::{Card, Field, Kind, Message};
use super::wire::{Reader, WireValue};
use super::ProtobufError;

/// Kubernetes types are at most a dozen levels deep; the limit only guards the stack should a
/// recursive descriptor ever be added.
const MAX_DEPTH: usize = 64;

const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const RAW_EXTENSION: &str = "io.k8s.apimachinery.pkg.runtime.RawExtension";

/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z), which marshals to JSON `null`.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// Everything seen on the wire for one field of the message being decoded. Each field uses
/// exactly one of the members, according to its `Card` and `Kind`.
#[derive(Default)]
struct Slot<'a> {
    scalar: Option<Value>,
    list: Vec<Value>,
    entries: Map<String, Value>,
    /// A singular embedded message. Proto merges repeated occurrences of such a field, which is
    /// the same as decoding the concatenation of their bytes, so later occurrences are appended.
    message: Option<(Cow<'a, [u8]>, usize)>,
}

/// Decodes the message `buf` (starting at `offset` in the body) as `msg`, giving its JSON
/// object with fields in Go struct order.
pub(crate) fn decode_message(
    msg: &'static Message,
    buf: &[u8],
    offset: usize,
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep { limit: MAX_DEPTH });
    }
    let mut slots: Vec<Slot<'_>> = msg.fields.iter().map(|_| Slot::default()).collect();
    let mut reader = Reader::new(buf, offset);
    while let Some((number, value)) = reader.next_field()? {
        let (index, field) = msg.field(number).ok_or(ProtobufError::UnknownField {
            message: msg.name,
            field: number,
        })?;
        let slot = &mut slots[index];
        match field.card {
            Card::Repeated => match (field.kind, value) {
                // Repeated scalars may arrive packed (one length-delimited run of varints) even
                // though Kubernetes' proto2 schema declares them unpacked; accept both.
                (Kind::Bool | Kind::I32 | Kind::I64, WireValue::Len(data, at)) => {
                    let mut packed = Reader::new(data, at);
                    while !packed.is_empty() {
                        let v = packed.read_varint()?;
                        slot.list
                            .push(scalar(msg, field, WireValue::Varint(v), depth)?);
                    }
                }
                _ => slot.list.push(scalar(msg, field, value, depth)?),
            },
            Card::Map => {
                let (data, at) = length_delimited(msg, field, value)?;
                let (key, value) = map_entry(msg, field, data, at, depth)?;
                // Go fills a map entry by entry, so a repeated key keeps the last value.
                slot.entries.insert(key, value);
            }
            _ if field.kind.is_message() => {
                let (data, at) = length_delimited(msg, field, value)?;
                match &mut slot.message {
                    Some((bytes, _)) => bytes.to_mut().extend_from_slice(data),
                    None => slot.message = Some((Cow::Borrowed(data), at)),
                }
            }
            // Proto: the last occurrence of a singular scalar wins.
            _ => slot.scalar = Some(scalar(msg, field, value, depth)?),
        }
    }

    let mut out = Map::new();
    for (field, slot) in msg.fields.iter().zip(slots) {
        match field.card {
            Card::Repeated => {
                if !slot.list.is_empty() {
                    out.insert(field.json.to_owned(), Value::Array(slot.list));
                }
            }
            Card::Map => {
                if !slot.entries.is_empty() {
                    out.insert(field.json.to_owned(), Value::Object(slot.entries));
                }
            }
            Card::Inline | Card::Optional | Card::NonZero => {
                let value = match slot.message {
                    Some((bytes, at)) => {
                        if let (Card::Inline, Kind::Msg(inner)) = (field.card, field.kind) {
                            out.extend(decode_message(inner, &bytes, at, depth + 1)?);
                            continue;
                        }
                        scalar(msg, field, WireValue::Len(&bytes, at), depth)?
                    }
                    None => match slot.scalar {
                        Some(value) => value,
                        None => continue,
                    },
                };
                if field.card == Card::NonZero && is_zero(&value) {
                    continue;
                }
                out.insert(field.json.to_owned(), value);
            }
        }
    }
    Ok(out)
}

/// Go's `omitempty` notion of an empty scalar (and `omitzero` for times, which decode to null).
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

fn length_delimited<'a>(
    msg: &'static Message,
    field: &Field,
    value: WireValue<'a>,
) -> Result<(&'a [u8], usize), ProtobufError> {
    match value {
        WireValue::Len(data, at) => Ok((data, at)),
        other => Err(wrong_wire(
            msg.name,
            field.number,
            other,
            "length-delimited",
        )),
    }
}

fn wrong_wire(
    message: &'static str,
    field: u32,
    found: WireValue<'_>,
    expected: &'static str,
) -> ProtobufError {
    ProtobufError::WrongWireType {
        message,
        field,
        found: found.wire_name(),
        expected,
    }
}

/// Decodes one value of `field` (a single occurrence, or one element of a repeated field).
fn scalar(
    msg: &'static Message,
    field: &Field,
    value: WireValue<'_>,
    depth: usize,
) -> Result<Value, ProtobufError> {
    Ok(match (field.kind, value) {
        // Go does not validate UTF-8 when decoding proto2 strings, and encoding/json replaces
        // invalid sequences with U+FFFD; the lossy conversion does exactly that.
        (Kind::Str, WireValue::Len(data, _)) => Value::String(String::from_utf8_lossy(data).into()),
        (Kind::Bytes, WireValue::Len(data, _)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(data))
        }
        (Kind::Bool, WireValue::Varint(v)) => Value::Bool(v != 0),
        // Go's generated decoder keeps the low 32 bits of an int32 varint (negative int32s are
        // sign-extended to ten bytes on the wire); `as` truncates the same way.
        (Kind::I32, WireValue::Varint(v)) => Value::from(v as i32),
        (Kind::I64, WireValue::Varint(v)) => Value::from(v as i64),
        (Kind::Msg(inner), WireValue::Len(data, at)) => {
            Value::Object(decode_message(inner, data, at, depth + 1)?)
        }
        (Kind::Time, WireValue::Len(data, at)) => time(TIME, data, at, false)?,
        (Kind::MicroTime, WireValue::Len(data, at)) => time(MICRO_TIME, data, at, true)?,
        (Kind::Duration, WireValue::Len(data, at)) => duration(data, at)?,
        (Kind::IntOrString, WireValue::Len(data, at)) => int_or_string(data, at)?,
        (Kind::Quantity, WireValue::Len(data, at)) => quantity(data, at)?,
        (Kind::RawExtension, WireValue::Len(data, at)) => raw_json(RAW_EXTENSION, data, at)?,
        (Kind::FieldsV1, WireValue::Len(data, at)) => raw_json(FIELDS_V1, data, at)?,
        (Kind::Bool | Kind::I32 | Kind::I64, other) => {
            return Err(wrong_wire(msg.name, field.number, other, "varint"))
        }
        (_, other) => {
            return Err(wrong_wire(
                msg.name,
                field.number,
                other,
                "length-delimited",
            ))
        }
    })
}

/// Decodes one `map<string, V>` entry message {1: key, 2: value}.
fn map_entry(
    msg: &'static Message,
    field: &Field,
    data: &[u8],
    at: usize,
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value = None;
    let mut reader = Reader::new(data, at);
    while let Some((number, v)) = reader.next_field()? {
        match number {
            1 => {
                let (bytes, _) = length_delimited(msg, field, v)?;
                key = String::from_utf8_lossy(bytes).into_owned();
            }
            2 => value = Some(v),
            other => {
                return Err(ProtobufError::UnknownMapEntryField {
                    message: msg.name,
                    map_field: field.number,
                    field: other,
                })
            }
        }
    }
    // An absent value is the type's zero value, as for any proto field.
    let value = value.unwrap_or(match field.kind {
        Kind::Bool | Kind::I32 | Kind::I64 => WireValue::Varint(0),
        _ => WireValue::Len(&[], at),
    });
    Ok((key, scalar(msg, field, value, depth)?))
}

/// Reads one of the small fixed-layout Kubernetes messages into its fields `1..=N`, the last
/// occurrence winning. Unknown fields are an error like everywhere else.
fn fields<'a, const N: usize>(
    name: &'static str,
    data: &'a [u8],
    at: usize,
) -> Result<[Option<WireValue<'a>>; N], ProtobufError> {
    let mut out = [None; N];
    let mut reader = Reader::new(data, at);
    while let Some((number, value)) = reader.next_field()? {
        let slot = (number as usize)
            .checked_sub(1)
            .and_then(|i| out.get_mut(i))
            .ok_or(ProtobufError::UnknownField {
                message: name,
                field: number,
            })?;
        *slot = Some(value);
    }
    Ok(out)
}

/// A varint field of a fixed-layout message; absent means 0.
fn varint_field(
    name: &'static str,
    number: u32,
    value: Option<WireValue<'_>>,
) -> Result<u64, ProtobufError> {
    match value {
        None => Ok(0),
        Some(WireValue::Varint(v)) => Ok(v),
        Some(other) => Err(wrong_wire(name, number, other, "varint")),
    }
}

/// A string or bytes field of a fixed-layout message.
fn bytes_field<'a>(
    name: &'static str,
    number: u32,
    value: Option<WireValue<'a>>,
) -> Result<Option<&'a [u8]>, ProtobufError> {
    match value {
        None => Ok(None),
        Some(WireValue::Len(data, _)) => Ok(Some(data)),
        Some(other) => Err(wrong_wire(name, number, other, "length-delimited")),
    }
}

/// `meta.v1.Time` / `MicroTime` {1: seconds, 2: nanos}.
fn time(name: &'static str, data: &[u8], at: usize, micro: bool) -> Result<Value, ProtobufError> {
    // Go marshals the zero time as an empty message.
    if data.is_empty() {
        return Ok(Value::Null);
    }
    let [seconds, nanos] = fields::<2>(name, data, at)?;
    let seconds = varint_field(name, 1, seconds)? as i64;
    let nanos = varint_field(name, 2, nanos)? as i32;
    // `Time` is second-precision in Go: its protobuf decoder drops nanos on purpose so that
    // protobuf and JSON clients see the same value.
    format_time(seconds, if micro { nanos } else { 0 }, micro)
}

/// Formats like Go's `Time.MarshalJSON` (RFC 3339, UTC) or `MicroTime.MarshalJSON`
/// (RFC 3339 with exactly six fractional digits).
pub(crate) fn format_time(seconds: i64, nanos: i32, micro: bool) -> Result<Value, ProtobufError> {
    let out_of_range = || ProtobufError::TimeOutOfRange { seconds, nanos };
    // Normalise out-of-range nanos into seconds, as Go's time.Unix does.
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let secs = i64::try_from(total.div_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
    let nsec = total.rem_euclid(1_000_000_000) as i32;
    if secs == GO_ZERO_TIME_SECONDS && nsec == 0 {
        return Ok(Value::Null);
    }
    // jiff stops at year 9999 like Go's JSON form; Go also refuses negative years.
    let ts = jiff::Timestamp::new(secs, nsec).map_err(|_| out_of_range())?;
    let dt = jiff::tz::Offset::UTC.to_datetime(ts);
    if dt.year() < 0 {
        return Err(out_of_range());
    }
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if micro {
        // Go's ".000000" layout truncates, it does not round.
        s.push_str(&format!(".{:06}", dt.subsec_nanosecond() / 1000));
    }
    s.push('Z');
    Ok(Value::String(s))
}

/// `meta.v1.Duration` {1: nanoseconds}.
fn duration(data: &[u8], at: usize) -> Result<Value, ProtobufError> {
    let [nanos] = fields::<1>(DURATION, data, at)?;
    let nanos = varint_field(DURATION, 1, nanos)? as i64;
    Ok(Value::String(go_duration(nanos)))
}

/// Go's `time.Duration.String`: `0s`, `1.5s`, `1h2m3s`, `100ms`, `2µs`, `7ns`.
pub(crate) fn go_duration(nanos: i64) -> String {
    let negative = nanos < 0;
    let u = nanos.unsigned_abs();
    if u == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if u < 1_000_000_000 {
        // Below a second Go switches to the largest unit that keeps an integer part.
        let (precision, unit) = match u {
            0..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (whole, fraction) = split_fraction(u, precision);
        out.push_str(&format!("{whole}{fraction}{unit}"));
    } else {
        let (seconds, fraction) = split_fraction(u, 9);
        let (minutes, hours) = (seconds / 60, seconds / 3600);
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if minutes > 0 {
            out.push_str(&format!("{}m", minutes % 60));
        }
        out.push_str(&format!("{}{fraction}s", seconds % 60));
    }
    out
}

/// Splits `v` into `v / 10^precision` and the fraction as ".ddd" without trailing zeros
/// (empty when the fraction is zero), like Go's `fmtFrac`.
fn split_fraction(v: u64, precision: u32) -> (u64, String) {
    let scale = 10u64.pow(precision);
    let fraction = v % scale;
    if fraction == 0 {
        return (v / scale, String::new());
    }
    let digits = format!("{fraction:0width$}", width = precision as usize);
    (v / scale, format!(".{}", digits.trim_end_matches('0')))
}

/// `intstr.IntOrString` {1: type (0 int, 1 string), 2: intVal, 3: strVal}.
fn int_or_string(data: &[u8], at: usize) -> Result<Value, ProtobufError> {
    let [kind, int_val, str_val] = fields::<3>(INT_OR_STRING, data, at)?;
    match varint_field(INT_OR_STRING, 1, kind)? as i64 {
        0 => Ok(Value::from(varint_field(INT_OR_STRING, 2, int_val)? as i32)),
        1 => {
            let s = bytes_field(INT_OR_STRING, 3, str_val)?.unwrap_or_default();
            Ok(Value::String(String::from_utf8_lossy(s).into_owned()))
        }
        // Go's IntOrString.MarshalJSON fails the same way.
        other => Err(ProtobufError::InvalidIntOrString { kind: other }),
    }
}

/// `resource.Quantity` {1: string}. Go's marshaller writes the canonical string, which is also
/// the JSON form, so it passes through unchanged.
fn quantity(data: &[u8], at: usize) -> Result<Value, ProtobufError> {
    let [string] = fields::<1>(QUANTITY, data, at)?;
    Ok(Value::String(match bytes_field(QUANTITY, 1, string)? {
        Some(s) => String::from_utf8_lossy(s).into_owned(),
        // A zero Quantity prints as "0" in Go.
        None => "0".to_owned(),
    }))
}

/// `runtime.RawExtension` / `meta.v1.FieldsV1` {1: raw}: raw bytes that are already JSON and
/// appear as-is in the JSON form (`null` when absent, as Go prints a nil `Raw`).
fn raw_json(name: &'static str, data: &[u8], at: usize) -> Result<Value, ProtobufError> {
    let [raw] = fields::<1>(name, data, at)?;
    match bytes_field(name, 1, raw)? {
        None | Some([]) => Ok(Value::Null),
        Some(raw) => {
            serde_json::from_slice(raw).map_err(|source| ProtobufError::InvalidEmbeddedJson {
                message: name,
                source,
            })
        }
    }
}
