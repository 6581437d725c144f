//! Kubeconfig files: one cluster trusting the CA, one user, one context named `berth`.

use base64::Engine;

/// How a kubeconfig's user proves who it is.
pub enum Credential<'a> {
    /// A client certificate and its key (PEM).
    Certificate {
        /// The client certificate (PEM).
        cert: &'a str,
        /// Its private key (PEM).
        key: &'a str,
    },
    /// A bearer token.
    Token(&'a str),
}

/// A kubeconfig with one cluster (`server`, trusting the CA `ca` PEM), one user and one
/// context named `berth`.
pub fn kubeconfig(server: &str, ca: &str, user: &str, credential: &Credential) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let credential = match credential {
        Credential::Certificate { cert, key } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert),
            b64(key)
        ),
        Credential::Token(token) => format!("    token: {token}\n"),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: berth\ncontexts:\n- context:\n    cluster: berth\n    namespace: default\n    user: {user}\n  name: berth\ncurrent-context: berth\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n{credential}",
        b64(ca)
    )
}
