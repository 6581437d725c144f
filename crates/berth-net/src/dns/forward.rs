//! Forwarding names outside the cluster to the node's resolvers: the client's message as it
//! came, over UDP from a fresh socket (its own port, so replies to different clients with
//! the same message id cannot be mixed up), to each upstream in turn until one answers, and
//! again over TCP when the UDP answer was truncated.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::{Name, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one upstream gets to answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The node's upstream resolvers.
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
}

impl Forwarder {
    /// Forward to `upstreams`, in order.
    pub fn new(upstreams: Vec<SocketAddr>) -> Forwarder {
        Forwarder { upstreams }
    }

    /// The first upstream answer to the encoded `query`; `None` when none answers.
    pub async fn forward(&self, query: &[u8]) -> Option<Message> {
        for upstream in &self.upstreams {
            match exchange(*upstream, query).await {
                Ok(reply) => return Some(reply),
                Err(e) => tracing::debug!(%upstream, error = %e, "upstream DNS server"),
            }
        }
        None
    }

    /// The answers upstream gives for `name` (no final dot needed) and `rtype`.
    pub async fn resolve(&self, name: &str, rtype: RecordType) -> Vec<Record> {
        let Ok(name) = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))) else {
            return Vec::new();
        };
        let mut message = Message::query();
        message.metadata.id = rand::random();
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(name, rtype));
        let Ok(bytes) = message.to_vec() else {
            return Vec::new();
        };
        self.forward(&bytes)
            .await
            .map(|m| m.answers)
            .unwrap_or_default()
    }
}

async fn exchange(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Message> {
    let reply = tokio::time::timeout(TIMEOUT, udp(upstream, query))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    tokio::time::timeout(TIMEOUT, tcp(upstream, query))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer over TCP"))?
}

fn decode(bytes: &[u8]) -> std::io::Result<Message> {
    Message::from_vec(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

async fn udp(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Message> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    // Connected: the kernel drops datagrams from anyone but the upstream.
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 65535];
    let n = socket.recv(&mut buf).await?;
    decode(&buf[..n])
}

async fn tcp(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Message> {
    let len = u16::try_from(query.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "query too long"))?;
    let mut stream = tokio::net::TcpStream::connect(upstream).await?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    decode(&buf)
}
