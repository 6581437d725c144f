//! Image archives: importing and exporting OCI image layout tarballs and `docker save`
//! tarballs.
//!
//! **Import** reads the archive (plain, gzip or zstd) in one pass, so it can come from a
//! pipe: every file that may be a blob is copied into the blob store while being hashed,
//! and a file under `blobs/sha256/` must hash to its name. Only then are the index files
//! read (tar order is arbitrary: `docker save` writes `manifest.json` last):
//!
//! - an OCI layout (`index.json`) names its images by the `io.containerd.image.name`
//!   annotation (a full reference, as containerd and Docker write it) or
//!   `org.opencontainers.image.ref.name` (a full reference, or only a tag: such an image
//!   needs a tag given on import); a nested image index resolves to the host's platform, as
//!   pulls do. The manifest is kept byte for byte, so the image keeps its digest.
//! - a `docker save` archive (`manifest.json` with `Config`, `RepoTags`, `Layers`; legacy
//!   `<id>/layer.tar` files, symlinks between them, or `blobs/sha256/<hex>` of Docker 25)
//!   has no manifest: each layer must match its `rootfs.diff_ids` entry in the config, and
//!   an OCI manifest is synthesized, deterministically, so importing the same image twice
//!   gives the same digest. The image ID (config digest) is always kept.
//!
//! Layers are unpacked like pulled ones and the images recorded in the index in one atomic
//! update at the end; blobs and snapshots the import added and no image uses (a failed
//! import's, or the other platforms' of an index) are deleted again.
//!
//! **Export** writes an OCI layout (default) or a `docker save` archive (`manifest.json` with
//! `blobs/sha256/<hex>` paths, as Docker 25 writes them, loadable by `docker load`), several
//! images in one archive, every blob once. Entries have fixed owners, modes and times, so
//! exporting the same images twice gives the same bytes. An image recorded before manifests
//! were stored has no manifest blob: its OCI export synthesizes one (as a docker import
//! would), whose digest then differs from the recorded one; pull the image again to export
//! the registry's manifest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{io, Error, Result};
use super::locks::PinGuard;
use super::reference::{validate_digest, ImageRef};
use super::store::{sha256_digest, sync_dir, IndexEntry};
use super::unpack::{decompress, snapshot_fs, unpack_layer, Compression};
use super::{Image, ImageStore};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

const LAYOUT_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";
const DOCKER_FILE: &str = "manifest.json";
const REPOSITORIES_FILE: &str = "repositories";
/// Largest index file, manifest or config read into memory: far above real ones, low enough
/// that a hostile archive cannot exhaust memory.
const MAX_METADATA: u64 = 16 << 20;
/// Nesting of image indexes followed, and symlinks followed for one path.
const MAX_DEPTH: usize = 8;

/// The format of an archive to export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`).
    #[default]
    Oci,
    /// A `docker save` archive (`manifest.json`, config and layer files).
    Docker,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl Descriptor {
    fn new(media_type: &str, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexDoc {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// The Go names of the host's OS and architecture, as image platforms spell them.
fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    (std::env::consts::OS, arch)
}

fn is_host(p: &Platform) -> bool {
    let (os, arch) = host_platform();
    p.os == os && p.architecture == arch
}

/// The OCI layer media type of a layer blob with this compression.
fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => OCI_LAYER,
        Compression::Gzip => OCI_LAYER_GZIP,
        Compression::Zstd => OCI_LAYER_ZSTD,
    }
}

/// The OCI manifest of a config and layers: compact JSON in a fixed field order, so the same
/// image always gets the same digest.
fn synthesize_manifest(config: Descriptor, layers: Vec<Descriptor>) -> Result<Vec<u8>> {
    let doc = ManifestDoc {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config,
        layers,
    };
    serde_json::to_vec(&doc).map_err(|e| Error::Archive(format!("encoding a manifest: {e}")))
}

/// An archive entry's path as a relative path of normal components joined by `/`; entries
/// with `..` or an absolute path are refused (importing never writes them anywhere, but no
/// honest archive has them).
fn entry_path(raw: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::Archive(format!(
                    "entry {raw:?} points outside the archive"
                )))
            }
            p => parts.push(p),
        }
    }
    if raw.starts_with('/') {
        return Err(Error::Archive(format!(
            "entry {raw:?} has an absolute path"
        )));
    }
    Ok(parts.join("/"))
}

