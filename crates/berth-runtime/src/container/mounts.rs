//! The container's file system, set up by its init in its new mount namespace: the spec's
//! mounts on the root file system, the device nodes of a private `/dev`, `pivot_root`, then
//! the masked and read-only paths and a read-only root.
//!
//! The root file system is the image's, so any path in it may be a symlink pointing
//! anywhere. Every mount target is therefore looked up with `openat2(RESOLVE_IN_ROOT)`,
//! which resolves symlinks as if the root were `/`, and the mount goes onto the descriptor
//! (`/proc/self/fd/N`) rather than onto a path the kernel would resolve again.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mkdirat, mknodat, Mode, SFlag};
use oci_spec::runtime::{Mount, Spec};

/// Character devices of a private `/dev`: runc's and Docker's set.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];

/// Mount the spec's mounts on its root file system and create the device nodes of `/dev`.
/// `v1` lists the host's cgroup v1 hierarchies (empty on a v2 host), `cgroups_path` the
/// container's cgroup in them.
pub(crate) fn prepare(
    spec: &Spec,
    cgroups_path: &str,
    v1: &[(PathBuf, Vec<String>)],
) -> Result<PathBuf, String> {
    // Nothing mounted in here may reach the host's mount table, while the host's later
    // mounts (a volume's) may still reach the container.
    make_rslave("/").map_err(|e| format!("making the mounts private: {e}"))?;
    let rootfs = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .ok_or("the spec has no root file system")?;
    // pivot_root needs the new root to be a mount point of this namespace.
    mount(
        Some(&rootfs),
        &rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("binding the root file system {}: {e}", rootfs.display()))?;
    let root = nix::fcntl::open(
        &rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("opening the root file system {}: {e}", rootfs.display()))?;
    let mut private_dev = false;
    for m in spec.mounts().as_deref().unwrap_or_default() {
        mount_one(&root, m, cgroups_path, v1)
            .map_err(|e| format!("mounting {}: {e}", m.destination().display()))?;
        private_dev |= m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs");
    }
    if private_dev {
        create_devices(&root).map_err(|e| format!("creating /dev: {e}"))?;
    }
    Ok(rootfs)
}

/// Make `rootfs` the root of this mount namespace and detach the old one.
pub(crate) fn pivot(rootfs: &Path) -> Result<(), String> {
    let dir = |p: &Path| {
        nix::fcntl::open(
            p,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    let old = dir(Path::new("/")).map_err(|e| format!("opening /: {e}"))?;
    let new = dir(rootfs).map_err(|e| format!("opening {}: {e}", rootfs.display()))?;
    nix::unistd::fchdir(&new).map_err(|e| format!("entering the root file system: {e}"))?;
    // pivot_root(".", ".") stacks the old root under the new one; it is then unmounted
    // from where it lies, without a directory for it in the image.
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    nix::unistd::fchdir(&old).map_err(|e| format!("entering the old root: {e}"))?;
    make_rslave(".").map_err(|e| format!("detaching the old root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("unmounting the old root: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("entering /: {e}"))
}

/// Change the flags or propagation of the mount `target` (an `O_PATH` descriptor of it).
fn remount(target: &OwnedFd, flags: MsFlags) -> nix::Result<()> {
    mount(
        None::<&str>,
        &fd_path(target),
        None::<&str>,
        flags,
        None::<&str>,
    )
}

/// Receive mount events from the mount at `path` and below, never send any.
fn make_rslave(path: &str) -> nix::Result<()> {
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
}

/// After `pivot_root`: hide the masked paths, make the read-only ones so, and the root when
/// the spec asks.
pub(crate) fn finish(spec: &Spec) -> Result<(), String> {
    let linux = spec.linux().as_ref();
    for path in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default()
    {
        let result = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => mount(
                Some("tmpfs"),
                path.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            ),
            Ok(_) => mount(
                Some("/dev/null"),
                path.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ),
            Err(_) => continue,
        };
        result.map_err(|e| format!("masking {path}: {e}"))?;
    }
    for path in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default()
    {
        match mount(
            Some(path.as_str()),
            path.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(format!("binding {path} read-only: {e}")),
        }
        remount_read_only(Path::new(path)).map_err(|e| format!("making {path} read-only: {e}"))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        remount_read_only(Path::new("/"))
            .map_err(|e| format!("making the root file system read-only: {e}"))?;
    }
    Ok(())
}

/// Bind `/dev/console` to the terminal on standard input, as the console of the container.
pub(crate) fn bind_console() -> Result<(), String> {
    let dev = nix::fcntl::open("/dev", OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| format!("opening /dev: {e}"))?;
    match openat(
        &dev,
        "console",
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    ) {
        Ok(_) => {}
        Err(e) => return Err(format!("creating /dev/console: {e}")),
    }
    mount(
        Some("/proc/self/fd/0"),
        "/dev/console",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| format!("binding /dev/console: {e}"))
}

/// Remount the mount at `path` read-only, keeping its other per-mount flags (a bind
/// remount replaces them all).
fn remount_read_only(path: &Path) -> nix::Result<()> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let current = statvfs(path)?.flags();
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (has, flag) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(has) {
            flags |= flag;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
}

/// What a mount's `options` ask for: flags for the mount itself, a propagation change to
/// make afterwards, and the file system's own options.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    flags: MsFlags,
    propagation: MsFlags,
    data: Vec<String>,
}

fn parse_options(options: &[String]) -> Options {
    let mut parsed = Options {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: Vec::new(),
    };
    for option in options {
        let (set, clear) = match option.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            other => {
                let propagation = match other {
                    "private" => MsFlags::MS_PRIVATE,
                    "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                    "slave" => MsFlags::MS_SLAVE,
                    "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
                    "shared" => MsFlags::MS_SHARED,
                    "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
                    "unbindable" => MsFlags::MS_UNBINDABLE,
                    "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
                    _ => {
                        parsed.data.push(other.to_string());
                        continue;
                    }
                };
                parsed.propagation = propagation;
                continue;
            }
        };
        parsed.flags = (parsed.flags | set) & !clear;
    }
    parsed
}

