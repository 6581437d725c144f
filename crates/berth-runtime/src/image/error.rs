//! The error type of the image store.

use std::path::PathBuf;

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image reference cannot be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A digest is not of the form `sha256:<64 lowercase hex digits>`.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),
    /// Content does not hash to the digest it was announced with.
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The announced digest.
        expected: String,
        /// The digest of the content received.
        actual: String,
    },
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The image index cannot be read or written.
    #[error("image index {path}: {source}")]
    Index {
        /// Path of the index file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// An image config blob is not valid JSON.
    #[error("image config {digest} is not valid JSON: {source}")]
    Config {
        /// Digest of the config blob.
        digest: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A layer tarball entry would be written outside the snapshot directory.
    #[error("layer entry {path:?} escapes the snapshot directory")]
    PathEscape {
        /// The offending entry path (or hard link target).
        path: String,
    },
    /// A layer tarball cannot be unpacked.
    #[error("cannot unpack layer {digest}: {reason}")]
    Layer {
        /// The layer digest.
        digest: String,
        /// What went wrong.
        reason: String,
    },
    /// An overlayfs whiteout (a 0/0 character device) cannot be created.
    #[error("cannot create whiteout {path} (creating device nodes needs privileges): {source}")]
    Whiteout {
        /// Path of the whiteout.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: nix::errno::Errno,
    },
    /// A directory cannot be marked opaque (needs the trusted.* xattr namespace).
    #[error("cannot mark directory {path} opaque (trusted.overlay.opaque): {source}")]
    Opaque {
        /// Path of the directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The registry refused or failed a request.
    #[error("pulling {reference}: {source}")]
    Registry {
        /// The reference being pulled.
        reference: String,
        /// The underlying error.
        #[source]
        source: Box<oci_client::errors::OciDistributionError>,
    },
    /// A registry refused the credentials offered, or asked for some and none are configured.
    #[error("pulling {reference}: authentication to registry {registry} failed: {reason}")]
    Authentication {
        /// The registry or mirror host (`host[:port]`).
        registry: String,
        /// The reference being pulled.
        reference: String,
        /// Which credentials were offered (never the password), and what the registry said.
        reason: String,
    },
    /// A registry configuration file (`registries.yaml`, Docker's `config.json`) cannot be
    /// read or is malformed.
    #[error("registry configuration {path}: {reason}")]
    RegistriesConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No image with this reference is in the store.
    #[error("no image {0} in the store")]
    NotFound(String),
    /// An image archive is malformed, incomplete or cannot be used as asked.
    #[error("image archive: {0}")]
    Archive(String),
    /// A file in an image archive does not hash to the digest it is known by.
    #[error("image archive: {path} is corrupt: expected {expected}, content hashes to {actual}")]
    ArchiveDigest {
        /// The file in the archive (`blobs/sha256/<hex>`, `<id>/layer.tar`).
        path: String,
        /// The digest it should have.
        expected: String,
        /// The digest of its content.
        actual: String,
    },
    /// An image archive lacks a blob or file that its index or manifest refers to.
    #[error("image archive: {0} is missing")]
    ArchiveMissing(String),
    /// A background task failed.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Result type of the image store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wrap an I/O error with what was being done.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