/// Resolve the symlink target `target` of the entry `link` inside the archive.
fn link_target(link: &str, target: &str) -> Result<String> {
    let escape = || {
        Error::Archive(format!(
            "symlink {link:?} -> {target:?} points outside the archive"
        ))
    };
    if target.starts_with('/') {
        return Err(escape());
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(escape)?;
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The sha256 digest of a layer's uncompressed tar stream (its diff ID).
fn diff_id(path: &Path, what: &str) -> Result<String> {
    let file = File::open(path).map_err(io(format!("opening {what}")))?;
    let mut r = decompress(BufReader::new(file), what)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(format!("decompressing {what}"))(e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// A file of the archive staged in the blob store.
#[derive(Debug, Clone)]
struct Staged {
    digest: String,
    size: u64,
}

/// An image found in the archive, ready to record.
#[derive(Debug)]
struct Found {
    /// Normalized references from the archive.
    names: Vec<String>,
    /// A tag-only name the archive gives (it needs a repository).
    bare_tags: Vec<String>,
    manifest: String,
    /// The manifest's bytes when synthesized here (an archive's own is staged already).
    synthesized: Option<Vec<u8>>,
    config: String,
    layers: Vec<String>,
    size: u64,
}

/// One import under way.
struct Import<'a> {
    store: &'a ImageStore,
    /// Regular files staged as blobs, by archive path.
    files: HashMap<String, Staged>,
    /// Sizes of staged blobs, by digest.
    staged: HashMap<String, u64>,
    /// Symlinks and hard links: archive path -> archive path of the target.
    links: HashMap<String, String>,
    /// Small index files kept in memory, by archive path.
    meta: HashMap<String, Vec<u8>>,
    pins: Vec<PinGuard<'a>>,
    /// Digests of blobs and snapshots this import created (deleted again unless recorded).
    created: HashSet<String>,
}

impl<'a> Import<'a> {
    fn new(store: &'a ImageStore) -> Import<'a> {
        Import {
            store,
            files: HashMap::new(),
            staged: HashMap::new(),
            links: HashMap::new(),
            meta: HashMap::new(),
            pins: Vec::new(),
            created: HashSet::new(),
        }
    }

    fn pin(&mut self, digest: &str) {
        self.pins
            .push(self.store.pins.pin(vec![digest.to_string()]));
    }

    fn run(&mut self, reader: impl Read, tag: Option<&str>) -> Result<Vec<Image>> {
        self.read(reader)?;
        let found = if let Some(index) = self.meta.get(INDEX_FILE) {
            self.find_oci(index)?
        } else if let Some(manifest) = self.meta.get(DOCKER_FILE) {
            self.find_docker(manifest)?
        } else {
            return Err(Error::Archive(
                "neither an OCI image layout (no index.json) nor a docker save archive \
                 (no manifest.json)"
                    .into(),
            ));
        };
        let found = name(found, tag)?;
        self.record(found)
    }

    /// Read the whole archive, staging blobs and keeping index files.
    fn read(&mut self, reader: impl Read) -> Result<()> {
        let input = decompress(BufReader::new(reader), "the image archive")?;
        let mut archive = tar::Archive::new(input);
        let entries = archive
            .entries()
            .map_err(|e| Error::Archive(format!("reading the archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| {
                Error::Archive(format!(
                    "reading the archive (truncated or not a tar?): {e}"
                ))
            })?;
            let raw = String::from_utf8(entry.path_bytes().into_owned())
                .map_err(|_| Error::Archive("an entry's path is not UTF-8".into()))?;
            let path = entry_path(&raw)?;
            let kind = entry.header().entry_type();
            if path.is_empty() || kind.is_dir() {
                continue;
            }
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .ok_or_else(|| Error::Archive(format!("link {raw:?} has no target")))?;
                let target = if kind.is_symlink() {
                    link_target(&path, &target)?
                } else {
                    entry_path(&target)?
                };
                self.links.insert(path, target);
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                let declared = entry.size();
                self.stage(path, declared, &mut entry)?;
            }
            // Devices, fifos and the like have no place in an image archive: skipped.
        }
        Ok(())
    }

    /// Stage the regular file `path` of `declared` bytes (its tar header's size).
    fn stage(&mut self, path: String, declared: u64, entry: &mut impl Read) -> Result<()> {
        let name = path.as_str();
        // A tar cut short ends an entry's data early without an error.
        let truncated = |size: u64| {
            Error::Archive(format!(
                "{name} is truncated: {size} of {declared} bytes (incomplete archive?)"
            ))
        };
        if [LAYOUT_FILE, INDEX_FILE, DOCKER_FILE, REPOSITORIES_FILE].contains(&name) {
            let mut data = Vec::new();
            entry
                .take(MAX_METADATA + 1)
                .read_to_end(&mut data)
                .map_err(|e| Error::Archive(format!("reading {name}: {e}")))?;
            if data.len() as u64 > MAX_METADATA {
                return Err(Error::Archive(format!("{name} is larger than 16 MiB")));
            }
            if data.len() as u64 != declared {
                return Err(truncated(data.len() as u64));
            }
            self.meta.insert(path, data);
            return Ok(());
        }
        // The per-layer metadata of legacy `docker save` archives: not needed.
        if name.ends_with("/json") || name.ends_with("/VERSION") {
            return Ok(());
        }
        let expected = match name.strip_prefix("blobs/") {
            Some(rest) => match rest.strip_prefix("sha256/") {
                Some(hex) => {
                    let d = format!("sha256:{hex}");
                    validate_digest(&d).map_err(|_| {
                        Error::Archive(format!("{name}: not named by a sha256 digest"))
                    })?;
                    Some(d)
                }
                // Another digest algorithm: unusable, and fails if anything refers to it.
                None => return Ok(()),
            },
            None => None,
        };
        let what = format!("{name} in the archive");
        let (tmp, digest, size) = self.store.blobs.copy_to_temp(&mut *entry, &what)?;
        if size != declared {
            return Err(truncated(size));
        }
        if let Some(expected) = expected {
            if expected != digest {
                return Err(Error::ArchiveDigest {
                    path,
                    expected,
                    actual: digest,
                });
            }
        }
        if !self.staged.contains_key(&digest) {
            // Pinned before it is stored, so no collector can take it before it is recorded.
            self.pin(&digest);
            if self.store.blobs.commit_temp(tmp, &digest)? {
                self.created.insert(digest.clone());
            }
            self.staged.insert(digest.clone(), size);
        }
        self.files.insert(path, Staged { digest, size });
        Ok(())
    }

    /// The staged file at archive path `path`, following links.
    fn file(&self, path: &str) -> Option<&Staged> {
        let mut p = path;
        for _ in 0..MAX_DEPTH {
            if let Some(f) = self.files.get(p) {
                return Some(f);
            }
            p = self.links.get(p)?;
        }
        None
    }

    /// Check that blob `d` (described by `what`) was in the archive with the size its
    /// descriptor gives.
    fn check_blob(&self, d: &Descriptor, what: &str) -> Result<()> {
        validate_digest(&d.digest)?;
        let size = self
            .staged
            .get(&d.digest)
            .ok_or_else(|| Error::ArchiveMissing(format!("blob {} ({what})", d.digest)))?;
        if *size != d.size {
            return Err(Error::Archive(format!(
                "blob {} ({what}) has {size} bytes, its descriptor says {}",
                d.digest, d.size
            )));
        }
        Ok(())
    }

    /// Read a staged blob holding JSON (index, manifest or config).
    fn json_blob(&self, d: &Descriptor, what: &str) -> Result<Vec<u8>> {
        self.check_blob(d, what)?;
        if d.size > MAX_METADATA {
            return Err(Error::Archive(format!(
                "blob {} ({what}) is larger than 16 MiB",
                d.digest
            )));
        }
        self.store.blobs.read(&d.digest)
    }

    /// The images of an OCI layout with this `index.json`.
    fn find_oci(&self, index: &[u8]) -> Result<Vec<Found>> {
        let index: IndexDoc = serde_json::from_slice(index)
            .map_err(|e| Error::Archive(format!("index.json: {e}")))?;
        // A Docker 25 archive is an OCI layout with a manifest.json beside it: its RepoTags
        // name images whose index entries are unnamed.
        let mut docker_names: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(data) = self.meta.get(DOCKER_FILE) {
            if let Ok(entries) = serde_json::from_slice::<Vec<DockerEntry>>(data) {
                for e in entries {
                    if let Some(f) = entry_path(&e.config).ok().and_then(|p| self.file(&p)) {
                        docker_names
                            .entry(f.digest.clone())
                            .or_default()
                            .extend(e.repo_tags.unwrap_or_default());
                    }
                }
            }
        }
        let mut found: Vec<Found> = Vec::new();
        for desc in &index.manifests {
            if desc.platform.as_ref().is_some_and(|p| !is_host(p)) {
                continue;
            }
            let Some(mut image) = self.oci_image(desc, "named by index.json", 0)? else {
                tracing::warn!(digest = %desc.digest, media_type = %desc.media_type,
                    "skipping an index entry that is not an image");
                continue;
            };
            for key in [CONTAINERD_NAME, REF_NAME] {
                if let Some(n) = desc.annotations.get(key) {
                    if key == CONTAINERD_NAME || n.contains(['/', ':', '@']) {
                        image.names.push(normalize(n)?);
                    } else {
                        image.bare_tags.push(n.clone());
                    }
                    break;
                }
            }
            if image.names.is_empty() {
                for n in docker_names.get(&image.config).into_iter().flatten() {
                    image.names.push(normalize(n)?);
                }
            }
            match found.iter_mut().find(|f| f.manifest == image.manifest) {
                Some(f) => {
                    f.names.append(&mut image.names);
                    f.bare_tags.append(&mut image.bare_tags);
                }
                None => found.push(image),
            }
        }
        if found.is_empty() {
            let (os, arch) = host_platform();
            return Err(Error::Archive(format!(
                "index.json names no image for {os}/{arch}"
            )));
        }
        Ok(found)
    }

    /// The image a descriptor of an OCI layout leads to (through image indexes, choosing the
    /// host's platform); `None` for something other than an image.
    fn oci_image(&self, desc: &Descriptor, what: &str, depth: usize) -> Result<Option<Found>> {
        if depth > MAX_DEPTH {
            return Err(Error::Archive(format!(
                "image indexes nested deeper than {MAX_DEPTH} at {}",
                desc.digest
            )));
        }
        let raw = self.json_blob(desc, what)?;
        let doc: serde_json::Value = serde_json::from_slice(&raw)
            .map_err(|e| Error::Archive(format!("blob {} ({what}): {e}", desc.digest)))?;
        let media_type = doc["mediaType"].as_str().unwrap_or(&desc.media_type);
        let is_index = [OCI_INDEX, DOCKER_LIST].contains(&media_type)
            || (media_type.is_empty() && doc.get("manifests").is_some());
        let is_manifest = [OCI_MANIFEST, DOCKER_MANIFEST].contains(&media_type)
            || (media_type.is_empty() && doc.get("config").is_some());
        let bad =
            |e: serde_json::Error| Error::Archive(format!("blob {} ({what}): {e}", desc.digest));
        if is_index {
            let index: IndexDoc = serde_json::from_value(doc).map_err(bad)?;
            let chosen = index
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().is_some_and(is_host))
                .or(match index.manifests.as_slice() {
                    [only] if only.platform.is_none() => Some(only),
                    _ => None,
                });
            let Some(chosen) = chosen else {
                let (os, arch) = host_platform();
                return Err(Error::Archive(format!(
                    "image index {} has no image for {os}/{arch}",
                    desc.digest
                )));
            };
            let what = format!("platform manifest of index {}", desc.digest);
            return self.oci_image(chosen, &what, depth + 1);
        }
        if !is_manifest {
            return Ok(None);
        }
        let manifest: ManifestDoc = serde_json::from_value(doc).map_err(bad)?;
        let m = &desc.digest;
        let config = self.json_blob(&manifest.config, &format!("config of manifest {m}"))?;
        serde_json::from_slice::<serde_json::Value>(&config).map_err(|source| Error::Config {
            digest: manifest.config.digest.clone(),
            source,
        })?;
        for (i, l) in manifest.layers.iter().enumerate() {
            self.check_blob(l, &format!("layer {} of manifest {m}", i + 1))?;
        }
        Ok(Some(Found {
            names: Vec::new(),
            bare_tags: Vec::new(),
            manifest: desc.digest.clone(),
            synthesized: None,
            config: manifest.config.digest.clone(),
            layers: manifest.layers.iter().map(|l| l.digest.clone()).collect(),
            size: manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>(),
        }))
    }

    /// The images of a `docker save` archive with this `manifest.json`.
    fn find_docker(&self, manifest: &[u8]) -> Result<Vec<Found>> {
        let entries: Vec<DockerEntry> = serde_json::from_slice(manifest)
            .map_err(|e| Error::Archive(format!("manifest.json: {e}")))?;
        let mut found: Vec<Found> = Vec::new();
        for e in entries {
            let config_path = entry_path(&e.config)?;
            let config = self
                .file(&config_path)
                .ok_or_else(|| {
                    Error::ArchiveMissing(format!("{config_path} (config named by manifest.json)"))
                })?
                .clone();
            if config.size > MAX_METADATA {
                return Err(Error::Archive(format!(
                    "{config_path} is larger than 16 MiB"
                )));
            }
            let value: serde_json::Value = serde_json::from_slice(
                &self.store.blobs.read(&config.digest)?,
            )
            .map_err(|source| Error::Config {
                digest: config.digest.clone(),
                source,
            })?;
            let diff_ids: Vec<&str> = value["rootfs"]["diff_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(|d| d.as_str()).collect())
                .unwrap_or_default();
            if diff_ids.len() != e.layers.len() {
                return Err(Error::Archive(format!(
                    "image {}: manifest.json lists {} layers, its config {} diff_ids",
                    config.digest,
                    e.layers.len(),
                    diff_ids.len()
                )));
            }
            let mut layers = Vec::new();
            for (i, (l, expected)) in e.layers.iter().zip(diff_ids).enumerate() {
                let path = entry_path(l)?;
                let f = self.file(&path).ok_or_else(|| {
                    Error::ArchiveMissing(format!(
                        "{path} (layer {} of image {})",
                        i + 1,
                        config.digest
                    ))
                })?;
                let blob = self.store.blobs.path(&f.digest)?;
                let compression = Compression::of_file(&blob)?;
                let actual = match compression {
                    Compression::None => f.digest.clone(),
                    _ => diff_id(&blob, &format!("{path} in the archive"))?,
                };
                if actual != expected {
                    return Err(Error::ArchiveDigest {
                        path,
                        expected: expected.to_string(),
                        actual,
                    });
                }
                layers.push(Descriptor::new(
                    layer_media_type(compression),
                    &f.digest,
                    f.size,
                ));
            }
            let raw = synthesize_manifest(
                Descriptor::new(OCI_CONFIG, &config.digest, config.size),
                layers.clone(),
            )?;
            let manifest = sha256_digest(&raw);
            let names = e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|n| normalize(n))
                .collect::<Result<Vec<_>>>()?;
            match found.iter_mut().find(|f| f.manifest == manifest) {
                Some(f) => f.names.extend(names),
                None => found.push(Found {
                    names,
                    bare_tags: Vec::new(),
                    manifest,
                    synthesized: Some(raw),
                    config: config.digest.clone(),
                    layers: layers.iter().map(|l| l.digest.clone()).collect(),
                    size: config.size + layers.iter().map(|l| l.size).sum::<u64>(),
                }),
            }
        }
        if found.is_empty() {
            return Err(Error::Archive("manifest.json lists no image".into()));
        }
        Ok(found)
    }

    /// Store synthesized manifests, unpack layers, and record the images in one index update.
    fn record(&mut self, found: Vec<Found>) -> Result<Vec<Image>> {
        for f in &found {
            if let Some(raw) = &f.synthesized {
                self.pin(&f.manifest);
                if !self.store.blobs.contains(&f.manifest)? {
                    self.store.blobs.write(&f.manifest, raw)?;
                    self.created.insert(f.manifest.clone());
                }
            }
        }
        let mut unpacked = HashSet::new();
        for layer in found.iter().flat_map(|f| &f.layers) {
            if !unpacked.insert(layer) {
                continue;
            }
            if !snapshot_fs(&self.store.snapshots, layer)?.is_dir() {
                self.created.insert(layer.clone());
            }
            unpack_layer(&self.store.blobs.path(layer)?, layer, &self.store.snapshots)?;
        }
        let created = jiff::Timestamp::now().to_string();
        let recorded: Vec<(String, IndexEntry)> = found
            .into_iter()
            .flat_map(|f| {
                let entry = IndexEntry {
                    digest: f.manifest,
                    config_digest: f.config,
                    layers: f.layers,
                    size: f.size,
                    created: created.clone(),
                };
                f.names.into_iter().map(move |n| (n, entry.clone()))
            })
            .collect();
        self.store.index.update(|i| {
            for (name, entry) in &recorded {
                i.images.insert(name.clone(), entry.clone());
            }
            Ok(())
        })?;
        let mut images = recorded
            .into_iter()
            .map(|(name, entry)| {
                tracing::info!(image = %name, digest = %entry.digest, "imported image");
                self.store.image(name, entry)
            })
            .collect::<Result<Vec<_>>>()?;
        images.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(images)
    }
}

/// A reference from an archive, normalized.
fn normalize(name: &str) -> Result<String> {
    Ok(ImageRef::parse(name)?.to_string())
}

/// Settle the references of the images found: `tag` names the archive's only image;
/// otherwise every image needs a full reference from the archive.
fn name(mut found: Vec<Found>, tag: Option<&str>) -> Result<Vec<Found>> {
    if let Some(tag) = tag {
        if found.len() != 1 {
            return Err(Error::Archive(format!(
                "the archive holds {} images; a tag can name only one",
                found.len()
            )));
        }
        let image = &mut found[0];
        let r = ImageRef::parse(tag)?;
        if r.digest.as_ref().is_some_and(|d| *d != image.manifest) {
            return Err(Error::InvalidReference {
                reference: tag.to_string(),
                reason: format!("the imported image's digest is {}", image.manifest),
            });
        }
        image.names = vec![r.to_string()];
        return Ok(found);
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    for f in &mut found {
        f.names.sort();
        f.names.dedup();
        for n in &f.names {
            if let Some(other) = seen.insert(n.clone(), f.manifest.clone()) {
                return Err(Error::Archive(format!(
                    "{n} names two images in the archive, {other} and {}",
                    f.manifest
                )));
            }
        }
        if f.names.is_empty() {
            return Err(Error::Archive(match f.bare_tags.first() {
                Some(t) => format!(
                    "image {} is named only by the tag {t:?}, with no repository; \
                     import it with a tag (berth image import --tag REF)",
                    f.manifest
                ),
                None => format!(
                    "image {} has no name in the archive; import it with a tag \
                     (berth image import --tag REF)",
                    f.manifest
                ),
            }));
        }
    }
    Ok(found)
}

/// Append a regular file to an archive being exported, with fixed metadata.
fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, path, data)
        .map_err(io(format!("writing {path} to the archive")))
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, path, std::io::empty())
        .map_err(io(format!("writing {path} to the archive")))
}

