//! The image store: pulled and imported images, their blobs and unpacked layer snapshots
//! under `<root>/images/`:
//!
//! - `blobs/sha256/<hex>`: manifests, configs and layer tarballs, content-addressed
//!   ([`store`]);
//! - `index.json`: tagged images, reference -> manifest, config and layer digests ([`store`]);
//! - `snapshots/<hex>/fs`: unpacked layers, usable as overlayfs lower dirs ([`unpack`]);
//! - `tmp/`: blobs being downloaded or imported.
//!
//! Images come from registries ([`ImageStore::pull`]) or archives ([`ImageStore::import`],
//! [`archive`]), and go to archives ([`ImageStore::export`]). The manifest of every image
//! pulled or imported is stored byte for byte; images recorded before that have no manifest
//! blob, which only matters to an OCI export (see [`archive`]).
//!
//! Within one process, pulls, imports, exports and removals coordinate so that garbage
//! collection never deletes what an unfinished operation uses. Between processes, the index
//! is locked with `flock` and layer unpacking is race-free, but a removal's or prune's
//! garbage collection in one process may delete blobs that a pull or import in another has
//! stored and not yet recorded (that one then fails and can be retried).

pub mod archive;
mod error;
mod locks;
pub mod progress;
pub mod prune;
mod pull;
pub mod reference;
pub mod registries;
pub mod store;
pub mod unpack;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use archive::ArchiveFormat;
pub use error::{Error, Result};
pub use progress::{LayerInfo, LayerStatus, PullEvent};
pub use prune::Pruned;
pub use reference::ImageRef;
pub use registries::Registries;

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
    /// The data directory, where pulls look for `registries.yaml`.
    root: PathBuf,
    /// Registry configuration given by the embedder; `None`: loaded from the standard places
    /// at every pull (see [`registries`]).
    registries: Option<Registries>,
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
            root: root.to_path_buf(),
            registries: None,
        })
    }

    /// Pull with this registry configuration instead of loading `registries.yaml` and Docker's
    /// `config.json` from the standard places.
    pub fn with_registries(mut self, registries: Registries) -> ImageStore {
        self.registries = Some(registries);
        self
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
        self.remove_except(reference, &HashSet::new())
    }

    /// [`ImageStore::remove`], keeping the blobs and snapshots whose digests are in `keep`
    /// although no tagged image may use them any more (see [`ImageStore::prune_except`]).
    pub fn remove_except(&self, reference: &str, keep: &HashSet<String>) -> Result<()> {
        let key = ImageRef::parse(reference)?.to_string();
        self.index.update(|i| {
            i.images
                .remove(&key)
                .map(drop)
                .ok_or_else(|| Error::NotFound(key.clone()))
        })?;
        self.collect_garbage(keep).map(drop)
    }

    /// Give the image `source` the further reference `target` (replacing the image `target`
    /// named, if any). A `target` with a digest must carry the image's manifest digest.
    pub fn tag(&self, source: &str, target: &str) -> Result<Image> {
        let src = ImageRef::parse(source)?.to_string();
        let dst = ImageRef::parse(target)?;
        let key = dst.to_string();
        let entry = self.index.update(|i| {
            let entry = i
                .images
                .get(&src)
                .cloned()
                .ok_or_else(|| Error::NotFound(src.clone()))?;
            if dst.digest.as_ref().is_some_and(|d| *d != entry.digest) {
                return Err(Error::InvalidReference {
                    reference: target.to_string(),
                    reason: format!("the image {src} has the digest {}", entry.digest),
                });
            }
            i.images.insert(key.clone(), entry.clone());
            Ok(entry)
        })?;
        self.image(key, entry)
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
