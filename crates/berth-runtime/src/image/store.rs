//! Content-addressed blob store (`<root>/images/blobs/sha256/<hex>`) and the index of tagged
//! images (`<root>/images/index.json`).
//!
//! Blobs are written through a temp file and renamed into place only once their sha256 digest
//! matches; the index is replaced atomically (temp file, fsync, rename, fsync of the directory)
//! under an exclusive `flock` so several processes can share a store.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::error::{io, Error, Result};
use super::reference::validate_digest;

/// The sha256 digest (`sha256:<hex>`) of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The sha256 digest (`sha256:<hex>`) of a file's content.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(io(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// fsync a directory, so that a rename into it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing directory {}", dir.display())))
}

/// Whether `meta` was last modified at least `min_age` ago (a modification time in the
/// future, from a clock step, counts as recent).
pub(crate) fn older_than(meta: &fs::Metadata, min_age: Duration) -> bool {
    meta.modified()
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age >= min_age)
}

/// Delete the regular files in `dir` named `prefix*` and not modified for `min_age`.
fn sweep_old_files(dir: &Path, prefix: &str, min_age: Duration) -> Result<(usize, u64)> {
    let (mut count, mut bytes) = (0, 0);
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(io(format!("listing {}", dir.display()))(e)),
    };
    for e in entries {
        let e = e.map_err(io(format!("listing {}", dir.display())))?;
        if !e.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = e.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Its writer finished (renamed it) since the listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(format!("inspecting {}", path.display()))(e)),
        };
        if !meta.is_file() || !older_than(&meta, min_age) {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                count += 1;
                bytes += meta.len();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("removing {}", path.display()))(e)),
        }
    }
    Ok((count, bytes))
}

/// The blob store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// Open (creating) the blob store with blobs in `dir` and temp files in `tmp`.
    pub fn open(dir: PathBuf, tmp: PathBuf) -> Result<BlobStore> {
        for d in [&dir, &tmp] {
            fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
        }
        Ok(BlobStore { dir, tmp })
    }

    /// Path of the blob with this digest (whether it exists or not).
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join(validate_digest(digest)?))
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &str) -> Result<bool> {
        Ok(self.path(digest)?.is_file())
    }

    /// A new temp file on the store's file system, to download a blob into.
    pub fn temp_file(&self) -> Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix(".blob-")
            .tempfile_in(&self.tmp)
            .map_err(io(format!(
                "creating a temp file in {}",
                self.tmp.display()
            )))
    }

    /// Store `data` as the blob `digest`, verifying the digest first.
    pub fn write(&self, digest: &str, data: &[u8]) -> Result<PathBuf> {
        let dest = self.path(digest)?;
        let actual = sha256_digest(data);
        if actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        let mut tmp = self.temp_file()?;
        tmp.write_all(data)
            .map_err(io(format!("writing {}", tmp.path().display())))?;
        self.commit(tmp, digest, dest)
    }

    /// Move a downloaded temp file into place as blob `digest` once its content hashes to
    /// `digest`; on a mismatch the temp file is deleted and nothing is stored.
    pub fn ingest(&self, tmp: NamedTempFile, digest: &str) -> Result<PathBuf> {
        let dest = self.path(digest)?;
        let actual = sha256_file(tmp.path())?;
        if actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        self.commit(tmp, digest, dest)
    }

    /// Copy `r` into a new temp file, hashing on the way; returns the file, the digest of
    /// what was copied and its size. `what` names the source in errors.
    pub fn copy_to_temp(
        &self,
        mut r: impl Read,
        what: &str,
    ) -> Result<(NamedTempFile, String, u64)> {
        let mut tmp = self.temp_file()?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(format!("reading {what}"))(e)),
            };
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(io(format!("writing {}", tmp.path().display())))?;
            size += n as u64;
        }
        Ok((
            tmp,
            format!("sha256:{}", hex::encode(hasher.finalize())),
            size,
        ))
    }

    /// Store a temp file from [`BlobStore::copy_to_temp`] as blob `digest` (the digest that
    /// copy computed). Returns whether the blob is new: when it is present already the temp
    /// file is dropped, since equal digests mean equal content.
    pub fn commit_temp(&self, tmp: NamedTempFile, digest: &str) -> Result<bool> {
        let dest = self.path(digest)?;
        if dest.is_file() {
            return Ok(false);
        }
        self.commit(tmp, digest, dest)?;
        Ok(true)
    }

    /// Size in bytes of a stored blob.
    pub fn size(&self, digest: &str) -> Result<u64> {
        let p = self.path(digest)?;
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(io(format!("inspecting blob {digest}")))
    }

    /// Delete temp files not modified for `min_age`: downloads and imports that a crashed
    /// process left behind. A live download writes all the time, so only one stalled for
    /// that long can be hit (it then fails when it tries to store its blob, and can be
    /// retried). Returns the number of files and bytes deleted.
    pub fn sweep_temp(&self, min_age: Duration) -> Result<(usize, u64)> {
        sweep_old_files(&self.tmp, ".blob-", min_age)
    }

    fn commit(&self, tmp: NamedTempFile, digest: &str, dest: PathBuf) -> Result<PathBuf> {
        tmp.as_file()
            .sync_all()
            .map_err(io(format!("syncing blob {digest}")))?;
        tmp.persist(&dest)
            .map_err(|e| e.error)
            .map_err(io(format!("storing blob {digest}")))?;
        sync_dir(&self.dir)?;
        Ok(dest)
    }

    /// Read a whole blob.
    pub fn read(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.path(digest)?;
        fs::read(&p).map_err(io(format!("reading blob {digest}")))
    }

    /// Digests of all blobs present.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let rd = fs::read_dir(&self.dir).map_err(io(format!("listing {}", self.dir.display())))?;
        for e in rd {
            let e = e.map_err(io(format!("listing {}", self.dir.display())))?;
            let digest = format!("sha256:{}", e.file_name().to_string_lossy());
            if validate_digest(&digest).is_ok() {
                out.push(digest);
            }
        }
        Ok(out)
    }

    /// Delete a blob (a missing blob is not an error).
    pub fn remove(&self, digest: &str) -> Result<()> {
        match fs::remove_file(self.path(digest)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io(format!("removing blob {digest}"))(e))
            }
            _ => Ok(()),
        }
    }
}

