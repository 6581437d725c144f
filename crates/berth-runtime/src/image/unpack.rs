//! Unpacking layer tarballs into snapshot directories for overlayfs.
//!
//! A layer `sha256:<hex>` is unpacked once into `<snapshots>/<hex>/fs`: into a temp directory
//! first, renamed into place at the end, so a reader never sees a half-unpacked layer and
//! concurrent unpackers of the same layer (threads or processes) cannot corrupt each other —
//! the first rename wins and the others discard their copy.
//!
//! OCI whiteouts become overlayfs ones: `.wh.<name>` a 0/0 character device `<name>`,
//! `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its directory. Entries whose path
//! is absolute or contains `..`, and hard links to such paths, are refused.
//!
//! An unpacker holds an `flock` on its temp directory, so that [`sweep_stale`] can tell the
//! leftovers of a crashed unpack (unlocked) from an unpack under way.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use super::error::{io, Error, Result};
use super::reference::validate_digest;
use super::store::{older_than, sync_dir};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Directory holding the unpacked file system of a layer: `<snapshots>/<hex>/fs`.
pub fn snapshot_fs(snapshots: &Path, digest: &str) -> Result<PathBuf> {
    Ok(snapshots.join(validate_digest(digest)?).join("fs"))
}

/// Unpack the layer blob at `blob` (gzip, zstd or plain tar, told by its magic bytes) into
/// its snapshot directory, unless it is there already. Returns the snapshot's `fs` directory.
pub fn unpack_layer(blob: &Path, digest: &str, snapshots: &Path) -> Result<PathBuf> {
    let hex = validate_digest(digest)?;
    let final_dir = snapshots.join(hex);
    let fs_dir = final_dir.join("fs");
    if fs_dir.is_dir() {
        return Ok(fs_dir);
    }
    fs::create_dir_all(snapshots).map_err(io(format!("creating {}", snapshots.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(snapshots)
        .map_err(io(format!(
            "creating a temp dir in {}",
            snapshots.display()
        )))?;
    // Held until the snapshot is in place: prune deletes only temp dirs nobody has locked,
    // the ones a crashed unpacker left.
    let _busy = lock_dir(tmp.path(), FlockArg::LockExclusive)
        .map_err(|(e, _)| io(format!("locking {}", tmp.path().display()))(e))?;
    let tmp_fs = tmp.path().join("fs");
    fs::create_dir(&tmp_fs).map_err(io(format!("creating {}", tmp_fs.display())))?;
    for d in [tmp.path(), tmp_fs.as_path()] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))
            .map_err(io(format!("setting mode of {}", d.display())))?;
    }
    let file = File::open(blob).map_err(io(format!("opening layer blob {digest}")))?;
    let reader = decompress(BufReader::new(file), &format!("layer blob {digest}"))?;
    unpack_tar(reader, &tmp_fs, digest)?;
    match fs::rename(tmp.path(), &final_dir) {
        Ok(()) => sync_dir(snapshots)?,
        // Another unpacker got there first: keep its copy, ours is deleted with `tmp`.
        Err(_) if fs_dir.is_dir() => {}
        Err(e) => return Err(io(format!("renaming snapshot of {digest} into place"))(e)),
    }
    Ok(fs_dir)
}

/// How a layer (or archive) is compressed, told by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The compression of a stream starting with `head`.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The compression of the file at `path`.
    pub fn of_file(path: &Path) -> Result<Compression> {
        let mut head = [0u8; 4];
        let mut f = File::open(path).map_err(io(format!("opening {}", path.display())))?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
            }
        }
        Ok(Compression::detect(&head[..n]))
    }
}

/// Wrap `r` in a decompressor chosen by the stream's magic bytes; `what` names the stream
/// in errors.
pub(crate) fn decompress<'a, R: BufRead + 'a>(mut r: R, what: &str) -> Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf().map_err(io(format!("reading {what}")))?;
    match Compression::detect(head) {
        Compression::Gzip => Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r))),
        Compression::Zstd => {
            let d = zstd::stream::read::Decoder::with_buffer(r)
                .map_err(io(format!("starting zstd decoder for {what}")))?;
            Ok(Box::new(d))
        }
        Compression::None => Ok(Box::new(r)),
    }
}

