//! SPDY/3.1, as far as Kubernetes streaming needs it: the frame format with its
//! zlib-compressed header blocks ([`frame`]), and the server side of a connection that hands
//! out the streams a client opens ([`conn`]). kubectl 1.27 to 1.29 run `exec` and `attach`
//! over it, and every kubectl runs `port-forward` over it (1.31+ inside a WebSocket). The Go
//! peer (moby/spdystream) does no flow control, so neither does this: WINDOW_UPDATE frames
//! are read and ignored and none are sent.

pub mod conn;
mod dictionary;
pub mod frame;
mod headers;

pub use conn::{serve, Connection, Stream, StreamWriter};
pub use frame::{Frame, Headers};

/// What can go wrong on a SPDY connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading from or writing to the socket failed.
    #[error("SPDY I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent a frame SPDY/3 does not allow, or one too large to send was asked for.
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    /// A header block could not be compressed or decompressed, or holds malformed headers.
    #[error("SPDY header block: {0}")]
    Headers(String),
    /// The connection is gone: nothing more can be sent.
    #[error("SPDY connection closed")]
    Closed,
}

/// A result whose error is a SPDY [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
