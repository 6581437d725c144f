//! The protobuf wire format, and nothing else: a cursor over a message's bytes that yields
//! `(field number, value)` pairs. It knows nothing about Kubernetes types; `decode` gives the
//! values meaning.
//!
//! Offsets in errors are absolute positions in the request body so a client can locate the
//! bad byte; each reader therefore carries the offset at which its slice starts.

use super::ProtobufError;

/// One field value as it appears on the wire, before any schema is applied.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0: int32, int64, uint*, bool, enum (and zig-zag sint*, unused by Kubernetes).
    Varint(u64),
    /// Wire type 1: fixed64, sfixed64, double. Skipped over only: no Kubernetes field in the
    /// tables has a fixed-width type, so the value is never needed.
    Fixed64,
    /// Wire type 2: strings, bytes, embedded messages, map entries and packed repeated scalars.
    /// The offset is where the payload starts in the body.
    Len(&'a [u8], usize),
    /// Wire type 5: fixed32, sfixed32, float. Skipped over only, like `Fixed64`.
    Fixed32,
}

impl WireValue<'_> {
    /// The protobuf name of the wire type, for error messages.
    pub(crate) fn wire_name(&self) -> &'static str {
        match self {
            WireValue::Varint(_) => "varint",
            WireValue::Fixed64 => "64-bit",
            WireValue::Len(..) => "length-delimited",
            WireValue::Fixed32 => "32-bit",
        }
    }
}

/// A forward-only cursor over the fields of one message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]` in the request body.
    base: usize,
}

impl<'a> Reader<'a> {
    /// Reads the message in `buf`, whose first byte sits at `base` in the request body.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// True once every byte has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Reads one base-128 varint. Protobuf allows at most 10 bytes, the last carrying one bit.
    pub(crate) fn read_varint(&mut self) -> Result<u64, ProtobufError> {
        let start = self.offset();
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ProtobufError::TruncatedVarint { offset: start });
            };
            self.pos += 1;
            // The tenth byte holds bit 63 only; anything more cannot fit in 64 bits.
            if i == 9 && byte > 1 {
                return Err(ProtobufError::VarintOverflow { offset: start });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintOverflow { offset: start })
    }

    fn take(&mut self, len: usize) -> Result<(&'a [u8], usize), ProtobufError> {
        let offset = self.offset();
        let available = self.buf.len() - self.pos;
        if len > available {
            return Err(ProtobufError::Truncated {
                offset,
                needed: len as u64,
                available,
            });
        }
        let slice = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok((slice, offset))
    }

    /// Reads the next field: its number and value. `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, ProtobufError> {
        if self.is_empty() {
            return Ok(None);
        }
        let key_offset = self.offset();
        let key = self.read_varint()?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        // Field numbers are 1..2^29-1; 0 is never valid and larger ones mean corrupt input.
        let number = match u32::try_from(number) {
            Ok(n) if (1..(1 << 29)).contains(&n) => n,
            _ => {
                return Err(ProtobufError::InvalidFieldNumber {
                    number,
                    offset: key_offset,
                })
            }
        };
        let value = match wire_type {
            0 => WireValue::Varint(self.read_varint()?),
            1 => {
                self.take(8)?;
                WireValue::Fixed64
            }
            2 => {
                let len_offset = self.offset();
                let len = self.read_varint()?;
                let len = usize::try_from(len).map_err(|_| ProtobufError::Truncated {
                    offset: len_offset,
                    needed: len,
                    available: self.buf.len() - self.pos,
                })?;
                let (slice, offset) = self.take(len)?;
                WireValue::Len(slice, offset)
            }
            // Groups are a proto2 relic Kubernetes never emits; skipping them correctly would
            // need a nesting parser, and silently skipping is not allowed anyway.
            3 | 4 => {
                return Err(ProtobufError::GroupsUnsupported {
                    field: number,
                    offset: key_offset,
                })
            }
            5 => {
                self.take(4)?;
                WireValue::Fixed32
            }
            _ => {
                return Err(ProtobufError::InvalidWireType {
                    wire_type,
                    offset: key_offset,
                })
            }
        };
        Ok(Some((number, value)))
    }
}
