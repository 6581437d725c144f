//! The error type of the pod sandbox module.

use std::path::PathBuf;

use nix::errno::Errno;

/// Errors of pod sandbox creation, inspection and removal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sandbox id does not match `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}`.
    #[error("invalid sandbox id {0:?}: expected [a-zA-Z0-9][a-zA-Z0-9_.-]{{0,127}}")]
    InvalidId(String),
    /// A configuration value (hostname, bridge name, subnet, MTU) is not acceptable.
    #[error("invalid sandbox configuration: {field} {value:?}: {reason}")]
    InvalidConfig {
        /// Which setting.
        field: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A sandbox with this id exists already (possibly half-created: remove it first).
    #[error("sandbox {0:?} already exists")]
    AlreadyExists(String),
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{context}: {source}")]
    Sys {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// A netlink request failed.
    #[error("{context}: {source}")]
    Netlink {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: rtnetlink::Error,
    },
    /// A netlink connection closed before its requests were answered.
    #[error("netlink connection closed unexpectedly while {0}")]
    NetlinkClosed(&'static str),
    /// A sandbox state file cannot be read or written.
    #[error("sandbox state {path}: {source}")]
    State {
        /// Path of the state file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// Every address of the subnet is allocated.
    #[error("no free address left in {subnet} on bridge {bridge}")]
    IpamExhausted {
        /// The bridge whose range is full.
        bridge: String,
        /// The subnet.
        subnet: String,
    },
    /// The bridge's address range was set up with another subnet.
    #[error("bridge {bridge} allocates from {existing}, not {requested}")]
    SubnetMismatch {
        /// The bridge.
        bridge: String,
        /// The subnet recorded for the bridge.
        existing: String,
        /// The subnet asked for.
        requested: String,
    },
    /// The host-side veth name derived from the sandbox id is taken by another interface.
    #[error("host interface {name} (derived from sandbox id {id:?}) exists already")]
    VethNameCollision {
        /// The derived interface name.
        name: String,
        /// The sandbox id.
        id: String,
    },
    /// The sandbox's cgroup parent still holds processes or child cgroups.
    #[error(
        "cgroup {path} still has processes or child cgroups ({children:?}); remove the sandbox's containers first"
    )]
    CgroupBusy {
        /// The cgroup directory that could not be removed.
        path: PathBuf,
        /// Names of its child cgroups, if any.
        children: Vec<String>,
    },
    /// A thread or blocking task doing part of a create panicked.
    #[error("{0} panicked")]
    TaskFailed(&'static str),
}

/// Result of the sandbox module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Build a closure that wraps an I/O error with context, for `map_err`.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Build a closure that wraps an errno with context, for `map_err`.
pub(crate) fn sys(context: impl Into<String>) -> impl FnOnce(Errno) -> Error {
    let context = context.into();
    move |source| Error::Sys { context, source }
}

/// Build a closure that wraps a netlink error with context, for `map_err`.
pub(crate) fn netlink(context: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let context = context.into();
    move |source| Error::Netlink { context, source }
}