/// Open a directory and `flock` it.
fn lock_dir(dir: &Path, how: FlockArg) -> Result<Flock<File>, (std::io::Error, bool)> {
    let f = File::open(dir).map_err(|e| (e, false))?;
    Flock::lock(f, how).map_err(|(_, errno)| (errno.into(), errno == Errno::EWOULDBLOCK))
}

/// Delete the temp directories of unpacks that a crashed process left behind: those older
/// than `min_age` (an unpacker locks its directory right after creating it) that no live
/// unpacker holds locked. Returns the number of directories and the bytes they held.
pub fn sweep_stale(snapshots: &Path, min_age: Duration) -> Result<(usize, u64)> {
    let (mut count, mut bytes) = (0, 0);
    let entries = match fs::read_dir(snapshots) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(io(format!("listing {}", snapshots.display()))(e)),
    };
    for e in entries {
        let e = e.map_err(io(format!("listing {}", snapshots.display())))?;
        if !e.file_name().to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        let path = e.path();
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && older_than(&m, min_age) => {}
            _ => continue,
        }
        let _lock = match lock_dir(&path, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            // Locked: a live unpack. Gone: it finished since the listing.
            Err((_, true)) => continue,
            Err((e, false)) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err((e, false)) => return Err(io(format!("locking {}", path.display()))(e)),
        };
        let size = tree_size(&path)?;
        fs::remove_dir_all(&path).map_err(io(format!("removing {}", path.display())))?;
        count += 1;
        bytes += size;
    }
    Ok((count, bytes))
}

/// Bytes held by the regular files under `path` (hard-linked files counted once).
pub fn tree_size(path: &Path) -> Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(format!("inspecting {}", p.display()))(e)),
        };
        if meta.is_dir() {
            let rd = fs::read_dir(&p).map_err(io(format!("listing {}", p.display())))?;
            for e in rd {
                stack.push(e.map_err(io(format!("listing {}", p.display())))?.path());
            }
        } else if meta.is_file() && (meta.nlink() == 1 || seen.insert((meta.dev(), meta.ino()))) {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Unpack a tar stream into `dest` (an existing directory), converting OCI whiteouts.
pub fn unpack_tar(reader: impl Read, dest: &Path, digest: &str) -> Result<()> {
    let layer_err = |reason: String| Error::Layer {
        digest: digest.to_string(),
        reason,
    };
    let dest = dest
        .canonicalize()
        .map_err(io(format!("resolving {}", dest.display())))?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    let entries = archive
        .entries()
        .map_err(|e| layer_err(format!("reading tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| layer_err(format!("reading tar entry: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| layer_err(format!("bad entry path: {e}")))?
            .into_owned();
        let rel = relative(&raw)?;
        let Some(name) = rel.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue; // the layer's root directory itself
        };
        if name == OPAQUE_MARKER {
            let dir = inside_dir(&dest, rel.parent())?;
            xattr::set(&dir, OPAQUE_XATTR, b"y")
                .map_err(|source| Error::Opaque { path: dir, source })?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(layer_err(format!("bad whiteout {}", raw.display())));
            }
            let dir = inside_dir(&dest, rel.parent())?;
            let path = dir.join(hidden);
            remove_any(&path)?;
            mknod(&path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                .map_err(|source| Error::Whiteout { path, source })?;
            continue;
        }
        if entry.header().entry_type().is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| layer_err(format!("bad link name: {e}")))?
                .ok_or_else(|| layer_err(format!("hard link {} has no target", raw.display())))?
                .into_owned();
            relative(&target)?;
        }
        let unpacked = entry
            .unpack_in(&dest)
            .map_err(|e| layer_err(format!("{}: {e}", raw.display())))?;
        if !unpacked {
            return Err(Error::PathEscape {
                path: raw.display().to_string(),
            });
        }
    }
    Ok(())
}

