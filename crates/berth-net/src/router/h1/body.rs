//! Message bodies on the router's HTTP/1.1 path: how a body's end is found (RFC 9112 6.3)
//! and relaying it from one side to the other as it arrives. Chunked bodies pass through
//! unchanged; their framing is only scanned, to know where the message ends.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the sender closes (responses only).
    UntilClose,
}

/// A body that is not well formed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// The chunked framing is broken.
    #[error("malformed chunked body")]
    Chunked,
    /// Chunk extensions or trailer fields beyond what the router accepts.
    #[error("chunk extensions or trailers larger than {MAX_META} bytes")]
    MetaTooLarge,
}

/// Why relaying a body stopped short.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading from the sending side failed.
    #[error("reading the body: {0}")]
    Read(std::io::Error),
    /// Writing to the receiving side failed.
    #[error("writing the body: {0}")]
    Write(std::io::Error),
    /// The sender closed before the body's end.
    #[error("the sender closed the connection before the end of the body")]
    Closed,
    /// The body is not well formed.
    #[error(transparent)]
    Malformed(#[from] BodyError),
}

/// Bytes of chunk extensions and trailer fields accepted in one body.
const MAX_META: usize = 64 * 1024;
/// Bytes read from a side at a time.
const READ_SIZE: usize = 16 * 1024;

/// Where a body being relayed is.
#[derive(Debug)]
pub enum Progress {
    /// At its end.
    Done,
    /// This many bytes to go.
    Left(u64),
    /// Somewhere in a chunked body.
    Chunked(Chunks),
    /// Until the sender closes.
    UntilClose,
}

impl Progress {
    /// At the start of a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty | Framing::Length(0) => Progress::Done,
            Framing::Length(n) => Progress::Left(n),
            Framing::Chunked => Progress::Chunked(Chunks::default()),
            Framing::UntilClose => Progress::UntilClose,
        }
    }

    /// Whether the whole body has been seen.
    pub fn done(&self) -> bool {
        matches!(self, Progress::Done)
    }

    /// How many of `data`'s leading bytes belong to the body, moving past them.
    pub fn take(&mut self, data: &[u8]) -> Result<usize, BodyError> {
        let taken = match self {
            Progress::Done => 0,
            Progress::Left(left) => {
                let n = (*left).min(data.len() as u64);
                *left -= n;
                // `n` is at most `data.len()`, a usize.
                n as usize
            }
            Progress::Chunked(chunks) => chunks.take(data)?,
            Progress::UntilClose => data.len(),
        };
        match self {
            Progress::Left(0) => *self = Progress::Done,
            Progress::Chunked(c) if c.state == ChunkState::Done => *self = Progress::Done,
            _ => {}
        }
        Ok(taken)
    }
}

/// Relay the rest of a body from `src` (whose bytes read so far are in `buf`) to `dst`.
/// Bytes after the body stay in `buf`.
pub async fn relay<R, W>(
    src: &mut R,
    buf: &mut BytesMut,
    dst: &mut W,
    progress: &mut Progress,
) -> Result<(), RelayError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while !progress.done() {
        if buf.is_empty() {
            buf.reserve(READ_SIZE);
            let n = src.read_buf(buf).await.map_err(RelayError::Read)?;
            if n == 0 {
                if matches!(progress, Progress::UntilClose) {
                    *progress = Progress::Done;
                    break;
                }
                return Err(RelayError::Closed);
            }
        }
        let n = progress.take(buf)?;
        dst.write_all(&buf[..n]).await.map_err(RelayError::Write)?;
        buf.advance(n);
    }
    dst.flush().await.map_err(RelayError::Write)
}

/// The position in a chunked body (RFC 9112 7.1).
#[derive(Debug, Default)]
pub struct Chunks {
    state: ChunkState,
    /// The size of the chunk being read, then what is left of it.
    size: u64,
    /// Hex digits of the size line so far.
    digits: u8,
    /// Extension and trailer bytes seen.
    meta: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    LineStart,
    Trailer,
    EndLf,
    Done,
}