/// One tagged image in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Manifest digest.
    pub digest: String,
    /// Config blob digest.
    pub config_digest: String,
    /// Layer digests, base layer first.
    pub layers: Vec<String>,
    /// Size in bytes of config and (compressed) layers.
    pub size: u64,
    /// When the image was recorded (RFC 3339).
    pub created: String,
}

/// The on-disk index: normalized reference -> image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    /// Images by normalized reference.
    pub images: BTreeMap<String, IndexEntry>,
}

/// The index file with its lock.
#[derive(Debug)]
pub struct Index {
    path: PathBuf,
    lock_path: PathBuf,
}

impl Index {
    /// The index at `dir/index.json` (locked through `dir/index.lock`).
    pub fn new(dir: &Path) -> Index {
        Index {
            path: dir.join("index.json"),
            lock_path: dir.join("index.lock"),
        }
    }

    /// Read the current index (empty when there is no file yet).
    pub fn load(&self) -> Result<IndexFile> {
        match fs::read(&self.path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|source| Error::Index {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IndexFile::default()),
            Err(e) => Err(io(format!("reading {}", self.path.display()))(e)),
        }
    }

    /// Change the index under an exclusive lock; the change is written atomically.
    pub fn update<T>(&self, f: impl FnOnce(&mut IndexFile) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let mut index = self.load()?;
        let out = f(&mut index)?;
        self.store(&index)?;
        Ok(out)
    }

    /// Hold the index lock while `f` runs (for reads that must not race with writers).
    pub fn with_lock<T>(&self, f: impl FnOnce(&IndexFile) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        f(&self.load()?)
    }

