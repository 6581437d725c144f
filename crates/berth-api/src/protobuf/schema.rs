//! The vocabulary of the message descriptor tables in `types`: what a message, a field, a
//! field's value kind and its JSON emission rule are, plus the `const fn` shorthands the tables
//! are written with.
//!
//! Kubernetes' protobuf schema is proto2 generated from Go structs by go-to-protobuf, and the
//! Go marshallers write every non-pointer field, zero or not. Presence on the wire therefore
//! does not say whether the JSON form shows a field; the Go `json` tag does. Each field thus
//! records which of the Go encodings it follows (see [`Card`]).

/// A protobuf message type and its fields in Go struct order (which is the order the
/// Kubernetes JSON form lists them in).
#[derive(Debug)]
pub(crate) struct Message {
    /// The OpenAPI-style full name, e.g. `io.k8s.api.core.v1.Container`, used in errors.
    pub name: &'static str,
    pub fields: &'static [Field],
}

impl Message {
    /// The position and descriptor of field `number`, if this message has one.
    pub(crate) fn field(&self, number: u32) -> Option<(usize, &'static Field)> {
        self.fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.number == number)
    }
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    pub number: u32,
    /// The key in the JSON object; unused for [`Card::Inline`].
    pub json: &'static str,
    pub kind: Kind,
    pub card: Card,
}

/// How a field's value is encoded on the wire and rendered in JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// `string`: JSON string.
    Str,
    /// `bool`: JSON boolean.
    Bool,
    /// `int32`: JSON number.
    I32,
    /// `int64`: JSON number.
    I64,
    /// `bytes`: JSON base64 string, as Go's `encoding/json` renders `[]byte`.
    Bytes,
    /// An embedded message: JSON object.
    Msg(&'static Message),
    /// `meta.v1.Time` {1: seconds, 2: nanos}: RFC 3339 string with whole seconds (the Go type
    /// drops nanos in both its protobuf and JSON forms), or `null` for the zero time.
    Time,
    /// `meta.v1.MicroTime`: like `Time` but with 6 fractional digits.
    // MicroTime, Duration and RawExtension appear in no kind decoded today (they live in Event,
    // Lease, ControllerRevision, ...); they are kept, and tested, so adding such a kind only
    // takes a table.
    #[allow(dead_code)]
    MicroTime,
    /// `meta.v1.Duration` {1: nanoseconds}: Go duration string such as `1m30s`.
    #[allow(dead_code)]
    Duration,
    /// `intstr.IntOrString` {1: type, 2: intVal, 3: strVal}: JSON number or string.
    IntOrString,
    /// `resource.Quantity` {1: string}: JSON string.
    Quantity,
    /// `runtime.RawExtension` {1: raw}: the embedded JSON document itself.
    #[allow(dead_code)]
    RawExtension,
    /// `meta.v1.FieldsV1` {1: raw}: the embedded JSON document itself (managedFields).
    FieldsV1,
}

impl Kind {
    /// True for kinds carried as a length-delimited message, which proto merges when a
    /// singular field occurs more than once.
    pub(crate) fn is_message(self) -> bool {
        !matches!(
            self,
            Kind::Str | Kind::Bool | Kind::I32 | Kind::I64 | Kind::Bytes
        )
    }
}

/// A field's cardinality and JSON emission rule, mirroring the Go field declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    /// A pointer field, a non-`omitempty` field, or a struct: shown whenever it is on the wire,
    /// zero values included.
    Optional,
    /// A non-pointer `omitempty` scalar (or `omitzero` time): shown only when non-zero, because
    /// the Go marshaller writes it even when zero but `encoding/json` drops it.
    NonZero,
    /// A repeated field: shown when it has at least one element.
    Repeated,
    /// A `map<string, V>` encoded as repeated {1: key, 2: value} entries: shown when non-empty.
    Map,
    /// A Go embedded struct with `json:",inline"`: its fields are merged into the parent.
    Inline,
}

/// A pointer / always-shown field.
pub(crate) const fn opt(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        card: Card::Optional,
    }
}

/// A non-pointer `omitempty` field: hidden when zero.
pub(crate) const fn nz(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        card: Card::NonZero,
    }
}

/// A repeated field.
pub(crate) const fn rep(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        card: Card::Repeated,
    }
}

/// A `map<string, kind>` field.
pub(crate) const fn map(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        card: Card::Map,
    }
}

/// An embedded struct whose fields appear inline in the parent's JSON object.
pub(crate) const fn inline(number: u32, message: &'static Message) -> Field {
    Field {
        number,
        json: "",
        kind: Kind::Msg(message),
        card: Card::Inline,
    }
}
