//! Pod volumes on the host, under `<data-dir>/pods/<uid>/volumes/<name>`: emptyDir (a
//! directory, or a tmpfs for `medium: Memory`), hostPath, persistentVolumeClaim (a node-local
//! directory `<data-dir>/storage/<namespace>/<claim>` that outlives pods), and the projected kinds (configMap,
//! secret, downwardAPI, projected; the ones that may hold secrets on a tmpfs of their own)
//! written the way the kubelet's atomic writer does, so that
//! an update replaces every file at once: files live in a timestamped directory, `..data`
//! points at the current one, and each visible name is a symlink through `..data`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{KeyToPath, Pod, Volume};

use super::env::{field_value, resource_value, ConfigError, PodFacts, Sources};

/// A volume ready to be mounted.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The volume's directory (or, for a hostPath, file) on the node.
    pub host_path: PathBuf,
    /// Projected volumes are read-only in containers, whatever the mount says.
    pub read_only: bool,
}

/// Why a volume cannot be set up (`FailedMount`).
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// What the volume projects cannot be had: a missing ConfigMap, Secret, key or token.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The node's file system refused.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A volume type Berth does not support, or a hostPath that fails its `type` check.
    #[error("{0}")]
    Unsupported(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> VolumeError {
    let context = context.into();
    move |source| VolumeError::Io { context, source }
}

/// The directory of the pod's volumes.
pub fn volumes_dir(pod_dir: &Path) -> PathBuf {
    pod_dir.join("volumes")
}

/// Set up (or refresh) every volume of `pod`; returns them by name.
pub fn prepare(
    pod: &Pod,
    pod_dir: &Path,
    sources: &Sources,
    facts: &PodFacts,
) -> Result<BTreeMap<String, Prepared>, VolumeError> {
    let mut out = BTreeMap::new();
    let Some(spec) = &pod.spec else {
        return Ok(out);
    };
    for v in spec.volumes.iter().flatten() {
        let prepared = prepare_one(pod, v, pod_dir, sources, facts)?;
        out.insert(v.name.clone(), prepared);
    }
    Ok(out)
}

fn prepare_one(
    pod: &Pod,
    v: &Volume,
    pod_dir: &Path,
    sources: &Sources,
    facts: &PodFacts,
) -> Result<Prepared, VolumeError> {
    let dir = volumes_dir(pod_dir).join(&v.name);
    if let Some(e) = &v.empty_dir {
        let memory = e.medium.as_deref() == Some("Memory");
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            // Any user of any container may write, as with Docker volumes and the kubelet.
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))
                .map_err(io(format!("chmod {}", dir.display())))?;
        }
        if memory {
            let size = e
                .size_limit
                .as_ref()
                .and_then(|q| berth_api::quantity::Quantity::parse(&q.0).ok())
                .map(|q| format!(",size={}", q.as_value()));
            mount_tmpfs(&dir, &format!("mode=0777{}", size.unwrap_or_default()))?;
        }
        return Ok(Prepared {
            host_path: dir,
            read_only: false,
        });
    }
    if let Some(c) = &v.persistent_volume_claim {
        // Node-local storage for the claim (as k3s's local-path provisioner gives): a
        // directory of the data dir that outlives the pod, so a StatefulSet's pod finds its
        // data again when it is recreated on this node.
        let data_dir = pod_dir.parent().and_then(Path::parent).unwrap_or(pod_dir);
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let claim = safe_relative(&c.claim_name)?;
        let dir = data_dir.join("storage").join(ns).join(claim);
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))
                .map_err(io(format!("chmod {}", dir.display())))?;
        }
        return Ok(Prepared {
            host_path: dir,
            read_only: c.read_only == Some(true),
        });
    }
    if let Some(h) = &v.host_path {
        let path = PathBuf::from(&h.path);
        match h.type_.as_deref().unwrap_or("") {
            "DirectoryOrCreate" if !path.exists() => {
                fs::create_dir_all(&path).map_err(io(format!("creating {}", path.display())))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                    .map_err(io(format!("chmod {}", path.display())))?;
            }
            "FileOrCreate" if !path.exists() => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)
                        .map_err(io(format!("creating {}", parent.display())))?;
                }
                fs::write(&path, b"").map_err(io(format!("creating {}", path.display())))?;
            }
            "Directory" if !path.is_dir() => {
                return Err(VolumeError::Unsupported(format!(
                    "hostPath type check failed: {} is not a directory",
                    h.path
                )))
            }
            "File" if !path.is_file() => {
                return Err(VolumeError::Unsupported(format!(
                    "hostPath type check failed: {} is not a file",
                    h.path
                )))
            }
            _ => {}
        }
        return Ok(Prepared {
            host_path: path,
            read_only: false,
        });
    }
    let files = projected_files(pod, v, sources, facts)?;
    let Some(files) = files else {
        return Err(VolumeError::Unsupported(format!(
            "volume {:?}: this volume type is not supported by Berth yet",
            v.name
        )));
    };
    // As the kubelet: what may hold a Secret or a token is kept in memory, never written to
    // the node's disk (which is also much cheaper than creating and deleting its files on
    // ext4 when pods come and go by the hundred).
    if v.secret.is_some() || v.projected.is_some() {
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        mount_tmpfs(&dir, "mode=0755")?;
    }
    write_atomic(&dir, &files)?;
    Ok(Prepared {
        host_path: dir,
        read_only: true,
    })
}

