//! Berth's container engine library.
//!
//! This first slice holds the image store ([`image`]): pulling images from OCI / Docker v2
//! registries, a content-addressed blob store, an index of tagged images and unpacked layer
//! snapshots ready to be used as overlayfs lower directories.

pub mod image;

pub use image::{Error, Image, ImageStore, Result};
