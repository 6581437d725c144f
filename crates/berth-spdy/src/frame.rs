//! SPDY/3 frames: an 8-byte header (control bit, version and type, or a stream id; flags;
//! 24-bit length) and a payload. [`Codec`] turns bytes into frames and back, keeping the
//! header compression state of both directions.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::headers::{Compressor, Decompressor};
use crate::{Error, Result};

/// Header name/value pairs, names lower-case, one pair per value.
pub type Headers = Vec<(String, String)>;

/// The only SPDY version spoken; control frames of any other version are a protocol error.
pub const VERSION: u16 = 3;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// Largest payload a frame can carry (the length field is 24 bits).
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

/// RST_STREAM status codes this side sends.
pub mod rst {
    /// The peer broke the protocol on this stream (here: a client stream id not odd and rising).
    pub const PROTOCOL_ERROR: u32 = 1;
    /// The stream was refused before any of it was processed (here: nobody takes new streams).
    pub const REFUSED_STREAM: u32 = 3;
    /// This side no longer wants the stream.
    pub const CANCEL: u32 = 5;
}

/// One SPDY/3 frame; [`Codec`] turns bytes into frames and back. Stream ids are 31 bits:
/// odd for streams the client opens, even for the server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// SYN_STREAM: the sender opens a stream (kubectl opens one per `exec` channel such as
    /// stdin or stdout, and a data and an error stream per forwarded port).
    SynStream {
        /// The new stream's id.
        stream_id: u32,
        /// The stream this one belongs to (server push); 0 for none.
        associated: u32,
        /// Priority from 0 (highest) to 7 (lowest).
        priority: u8,
        /// The sender will send nothing more on this stream.
        fin: bool,
        /// The receiver may not send on this stream.
        unidirectional: bool,
        /// The stream's headers (Kubernetes puts `streamtype`, `port` and `requestid` here).
        headers: Headers,
    },
    /// SYN_REPLY: the receiver of a SYN_STREAM accepts the stream.
    SynReply {
        /// The stream being accepted.
        stream_id: u32,
        /// The sender will send nothing more on this stream.
        fin: bool,
        /// Headers of the reply (none from this side).
        headers: Headers,
    },
    /// RST_STREAM: the stream is aborted at once, in both directions.
    RstStream {
        /// The stream being aborted.
        stream_id: u32,
        /// Why, one of the SPDY status codes (see [`rst`]).
        status: u32,
    },
    /// (flags, id, value) entries.
    Settings(Vec<(u8, u32, u32)>),
    /// PING with its id; the receiver sends the same frame back.
    Ping(u32),
    /// GOAWAY: the sender accepts no new streams and is about to close the connection.
    GoAway {
        /// The highest id of a stream from the peer that the sender accepted (0 for none).
        last_good: u32,
        /// 0 for a normal close, 1 for a protocol error, 2 for an internal error.
        status: u32,
    },
    /// HEADERS: more headers for an open stream.
    Headers {
        /// The stream the headers belong to.
        stream_id: u32,
        /// The sender will send nothing more on this stream.
        fin: bool,
        /// The added headers.
        headers: Headers,
    },
    /// WINDOW_UPDATE: the receiver grants more flow-control window (read and ignored here).
    WindowUpdate {
        /// The stream whose window grows.
        stream_id: u32,
        /// How many more bytes the sender of the update will accept.
        delta: u32,
    },
    /// A data frame: bytes on a stream.
    Data {
        /// The stream the bytes belong to.
        stream_id: u32,
        /// This is the sender's last frame on the stream (half-close).
        fin: bool,
        /// The payload, at most [`MAX_PAYLOAD`] bytes.
        data: Bytes,
    },
    /// A control frame of a type this does not know: SPDY says to ignore it.
    Unknown(u16),
}

/// Both directions' framing state of one connection.
pub struct Codec {
    compressor: Compressor,
    decompressor: Decompressor,
}

impl Codec {
    /// The state for a new connection; fails only if zlib cannot take the SPDY dictionary.
    pub fn new() -> Result<Codec> {
        Ok(Codec {
            compressor: Compressor::new()?,
            decompressor: Decompressor::new(),
        })
    }