/// An image to export, with its manifest's bytes (an OCI export's only: a docker archive
/// has no manifests).
struct Exported {
    reference: ImageRef,
    entry: IndexEntry,
    manifest: Vec<u8>,
}

impl ImageStore {
    /// Import the images of an OCI layout or `docker save` archive (plain, gzip or zstd
    /// tar) and record them, each under the references the archive gives, or all (the
    /// archive must then hold one image) under `tag`. Returns the images recorded, by
    /// reference. Nothing is recorded unless everything verified and unpacked.
    pub fn import(&self, reader: impl Read, tag: Option<&str>) -> Result<Vec<Image>> {
        if let Some(tag) = tag {
            ImageRef::parse(tag)?;
        }
        let mut import = Import::new(self);
        let result = import.run(reader, tag);
        let created = std::mem::take(&mut import.created);
        drop(import);
        if let Err(e) = self.discard(&created) {
            tracing::warn!(error = %e, "deleting what an import left unused");
        }
        result
    }

    /// [`ImageStore::import`] from a file.
    pub fn import_file(&self, path: &Path, tag: Option<&str>) -> Result<Vec<Image>> {
        let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
        self.import(file, tag)
    }

    /// Write the images with these references into one archive of the given format.
    /// Returns the writer (flushed) once the archive is complete.
    pub fn export<W: Write>(
        &self,
        references: &[impl AsRef<str>],
        writer: W,
        format: ArchiveFormat,
    ) -> Result<W> {
        if references.is_empty() {
            return Err(Error::Archive("no image to export".into()));
        }
        let index = self.index.load()?;
        let mut images = Vec::new();
        for r in references {
            let reference = ImageRef::parse(r.as_ref())?;
            let key = reference.to_string();
            let entry = index
                .images
                .get(&key)
                .cloned()
                .ok_or(Error::NotFound(key))?;
            images.push((reference, entry));
        }
        let digests = images
            .iter()
            .flat_map(|(_, e)| {
                [e.digest.clone(), e.config_digest.clone()]
                    .into_iter()
                    .chain(e.layers.iter().cloned())
            })
            .collect();
        // No collector in this process deletes the blobs while they are copied.
        let _pins = self.pins.pin(digests);
        let mut exported = Vec::new();
        for (reference, entry) in images {
            let manifest = match format {
                ArchiveFormat::Oci => self.manifest_bytes(&reference, &entry)?,
                ArchiveFormat::Docker => Vec::new(),
            };
            exported.push(Exported {
                reference,
                entry,
                manifest,
            });
        }
        let mut b = tar::Builder::new(writer);
        match format {
            ArchiveFormat::Oci => self.write_oci(&mut b, &exported)?,
            ArchiveFormat::Docker => self.write_docker(&mut b, &exported)?,
        }
        let mut w = b
            .into_inner()
            .map_err(io("finishing the archive".to_string()))?;
        w.flush().map_err(io("writing the archive".to_string()))?;
        Ok(w)
    }

