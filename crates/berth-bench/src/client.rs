//! A minimal HTTPS client for the benchmarks: one HTTP/1.1 connection per simulated client
//! (as each kubectl or controller has), authenticated with the admin client certificate.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub fn tls_config(tls_dir: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(tls_dir.join("ca.crt"))? {
        roots.add(c?)?;
    }
    let certs =
        CertificateDer::pem_file_iter(tls_dir.join("admin.crt"))?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(tls_dir.join("admin.key"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)?;
    Ok(Arc::new(config))
}

pub struct Client {
    sender: SendRequest<Full<Bytes>>,
}

pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Client {
    pub async fn connect(port: u16, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<Client> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost")?.to_owned();
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Client { sender })
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        accept: &str,
    ) -> anyhow::Result<Reply> {
        self.sender.ready().await?;
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .context("building request")?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }

    /// Open a watch and return the response body to read events from.
    pub async fn stream(&mut self, path: &str) -> anyhow::Result<hyper::body::Incoming> {
        self.sender.ready().await?;
        let req = hyper::Request::builder()
            .method("GET")
            .uri(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))?;
        let resp = self.sender.send_request(req).await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "watch failed: {}",
            resp.status()
        );
        Ok(resp.into_body())
    }
}