    /// The next whole frame at the front of `buf` (consumed), or `None` when more bytes are
    /// needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let word = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let flags = buf[4];
        let length = usize::from(buf[5]) << 16 | usize::from(buf[6]) << 8 | usize::from(buf[7]);
        if buf.len() < 8 + length {
            buf.reserve(8 + length - buf.len());
            return Ok(None);
        }
        buf.advance(8);
        let mut payload = buf.split_to(length).freeze();
        if word & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                stream_id: word & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: payload,
            }));
        }
        let version = ((word >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(Error::Protocol(format!("SPDY version {version}, not 3")));
        }
        let kind = (word & 0xffff) as u16;
        let short = |need: usize, p: &Bytes| {
            if p.len() < need {
                Err(Error::Protocol(format!(
                    "control frame type {kind} with {} bytes, at least {need} needed",
                    p.len()
                )))
            } else {
                Ok(())
            }
        };
        let fin = flags & FLAG_FIN != 0;
        let frame = match kind {
            SYN_STREAM => {
                short(10, &payload)?;
                let stream_id = payload.get_u32() & 0x7fff_ffff;
                let associated = payload.get_u32() & 0x7fff_ffff;
                let priority = payload.get_u8() >> 5;
                payload.advance(1);
                Frame::SynStream {
                    stream_id,
                    associated,
                    priority,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers: self.decompressor.decompress(&payload)?,
                }
            }
            SYN_REPLY | HEADERS => {
                short(4, &payload)?;
                let stream_id = payload.get_u32() & 0x7fff_ffff;
                let headers = self.decompressor.decompress(&payload)?;
                if kind == SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        fin,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        fin,
                        headers,
                    }
                }
            }
            RST_STREAM => {
                short(8, &payload)?;
                Frame::RstStream {
                    stream_id: payload.get_u32() & 0x7fff_ffff,
                    status: payload.get_u32(),
                }
            }
            SETTINGS => {
                short(4, &payload)?;
                let n = payload.get_u32() as usize;
                if payload.len() < n.saturating_mul(8) {
                    return Err(Error::Protocol(format!(
                        "SETTINGS with {n} entries cut short"
                    )));
                }
                let entries = (0..n)
                    .map(|_| {
                        let word = payload.get_u32();
                        ((word >> 24) as u8, word & 0x00ff_ffff, payload.get_u32())
                    })
                    .collect();
                Frame::Settings(entries)
            }
            PING => {
                short(4, &payload)?;
                Frame::Ping(payload.get_u32())
            }
            GOAWAY => {
                short(4, &payload)?;
                let last_good = payload.get_u32() & 0x7fff_ffff;
                // SPDY/2 peers leave the status out.
                let status = if payload.len() >= 4 {
                    payload.get_u32()
                } else {
                    0
                };
                Frame::GoAway { last_good, status }
            }
            WINDOW_UPDATE => {
                short(8, &payload)?;
                Frame::WindowUpdate {
                    stream_id: payload.get_u32() & 0x7fff_ffff,
                    delta: payload.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown(other),
        };
        Ok(Some(frame))
    }

    /// Append `frame` to `dst`.
    pub fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<()> {
        let mut payload = BytesMut::new();
        let (kind, flags) = match frame {
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                if data.len() > MAX_PAYLOAD {
                    return Err(Error::Protocol("a data frame over 16 MiB".into()));
                }
                dst.put_u32(stream_id & 0x7fff_ffff);
                dst.put_u8(if *fin { FLAG_FIN } else { 0 });
                put_u24(dst, data.len());
                dst.put_slice(data);
                return Ok(());
            }
            Frame::SynStream {
                stream_id,
                associated,
                priority,
                fin,
                unidirectional,
                headers,
            } => {
                payload.put_u32(stream_id & 0x7fff_ffff);
                payload.put_u32(associated & 0x7fff_ffff);
                payload.put_u8((priority & 0x7) << 5);
                payload.put_u8(0);
                payload.put_slice(&self.compressor.compress(headers)?);
                let mut f = if *fin { FLAG_FIN } else { 0 };
                if *unidirectional {
                    f |= FLAG_UNIDIRECTIONAL;
                }
                (SYN_STREAM, f)
            }
            Frame::SynReply {
                stream_id,
                fin,
                headers,
            }
            | Frame::Headers {
                stream_id,
                fin,
                headers,
            } => {
                payload.put_u32(stream_id & 0x7fff_ffff);
                payload.put_slice(&self.compressor.compress(headers)?);
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                (kind, if *fin { FLAG_FIN } else { 0 })
            }
            Frame::RstStream { stream_id, status } => {
                payload.put_u32(stream_id & 0x7fff_ffff);
                payload.put_u32(*status);
                (RST_STREAM, 0)
            }
            Frame::Settings(entries) => {
                payload.put_u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
                for (flags, id, value) in entries {
                    payload.put_u32(u32::from(*flags) << 24 | (id & 0x00ff_ffff));
                    payload.put_u32(*value);
                }
                (SETTINGS, 0)
            }
            Frame::Ping(id) => {
                payload.put_u32(*id);
                (PING, 0)
            }
            Frame::GoAway { last_good, status } => {
                payload.put_u32(last_good & 0x7fff_ffff);
                payload.put_u32(*status);
                (GOAWAY, 0)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                payload.put_u32(stream_id & 0x7fff_ffff);
                payload.put_u32(delta & 0x7fff_ffff);
                (WINDOW_UPDATE, 0)
            }
            Frame::Unknown(kind) => (*kind, 0),
        };
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::Protocol("a control frame over 16 MiB".into()));
        }
        dst.put_u16(0x8000 | VERSION);
        dst.put_u16(kind);
        dst.put_u8(flags);
        put_u24(dst, payload.len());
        dst.put_slice(&payload);
        Ok(())
    }
}

