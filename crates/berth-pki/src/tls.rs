//! rustls configurations for the cluster's own connections, on the ring provider the rest of
//! the binary links: servers whose certificate chains to the cluster CA and that verify
//! clients' certificates against it (the API server lets clients without one through to
//! answer them with a 401; a node agent refuses them), and clients that trust only the CA and
//! present a certificate of their own.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A configuration could not be built from the PEM material given.
#[derive(Debug, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsError(String);

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError(e.to_string())
}

/// Whether a server asks for and requires a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    /// Verified when presented; a client without one still completes the handshake.
    Optional,
    /// Every client must present one the CA signed.
    Required,
}

/// A certificate and its private key, PEM.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// The certificate chain, leaf first.
    pub cert: &'a str,
    /// The private key of the leaf certificate.
    pub key: &'a str,
}

fn roots(ca: &str) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.map_err(err)?).map_err(err)?;
    }
    Ok(roots)
}

fn chain_and_key(
    identity: Identity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs = CertificateDer::pem_slice_iter(identity.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).map_err(err)?;
    Ok((certs, key))
}

/// A server presenting `identity`, verifying clients against the CA `ca` (PEM), offering the
/// ALPN protocols `alpn` in order of preference.
pub fn server_config(
    ca: &str,
    identity: Identity,
    clients: ClientCerts,
    alpn: &[&[u8]],
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider.clone());
    let verifier = match clients {
        ClientCerts::Optional => verifier.allow_unauthenticated(),
        ClientCerts::Required => verifier,
    }
    .build()
    .map_err(err)?;
    let (certs, key) = chain_and_key(identity)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(err)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A client trusting only the CA `ca` (PEM) and presenting `identity`.
pub fn client_config(
    ca: &str,
    identity: Identity,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (certs, key) = chain_and_key(identity)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(certs, key)
        .map_err(err)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::Pki;

    #[test]
    fn configurations_build_from_the_cluster_pki_and_refuse_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[]).unwrap();
        let server = Identity {
            cert: &pki.server_cert,
            key: &pki.server_key,
        };
        let admin = Identity {
            cert: &pki.admin_cert,
            key: &pki.admin_key,
        };
        let s = server_config(&pki.ca_cert, server, ClientCerts::Optional, &[b"h2"]).unwrap();
        assert_eq!(s.alpn_protocols, vec![b"h2".to_vec()]);
        assert!(server_config(&pki.ca_cert, server, ClientCerts::Required, &[]).is_ok());
        assert!(client_config(&pki.ca_cert, admin, &[b"http/1.1"]).is_ok());
        let broken = Identity {
            cert: "not PEM",
            key: &pki.server_key,
        };
        assert!(server_config(&pki.ca_cert, broken, ClientCerts::Required, &[]).is_err());
        assert!(server_config("no CA", server, ClientCerts::Required, &[]).is_err());
    }
}
