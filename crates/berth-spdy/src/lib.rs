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
    #[error("SPDY I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    #[error("SPDY header block: {0}")]
    Headers(String),
    #[error("SPDY connection closed")]
    Closed,
}

pub type Result<T> = std::result::Result<T, Error>;