/// Mount a tmpfs with `options` on `dir` unless something is mounted there already.
fn mount_tmpfs(dir: &Path, options: &str) -> Result<(), VolumeError> {
    if is_mount_point(dir) {
        return Ok(());
    }
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(options),
    )
    .map_err(|e| VolumeError::Io {
        context: format!("mounting tmpfs on {}", dir.display()),
        source: e.into(),
    })
}

/// A file of a projected volume: relative path, content, mode.
type Files = BTreeMap<String, (Vec<u8>, u32)>;

fn projected_files(
    pod: &Pod,
    v: &Volume,
    sources: &Sources,
    facts: &PodFacts,
) -> Result<Option<Files>, VolumeError> {
    let mut files = Files::new();
    if let Some(cm) = &v.config_map {
        let mode = mode_of(cm.default_mode);
        add_config_map(
            &mut files,
            sources,
            &cm.name,
            cm.items.as_deref(),
            cm.optional,
            mode,
        )?;
        return Ok(Some(files));
    }
    if let Some(s) = &v.secret {
        let mode = mode_of(s.default_mode);
        let name = s.secret_name.clone().unwrap_or_default();
        add_secret(
            &mut files,
            sources,
            &name,
            s.items.as_deref(),
            s.optional,
            mode,
        )?;
        return Ok(Some(files));
    }
    if let Some(d) = &v.downward_api {
        let mode = mode_of(d.default_mode);
        add_downward(&mut files, pod, d.items.as_deref(), mode, facts)?;
        return Ok(Some(files));
    }
    if let Some(p) = &v.projected {
        let mode = mode_of(p.default_mode);
        for source in p.sources.iter().flatten() {
            if let Some(cm) = &source.config_map {
                add_config_map(
                    &mut files,
                    sources,
                    &cm.name,
                    cm.items.as_deref(),
                    cm.optional,
                    mode,
                )?;
            }
            if let Some(s) = &source.secret {
                add_secret(
                    &mut files,
                    sources,
                    &s.name,
                    s.items.as_deref(),
                    s.optional,
                    mode,
                )?;
            }
            if let Some(d) = &source.downward_api {
                add_downward(&mut files, pod, d.items.as_deref(), mode, facts)?;
            }
            if let Some(t) = &source.service_account_token {
                let token = match sources.tokens.get(&super::tokens::key_of(t)) {
                    Some(Ok(token)) => token.clone(),
                    Some(Err(e)) => {
                        return Err(VolumeError::Config(ConfigError(format!(
                            "failed to fetch token: {e}"
                        ))))
                    }
                    None => {
                        return Err(VolumeError::Config(ConfigError(
                            "failed to fetch token: not requested".into(),
                        )))
                    }
                };
                files.insert(t.path.clone(), (token.into_bytes(), mode));
            }
            if let Some(b) = &source.cluster_trust_bundle {
                return Err(VolumeError::Unsupported(format!(
                    "clusterTrustBundle projection {:?} is not supported",
                    b.path
                )));
            }
        }
        return Ok(Some(files));
    }
    Ok(None)
}