/// `path` as a relative path of normal components; `..` and absolute paths are refused.
fn relative(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Error::PathEscape {
                    path: path.display().to_string(),
                })
            }
        }
    }
    Ok(out)
}

/// Resolve (creating missing directories, mode 0755) the directory `rel` inside `root`,
/// refusing to follow a symlink out of `root`.
fn inside_dir(root: &Path, rel: Option<&Path>) -> Result<PathBuf> {
    let mut cur = root.to_path_buf();
    let Some(rel) = rel else { return Ok(cur) };
    for c in rel.components() {
        let next = cur.join(c);
        match fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                let resolved = next
                    .canonicalize()
                    .map_err(io(format!("resolving {}", next.display())))?;
                if !resolved.starts_with(root) || !resolved.is_dir() {
                    return Err(Error::PathEscape {
                        path: rel.display().to_string(),
                    });
                }
                cur = resolved;
            }
            Ok(m) if m.is_dir() => cur = next,
            Ok(_) => {
                return Err(io(format!("{} is not a directory", next.display()))(
                    std::io::ErrorKind::NotADirectory.into(),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&next).map_err(io(format!("creating {}", next.display())))?;
                fs::set_permissions(&next, fs::Permissions::from_mode(0o755))
                    .map_err(io(format!("setting mode of {}", next.display())))?;
                cur = next;
            }
            Err(e) => return Err(io(format!("inspecting {}", next.display()))(e)),
        }
    }
    Ok(cur)
}