    /// Delete temp files of index writes that a crashed process left behind (older than
    /// `min_age`, so that no live write is hit).
    pub fn sweep_temp(&self, min_age: Duration) -> Result<(usize, u64)> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        sweep_old_files(dir, ".index-", min_age)
    }

    fn lock(&self) -> Result<Flock<File>> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(io(format!("opening {}", self.lock_path.display())))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io(format!("locking {}", self.lock_path.display()))(errno.into()))
    }

    fn store(&self, index: &IndexFile) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let data = serde_json::to_vec_pretty(index).map_err(|source| Error::Index {
            path: self.path.clone(),
            source,
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".index-")
            .tempfile_in(dir)
            .map_err(io(format!("creating a temp file in {}", dir.display())))?;
        tmp.write_all(&data)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io(format!("writing {}", tmp.path().display())))?;
        tmp.persist(&self.path)
            .map_err(|e| e.error)
            .map_err(io(format!("replacing {}", self.path.display())))?;
        sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(d.path().join("blobs"), d.path().join("tmp")).unwrap();
        (d, s)
    }

    #[test]
    fn writes_verified_blobs() {
        let (_d, s) = store();
        let digest = sha256_digest(b"hello");
        assert_eq!(
            digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let p = s.write(&digest, b"hello").unwrap();
        assert_eq!(fs::read(p).unwrap(), b"hello");
        assert!(s.contains(&digest).unwrap());
        assert_eq!(s.read(&digest).unwrap(), b"hello");
        assert_eq!(s.list().unwrap(), vec![digest.clone()]);
        s.remove(&digest).unwrap();
        assert!(!s.contains(&digest).unwrap());
        s.remove(&digest).unwrap();
    }

    #[test]
    fn wrong_digest_leaves_nothing() {
        let (d, s) = store();
        let digest = sha256_digest(b"hello");
        let err = s.write(&digest, b"hellO").unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        let mut tmp = s.temp_file().unwrap();
        tmp.write_all(b"other").unwrap();
        let err = s.ingest(tmp, &digest).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!s.contains(&digest).unwrap());
        assert_eq!(fs::read_dir(d.path().join("blobs")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn ingest_verified_file() {
        let (_d, s) = store();
        let digest = sha256_digest(b"layer");
        let mut tmp = s.temp_file().unwrap();
        tmp.write_all(b"layer").unwrap();
        s.ingest(tmp, &digest).unwrap();
        assert_eq!(s.read(&digest).unwrap(), b"layer");
    }

    #[test]
    fn copy_then_commit() {
        let (d, s) = store();
        let (tmp, digest, size) = s.copy_to_temp(&b"copied"[..], "test data").unwrap();
        assert_eq!(
            (digest.as_str(), size),
            (sha256_digest(b"copied").as_str(), 6)
        );
        assert!(s.commit_temp(tmp, &digest).unwrap());
        assert_eq!(s.read(&digest).unwrap(), b"copied");
        assert_eq!(s.size(&digest).unwrap(), 6);
        let (tmp, digest, _) = s.copy_to_temp(&b"copied"[..], "test data").unwrap();
        assert!(!s.commit_temp(tmp, &digest).unwrap(), "already present");
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn rejects_bad_digests() {
        let (_d, s) = store();
        for bad in ["sha256:../../etc", "sha256:ABC", "md5:00", ""] {
            assert!(matches!(s.path(bad), Err(Error::InvalidDigest(_))), "{bad}");
        }
    }

    #[test]
    fn index_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let idx = Index::new(d.path());
        assert_eq!(idx.load().unwrap(), IndexFile::default());
        let entry = IndexEntry {
            digest: sha256_digest(b"m"),
            config_digest: sha256_digest(b"c"),
            layers: vec![sha256_digest(b"l")],
            size: 3,
            created: "2026-01-01T00:00:00Z".into(),
        };
        idx.update(|i| {
            i.images
                .insert("docker.io/library/x:latest".into(), entry.clone());
            Ok(())
        })
        .unwrap();
        let loaded = idx.load().unwrap();
        assert_eq!(loaded.images["docker.io/library/x:latest"], entry);
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".index-"))
            .collect();
        assert!(names.is_empty(), "temp files left: {names:?}");
    }
}
