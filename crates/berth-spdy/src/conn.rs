//! The server side of a SPDY connection: the client opens streams (SYN_STREAM with headers
//! that say what each is for), this side replies, and both send data until each end says
//! FIN. One task reads frames and routes data to the stream it belongs to, one task owns the
//! write half and the header compressor; streams and their writers only pass messages.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::frame::{rst, Codec, Frame, Headers};
use crate::{Error, Result};

/// Data frames this side sends are cut to this size, so one stream cannot hold the
/// connection for long.
const CHUNK: usize = 32 * 1024;

/// How long a closed connection waits for the peer to hang up before dropping the socket.
const LINGER: Duration = Duration::from_secs(2);

enum Out {
    Frame(Frame),
    Close(oneshot::Sender<()>),
}

/// This side of a connection: closing it sends GOAWAY and ends the socket.
#[derive(Clone)]
pub struct Connection {
    tx: mpsc::Sender<Out>,
}

impl Connection {
    /// Say GOAWAY, flush, and close the socket (after the peer hangs up, or shortly).
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Out::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// A stream the client opened.
pub struct Stream {
    headers: Headers,
    data: mpsc::Receiver<Bytes>,
    writer: StreamWriter,
}

impl Stream {
    /// The stream's id (odd: the client opened it).
    pub fn id(&self) -> u32 {
        self.writer.id
    }

    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The next data the client sent; `None` once it finished (FIN), reset the stream, or
    /// the connection ended.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.data.recv().await
    }

    /// A writer for this stream, to send from another task while this one receives.
    pub fn writer(&self) -> StreamWriter {
        self.writer.clone()
    }

    /// The receiving half and the writer, to use from different tasks.
    pub fn split(self) -> (mpsc::Receiver<Bytes>, StreamWriter) {
        (self.data, self.writer)
    }
}

/// Sends on one stream; cheap to clone.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    tx: mpsc::Sender<Out>,
}

impl StreamWriter {
    async fn frame(&self, frame: Frame) -> Result<()> {
        self.tx
            .send(Out::Frame(frame))
            .await
            .map_err(|_| Error::Closed)
    }

    /// Accept the stream (SYN_REPLY): the Go client waits for this before it sends data.
    pub async fn reply(&self) -> Result<()> {
        self.frame(Frame::SynReply {
            stream_id: self.id,
            fin: false,
            headers: Vec::new(),
        })
        .await
    }

    /// Send `data` on the stream, in data frames of at most 32 KiB.
    pub async fn send(&self, data: &[u8]) -> Result<()> {
        for chunk in data.chunks(CHUNK) {
            self.frame(Frame::Data {
                stream_id: self.id,
                fin: false,
                data: Bytes::copy_from_slice(chunk),
            })
            .await?;
        }
        Ok(())
    }

    /// End this side of the stream (an empty data frame with FIN).
    pub async fn finish(&self) -> Result<()> {
        self.frame(Frame::Data {
            stream_id: self.id,
            fin: true,
            data: Bytes::new(),
        })
        .await
    }

    /// Abort the stream (RST_STREAM with CANCEL).
    pub async fn reset(&self) -> Result<()> {
        self.frame(Frame::RstStream {
            stream_id: self.id,
            status: rst::CANCEL,
        })
        .await
    }
}

/// Serve a connection on `io` (the socket after the HTTP upgrade): the streams the client
/// opens arrive on the receiver, in order.
pub fn serve<IO>(io: IO) -> Result<(Connection, mpsc::Receiver<Stream>)>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(io);
    let (out_tx, out_rx) = mpsc::channel(64);
    let (streams_tx, streams_rx) = mpsc::channel(16);
    let read_codec = Codec::new()?;
    let write_codec = Codec::new()?;
    let read_task = tokio::spawn(read_loop(reader, read_codec, out_tx.clone(), streams_tx));
    tokio::spawn(write_loop(
        writer,
        write_codec,
        out_rx,
        read_task.abort_handle(),
    ));
    Ok((Connection { tx: out_tx }, streams_rx))
}

