//! Berth's container engine library, daemonless: everything lives in the data directory and
//! any process (the CLI, the node agent) can drive it.
//!
//! - [`image`]: pulling images from OCI / Docker v2 registries, importing and exporting
//!   archives, a content-addressed blob store, an index of tagged images and unpacked layer
//!   snapshots used as overlayfs lower directories;
//! - [`container`]: containers run by libcontainer in a per-container shim, with CRI logs,
//!   exec, attach, stats and their state on disk;
//! - [`sandbox`]: pod sandboxes, namespaces held by bind mounts plus bridge networking;
//! - [`reset`]: stopping and removing all of it for `berth reset`.

pub mod container;
pub mod image;
pub mod reset;
pub mod sandbox;

pub use image::{Error, Image, ImageStore, Result};