fn mode_of(mode: Option<i32>) -> u32 {
    mode.map_or(0o644, |m| m as u32 & 0o777)
}

/// The files of downward-API `items` (a downwardAPI volume or projection).
fn add_downward(
    files: &mut Files,
    pod: &Pod,
    items: Option<&[k8s_openapi::api::core::v1::DownwardAPIVolumeFile]>,
    mode: u32,
    facts: &PodFacts,
) -> Result<(), VolumeError> {
    for item in items.into_iter().flatten() {
        let value = downward_value(pod, item, facts)?;
        files.insert(
            item.path.clone(),
            (
                value.into_bytes(),
                item.mode.map_or(mode, |m| m as u32 & 0o777),
            ),
        );
    }
    Ok(())
}

fn downward_value(
    pod: &Pod,
    item: &k8s_openapi::api::core::v1::DownwardAPIVolumeFile,
    facts: &PodFacts,
) -> Result<String, VolumeError> {
    if let Some(f) = &item.field_ref {
        return Ok(field_value(pod, &f.field_path, facts)?);
    }
    if let Some(r) = &item.resource_field_ref {
        let spec = pod.spec.as_ref();
        let container = spec
            .and_then(|s| {
                s.containers
                    .iter()
                    .find(|c| Some(&c.name) == r.container_name.as_ref())
            })
            .ok_or_else(|| {
                ConfigError(format!(
                    "container {:?} not found for resourceFieldRef",
                    r.container_name
                ))
            })?;
        return Ok(resource_value(
            container,
            &r.resource,
            r.divisor.as_ref().map(|d| d.0.as_str()),
            facts,
        )?);
    }
    Ok(String::new())
}

fn select(
    files: &mut Files,
    data: BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    mode: u32,
    kind: &str,
    name: &str,
    optional: bool,
) -> Result<(), VolumeError> {
    match items {
        None => {
            for (k, v) in data {
                files.insert(k, (v, mode));
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        files.insert(
                            item.path.clone(),
                            (v.clone(), item.mode.map_or(mode, |m| m as u32 & 0o777)),
                        );
                    }
                    None if optional => {}
                    None => {
                        return Err(ConfigError(format!(
                            "configuration of {kind} {name:?}: key {:?} does not exist",
                            item.key
                        ))
                        .into())
                    }
                }
            }
        }
    }
    Ok(())
}

fn add_config_map(
    files: &mut Files,
    sources: &Sources,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    mode: u32,
) -> Result<(), VolumeError> {
    let data = sources
        .config_maps
        .get(name)
        .and_then(Option::as_ref)
        .map(|cm| {
            let mut data: BTreeMap<String, Vec<u8>> = cm
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect();
            for (k, v) in cm.binary_data.iter().flatten() {
                data.insert(k.clone(), v.0.clone());
            }
            data
        });
    add_source(files, "configmap", name, data, items, optional, mode)
}

fn add_secret(
    files: &mut Files,
    sources: &Sources,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    mode: u32,
) -> Result<(), VolumeError> {
    let data = sources.secrets.get(name).and_then(Option::as_ref).map(|s| {
        let mut data: BTreeMap<String, Vec<u8>> = s
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        for (k, v) in s.string_data.iter().flatten() {
            data.insert(k.clone(), v.clone().into_bytes());
        }
        data
    });
    add_source(files, "secret", name, data, items, optional, mode)
}

/// Add the keys of a ConfigMap or Secret (`data`, `None` when it does not exist).
fn add_source(
    files: &mut Files,
    kind: &str,
    name: &str,
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    mode: u32,
) -> Result<(), VolumeError> {
    let optional = optional == Some(true);
    match data {
        Some(data) => select(files, data, items, mode, kind, name, optional),
        None if optional => Ok(()),
        None => Err(ConfigError(format!("{kind} \"{name}\" not found")).into()),
    }
}

