//! The error type of the container engine.

/// Errors of the container engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container has this id, id prefix or name.
    #[error("no such container: {0}")]
    NotFound(String),
    /// An id prefix matches more than one container.
    #[error("container id prefix {0:?} is ambiguous")]
    Ambiguous(String),
    /// Another container already has this name.
    #[error("the container name {0:?} is already in use")]
    NameInUse(String),
    /// A name does not match `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
    #[error("invalid container name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    InvalidName(String),
    /// The request does not make sense in the container's current state.
    #[error("container {id} is {status}: cannot {operation}")]
    InvalidState {
        /// The container.
        id: String,
        /// Its status.
        status: String,
        /// What was asked.
        operation: &'static str,
    },
    /// The image is not in the local store.
    #[error("image {0} is not in the local store (pull it first)")]
    ImageNotFound(String),
    /// Neither the image nor the request gives a command to run.
    #[error("no command specified: image {0} has no entrypoint or cmd, and none was given")]
    NoCommand(String),
    /// The container config is invalid.
    #[error("invalid container config: {0}")]
    InvalidConfig(String),
    /// The user named in the config or the image does not exist in the image.
    #[error("unable to find user {0}: no matching entries in the image's /etc/passwd")]
    UnknownUser(String),
    /// The shim could not create the container.
    #[error("creating the container failed: {0}")]
    Create(String),
    /// `exec` could not start its process in the container.
    #[error("starting the process in the container failed: {0}")]
    Exec(String),
    /// libcontainer reported an error.
    #[error("{context}: {source}")]
    Runtime {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<libcontainer::error::LibcontainerError>,
    },
    /// A system call failed.
    #[error("{context}: {source}")]
    Sys {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: nix::Error,
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
    /// A state file is not valid JSON.
    #[error("{path}: {source}")]
    State {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] crate::image::Error),
}

/// Results of the container engine.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds a closure that wraps an I/O error with context, for `map_err`.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Builds a closure that wraps a system call error with context, for `map_err`.
pub(crate) fn sys(context: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
    let context = context.into();
    move |source| Error::Sys { context, source }
}

/// Builds a closure that wraps a libcontainer error with context, for `map_err`.
pub(crate) fn runtime(
    context: impl Into<String>,
) -> impl FnOnce(libcontainer::error::LibcontainerError) -> Error {
    let context = context.into();
    move |source| Error::Runtime {
        context,
        source: Box::new(source),
    }
}
