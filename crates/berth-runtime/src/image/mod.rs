//! The image store: pulled images, their blobs and unpacked layer snapshots under
//! `<root>/images/`:
//!
//! - `blobs/sha256/<hex>`: configs and layer tarballs, content-addressed ([`store`]);
//! - `index.json`: tagged images, reference -> manifest, config and layer digests ([`store`]);
//! - `snapshots/<hex>/fs`: unpacked layers, usable as overlayfs lower dirs ([`unpack`]).
//!
//! Within one process, pulls and removals coordinate so that garbage collection never
//! deletes what an unfinished pull uses. Between processes, the index is locked with `flock`
//! and layer unpacking is race-free, but a removal's garbage collection in one process may
//! delete blobs that a pull in another has downloaded and not yet recorded (that pull then
//! fails and can be retried).

mod error;
mod locks;
mod pull;
pub mod reference;
pub mod store;
pub mod unpack;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use reference::ImageRef;

use error::io;
use locks::{KeyedLocks, Pins};
use store::{BlobStore, Index, IndexEntry};

/// An image in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Normalized reference (`docker.io/library/busybox:latest`).
    pub reference: String,
    /// Manifest digest.
    pub digest: String,
    /// Config blob digest.
    pub config_digest: String,
    /// Layer digests, base layer first.
    pub layers: Vec<String>,
    /// Size in bytes of config and (compressed) layers.
    pub size: u64,
    /// The image config (OCI image config JSON).
    pub config: serde_json::Value,
}

/// The image store rooted at `<root>/images`.
#[derive(Debug)]
pub struct ImageStore {
    blobs: BlobStore,
    snapshots: PathBuf,
    index: Index,
    locks: KeyedLocks,
    pins: Pins,
}

impl ImageStore {
    /// Open the store under `root` (creating its directories).
    pub fn open(root: &Path) -> Result<ImageStore> {
        let dir = root.join("images");
        let snapshots = dir.join("snapshots");
        fs::create_dir_all(&snapshots).map_err(io(format!("creating {}", snapshots.display())))?;
        let blobs = BlobStore::open(dir.join("blobs").join("sha256"), dir.join("tmp"))?;
        Ok(ImageStore {
            blobs,
            snapshots,
            index: Index::new(&dir),
            locks: KeyedLocks::default(),
            pins: Pins::default(),
        })
    }

    /// All images, ordered by reference.
    pub fn list(&self) -> Result<Vec<Image>> {
        self.index
            .load()?
            .images
            .into_iter()
            .map(|(reference, entry)| self.image(reference, entry))
            .collect()
    }

    /// The image with this reference (normalized first: `busybox` finds
    /// `docker.io/library/busybox:latest`), if present.
    pub fn get(&self, reference: &str) -> Result<Option<Image>> {
        let key = ImageRef::parse(reference)?.to_string();
        match self.index.load()?.images.remove(&key) {
            Some(entry) => self.image(key, entry).map(Some),
            None => Ok(None),
        }
    }

    /// Remove the image's tag, then delete blobs and snapshots no image uses any more.
    pub fn remove(&self, reference: &str) -> Result<()> {
        let key = ImageRef::parse(reference)?.to_string();
        self.index.update(|i| {
            i.images
                .remove(&key)
                .map(drop)
                .ok_or_else(|| Error::NotFound(key.clone()))
        })?;
        self.collect_garbage()
    }

    /// Snapshot directories of the image's layers, top layer first (overlayfs `lowerdir`
    /// order).
    pub fn layer_dirs(&self, image: &Image) -> Vec<PathBuf> {
        image
            .layers
            .iter()
            .rev()
            .map(|d| {
                let hex = d.strip_prefix("sha256:").unwrap_or(d);
                self.snapshots.join(hex).join("fs")
            })
            .collect()
    }

    /// Delete blobs and snapshots used neither by an indexed image nor by a pull under way.
    fn collect_garbage(&self) -> Result<()> {
        let (_frozen, pinned) = self.pins.freeze();
        self.index.with_lock(|index| {
            let mut used: HashSet<String> = pinned;
            for e in index.images.values() {
                used.insert(e.config_digest.clone());
                used.extend(e.layers.iter().cloned());
            }
            for digest in self.blobs.list()? {
                if !used.contains(&digest) {
                    self.blobs.remove(&digest)?;
                }
            }
            let entries = fs::read_dir(&self.snapshots)
                .map_err(io(format!("listing {}", self.snapshots.display())))?;
            for e in entries {
                let e = e.map_err(io(format!("listing {}", self.snapshots.display())))?;
                let name = e.file_name().to_string_lossy().into_owned();
                let digest = format!("sha256:{name}");
                if reference::validate_digest(&digest).is_ok() && !used.contains(&digest) {
                    fs::remove_dir_all(e.path())
                        .map_err(io(format!("removing snapshot {}", e.path().display())))?;
                }
            }
            Ok(())
        })
    }

    fn image(&self, reference: String, entry: IndexEntry) -> Result<Image> {
        let data = self.blobs.read(&entry.config_digest)?;
        let config = serde_json::from_slice(&data).map_err(|source| Error::Config {
            digest: entry.config_digest.clone(),
            source,
        })?;
        Ok(Image {
            reference,
            digest: entry.digest,
            config_digest: entry.config_digest,
            layers: entry.layers,
            size: entry.size,
            config,
        })
    }
}