    /// [`ImageStore::export`] into the file `path`, which appears (replaced atomically) only
    /// once the archive is complete.
    pub fn export_to_file(
        &self,
        references: &[impl AsRef<str>],
        path: &Path,
        format: ArchiveFormat,
    ) -> Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".berth-export-")
            .tempfile_in(dir)
            .map_err(io(format!("creating a temp file in {}", dir.display())))?;
        let w = self.export(references, BufWriter::new(tmp), format)?;
        let tmp = w
            .into_inner()
            .map_err(|e| io(format!("writing {}", path.display()))(e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(io(format!("syncing {}", path.display())))?;
        tmp.persist(path)
            .map_err(|e| io(format!("creating {}", path.display()))(e.error))?;
        sync_dir(dir)
    }

    /// The stored manifest of an image, or for an image recorded before manifests were
    /// stored, one synthesized from its config and layers.
    fn manifest_bytes(&self, reference: &ImageRef, entry: &IndexEntry) -> Result<Vec<u8>> {
        if self.blobs.contains(&entry.digest)? {
            return self.blobs.read(&entry.digest);
        }
        tracing::warn!(image = %reference, digest = %entry.digest,
            "the store has no manifest of this image (pulled before manifests were stored): \
             exporting a synthesized one with another digest; pull it again to keep its digest");
        let config = Descriptor::new(
            OCI_CONFIG,
            &entry.config_digest,
            self.blobs.size(&entry.config_digest)?,
        );
        let mut layers = Vec::new();
        for l in &entry.layers {
            let c = Compression::of_file(&self.blobs.path(l)?)?;
            layers.push(Descriptor::new(layer_media_type(c), l, self.blobs.size(l)?));
        }
        synthesize_manifest(config, layers)
    }

    /// Append blob `digest` as `blobs/sha256/<hex>` unless `done` has it.
    fn append_blob<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        digest: &str,
        done: &mut HashSet<String>,
    ) -> Result<()> {
        if !done.insert(digest.to_string()) {
            return Ok(());
        }
        let hex = validate_digest(digest)?;
        let path = self.blobs.path(digest)?;
        let file = File::open(&path).map_err(io(format!("opening blob {digest}")))?;
        let size = file
            .metadata()
            .map_err(io(format!("inspecting blob {digest}")))?
            .len();
        append_file(
            b,
            &format!("blobs/sha256/{hex}"),
            size,
            BufReader::new(file),
        )
    }

    fn write_oci<W: Write>(&self, b: &mut tar::Builder<W>, images: &[Exported]) -> Result<()> {
        let mut manifests = Vec::new();
        for image in images {
            let media_type = serde_json::from_slice::<serde_json::Value>(&image.manifest)
                .ok()
                .and_then(|v| v["mediaType"].as_str().map(str::to_string))
                .unwrap_or_else(|| OCI_MANIFEST.to_string());
            let digest = sha256_digest(&image.manifest);
            let mut d = Descriptor::new(&media_type, &digest, image.manifest.len() as u64);
            d.annotations
                .insert(CONTAINERD_NAME.into(), image.reference.to_string());
            if let Some(tag) = &image.reference.tag {
                d.annotations.insert(REF_NAME.into(), tag.clone());
            }
            manifests.push(d);
        }
        let index = IndexDoc {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_string()),
            manifests,
        };
        let index = serde_json::to_vec(&index)
            .map_err(|e| Error::Archive(format!("encoding index.json: {e}")))?;
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        append_file(b, LAYOUT_FILE, layout.len() as u64, &layout[..])?;
        append_file(b, INDEX_FILE, index.len() as u64, &index[..])?;
        append_dir(b, "blobs/")?;
        append_dir(b, "blobs/sha256/")?;
        let mut done = HashSet::new();
        for image in images {
            let digest = sha256_digest(&image.manifest);
            if done.insert(digest.clone()) {
                let path = format!("blobs/sha256/{}", validate_digest(&digest)?);
                append_file(b, &path, image.manifest.len() as u64, &image.manifest[..])?;
            }
            self.append_blob(b, &image.entry.config_digest, &mut done)?;
            for l in &image.entry.layers {
                self.append_blob(b, l, &mut done)?;
            }
        }
        Ok(())
    }

    fn write_docker<W: Write>(&self, b: &mut tar::Builder<W>, images: &[Exported]) -> Result<()> {
        let blob_path =
            |d: &str| -> Result<String> { Ok(format!("blobs/sha256/{}", validate_digest(d)?)) };
        // One manifest.json entry per image (config and layers), listing all its tags.
        let mut entries: Vec<(&IndexEntry, DockerEntry)> = Vec::new();
        for image in images {
            let mut tag = image.reference.clone();
            tag.digest = None;
            let tags: Vec<String> = match image.reference.tag {
                Some(_) => vec![tag.to_string()],
                None => Vec::new(),
            };
            let same = entries.iter_mut().find(|(e, _)| {
                e.config_digest == image.entry.config_digest && e.layers == image.entry.layers
            });
            match same {
                Some((_, d)) => d.repo_tags.get_or_insert_with(Vec::new).extend(tags),
                None => entries.push((
                    &image.entry,
                    DockerEntry {
                        config: blob_path(&image.entry.config_digest)?,
                        repo_tags: Some(tags),
                        layers: image
                            .entry
                            .layers
                            .iter()
                            .map(|l| blob_path(l))
                            .collect::<Result<_>>()?,
                    },
                )),
            }
        }
        let docs: Vec<&DockerEntry> = entries.iter().map(|(_, d)| d).collect();
        let manifest = serde_json::to_vec(&docs)
            .map_err(|e| Error::Archive(format!("encoding manifest.json: {e}")))?;
        append_file(b, DOCKER_FILE, manifest.len() as u64, &manifest[..])?;
        append_dir(b, "blobs/")?;
        append_dir(b, "blobs/sha256/")?;
        let mut done = HashSet::new();
        for (entry, _) in &entries {
            self.append_blob(b, &entry.config_digest, &mut done)?;
            for l in &entry.layers {
                self.append_blob(b, l, &mut done)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        // Set the name bytes directly: `set_path` refuses `..` and absolute paths.
        let name = &mut h.as_gnu_mut().unwrap().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        h
    }

    /// A tar of regular files and (with a `->` in the name) symlinks.
    fn tar_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            if let Some((link, target)) = path.split_once(" -> ") {
                let mut h = header(link, tar::EntryType::Symlink, 0);
                let l = &mut h.as_gnu_mut().unwrap().linkname;
                l[..target.len()].copy_from_slice(target.as_bytes());
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            } else {
                let h = header(path, tar::EntryType::Regular, data.len() as u64);
                b.append(&h, &data[..]).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn hex(d: &str) -> &str {
        d.strip_prefix("sha256:").unwrap()
    }

    /// One image with one layer holding the file `hello`.
    struct Fixture {
        layer_tar: Vec<u8>,
        layer: Vec<u8>,
        config: Vec<u8>,
        manifest: Vec<u8>,
    }

    impl Fixture {
        fn new(content: &str, compress: bool) -> Fixture {
            let layer_tar = tar_of(&[("hello".into(), content.as_bytes().to_vec())]);
            let layer = if compress {
                gzip(&layer_tar)
            } else {
                layer_tar.clone()
            };
            let (os, arch) = host_platform();
            let config = serde_json::to_vec(&json!({
                "architecture": arch, "os": os, "config": {"Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer_tar)]},
            }))
            .unwrap();
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(&config),
                           "size": config.len()},
                "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256_digest(&layer),
                            "size": layer.len()}],
                "annotations": {"from": "a registry"},
            }))
            .unwrap();
            Fixture {
                layer_tar,
                layer,
                config,
                manifest,
            }
        }

        fn digest(&self) -> String {
            sha256_digest(&self.manifest)
        }

        fn config_digest(&self) -> String {
            sha256_digest(&self.config)
        }

        fn blobs(&self) -> Vec<(String, Vec<u8>)> {
            [&self.manifest, &self.config, &self.layer]
                .into_iter()
                .map(|b| {
                    let d = sha256_digest(b);
                    (format!("blobs/sha256/{}", hex(&d)), b.clone())
                })
                .collect()
        }

        fn index(&self, annotations: serde_json::Value) -> (String, Vec<u8>) {
            let index = json!({"schemaVersion": 2, "manifests": [{
                "mediaType": OCI_MANIFEST, "digest": self.digest(),
                "size": self.manifest.len(), "annotations": annotations}]});
            ("index.json".into(), serde_json::to_vec(&index).unwrap())
        }

        /// An OCI layout archive with the index first.
        fn oci(&self, annotations: serde_json::Value) -> Vec<u8> {
            let mut entries = vec![
                (
                    "oci-layout".into(),
                    br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
                ),
                self.index(annotations),
            ];
            entries.extend(self.blobs());
            tar_of(&entries)
        }
    }

    fn named(name: &str) -> serde_json::Value {
        json!({ CONTAINERD_NAME: name })
    }

    fn store() -> (tempfile::TempDir, ImageStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ImageStore::open(d.path()).unwrap();
        (d, s)
    }

    fn count(dir: &Path) -> usize {
        fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    /// The store holds nothing: no image, blob, snapshot or temp file.
    fn assert_empty(root: &Path, store: &ImageStore) {
        assert_eq!(store.list().unwrap(), vec![]);
        for d in ["images/blobs/sha256", "images/snapshots", "images/tmp"] {
            assert_eq!(count(&root.join(d)), 0, "{d}");
        }
    }

    #[test]
    fn oci_import_export_round_trip_keeps_the_digest() {
        let f = Fixture::new("hi", true);
        let (root, s) = store();
        let images = s
            .import(&f.oci(named("example.com/a/b:1"))[..], None)
            .unwrap();
        assert_eq!(images.len(), 1);
        let image = &images[0];
        assert_eq!(image.reference, "example.com/a/b:1");
        assert_eq!(image.digest, f.digest());
        assert_eq!(image.config_digest, f.config_digest());
        assert_eq!(image.layers, vec![sha256_digest(&f.layer)]);
        assert_eq!(image.size, (f.config.len() + f.layer.len()) as u64);
        assert_eq!(image.config["config"]["Cmd"][0], "sh");
        assert_eq!(s.get("example.com/a/b:1").unwrap().as_ref(), Some(image));
        let dir = &s.layer_dirs(image)[0];
        assert_eq!(fs::read(dir.join("hello")).unwrap(), b"hi");
        assert_eq!(count(&root.path().join("images/blobs/sha256")), 3);
        assert_eq!(count(&root.path().join("images/tmp")), 0);

        let out = s
            .export(&["example.com/a/b:1"], Vec::new(), ArchiveFormat::Oci)
            .unwrap();
        // Exports are reproducible.
        let again = s
            .export(&["example.com/a/b:1"], Vec::new(), ArchiveFormat::Oci)
            .unwrap();
        assert_eq!(out, again);
        let (_root2, s2) = store();
        let back = s2.import(&out[..], None).unwrap();
        assert_eq!(back, images);
        // Imported again into the same store: nothing changes.
        assert_eq!(s.import(&out[..], None).unwrap(), images);
    }

    #[test]
    fn oci_reference_annotations() {
        let f = Fixture::new("x", true);
        let (_root, s) = store();
        let full = json!({ REF_NAME: "localhost:5000/x/y:2" });
        let images = s.import(&f.oci(full)[..], None).unwrap();
        assert_eq!(images[0].reference, "localhost:5000/x/y:2");
        // containerd's annotation wins over the tag-only ref.name.
        let both = json!({ REF_NAME: "3", CONTAINERD_NAME: "busybox:3" });
        let images = s.import(&f.oci(both)[..], None).unwrap();
        assert_eq!(images[0].reference, "docker.io/library/busybox:3");

        let bare = f.oci(json!({ REF_NAME: "2" }));
        let err = s.import(&bare[..], None).unwrap_err();
        assert!(matches!(err, Error::Archive(_)), "{err}");
        assert!(err.to_string().contains("only by the tag \"2\""), "{err}");
        let images = s.import(&bare[..], Some("example.com/z:2")).unwrap();
        assert_eq!(images[0].reference, "example.com/z:2");
        assert_eq!(images[0].digest, f.digest());

        let err = s.import(&f.oci(json!({}))[..], None).unwrap_err();
        assert!(err.to_string().contains("has no name"), "{err}");
        let err = s
            .import(
                &bare[..],
                Some(&format!("example.com/z@{}", f.config_digest())),
            )
            .unwrap_err();
        assert!(matches!(err, Error::InvalidReference { .. }), "{err}");
        let err = s.import(&bare[..], Some("Bad Ref")).unwrap_err();
        assert!(matches!(err, Error::InvalidReference { .. }), "{err}");
    }

    #[test]
    fn nested_index_resolves_to_this_platform() {
        let f = Fixture::new("x", true);
        let (os, arch) = host_platform();
        let other = "sha256:".to_string() + &"1".repeat(64);
        let list = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            // Blobs of other platforms need not be in the archive.
            {"mediaType": OCI_MANIFEST, "digest": other, "size": 10,
             "platform": {"os": os, "architecture": "nope"}},
            {"mediaType": OCI_MANIFEST, "digest": f.digest(), "size": f.manifest.len(),
             "platform": {"os": os, "architecture": arch}},
        ]}))
        .unwrap();
        let index = json!({"schemaVersion": 2, "manifests": [{
            "mediaType": OCI_INDEX, "digest": sha256_digest(&list), "size": list.len(),
            "annotations": named("example.com/multi:1")}]});
        let mut entries = vec![("index.json".into(), serde_json::to_vec(&index).unwrap())];
        entries.extend(f.blobs());
        entries.push((
            format!("blobs/sha256/{}", hex(&sha256_digest(&list))),
            list.clone(),
        ));
        let (root, s) = store();
        let images = s.import(&tar_of(&entries)[..], None).unwrap();
        assert_eq!(images[0].digest, f.digest());
        // The index itself is not kept: nothing refers to it.
        assert!(!s.blobs.contains(&sha256_digest(&list)).unwrap());
        assert_eq!(count(&root.path().join("images/blobs/sha256")), 3);
    }

    /// A legacy `docker save` archive: per-layer directories, the config as `<hex>.json`, a
    /// symlinked duplicate layer, `manifest.json` last.
    fn docker_legacy(f: &Fixture, repo_tags: serde_json::Value) -> Vec<u8> {
        let cfg_hex = hex(&sha256_digest(&f.config)).to_string();
        let mut config: serde_json::Value = serde_json::from_slice(&f.config).unwrap();
        let diff = sha256_digest(&f.layer_tar);
        config["rootfs"]["diff_ids"] = json!([diff, diff]);
        let config = serde_json::to_vec(&config).unwrap();
        let manifest = json!([{"Config": format!("{cfg_hex}.json"), "RepoTags": repo_tags,
            "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]);
        tar_of(&[
            ("aaa/VERSION".into(), b"1.0".to_vec()),
            ("aaa/json".into(), b"{}".to_vec()),
            ("aaa/layer.tar".into(), f.layer_tar.clone()),
            ("bbb/layer.tar -> ../aaa/layer.tar".into(), vec![]),
            (format!("{cfg_hex}.json"), config),
            ("repositories".into(), b"{}".to_vec()),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ])
    }

    #[test]
    fn imports_legacy_docker_save() {
        let f = Fixture::new("legacy", false);
        let (root, s) = store();
        let images = s
            .import(
                &docker_legacy(&f, json!(["busybox:latest", "x/y:1"]))[..],
                None,
            )
            .unwrap();
        let refs: Vec<_> = images.iter().map(|i| i.reference.as_str()).collect();
        assert_eq!(
            refs,
            ["docker.io/library/busybox:latest", "docker.io/x/y:1"]
        );
        let image = &images[0];
        let layer = sha256_digest(&f.layer_tar);
        assert_eq!(image.layers, vec![layer.clone(), layer]);
        assert_eq!(images[1].digest, image.digest);
        let dir = &s.layer_dirs(image)[0];
        assert_eq!(fs::read(dir.join("hello")).unwrap(), b"legacy");
        // manifest, config and the layer; the per-layer json and VERSION are not kept.
        assert_eq!(count(&root.path().join("images/blobs/sha256")), 3);
        let manifest: serde_json::Value =
            serde_json::from_slice(&s.blobs.read(&image.digest).unwrap()).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], OCI_LAYER);
        // The same archive gives the same synthesized manifest.
        let (_r2, s2) = store();
        let again = s2
            .import(&docker_legacy(&f, json!(["busybox:latest"]))[..], None)
            .unwrap();
        assert_eq!(again[0].digest, image.digest);

        let err = s2
            .import(&docker_legacy(&f, json!(null))[..], None)
            .unwrap_err();
        assert!(err.to_string().contains("has no name"), "{err}");
        let images = s2
            .import(&docker_legacy(&f, json!(null))[..], Some("untagged:1"))
            .unwrap();
        assert_eq!(images[0].reference, "docker.io/library/untagged:1");
    }

    #[test]
    fn docker_round_trip_keeps_the_image_id() {
        let f = Fixture::new("dock", true);
        let (_root, s) = store();
        s.import(&f.oci(named("example.com/d:1"))[..], None)
            .unwrap();
        s.tag("example.com/d:1", "example.com/d:2").unwrap();
        let out = s
            .export(
                &["example.com/d:1", "example.com/d:2"],
                Vec::new(),
                ArchiveFormat::Docker,
            )
            .unwrap();
        let mut names = Vec::new();
        let mut ar = tar::Archive::new(&out[..]);
        let mut manifest = serde_json::Value::Null;
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            if p == "manifest.json" {
                manifest = serde_json::from_reader(&mut e).unwrap();
            }
            names.push(p);
        }
        assert!(!names.contains(&"index.json".to_string()), "{names:?}");
        assert_eq!(manifest.as_array().unwrap().len(), 1, "{manifest}");
        assert_eq!(
            manifest[0]["RepoTags"],
            json!(["example.com/d:1", "example.com/d:2"])
        );
        let (_r2, s2) = store();
        let images = s2.import(&out[..], None).unwrap();
        assert_eq!(images.len(), 2);
        for i in &images {
            assert_eq!(i.config_digest, f.config_digest());
            assert_eq!(i.layers, vec![sha256_digest(&f.layer)]);
        }
        // gzip layers are kept compressed, with the OCI media type saying so.
        let m: serde_json::Value =
            serde_json::from_slice(&s2.blobs.read(&images[0].digest).unwrap()).unwrap();
        assert_eq!(m["layers"][0]["mediaType"], OCI_LAYER_GZIP);
    }

    #[test]
    fn docker_25_layout_and_compressed_archives() {
        let f = Fixture::new("new", true);
        let cfg = format!("blobs/sha256/{}", hex(&f.config_digest()));
        let layer = format!("blobs/sha256/{}", hex(&sha256_digest(&f.layer)));
        let manifest = json!([{"Config": cfg, "RepoTags": ["new:1"], "Layers": [layer]}]);
        let mut entries = f.blobs();
        // Docker 25 writes both; the OCI index (unnamed here) takes RepoTags' names.
        entries.push(f.index(json!({})));
        entries.push((
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ));
        let archive = tar_of(&entries);
        for data in [
            gzip(&archive),
            zstd::encode_all(&archive[..], 1).unwrap(),
            archive.clone(),
        ] {
            let (_root, s) = store();
            let images = s.import(&data[..], None).unwrap();
            assert_eq!(images[0].reference, "docker.io/library/new:1");
            assert_eq!(images[0].digest, f.digest());
        }
        // Without index.json it is a plain docker archive: the gzip layer is checked against
        // its diff ID through decompression.
        entries.retain(|(p, _)| p != "index.json");
        let (_root, s) = store();
        let images = s.import(&tar_of(&entries)[..], None).unwrap();
        assert_eq!(images[0].config_digest, f.config_digest());
    }

    #[test]
    fn missing_blob_records_nothing() {
        let f = Fixture::new("m", true);
        let layer = sha256_digest(&f.layer);
        let mut entries = vec![f.index(named("example.com/m:1"))];
        entries.extend(
            f.blobs()
                .into_iter()
                .filter(|(p, _)| !p.ends_with(hex(&layer))),
        );
        let (root, s) = store();
        let err = s.import(&tar_of(&entries)[..], None).unwrap_err();
        assert!(matches!(err, Error::ArchiveMissing(_)), "{err}");
        assert!(err.to_string().contains(&layer), "{err}");
        assert_empty(root.path(), &s);

        let manifest = json!([{"Config": "c.json", "RepoTags": ["a:1"], "Layers": ["l.tar"]}]);
        let docker = tar_of(&[(
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        )]);
        let err = s.import(&docker[..], None).unwrap_err();
        assert!(err.to_string().contains("c.json"), "{err}");
        assert_empty(root.path(), &s);
    }

    #[test]
    fn corrupt_blob_records_nothing() {
        let f = Fixture::new("c", true);
        let layer = sha256_digest(&f.layer);
        let mut archive = f.oci(named("example.com/c:1"));
        // Flip a byte of the layer's data (the layer is the last entry).
        let at = archive.len() - 1024 - 512 + 10;
        archive[at] ^= 0xff;
        let (root, s) = store();
        let err = s.import(&archive[..], None).unwrap_err();
        assert!(matches!(err, Error::ArchiveDigest { .. }), "{err}");
        assert!(err.to_string().contains(&layer), "{err}");
        assert_empty(root.path(), &s);

        // A layer not matching its config's diff ID in a docker archive.
        let other = Fixture::new("other", false);
        let cfg_hex = hex(&f.config_digest()).to_string();
        let manifest = json!([{"Config": format!("{cfg_hex}.json"), "RepoTags": ["a:1"],
            "Layers": ["aaa/layer.tar"]}]);
        let wrong = tar_of(&[
            ("aaa/layer.tar".into(), other.layer_tar.clone()),
            (format!("{cfg_hex}.json"), f.config.clone()),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ]);
        let err = s.import(&wrong[..], None).unwrap_err();
        assert!(matches!(err, Error::ArchiveDigest { .. }), "{err}");
        assert!(err.to_string().contains("aaa/layer.tar"), "{err}");
        assert_empty(root.path(), &s);
    }

    #[test]
    fn truncated_archives_record_nothing() {
        let f = Fixture::new(&"z".repeat(5000), false);
        let archive = f.oci(named("example.com/t:1"));
        let gz = gzip(&archive);
        let (root, s) = store();
        // Every cut before the end-of-archive blocks fails.
        for cut in (0..archive.len() - 1024).step_by(333) {
            let err = s.import(&archive[..cut], None).unwrap_err();
            assert!(
                matches!(err, Error::Archive(_) | Error::ArchiveMissing(_)),
                "cut at {cut}: {err}"
            );
            assert_empty(root.path(), &s);
        }
        for cut in (0..gz.len() - 1).step_by(97) {
            assert!(s.import(&gz[..cut], None).is_err(), "gzip cut at {cut}");
            assert_empty(root.path(), &s);
        }
        let err = s.import(&b"not an archive at all"[..], None).unwrap_err();
        assert!(matches!(err, Error::Archive(_)), "{err}");
    }

    #[test]
    fn refuses_paths_outside_the_archive() {
        let f = Fixture::new("p", true);
        for bad in ["../x", "a/../../x", "/etc/x", "blobs/../../x"] {
            let mut entries = vec![(bad.to_string(), b"x".to_vec())];
            entries.extend(f.blobs());
            entries.push(f.index(named("example.com/p:1")));
            let (root, s) = store();
            let err = s.import(&tar_of(&entries)[..], None).unwrap_err();
            assert!(matches!(err, Error::Archive(_)), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{bad}: {err}");
            assert_empty(root.path(), &s);
        }
        let (_root, s) = store();
        let link = tar_of(&[("l -> ../../etc/passwd".into(), vec![])]);
        let err = s.import(&link[..], None).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        let manifest = json!([{"Config": "../c.json", "RepoTags": ["a:1"], "Layers": []}]);
        let docker = tar_of(&[(
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        )]);
        let err = s.import(&docker[..], None).unwrap_err();
        assert!(err.to_string().contains("../c.json"), "{err}");
    }

    #[test]
    fn bad_manifest_json_and_index_json() {
        let (_root, s) = store();
        for (name, data) in [
            ("manifest.json", &b"{not json"[..]),
            ("manifest.json", br#"[{"RepoTags":["a:1"]}]"#),
            ("index.json", br#"{"manifests":"no"}"#),
            ("manifest.json", b"[]"),
        ] {
            let err = s
                .import(&tar_of(&[(name.into(), data.to_vec())])[..], None)
                .unwrap_err();
            assert!(matches!(err, Error::Archive(_)), "{err}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn a_tag_names_one_image_only() {
        let (a, b) = (Fixture::new("a", true), Fixture::new("b", true));
        let index = json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": a.digest(), "size": a.manifest.len(),
             "annotations": named("example.com/a:1")},
            {"mediaType": OCI_MANIFEST, "digest": b.digest(), "size": b.manifest.len(),
             "annotations": named("example.com/b:1")}]});
        let mut entries = vec![("index.json".into(), serde_json::to_vec(&index).unwrap())];
        entries.extend(a.blobs());
        entries.extend(b.blobs());
        let archive = tar_of(&entries);
        let (root, s) = store();
        let err = s.import(&archive[..], Some("example.com/c:1")).unwrap_err();
        assert!(err.to_string().contains("holds 2 images"), "{err}");
        assert_empty(root.path(), &s);
        let images = s.import(&archive[..], None).unwrap();
        assert_eq!(images.len(), 2);
        // Both in one export, and back.
        let out = s
            .export(
                &["example.com/a:1", "example.com/b:1"],
                Vec::new(),
                ArchiveFormat::Oci,
            )
            .unwrap();
        let (_r2, s2) = store();
        assert_eq!(s2.import(&out[..], None).unwrap(), images);
        let err = s
            .export(
                &["example.com/a:1", "example.com/none:1"],
                Vec::new(),
                ArchiveFormat::Oci,
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::NotFound(ref r) if r == "example.com/none:1"),
            "{err}"
        );
    }

    #[test]
    fn tag_then_remove_the_original() {
        let f = Fixture::new("t", true);
        let (root, s) = store();
        s.import(&f.oci(named("example.com/t:1"))[..], None)
            .unwrap();
        let tagged = s.tag("example.com/t:1", "other.org/t:copy").unwrap();
        assert_eq!(tagged.reference, "other.org/t:copy");
        assert_eq!(tagged.digest, f.digest());
        s.remove("example.com/t:1").unwrap();
        let image = s.get("other.org/t:copy").unwrap().unwrap();
        assert!(s.layer_dirs(&image)[0].join("hello").is_file());
        assert_eq!(count(&root.path().join("images/blobs/sha256")), 3);

        let err = s.tag("example.com/t:1", "x:1").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        let wrong = format!("x@{}", f.config_digest());
        let err = s.tag("other.org/t:copy", &wrong).unwrap_err();
        assert!(matches!(err, Error::InvalidReference { .. }), "{err}");
        let right = format!("x@{}", f.digest());
        s.tag("other.org/t:copy", &right).unwrap();
    }

    #[test]
    fn images_without_a_stored_manifest_export_a_synthesized_one() {
        let f = Fixture::new("old", true);
        let (_root, s) = store();
        s.import(&f.oci(named("example.com/old:1"))[..], None)
            .unwrap();
        // As recorded before manifests were stored.
        s.blobs.remove(&f.digest()).unwrap();
        let out = s
            .export(&["example.com/old:1"], Vec::new(), ArchiveFormat::Oci)
            .unwrap();
        let (_r2, s2) = store();
        let images = s2.import(&out[..], None).unwrap();
        assert_eq!(images[0].config_digest, f.config_digest());
        assert_ne!(images[0].digest, f.digest(), "the fixture has annotations");
        let docker = s
            .export(&["example.com/old:1"], Vec::new(), ArchiveFormat::Docker)
            .unwrap();
        assert_eq!(
            s2.import(&docker[..], None).unwrap()[0].config_digest,
            f.config_digest()
        );
    }

    #[test]
    fn export_to_file_is_atomic() {
        let f = Fixture::new("file", true);
        let (_root, s) = store();
        s.import(&f.oci(named("example.com/f:1"))[..], None)
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join("img.tar");
        s.export_to_file(&["example.com/f:1"], &path, ArchiveFormat::Oci)
            .unwrap();
        assert_eq!(s.import_file(&path, None).unwrap()[0].digest, f.digest());
        let err = s
            .export_to_file(
                &["example.com/missing:1"],
                &out.path().join("no.tar"),
                ArchiveFormat::Oci,
            )
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        let names: Vec<_> = fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["img.tar"]);
    }
}
