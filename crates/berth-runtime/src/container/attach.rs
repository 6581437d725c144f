//! The attach protocol between a container's shim and its clients (`berth run` in the
//! foreground, `berth attach`, later the node agent's `pods/attach`), over the Unix socket
//! `attach.sock` in the container's directory.
//!
//! Frames are `[kind: u8][length: u32 big-endian][payload]`. The shim sends output as it
//! arrives and, when the container has exited and its output is drained, one `Exit` frame;
//! the client sends input, terminal resizes and the end of its input.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest payload accepted, so that a broken peer cannot make the other side allocate
/// without bound.
pub const MAX_FRAME: usize = 1 << 20;

/// What a frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client -> shim: bytes for the container's stdin.
    Stdin(Vec<u8>),
    /// Shim -> client: container output (a terminal's output is all `Stdout`).
    Stdout(Vec<u8>),
    /// Shim -> client: container standard error.
    Stderr(Vec<u8>),
    /// Client -> shim: the terminal's new size.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// Shim -> client: the container exited with this code.
    Exit(i32),
    /// Client -> shim: the client's input ended.
    CloseStdin,
    /// Engine -> shim: start the created container.
    Start,
    /// Shim -> engine: the answer to `Start`; an error message, or empty for success.
    Started(String),
}

impl Frame {
    /// Serialize the frame.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, Vec<u8>) = match self {
            Frame::Stdin(b) => (0, b.clone()),
            Frame::Stdout(b) => (1, b.clone()),
            Frame::Stderr(b) => (2, b.clone()),
            Frame::Resize { cols, rows } => {
                let mut p = cols.to_be_bytes().to_vec();
                p.extend_from_slice(&rows.to_be_bytes());
                (3, p)
            }
            Frame::Exit(code) => (4, code.to_be_bytes().to_vec()),
            Frame::CloseStdin => (5, Vec::new()),
            Frame::Start => (6, Vec::new()),
            Frame::Started(error) => (7, error.as_bytes().to_vec()),
        };
        let mut out = Vec::with_capacity(5 + payload.len());
        out.push(kind);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    fn decode(kind: u8, payload: Vec<u8>) -> std::io::Result<Frame> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        Ok(match kind {
            0 => Frame::Stdin(payload),
            1 => Frame::Stdout(payload),
            2 => Frame::Stderr(payload),
            3 => {
                let p: [u8; 4] = payload
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("resize frame must carry 4 bytes"))?;
                Frame::Resize {
                    cols: u16::from_be_bytes([p[0], p[1]]),
                    rows: u16::from_be_bytes([p[2], p[3]]),
                }
            }
            4 => {
                let p: [u8; 4] = payload
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("exit frame must carry 4 bytes"))?;
                Frame::Exit(i32::from_be_bytes(p))
            }
            5 => Frame::CloseStdin,
            6 => Frame::Start,
            7 => Frame::Started(String::from_utf8_lossy(&payload).into_owned()),
            other => return Err(bad(&format!("unknown frame kind {other}"))),
        })
    }
}

/// Read one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut header = [0u8; 5];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {MAX_FRAME}"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Frame::decode(header[0], payload).map(Some)
}

/// Write one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> std::io::Result<()> {
    w.write_all(&frame.encode()).await
}

/// A path for the socket named `name` in `dir` that fits the 108-byte limit of Unix socket
/// addresses however deep `dir` is: `/proc/self/fd/<n>/<name>` through an `O_PATH` handle
/// of the directory, which the caller keeps open while it uses the path.
pub fn short_socket_path(dir: &Path, name: &str) -> std::io::Result<(std::fs::File, PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt;
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{name}", handle.as_raw_fd()));
    Ok((handle, path))
}

/// Connect to the attach socket of the container whose directory is `dir`.
pub async fn connect(dir: &Path) -> std::io::Result<tokio::net::UnixStream> {
    let (_handle, path) = short_socket_path(dir, "attach.sock")?;
    tokio::net::UnixStream::connect(path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip() {
        let frames = vec![
            Frame::Stdin(b"in".to_vec()),
            Frame::Stdout(b"out".to_vec()),
            Frame::Stderr(Vec::new()),
            Frame::Resize { cols: 80, rows: 24 },
            Frame::Exit(-3),
            Frame::CloseStdin,
            Frame::Start,
            Frame::Started("boom".into()),
        ];
        let mut bytes = Vec::new();
        for f in &frames {
            bytes.extend(f.encode());
        }
        let mut reader = bytes.as_slice();
        let mut back = Vec::new();
        while let Some(f) = read_frame(&mut reader).await.unwrap() {
            back.push(f);
        }
        assert_eq!(back, frames);
    }

    #[tokio::test]
    async fn bad_frames_are_errors() {
        let mut huge = vec![1u8];
        huge.extend_from_slice(&(u32::MAX).to_be_bytes());
        assert!(read_frame(&mut huge.as_slice()).await.is_err());
        let unknown = [9u8, 0, 0, 0, 0];
        assert!(read_frame(&mut &unknown[..]).await.is_err());
        let short_resize = [3u8, 0, 0, 0, 1, 0];
        assert!(read_frame(&mut &short_resize[..]).await.is_err());
    }
}
