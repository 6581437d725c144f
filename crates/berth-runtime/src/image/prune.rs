//! Garbage collection: deleting blobs and snapshots that no tagged image uses, and sweeping
//! the temp files and directories a crashed process left behind.
//!
//! What is kept: the manifest, config and layers of every image in the index, whatever an
//! unfinished pull, import or export in this process has pinned, and the digests a caller
//! passes to [`ImageStore::prune_except`] or [`ImageStore::remove_except`]. That is the hook
//! for the container engine: it passes the digests of the images its containers run from,
//! so that untagging an image in use does not delete layers under a running container.
//! Plain [`ImageStore::prune`] and [`ImageStore::remove`] know nothing about containers.

use std::collections::HashSet;
use std::fs;
use std::time::Duration;

use serde::Serialize;

use super::error::{io, Result};
use super::reference::validate_digest;
use super::unpack::{sweep_stale, tree_size};
use super::ImageStore;

/// How long a temp file or directory must have been left alone before prune deletes it:
/// long enough that it cannot be a live operation's that has not started writing yet.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// What a prune deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Blobs (manifests, configs, layers) deleted.
    pub blobs: usize,
    /// Layer snapshots deleted.
    pub snapshots: usize,
    /// Stale temp files and half-unpacked snapshot directories deleted.
    pub temp: usize,
    /// Bytes freed (file sizes; hard-linked files counted once per snapshot).
    pub bytes: u64,
}

impl ImageStore {
    /// Delete everything no tagged image uses and the leftovers of crashed operations.
    pub fn prune(&self) -> Result<Pruned> {
        self.prune_except(&HashSet::new())
    }

    /// [`ImageStore::prune`], keeping also the blobs and snapshots whose digests are in
    /// `keep` (manifest, config or layer digests): the hook for images that containers use
    /// but that may no longer be tagged.
    pub fn prune_except(&self, keep: &HashSet<String>) -> Result<Pruned> {
        let mut pruned = self.collect_garbage(keep)?;
        for (count, bytes) in [
            self.blobs.sweep_temp(STALE_AFTER)?,
            sweep_stale(&self.snapshots, STALE_AFTER)?,
            self.index.sweep_temp(STALE_AFTER)?,
        ] {
            pruned.temp += count;
            pruned.bytes += bytes;
        }
        tracing::info!(?pruned, "pruned the image store");
        Ok(pruned)
    }