fn put_u24(dst: &mut BytesMut, n: usize) {
    dst.put_u8((n >> 16) as u8);
    dst.put_u8((n >> 8) as u8);
    dst.put_u8(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frames: &[Frame]) -> Vec<Frame> {
        let mut tx = Codec::new().unwrap();
        let mut rx = Codec::new().unwrap();
        let mut wire = BytesMut::new();
        for f in frames {
            tx.encode(f, &mut wire).unwrap();
        }
        let mut out = Vec::new();
        // Feed the bytes one at a time: frames must come out whole whatever the split.
        let mut buf = BytesMut::new();
        for b in wire {
            buf.put_u8(b);
            while let Some(f) = rx.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn every_frame_type_round_trips() {
        let headers = vec![("streamtype".to_string(), "stdout".to_string())];
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated: 0,
                priority: 2,
                fin: false,
                unidirectional: true,
                headers: headers.clone(),
            },
            Frame::SynReply {
                stream_id: 1,
                fin: false,
                headers: vec![],
            },
            Frame::Headers {
                stream_id: 1,
                fin: true,
                headers,
            },
            Frame::Data {
                stream_id: 1,
                fin: false,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream_id: 3,
                fin: true,
                data: Bytes::new(),
            },
            Frame::RstStream {
                stream_id: 5,
                status: rst::CANCEL,
            },
            Frame::Settings(vec![(0, 7, 65536), (1, 4, 100)]),
            Frame::Ping(7),
            Frame::GoAway {
                last_good: 9,
                status: 0,
            },
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 4096,
            },
        ];
        assert_eq!(round_trip(&frames), frames);
    }

    #[test]
    fn data_frame_layout_is_the_specs() {
        let mut c = Codec::new().unwrap();
        let mut wire = BytesMut::new();
        c.encode(
            &Frame::Data {
                stream_id: 5,
                fin: true,
                data: Bytes::from_static(b"ab"),
            },
            &mut wire,
        )
        .unwrap();
        assert_eq!(&wire[..], &[0, 0, 0, 5, 1, 0, 0, 2, b'a', b'b']);
        let mut wire = BytesMut::new();
        c.encode(&Frame::Ping(1), &mut wire).unwrap();
        assert_eq!(&wire[..], &[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut c = Codec::new().unwrap();
        // Version 2.
        let mut b = BytesMut::from(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert!(c.decode(&mut b).is_err());
        // A SYN_STREAM too short for its fixed fields.
        let mut b = BytesMut::from(&[0x80, 3, 0, 1, 0, 0, 0, 2, 0, 0][..]);
        assert!(c.decode(&mut b).is_err());
        // Unknown control types are skipped, not fatal.
        let mut b = BytesMut::from(&[0x80, 3, 0, 42, 0, 0, 0, 1, 9][..]);
        assert_eq!(c.decode(&mut b).unwrap(), Some(Frame::Unknown(42)));
    }
}