async fn write_loop<W: AsyncWrite>(
    w: W,
    mut codec: Codec,
    mut rx: mpsc::Receiver<Out>,
    reader: tokio::task::AbortHandle,
) {
    tokio::pin!(w);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut closed = None;
    while let Some(out) = rx.recv().await {
        let frame = match out {
            Out::Frame(f) => f,
            Out::Close(done) => {
                closed = Some(done);
                Frame::GoAway {
                    last_good: 0,
                    status: 0,
                }
            }
        };
        if let Err(e) = codec.encode(&frame, &mut buf) {
            tracing::debug!(error = %e, "SPDY encode");
            buf.clear();
            continue;
        }
        // Batch whatever else is already queued into one write.
        let mut failed = w.write_all(&buf).await.is_err();
        buf.clear();
        if !failed && rx.is_empty() {
            failed = w.flush().await.is_err();
        }
        if failed || closed.is_some() {
            break;
        }
    }
    let _ = w.shutdown().await;
    if let Some(done) = closed {
        let _ = done.send(());
    }
    tokio::time::sleep(LINGER).await;
    reader.abort();
}

async fn read_loop<R: AsyncRead>(
    r: R,
    mut codec: Codec,
    out: mpsc::Sender<Out>,
    streams_tx: mpsc::Sender<Stream>,
) {
    tokio::pin!(r);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut streams: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    let mut last_id = 0u32;
    loop {
        let frame = match codec.decode(&mut buf) {
            Ok(Some(f)) => f,
            Ok(None) => match r.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
            Err(e) => {
                tracing::debug!(error = %e, "SPDY frame");
                let _ = out
                    .send(Out::Frame(Frame::GoAway {
                        last_good: last_id,
                        status: 1,
                    }))
                    .await;
                return;
            }
        };
        match frame {
            Frame::SynStream {
                stream_id,
                fin,
                headers,
                ..
            } => {
                // Client streams have odd, increasing ids.
                if stream_id % 2 == 0 || stream_id <= last_id {
                    let _ = out
                        .send(Out::Frame(Frame::RstStream {
                            stream_id,
                            status: rst::PROTOCOL_ERROR,
                        }))
                        .await;
                    continue;
                }
                last_id = stream_id;
                let (tx, rx) = mpsc::channel(16);
                if !fin {
                    streams.insert(stream_id, tx);
                }
                let stream = Stream {
                    headers,
                    data: rx,
                    writer: StreamWriter {
                        id: stream_id,
                        tx: out.clone(),
                    },
                };
                if streams_tx.send(stream).await.is_err() {
                    streams.remove(&stream_id);
                    let _ = out
                        .send(Out::Frame(Frame::RstStream {
                            stream_id,
                            status: rst::REFUSED_STREAM,
                        }))
                        .await;
                }
            }
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                if let Some(tx) = streams.get(&stream_id) {
                    if !data.is_empty() && tx.send(data).await.is_err() {
                        streams.remove(&stream_id);
                    }
                }
                if fin {
                    streams.remove(&stream_id);
                }
            }
            Frame::Headers {
                stream_id,
                fin: true,
                ..
            } => {
                streams.remove(&stream_id);
            }
            Frame::RstStream { stream_id, .. } => {
                streams.remove(&stream_id);
            }
            Frame::Ping(id) => {
                // Answer the peer's pings (odd ids from a client); ours would be even.
                if id % 2 == 1 {
                    let _ = out.send(Out::Frame(Frame::Ping(id))).await;
                }
            }
            Frame::GoAway { .. } => return,
            Frame::SynReply { .. }
            | Frame::Headers { .. }
            | Frame::Settings(_)
            | Frame::WindowUpdate { .. }
            | Frame::Unknown(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal client on the other end of a pipe.
    struct Client {
        codec: Codec,
        io: tokio::io::DuplexStream,
        buf: BytesMut,
    }

    impl Client {
        async fn send(&mut self, f: Frame) {
            let mut b = BytesMut::new();
            self.codec.encode(&f, &mut b).unwrap();
            self.io.write_all(&b).await.unwrap();
        }

        async fn next(&mut self) -> Option<Frame> {
            loop {
                if let Some(f) = self.codec.decode(&mut self.buf).unwrap() {
                    return Some(f);
                }
                if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                    return None;
                }
            }
        }
    }

    fn pair() -> (Client, Connection, mpsc::Receiver<Stream>) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (conn, streams) = serve(b).unwrap();
        let client = Client {
            codec: Codec::new().unwrap(),
            io: a,
            buf: BytesMut::new(),
        };
        (client, conn, streams)
    }

    fn syn(id: u32, kind: &str) -> Frame {
        Frame::SynStream {
            stream_id: id,
            associated: 0,
            priority: 0,
            fin: false,
            unidirectional: false,
            headers: vec![("streamtype".into(), kind.into())],
        }
    }

    #[tokio::test]
    async fn streams_carry_data_both_ways_and_end_with_fin() {
        let (mut client, conn, mut streams) = pair();
        client.send(syn(1, "stdin")).await;
        client.send(syn(3, "stdout")).await;
        let mut stdin = streams.recv().await.unwrap();
        let stdout = streams.recv().await.unwrap();
        assert_eq!(stdin.header("streamtype"), Some("stdin"));
        assert_eq!(stdout.id(), 3);
        stdin.writer().reply().await.unwrap();
        stdout.writer().reply().await.unwrap();
        assert!(matches!(
            client.next().await,
            Some(Frame::SynReply { stream_id: 1, .. })
        ));
        assert!(matches!(
            client.next().await,
            Some(Frame::SynReply { stream_id: 3, .. })
        ));
        client
            .send(Frame::Data {
                stream_id: 1,
                fin: true,
                data: Bytes::from_static(b"in"),
            })
            .await;
        assert_eq!(stdin.recv().await.as_deref(), Some(&b"in"[..]));
        assert_eq!(stdin.recv().await, None, "FIN ends the stream");
        stdout.writer().send(b"out").await.unwrap();
        stdout.writer().finish().await.unwrap();
        assert_eq!(
            client.next().await,
            Some(Frame::Data {
                stream_id: 3,
                fin: false,
                data: Bytes::from_static(b"out")
            })
        );
        assert!(matches!(
            client.next().await,
            Some(Frame::Data { fin: true, .. })
        ));
        client.send(Frame::Ping(1)).await;
        assert_eq!(client.next().await, Some(Frame::Ping(1)));
        conn.close().await;
        assert!(matches!(client.next().await, Some(Frame::GoAway { .. })));
        assert_eq!(client.next().await, None);
    }

    #[tokio::test]
    async fn even_or_repeated_stream_ids_are_refused() {
        let (mut client, _conn, mut streams) = pair();
        client.send(syn(2, "data")).await;
        assert_eq!(
            client.next().await,
            Some(Frame::RstStream {
                stream_id: 2,
                status: rst::PROTOCOL_ERROR
            })
        );
        client.send(syn(5, "data")).await;
        client.send(syn(5, "data")).await;
        assert_eq!(streams.recv().await.map(|s| s.id()), Some(5));
        assert!(matches!(
            client.next().await,
            Some(Frame::RstStream { stream_id: 5, .. })
        ));
    }

    #[tokio::test]
    async fn a_reset_or_a_hang_up_ends_the_streams() {
        let (mut client, _conn, mut streams) = pair();
        client.send(syn(1, "data")).await;
        client.send(syn(3, "error")).await;
        let mut one = streams.recv().await.unwrap();
        let mut three = streams.recv().await.unwrap();
        client
            .send(Frame::RstStream {
                stream_id: 1,
                status: rst::CANCEL,
            })
            .await;
        assert_eq!(one.recv().await, None);
        drop(client);
        assert_eq!(three.recv().await, None);
        assert!(streams.recv().await.is_none());
    }

    #[tokio::test]
    async fn garbage_ends_the_connection_with_goaway() {
        let (mut client, _conn, mut streams) = pair();
        client
            .io
            .write_all(&[
                0x80, 3, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 9,
            ])
            .await
            .unwrap();
        assert!(matches!(
            client.next().await,
            Some(Frame::GoAway { status: 1, .. })
        ));
        assert!(streams.recv().await.is_none());
    }
}