fn mount_one(
    root: &OwnedFd,
    m: &Mount,
    cgroups_path: &str,
    v1: &[(PathBuf, Vec<String>)],
) -> Result<(), String> {
    let options = parse_options(m.options().as_deref().unwrap_or_default());
    let destination = relative(m.destination())?;
    let typ = m.typ().as_deref().unwrap_or("none");
    let bind = options.flags.contains(MsFlags::MS_BIND);
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let file = bind && !source.is_dir();
    let target = open_in_root(root, &destination, file)?;
    let data = options.data.join(",");
    let data = (!data.is_empty()).then_some(data.as_str());
    if typ == "cgroup" && !super::cgroup::is_v2() {
        return mount_cgroup_v1(root, &destination, &target, &options, cgroups_path, v1);
    }
    if bind {
        mount(
            Some(&source),
            &fd_path(&target),
            None::<&str>,
            options.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
            None::<&str>,
        )
        .map_err(|e| format!("binding {}: {e}", source.display()))?;
        let rest = options.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !rest.is_empty() {
            // The descriptor is the directory under the new mount; the mount itself is found
            // by looking the path up again.
            let mounted = open_in_root(root, &destination, file)?;
            remount(&mounted, rest | MsFlags::MS_BIND | MsFlags::MS_REMOUNT)
                .map_err(|e| format!("remounting: {e}"))?;
        }
    } else {
        let fs_type = if typ == "cgroup" { "cgroup2" } else { typ };
        mount(
            Some(&source),
            &fd_path(&target),
            Some(fs_type),
            options.flags,
            data,
        )
        .map_err(|e| e.to_string())?;
    }
    if !options.propagation.is_empty() {
        let mounted = open_in_root(root, &destination, file)?;
        remount(&mounted, options.propagation).map_err(|e| format!("setting propagation: {e}"))?;
    }
    Ok(())
}

