//! Service account tokens: JWTs the API server issues through `serviceaccounts/token`
//! (TokenRequest) and accepts as bearer tokens, as kube-apiserver's bound service account
//! tokens. They are signed with the cluster's service-account key (ES256, P-256), created on
//! first start beside the other keys; the issuer and the default audience are
//! `https://kubernetes.default.svc.cluster.local`. A token names its ServiceAccount by name
//! and uid and may be bound to a Pod, Secret or Node: it stops authenticating as soon as any
//! of those objects is gone or replaced, whatever its expiry says.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use berth_pki::CertError;

/// The issuer of every token, and the audience of the API server itself.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const KEY_FILE: &str = "service-account.key";

/// Errors of issuing or checking a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The key could not sign (a broken key file).
    #[error("signing a token: {0}")]
    Sign(jsonwebtoken::errors::Error),
    /// The token is not one of ours, or no longer valid.
    #[error("invalid bearer token: {0}")]
    Invalid(jsonwebtoken::errors::Error),
}

/// An object a token names: the service account, or what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
}

/// The `kubernetes.io` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub serviceaccount: Ref,
    /// The pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    /// The secret the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Ref>,
    /// The node the token is bound to (or the pod's node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Ref>,
}

/// The claims of a service account token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// [`ISSUER`].
    pub iss: String,
    /// `system:serviceaccount:NAMESPACE:NAME`.
    pub sub: String,
    /// Who may accept it.
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique id.
    pub jti: String,
    /// What it is bound to.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

/// Signs and checks tokens with the cluster's service-account key.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenIssuer {
    /// The issuer of the key in `dir`, creating the key on first start.
    pub fn load_or_create(dir: &Path) -> Result<TokenIssuer, CertError> {
        let path = dir.join(KEY_FILE);
        let pem = match std::fs::read_to_string(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                let pem = key.serialize_pem();
                berth_pki::ca::write_private(&path, &pem)?;
                pem
            }
            Err(source) => return Err(CertError::Io { path, source }),
        };
        let key = rcgen::KeyPair::from_pem(&pem)?;
        let bad = |_| CertError::Pem(path.clone());
        Ok(TokenIssuer {
            encoding: EncodingKey::from_ec_pem(pem.as_bytes()).map_err(bad)?,
            decoding: DecodingKey::from_ec_pem(key.public_key_pem().as_bytes()).map_err(bad)?,
        })
    }

    /// A signed token carrying `claims`.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &self.encoding)
            .map_err(TokenError::Sign)
    }

    /// The claims of `token` if we signed it, it is within its validity and meant for the
    /// API server. (Whether its objects still exist is the caller's check.)
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(TokenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64, aud: &str) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: "system:serviceaccount:default:builder".into(),
            aud: vec![aud.into()],
            exp: now + 600,
            iat: now,
            nbf: now,
            jti: "j".into(),
            kubernetes: KubernetesClaims {
                namespace: "default".into(),
                serviceaccount: Ref {
                    name: "builder".into(),
                    uid: "u1".into(),
                },
                pod: None,
                secret: None,
                node: None,
            },
        }
    }

    #[test]
    fn tokens_round_trip_and_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = TokenIssuer::load_or_create(dir.path()).expect("issuer");
        let now = jiff::Timestamp::now().as_second();
        let token = issuer.issue(&claims(now, ISSUER)).expect("token");
        assert_eq!(issuer.verify(&token).ok(), Some(claims(now, ISSUER)));
        // The same key after a restart.
        let again = TokenIssuer::load_or_create(dir.path()).expect("issuer");
        assert!(again.verify(&token).is_ok());
        // Another cluster's key, another audience, an expired or altered token: refused.
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = TokenIssuer::load_or_create(other_dir.path()).expect("issuer");
        assert!(other.verify(&token).is_err());
        let vault = issuer.issue(&claims(now, "vault")).expect("token");
        assert!(issuer.verify(&vault).is_err());
        let mut old = claims(now - 7200, ISSUER);
        old.exp = now - 10;
        assert!(issuer.verify(&issuer.issue(&old).expect("token")).is_err());
        let mut altered = token.clone();
        altered.insert(token.len() / 2, 'x');
        assert!(issuer.verify(&altered).is_err());
    }
}