    /// Delete blobs and snapshots used neither by an indexed image, nor by an operation under
    /// way in this process (pinned), nor listed in `keep`.
    pub(super) fn collect_garbage(&self, keep: &HashSet<String>) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        let (_frozen, pinned) = self.pins.freeze();
        self.index.with_lock(|index| {
            let mut used: HashSet<&str> = pinned.iter().map(String::as_str).collect();
            used.extend(keep.iter().map(String::as_str));
            for e in index.images.values() {
                used.insert(&e.digest);
                used.insert(&e.config_digest);
                used.extend(e.layers.iter().map(String::as_str));
            }
            for digest in self.blobs.list()? {
                if !used.contains(digest.as_str()) {
                    // A blob may vanish under a concurrent collector in another process.
                    let size = self.blobs.size(&digest).unwrap_or(0);
                    self.blobs.remove(&digest)?;
                    pruned.blobs += 1;
                    pruned.bytes += size;
                }
            }
            let entries = fs::read_dir(&self.snapshots)
                .map_err(io(format!("listing {}", self.snapshots.display())))?;
            for e in entries {
                let e = e.map_err(io(format!("listing {}", self.snapshots.display())))?;
                let name = e.file_name().to_string_lossy().into_owned();
                let digest = format!("sha256:{name}");
                if validate_digest(&digest).is_ok() && !used.contains(digest.as_str()) {
                    let size = tree_size(&e.path())?;
                    match fs::remove_dir_all(e.path()) {
                        Ok(()) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(err) => {
                            return Err(io(format!("removing snapshot {}", e.path().display()))(
                                err,
                            ))
                        }
                    }
                    pruned.snapshots += 1;
                    pruned.bytes += size;
                }
            }
            Ok(())
        })?;
        Ok(pruned)
    }

    /// Delete those of `digests` (blobs and snapshots an import added) that nothing uses:
    /// the rest of a failed import, or blobs of an archive that no imported image needs.
    pub(super) fn discard(&self, digests: &HashSet<String>) -> Result<()> {
        if digests.is_empty() {
            return Ok(());
        }
        let (_frozen, pinned) = self.pins.freeze();
        self.index.with_lock(|index| {
            let mut used: HashSet<&str> = pinned.iter().map(String::as_str).collect();
            for e in index.images.values() {
                used.insert(&e.digest);
                used.insert(&e.config_digest);
                used.extend(e.layers.iter().map(String::as_str));
            }
            for d in digests {
                if used.contains(d.as_str()) {
                    continue;
                }
                self.blobs.remove(d)?;
                let snapshot = self.snapshots.join(validate_digest(d)?);
                match fs::remove_dir_all(&snapshot) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io(format!("removing snapshot {}", snapshot.display()))(e))
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::path::Path;
    use std::time::SystemTime;

    use nix::fcntl::{Flock, FlockArg};

    use crate::image::store::sha256_digest;

    fn age(path: &Path) {
        let old = SystemTime::now() - STALE_AFTER - Duration::from_secs(5);
        File::open(path).unwrap().set_modified(old).unwrap();
    }

    #[test]
    fn prune_deletes_unused_blobs_and_stale_leftovers_only() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let images = root.path().join("images");
        // An unused blob with a snapshot, and one kept by the caller.
        let unused = sha256_digest(b"unused");
        store.blobs.write(&unused, b"unused").unwrap();
        let snap = images
            .join("snapshots")
            .join(validate_digest(&unused).unwrap());
        fs::create_dir_all(snap.join("fs/etc")).unwrap();
        fs::write(snap.join("fs/etc/f"), b"12345").unwrap();
        let kept = sha256_digest(b"kept");
        store.blobs.write(&kept, b"kept").unwrap();
        // Temp files: a crashed download (old), a live one (fresh), an old index write.
        fs::write(images.join("tmp/.blob-old"), b"123").unwrap();
        age(&images.join("tmp/.blob-old"));
        fs::write(images.join("tmp/.blob-new"), b"123").unwrap();
        fs::write(images.join(".index-old"), b"{}").unwrap();
        age(&images.join(".index-old"));
        // Unpack temp dirs: a crashed one, a live (locked) one, a fresh one.
        let crashed = images.join("snapshots/.tmp-crashed");
        fs::create_dir_all(crashed.join("fs")).unwrap();
        fs::write(crashed.join("fs/x"), b"1234567").unwrap();
        age(&crashed);
        let live = images.join("snapshots/.tmp-live");
        fs::create_dir_all(live.join("fs")).unwrap();
        age(&live);
        let _lock = Flock::lock(File::open(&live).unwrap(), FlockArg::LockExclusive).unwrap();
        let fresh = images.join("snapshots/.tmp-fresh");
        fs::create_dir_all(&fresh).unwrap();

        let pruned = store.prune_except(&HashSet::from([kept.clone()])).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                blobs: 1,
                snapshots: 1,
                temp: 3,
                bytes: 6 + 5 + 3 + 2 + 7,
            }
        );
        assert!(!store.blobs.contains(&unused).unwrap());
        assert!(store.blobs.contains(&kept).unwrap());
        assert!(!snap.exists() && !crashed.exists());
        assert!(live.exists() && fresh.exists());
        assert!(images.join("tmp/.blob-new").exists());
        assert!(!images.join("tmp/.blob-old").exists());
        assert!(!images.join(".index-old").exists());
        // Nothing left to do; without `keep` the kept blob goes too.
        assert_eq!(
            store.prune_except(&HashSet::from([kept.clone()])).unwrap(),
            Pruned::default()
        );
        assert_eq!(store.prune().unwrap().blobs, 1);
    }
}
