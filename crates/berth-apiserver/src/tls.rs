//! HTTPS serving: rustls with ALPN `h2` and `http/1.1` (upgrades such as WebSocket need
//! HTTP/1.1), client certificates from the cluster CA as an authentication (the admin's, nodes'), and
//! graceful shutdown that lets in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use berth_pki::ca::Pki;
pub use berth_pki::tls::TlsError;
use berth_pki::tls::{self, ClientCerts, Identity};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Who made a request, as established by the TLS handshake.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The user of a verified client certificate: its subject's common name and
    /// organizations.
    pub cert_user: Option<crate::authn::CertUser>,
    /// The client's address.
    pub addr: Option<SocketAddr>,
}

/// The API server's own: its serving certificate, client certificates verified when
/// presented (requests without one still get a proper 401 Status, and anyone may read
/// /healthz and /version), and HTTP/2 preferred.
pub fn server_config(pki: &Pki) -> Result<rustls::ServerConfig, TlsError> {
    let identity = Identity {
        cert: &pki.server_cert,
        key: &pki.server_key,
    };
    tls::server_config(
        &pki.ca_cert,
        identity,
        ClientCerts::Optional,
        &[b"h2", b"http/1.1"],
    )
}

/// The client side of the API server's connections to node agents (logs, exec, ...): it
/// trusts the cluster CA and presents the admin certificate, over HTTP/1.1 (upgrades).
pub fn node_client_config(pki: &Pki) -> Result<rustls::ClientConfig, TlsError> {
    let identity = Identity {
        cert: &pki.admin_cert,
        key: &pki.admin_key,
    };
    tls::client_config(&pki.ca_cert, identity, &[b"http/1.1"])
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting, give open
/// requests `grace` to finish and return.
pub async fn serve(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%addr, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| crate::authn::CertUser::of(leaf));
            let peer = Peer {
                cert_user,
                addr: Some(addr),
            };
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(peer.clone());
                    let app = app.clone();
                    async move {
                        use tower::ServiceExt;
                        app.oneshot(req.map(axum::body::Body::new)).await
                    }
                },
            );
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            let conn = watcher.watch(conn.into_owned());
            if let Err(e) = conn.await {
                tracing::debug!(%addr, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("shutdown grace period over; closing remaining connections");
    }
}
