//! Joining nodes. The cluster has one node token, in k3s's format
//! `K10<sha256 of the CA certificate>::server:<secret>`, kept in `<data-dir>/node-token`. A
//! `berth agent` holding it needs no other credential: it reads the CA from `GET /cacerts`
//! (anyone may; the agent trusts it only if its hash is the token's) and exchanges the secret
//! at `POST /berth/v1/node-credentials` for a client certificate (`system:node:NAME` in
//! `system:nodes`) and a serving certificate for its HTTPS endpoint, both signed by the
//! cluster CA, the way k3s's supervisor hands out kubelet certificates. This module has the
//! token, the messages and the server's side of the exchange; the API server serves it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::CertError;

/// Where the CA certificate is served.
pub const CACERTS_PATH: &str = "/cacerts";
/// Where a node token buys node credentials.
pub const CREDENTIALS_PATH: &str = "/berth/v1/node-credentials";

/// Errors reading a node token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is empty or only whitespace.
    #[error("the token is empty")]
    Empty,
    /// The token starts like a full token but does not parse; the text is the token.
    #[error("the token {0:?} is not in the form K10<CA hash>::<user>:<secret>")]
    Malformed(String),
}

/// A node token: the hash of the CA it trusts (absent in a bare secret) and the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeToken {
    /// Lowercase hex SHA-256 of the CA certificate the agent may trust; `None` for a bare secret.
    pub ca_hash: Option<String>,
    /// The secret exchanged for node credentials.
    pub secret: String,
}

impl NodeToken {
    /// Parse a full token (`K10<hash>::server:<secret>`) or a bare secret.
    pub fn parse(text: &str) -> Result<NodeToken, TokenError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TokenError::Empty);
        }
        let Some(rest) = text.strip_prefix("K10") else {
            if text.contains("::") {
                return Err(TokenError::Malformed(text.to_string()));
            }
            return Ok(NodeToken {
                ca_hash: None,
                secret: text.to_string(),
            });
        };
        let malformed = || TokenError::Malformed(text.to_string());
        let (hash, credentials) = rest.split_once("::").ok_or_else(malformed)?;
        let (_user, secret) = credentials.split_once(':').ok_or_else(malformed)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) || secret.is_empty() {
            return Err(malformed());
        }
        Ok(NodeToken {
            ca_hash: Some(hash.to_ascii_lowercase()),
            secret: secret.to_string(),
        })
    }

    /// The full token text for a CA certificate (PEM) and a secret.
    pub fn full(ca_pem: &str, secret: &str) -> String {
        format!("K10{}::server:{secret}", ca_hash(ca_pem))
    }
}

/// The hash a token carries of the CA certificate (PEM text as served).
pub fn ca_hash(ca_pem: &str) -> String {
    hex::encode(sha2::Sha256::digest(ca_pem.as_bytes()))
}

/// What an agent asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsRequest {
    /// The Node's name.
    pub node_name: String,
    /// Names and addresses the agent's serving certificate must cover.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// What an agent gets: PEM certificates and keys, and the CA.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCredentials {
    /// The cluster CA certificate.
    pub ca: String,
    /// The client certificate for `system:node:NAME` in group `system:nodes`.
    pub client_cert: String,
    /// The private key of `client_cert`.
    pub client_key: String,
    /// The serving certificate of the agent's HTTPS endpoint, for the node name and addresses.
    pub serving_cert: String,
    /// The private key of `serving_cert`.
    pub serving_key: String,
}

/// The server side: the token's secret and the CA that signs what it buys.
pub struct NodeJoin {
    secret: String,
    ca: String,
    tls_dir: PathBuf,
}

impl NodeJoin {
    /// Load `<data_dir>/node-token`, creating it (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path, ca: &str) -> Result<NodeJoin, CertError> {
        let path = data_dir.join("node-token");
        let stored = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| NodeToken::parse(&t).ok());
        let secret = match stored {
            Some(token) => token.secret,
            None => {
                let bytes: [u8; 16] = rand::random();
                let secret = hex::encode(bytes);
                crate::ca::write_private(&path, &format!("{}\n", NodeToken::full(ca, &secret)))?;
                secret
            }
        };
        Ok(NodeJoin {
            secret,
            ca: ca.to_string(),
            tls_dir: data_dir.join("tls"),
        })
    }

    /// The full token for `berth agent --token`.
    pub fn token(&self) -> String {
        NodeToken::full(&self.ca, &self.secret)
    }

    /// The CA certificate (PEM) the token's hash is of.
    pub fn ca(&self) -> &str {
        &self.ca
    }

    /// Whether an `Authorization` header's value carries this cluster's token (or its bare
    /// secret) as a bearer token.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        let Some(presented) = authorization
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .and_then(|(_, token)| NodeToken::parse(token).ok())
        else {
            return false;
        };
        if presented
            .ca_hash
            .as_ref()
            .is_some_and(|h| *h != ca_hash(&self.ca))
        {
            return false;
        }
        // Digests compare in time independent of where the secrets differ.
        sha2::Sha256::digest(presented.secret.as_bytes())
            == sha2::Sha256::digest(self.secret.as_bytes())
    }

    /// The credentials a joining node gets.
    pub fn issue(&self, request: &CredentialsRequest) -> Result<NodeCredentials, CertError> {
        let user = format!("system:node:{}", request.node_name);
        let (client_cert, client_key) =
            crate::ca::issue_client_cert(&self.tls_dir, &user, "system:nodes")?;
        let mut hosts = request.addresses.clone();
        hosts.push(request.node_name.clone());
        let (serving_cert, serving_key) =
            crate::ca::issue_serving_cert(&self.tls_dir, &user, &hosts)?;
        Ok(NodeCredentials {
            ca: self.ca.clone(),
            client_cert,
            client_key,
            serving_cert,
            serving_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_in_full_and_bare() {
        let full = NodeToken::full("ca", "s3cret");
        let t = NodeToken::parse(&format!("  {full}\n")).unwrap();
        assert_eq!(t.ca_hash.as_deref(), Some(ca_hash("ca").as_str()));
        assert_eq!(t.secret, "s3cret");
        assert_eq!(NodeToken::parse("abc").unwrap().ca_hash, None);
        for bad in [
            "",
            "K10abc::server:x",
            "K10",
            "a::b",
            &format!("K10{}::server:", "a".repeat(64)),
        ] {
            assert!(NodeToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_token_survives_restarts_and_admits_only_its_secret() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::ca::Pki::load_or_create(&dir.path().join("tls"), &[]).unwrap();
        let a = NodeJoin::load_or_create(dir.path(), &pki.ca_cert).unwrap();
        let b = NodeJoin::load_or_create(dir.path(), &pki.ca_cert).unwrap();
        assert_eq!(a.token(), b.token());
        let bearer = |t: &str| format!("Bearer {t}");
        assert!(a.admits(Some(&bearer(&a.token()))));
        assert!(a.admits(Some(&bearer(&a.secret))));
        assert!(!a.admits(Some(&bearer("wrong"))));
        assert!(!a.admits(Some(&bearer(&NodeToken::full("another CA", &a.secret)))));
        assert!(!a.admits(Some(&a.token())));
        assert!(!a.admits(None));
    }
}