impl Chunks {
    fn take(&mut self, data: &[u8]) -> Result<usize, BodyError> {
        use ChunkState::*;
        let mut i = 0;
        while i < data.len() && self.state != Done {
            if self.state == Data {
                let n = self.size.min((data.len() - i) as u64);
                self.size -= n;
                // `n` is at most `data.len() - i`, a usize.
                i += n as usize;
                if self.size == 0 {
                    self.state = DataCr;
                }
                continue;
            }
            let b = data[i];
            i += 1;
            self.state = match (self.state, b) {
                (Size, _) if b.is_ascii_hexdigit() => {
                    if self.digits == 16 {
                        return Err(BodyError::Chunked);
                    }
                    let digit = (b as char).to_digit(16).ok_or(BodyError::Chunked)?;
                    self.size = self.size << 4 | u64::from(digit);
                    self.digits += 1;
                    Size
                }
                (Size, b';' | b' ' | b'\t') if self.digits > 0 => Extension,
                (Size, b'\r') if self.digits > 0 => SizeLf,
                (Extension, b'\r') => SizeLf,
                (Extension, b'\n') => return Err(BodyError::Chunked),
                (Extension, _) => {
                    self.count_meta()?;
                    Extension
                }
                (SizeLf, b'\n') if self.size == 0 => LineStart,
                (SizeLf, b'\n') => Data,
                (DataCr, b'\r') => DataLf,
                (DataLf, b'\n') => {
                    self.digits = 0;
                    Size
                }
                (LineStart, b'\r') => EndLf,
                (LineStart | Trailer, b'\n') => LineStart,
                (LineStart | Trailer, _) => {
                    self.count_meta()?;
                    Trailer
                }
                (EndLf, b'\n') => Done,
                _ => return Err(BodyError::Chunked),
            };
        }
        Ok(i)
    }

    fn count_meta(&mut self) -> Result<(), BodyError> {
        self.meta += 1;
        if self.meta > MAX_META {
            return Err(BodyError::MetaTooLarge);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` in pieces of `step` bytes: how many bytes the body took.
    fn scan(body: &[u8], step: usize) -> Result<(usize, bool), BodyError> {
        let mut progress = Progress::new(Framing::Chunked);
        let mut taken = 0;
        for piece in body.chunks(step) {
            let n = progress.take(piece)?;
            taken += n;
            if n < piece.len() {
                break;
            }
        }
        Ok((taken, progress.done()))
    }

    #[test]
    fn chunked_bodies_end_where_their_last_chunk_and_trailers_do() {
        let body =
            b"5\r\nhello\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-sum: 1\r\n\r\n";
        for step in [1, 2, 7, body.len()] {
            let mut with_next = body.to_vec();
            with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(
                scan(&with_next, step),
                Ok((body.len(), true)),
                "step {step}"
            );
        }
        assert_eq!(scan(b"0\r\n\r\n", 1), Ok((5, true)));
        assert_eq!(scan(b"5\r\nhel", 3), Ok((6, false)));
    }

    #[test]
    fn broken_chunked_framing_is_an_error() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXX",
            b"5\nhello\r\n",
            b"11111111111111111\r\n",
            b"0\r\n\r\r",
        ] {
            assert_eq!(
                scan(bad, 1),
                Err(BodyError::Chunked),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut long = b"1;".to_vec();
        long.resize(MAX_META + 10, b'a');
        assert_eq!(scan(&long, 4096), Err(BodyError::MetaTooLarge));
    }

    #[test]
    fn lengths_count_down_and_until_close_takes_everything() {
        let mut p = Progress::new(Framing::Length(5));
        assert_eq!(p.take(b"abc"), Ok(3));
        assert_eq!(p.take(b"defgh"), Ok(2));
        assert!(p.done());
        assert!(Progress::new(Framing::Length(0)).done());
        assert!(Progress::new(Framing::Empty).done());
        let mut p = Progress::new(Framing::UntilClose);
        assert_eq!(p.take(b"abc"), Ok(3));
        assert!(!p.done());
    }

    #[tokio::test]
    async fn relay_copies_the_body_and_leaves_what_follows() {
        let (mut near, mut far) = tokio::io::duplex(64);
        let mut out = Vec::new();
        let mut buf = BytesMut::from(&b"3\r\nabc"[..]);
        let writer =
            tokio::spawn(async move { far.write_all(b"\r\n0\r\n\r\nNEXT").await.map(|_| far) });
        let mut progress = Progress::new(Framing::Chunked);
        relay(&mut near, &mut buf, &mut out, &mut progress)
            .await
            .expect("relayed");
        assert_eq!(out, b"3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(&buf[..], b"NEXT");
        let far = writer.await.expect("joined").expect("written");
        drop(far);
        let mut progress = Progress::new(Framing::Length(10));
        let mut buf = BytesMut::new();
        assert!(matches!(
            relay(&mut near, &mut buf, &mut out, &mut progress).await,
            Err(RelayError::Closed)
        ));
    }
}