/// Write `files` into `dir` so that readers see either the old or the new set, never a mix:
/// a fresh `..<stamp>` directory, `..data` swapped to it by rename, visible names as
/// symlinks through `..data`. Nothing is rewritten when the content is unchanged.
pub fn write_atomic(dir: &Path, files: &Files) -> Result<(), VolumeError> {
    fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let current = dir.join("..data");
    if let Ok(target) = fs::read_link(&current) {
        if same_content(&dir.join(&target), files) {
            return Ok(());
        }
    }
    let stamp = format!("..{}", jiff::Timestamp::now().as_nanosecond());
    let staged = dir.join(&stamp);
    for (path, (content, mode)) in files {
        let rel = safe_relative(path)?;
        let file = staged.join(rel);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        }
        fs::write(&file, content).map_err(io(format!("writing {}", file.display())))?;
        fs::set_permissions(&file, fs::Permissions::from_mode(*mode))
            .map_err(io(format!("chmod {}", file.display())))?;
    }
    fs::create_dir_all(&staged).map_err(io(format!("creating {}", staged.display())))?;
    let tmp_link = dir.join("..data_tmp");
    let _ = fs::remove_file(&tmp_link);
    symlink(&stamp, &tmp_link).map_err(io(format!("linking {}", tmp_link.display())))?;
    let old = fs::read_link(&current).ok();
    fs::rename(&tmp_link, &current).map_err(io(format!("swapping {}", current.display())))?;
    // Visible names: one symlink per top-level entry, through ..data.
    let tops: std::collections::BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect();
    for top in &tops {
        let link = dir.join(top);
        if fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(top), &link)
                .map_err(io(format!("linking {}", link.display())))?;
        }
    }
    // Names that disappeared from the source disappear from the volume.
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("..") && !tops.contains(&name) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    if let Some(old) = old {
        let _ = fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

fn same_content(dir: &Path, files: &Files) -> bool {
    files.iter().all(|(path, (content, mode))| {
        let file = dir.join(path);
        let mode_ok = fs::metadata(&file).is_ok_and(|m| m.permissions().mode() & 0o777 == *mode);
        mode_ok && fs::read(&file).is_ok_and(|c| &c == content)
    }) && count_files(dir) == files.len()
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// A path inside the volume: relative, without `..` components.
fn safe_relative(path: &str) -> Result<&Path, VolumeError> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.is_relative()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        && !path.starts_with("..");
    if ok {
        Ok(p)
    } else {
        Err(ConfigError(format!("invalid path {path:?} in volume")).into())
    }
}

/// Whether a file system of its own (the tmpfs mounted here) is on `dir`: its device differs
/// from its parent's. Cheaper than reading the mount table, which grows with every pod.
fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(here), Some(Ok(parent))) = (fs::metadata(dir), dir.parent().map(fs::metadata)) else {
        return false;
    };
    here.dev() != parent.dev()
}

/// Unmount the pod's tmpfs volumes and remove its directory.
pub fn teardown(pod_dir: &Path) -> std::io::Result<()> {
    let volumes = volumes_dir(pod_dir);
    if let Ok(entries) = fs::read_dir(&volumes) {
        for e in entries.flatten() {
            let path = e.path();
            if is_mount_point(&path) {
                let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
    match fs::remove_dir_all(pod_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> Files {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), (v.as_bytes().to_vec(), 0o644)))
            .collect()
    }

    #[test]
    fn atomic_writer_swaps_data_and_drops_removed_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("v");
        write_atomic(&dir, &files(&[("a", "1"), ("b", "2")])).unwrap();
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "1");
        let first = fs::read_link(dir.join("..data")).unwrap();
        write_atomic(&dir, &files(&[("a", "1"), ("b", "2")])).unwrap();
        assert_eq!(
            fs::read_link(dir.join("..data")).unwrap(),
            first,
            "rewrote unchanged data"
        );
        write_atomic(&dir, &files(&[("a", "3")])).unwrap();
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "3");
        assert!(fs::symlink_metadata(dir.join("b")).is_err());
        assert!(!dir.join(&first).exists(), "old generation kept");
        assert!(fs::symlink_metadata(dir.join("a"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn paths_escaping_the_volume_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/passwd", "a/../../x", "..data"] {
            assert!(
                write_atomic(tmp.path(), &files(&[(bad, "x")])).is_err(),
                "{bad}"
            );
        }
    }
}
