//! The cluster's PKI, shared by the API server, the node agent and `berth agent`'s join: the
//! CA and the certificates it issues ([`ca`]), kubeconfig files ([`kubeconfig`]), the node
//! token and the messages of a node's join ([`join`]), and the rustls configurations of
//! servers and clients that trust the CA ([`tls`]).

pub mod ca;
pub mod join;
pub mod kubeconfig;
pub mod tls;

use std::path::PathBuf;

/// Why certificates could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The key or certificate could not be generated or signed, or a key did not parse.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file at this path holds no PEM data a key could be read from.
    #[error("{0}: no PEM data")]
    Pem(PathBuf),
}