/// cgroup v1 in a container: a tmpfs with the container's own cgroup of each hierarchy
/// bound in, read-only when asked, as runc shows it.
fn mount_cgroup_v1(
    root: &OwnedFd,
    destination: &Path,
    target: &OwnedFd,
    options: &Options,
    cgroups_path: &str,
    v1: &[(PathBuf, Vec<String>)],
) -> Result<(), String> {
    let flags = options.flags & !MsFlags::MS_RDONLY;
    mount(
        Some("tmpfs"),
        &fd_path(target),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .map_err(|e| format!("tmpfs: {e}"))?;
    let dir = open_in_root(root, destination, false)?;
    let relative = cgroups_path.trim_start_matches('/');
    for (point, controllers) in v1 {
        let Some(name) = point
            .strip_prefix("/sys/fs/cgroup")
            .ok()
            .and_then(|p| p.to_str())
            .filter(|n| !n.is_empty() && !n.contains('/'))
        else {
            continue;
        };
        ignore_exists(mkdirat(&dir, name, Mode::from_bits_truncate(0o755)))
            .map_err(|e| format!("creating {name}: {e}"))?;
        let sub = openat(
            &dir,
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("opening {name}: {e}"))?;
        mount(
            Some(&point.join(relative)),
            &fd_path(&sub),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| format!("binding the {name} hierarchy: {e}"))?;
        if options.flags.contains(MsFlags::MS_RDONLY) {
            let mounted = openat(
                &dir,
                name,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| format!("opening {name}: {e}"))?;
            remount(
                &mounted,
                flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            )
            .map_err(|e| format!("making the {name} hierarchy read-only: {e}"))?;
        }
        // `cpu` and `cpuacct` for a `cpu,cpuacct` hierarchy, as on the host.
        if name.contains(',') {
            for controller in controllers
                .iter()
                .filter(|c| name.split(',').any(|n| n == *c))
            {
                ignore_exists(nix::unistd::symlinkat(name, &dir, controller.as_str()))
                    .map_err(|e| format!("linking {controller}: {e}"))?;
            }
        }
    }
    if options.flags.contains(MsFlags::MS_RDONLY) {
        remount(&dir, flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)
            .map_err(|e| format!("making the tmpfs read-only: {e}"))?;
    }
    Ok(())
}

fn create_devices(root: &OwnedFd) -> Result<(), String> {
    let dev = open_in_root(root, Path::new("dev"), false)?;
    for (name, major, minor) in DEVICES {
        ignore_exists(mknodat(
            &dev,
            *name,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        ))
        .map_err(|e| format!("creating /dev/{name}: {e}"))?;
    }
    for (name, target) in DEV_LINKS {
        ignore_exists(nix::unistd::symlinkat(*target, &dev, *name))
            .map_err(|e| format!("linking /dev/{name}: {e}"))?;
    }
    Ok(())
}

fn ignore_exists(result: nix::Result<()>) -> nix::Result<()> {
    match result {
        Err(Errno::EEXIST) => Ok(()),
        other => other,
    }
}

/// A mount destination as a path relative to the root, refusing `..` (with
/// `RESOLVE_IN_ROOT` it could not escape, but it is never meant).
fn relative(destination: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in destination.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!("{} climbs out of the root", destination.display()))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err("a mount over the root itself".into());
    }
    Ok(out)
}

fn resolve(root: &OwnedFd, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    openat2(
        root,
        path,
        OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS),
    )
}

/// Open `path` (relative) inside the root as an `O_PATH` descriptor, creating the missing
/// directories on the way and, when `file`, the last component as an empty file.
fn open_in_root(root: &OwnedFd, path: &Path, file: bool) -> Result<OwnedFd, String> {
    let context = |e: Errno| format!("{}: {e}", path.display());
    let kind = if file {
        OFlag::empty()
    } else {
        OFlag::O_DIRECTORY
    };
    match resolve(root, path, OFlag::O_PATH | kind) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(context(e)),
    }
    let parts: Vec<&std::ffi::OsStr> = path.iter().collect();
    let mut so_far = PathBuf::new();
    let mut parent =
        resolve(root, Path::new("."), OFlag::O_PATH | OFlag::O_DIRECTORY).map_err(context)?;
    for (i, part) in parts.iter().enumerate() {
        so_far.push(part);
        let last = i + 1 == parts.len();
        if last && file {
            match openat(
                &parent,
                *part,
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            ) {
                Ok(_) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(context(e)),
            }
            return resolve(root, &so_far, OFlag::O_PATH).map_err(context);
        }
        ignore_exists(mkdirat(&parent, *part, Mode::from_bits_truncate(0o755))).map_err(context)?;
        parent = resolve(root, &so_far, OFlag::O_PATH | OFlag::O_DIRECTORY).map_err(context)?;
    }
    Ok(parent)
}

/// The path through which the kernel reaches what `fd` refers to.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let opts: Vec<String> = [
            "nosuid",
            "rbind",
            "rprivate",
            "ro",
            "mode=755",
            "size=65536k",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let parsed = parse_options(&opts);
        assert_eq!(
            parsed.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(parsed.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(parsed.data, ["mode=755", "size=65536k"]);
        let rw = parse_options(&["ro".to_string(), "rw".to_string()]);
        assert!(rw.flags.is_empty());
    }

    #[test]
    fn destinations_stay_inside() {
        assert_eq!(
            relative(Path::new("/dev/pts")).unwrap(),
            PathBuf::from("dev/pts")
        );
        assert!(relative(Path::new("/a/../../etc")).is_err());
        assert!(relative(Path::new("/")).is_err());
    }

    #[test]
    fn targets_are_created_inside_the_root_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().join("root");
        std::fs::create_dir(&root_path).unwrap();
        // A symlink pointing out of the root is followed as if the root were `/`.
        std::os::unix::fs::symlink("/", root_path.join("escape")).unwrap();
        let root = nix::fcntl::open(
            &root_path,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        open_in_root(&root, Path::new("escape/made/here"), false).unwrap();
        assert!(root_path.join("made/here").is_dir());
        open_in_root(&root, Path::new("etc/hosts"), true).unwrap();
        assert!(root_path.join("etc/hosts").is_file());
    }
}