/// Remove whatever is at `path` (nothing there is fine).
fn remove_any(path: &Path) -> Result<()> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    res.map_err(io(format!("removing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        // Set the name bytes directly: `set_path` refuses `..` and absolute paths.
        let name = &mut h.as_gnu_mut().unwrap().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, uid: u64) {
        let mut h = header(path, tar::EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
        b.append(&header(path, tar::EntryType::Directory, 0o755, 0), &[][..])
            .unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = header(path, kind, 0o777, 0);
        let l = &mut h.as_gnu_mut().unwrap().linkname;
        l[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    fn sample_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        dir(&mut b, "./");
        dir(&mut b, "./etc/");
        file(&mut b, "./etc/a", b"hello", 0o640, 1000);
        link(&mut b, tar::EntryType::Link, "etc/hl", "etc/a");
        link(&mut b, tar::EntryType::Symlink, "etc/sl", "a");
        file(&mut b, "etc/.wh.gone", b"", 0o644, 0);
        dir(&mut b, "var/");
        file(&mut b, "var/.wh..wh..opq", b"", 0o644, 0);
        file(&mut b, "new/deep/.wh.x", b"", 0o644, 0);
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn write_blob(dir: &Path, data: &[u8]) -> (PathBuf, String) {
        let digest = super::super::store::sha256_digest(data);
        let p = dir.join("blob");
        fs::write(&p, data).unwrap();
        (p, digest)
    }

    fn check_sample(fs_dir: &Path) {
        let a = fs_dir.join("etc/a");
        assert_eq!(fs::read(&a).unwrap(), b"hello");
        let m = fs::metadata(&a).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!((m.uid(), m.gid()), (1000, 1000));
        assert_eq!(fs::metadata(fs_dir.join("etc/hl")).unwrap().ino(), m.ino());
        assert_eq!(
            fs::read_link(fs_dir.join("etc/sl")).unwrap(),
            Path::new("a")
        );
        for wh in ["etc/gone", "new/deep/x"] {
            let m = fs::symlink_metadata(fs_dir.join(wh)).unwrap();
            assert!(m.file_type().is_char_device(), "{wh}");
            assert_eq!(m.rdev(), 0, "{wh}");
        }
        assert!(!fs_dir.join("etc/.wh.gone").exists());
        assert!(!fs_dir.join("var/.wh..wh..opq").exists());
        assert_eq!(
            xattr::get(fs_dir.join("var"), OPAQUE_XATTR).unwrap(),
            Some(b"y".to_vec())
        );
    }

    #[test]
    fn unpacks_gzip_zstd_and_plain_layers_with_whiteouts() {
        let tar = sample_layer();
        let zst = zstd::encode_all(&tar[..], 1).unwrap();
        for data in [gzip(&tar), zst, tar.clone()] {
            let d = tempfile::tempdir().unwrap();
            let (blob, digest) = write_blob(d.path(), &data);
            let snaps = d.path().join("snapshots");
            let fs_dir = unpack_layer(&blob, &digest, &snaps).unwrap();
            assert_eq!(fs_dir, snapshot_fs(&snaps, &digest).unwrap());
            check_sample(&fs_dir);
            // A second unpack is a no-op.
            fs::write(fs_dir.join("marker"), b"").unwrap();
            unpack_layer(&blob, &digest, &snaps).unwrap();
            assert!(fs_dir.join("marker").exists());
            assert_eq!(fs::read_dir(&snaps).unwrap().count(), 1);
        }
    }

    #[test]
    fn concurrent_unpacks_of_one_layer() {
        let d = tempfile::tempdir().unwrap();
        let (blob, digest) = write_blob(d.path(), &gzip(&sample_layer()));
        let snaps = d.path().join("snapshots");
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| unpack_layer(&blob, &digest, &snaps).unwrap()))
                .collect();
            for h in handles {
                check_sample(&h.join().unwrap());
            }
        });
        let names: Vec<_> = fs::read_dir(&snaps)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    fn unpack_err(tar: Vec<u8>) -> (Error, tempfile::TempDir) {
        let d = tempfile::tempdir().unwrap();
        let (blob, digest) = write_blob(d.path(), &tar);
        let snaps = d.path().join("snapshots");
        let err = unpack_layer(&blob, &digest, &snaps).unwrap_err();
        // Nothing visible is left behind.
        assert_eq!(fs::read_dir(&snaps).unwrap().count(), 0);
        (err, d)
    }

    #[test]
    fn refuses_escaping_paths() {
        for path in ["../evil", "a/../../evil", "/abs/evil"] {
            let mut b = tar::Builder::new(Vec::new());
            file(&mut b, path, b"x", 0o644, 0);
            let (err, d) = unpack_err(b.into_inner().unwrap());
            assert!(matches!(err, Error::PathEscape { .. }), "{path}: {err}");
            assert!(!d.path().join("evil").exists());
        }
        for path in ["../.wh.x", "../.wh..wh..opq"] {
            let mut b = tar::Builder::new(Vec::new());
            file(&mut b, path, b"", 0o644, 0);
            let (err, _d) = unpack_err(b.into_inner().unwrap());
            assert!(matches!(err, Error::PathEscape { .. }), "{path}: {err}");
        }
    }

    #[test]
    fn refuses_hard_links_outside() {
        for target in ["../../../etc/passwd", "/etc/passwd"] {
            let mut b = tar::Builder::new(Vec::new());
            link(&mut b, tar::EntryType::Link, "pw", target);
            let (err, _d) = unpack_err(b.into_inner().unwrap());
            assert!(matches!(err, Error::PathEscape { .. }), "{target}: {err}");
        }
    }

    #[test]
    fn refuses_writing_through_symlinks_outside() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().to_str().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        link(&mut b, tar::EntryType::Symlink, "out", target);
        file(&mut b, "out/.wh.victim", b"", 0o644, 0);
        let (err, _d) = unpack_err(b.into_inner().unwrap());
        assert!(matches!(err, Error::PathEscape { .. }), "{err}");
        let mut b = tar::Builder::new(Vec::new());
        link(&mut b, tar::EntryType::Symlink, "out", target);
        file(&mut b, "out/file", b"x", 0o644, 0);
        let _ = unpack_err(b.into_inner().unwrap());
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
