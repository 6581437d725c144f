//! The router's certificates: each Ingress's `tls` entries name a `kubernetes.io/tls`
//! Secret and the hosts it serves; the handshake picks the certificate by SNI (an exact
//! host, then a `*.domain` one, then the first certificate a wildcard covers).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Certificates by host (lower-case; wildcards as `*.domain`).
#[derive(Debug, Default)]
pub struct Certs {
    by_host: BTreeMap<String, Arc<CertifiedKey>>,
}

impl Certs {
    /// The certificates the router's Ingresses name; entries whose Secret is missing or
    /// unusable are skipped (and logged).
    pub fn build(ingresses: &[Arc<Ingress>], secrets: &[Arc<Secret>]) -> Certs {
        let mut certs = Certs::default();
        let provider = rustls::crypto::ring::default_provider();
        for ingress in ingresses.iter().filter(|i| super::routes::is_ours(i)) {
            let ns = ingress.metadata.namespace.as_deref().unwrap_or("default");
            for tls in ingress.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
                let Some(name) = &tls.secret_name else {
                    continue;
                };
                let Some(secret) = secrets.iter().find(|s| {
                    s.metadata.namespace.as_deref() == Some(ns)
                        && s.metadata.name.as_deref() == Some(name)
                }) else {
                    tracing::debug!(secret = %format!("{ns}/{name}"), "TLS secret not found");
                    continue;
                };
                let key = match certified_key(secret, &provider) {
                    Ok(k) => Arc::new(k),
                    Err(e) => {
                        tracing::warn!(secret = %format!("{ns}/{name}"), error = %e, "unusable TLS secret");
                        continue;
                    }
                };
                for host in tls.hosts.iter().flatten() {
                    certs
                        .by_host
                        .entry(host.to_ascii_lowercase())
                        .or_insert_with(|| key.clone());
                }
            }
        }
        certs
    }

    fn find(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        let sni = sni.to_ascii_lowercase();
        if let Some(k) = self.by_host.get(&sni) {
            return Some(k.clone());
        }
        let (_, domain) = sni.split_once('.')?;
        self.by_host.get(&format!("*.{domain}")).cloned()
    }
}

fn certified_key(
    secret: &Secret,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, String> {
    let data = secret.data.as_ref().ok_or("no data")?;
    let crt = data.get("tls.crt").ok_or("no tls.crt")?;
    let key = data.get("tls.key").ok_or("no tls.key")?;
    let chain = CertificateDer::pem_slice_iter(&crt.0)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls.crt: {e}"))?;
    if chain.is_empty() {
        return Err("tls.crt holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key.0).map_err(|e| format!("tls.key: {e}"))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("tls.key: {e}"))?;
    Ok(CertifiedKey::new(chain, signing))
}

/// The resolver the TLS listener uses: whatever the current [`Certs`] say.
#[derive(Debug, Default)]
pub struct SniResolver {
    pub(crate) certs: RwLock<Arc<Certs>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.read().ok()?.clone();
        certs.find(hello.server_name()?)
    }
}
