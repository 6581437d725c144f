//! The sandbox's network, IPC and UTS namespaces, held alive by bind mounts of their nsfs
//! files onto `<sandbox>/ns/{net,ipc,uts}` (no pause process), and their removal.
//!
//! `unshare` moves only the calling thread into new namespaces, so they are created on a
//! dedicated short-lived thread: the caller's threads (tokio workers included) never change
//! namespace, and the thread exits once the mounts hold the namespaces.
//!
//! The `ns` directory is a small private tmpfs holding the three files. Private, so that the
//! nsfs mounts do not propagate into other mount namespaces: systemd makes `/` shared, and
//! every service with a mount namespace of its own would otherwise get copies of every
//! sandbox's namespace files. A tmpfs rather than a bind mount of the directory onto itself
//! (as `ip netns` does for `/run/netns`), because creating the files in memory is several
//! times faster than on the data directory's file system, and unmounting it deletes them.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{gettid, sethostname};
use tokio::sync::oneshot;

use super::error::{io, sys, Error, Result};

/// Where a sandbox's namespace files live.
#[derive(Debug, Clone)]
pub(crate) struct NsPaths {
    /// `<sandbox>/ns`.
    pub dir: PathBuf,
    /// `<sandbox>/ns/net`.
    pub net: PathBuf,
    /// `<sandbox>/ns/ipc`.
    pub ipc: PathBuf,
    /// `<sandbox>/ns/uts`.
    pub uts: PathBuf,
}

impl NsPaths {
    pub(crate) fn new(sandbox_dir: &Path) -> NsPaths {
        let dir = sandbox_dir.join("ns");
        NsPaths {
            net: dir.join("net"),
            ipc: dir.join("ipc"),
            uts: dir.join("uts"),
            dir,
        }
    }

    /// The namespace files with their `/proc/<pid>/task/<tid>/ns/` names.
    fn files(&self) -> [(&'static str, &Path); 3] {
        [("net", &self.net), ("ipc", &self.ipc), ("uts", &self.uts)]
    }
}

/// Namespaces being created on their thread.
pub(crate) struct Creating<T> {
    netns: Option<oneshot::Receiver<Result<File>>>,
    done: oneshot::Receiver<Result<T>>,
}

/// Start creating new network, IPC and UTS namespaces with `hostname` on a new thread, which
/// bind-mounts them onto `paths` and then runs `inside` while it is still in them (a netlink
/// socket opened there belongs to the new network namespace).
///
/// The thread reports twice: the network namespace as soon as it exists
/// ([`Creating::netns`]), so that host-side work on it (creating the veth pair) overlaps with
/// the mounts, and the final outcome ([`Creating::finish`]).
///
/// On error, some of the mounts may exist; [`remove`] cleans up after any outcome.
pub(crate) fn spawn<T, F>(paths: &NsPaths, hostname: &str, inside: F) -> Result<Creating<T>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let (netns_tx, netns_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let paths = paths.clone();
    let hostname = hostname.to_string();
    std::thread::Builder::new()
        .name("berth-sandbox-ns".to_string())
        .spawn(move || {
            // A failed send means the caller was cancelled; the partial sandbox is then
            // cleaned up by a later remove.
            match unshare_this_thread(&hostname) {
                Ok(netns) => {
                    let _ = netns_tx.send(Ok(netns));
                }
                Err(e) => {
                    let _ = netns_tx.send(Err(e));
                    return;
                }
            }
            let _ = done_tx.send(mount_this_threads_namespaces(&paths).and_then(|()| inside()));
        })
        .map_err(io("spawning the namespace thread"))?;
    Ok(Creating {
        netns: Some(netns_rx),
        done: done_rx,
    })
}

impl<T> Creating<T> {
    /// Wait for the new network namespace; returns an open file of it. Only once.
    pub(crate) async fn netns(&mut self) -> Result<File> {
        match self.netns.take() {
            Some(rx) => rx
                .await
                .unwrap_or(Err(Error::TaskFailed("the sandbox namespace thread"))),
            None => Err(Error::TaskFailed(
                "waiting twice for the sandbox network namespace",
            )),
        }
    }

    /// Wait for the namespaces to be mounted and for `inside`'s result. Awaiting instead of
    /// joining the thread keeps the caller's runtime thread free.
    pub(crate) async fn finish(mut self) -> Result<T> {
        // An error of the first stage is reported here too when nobody asked for it.
        if self.netns.is_some() {
            self.netns().await?;
        }
        self.done
            .await
            .unwrap_or(Err(Error::TaskFailed("the sandbox namespace thread")))
    }
}

/// First stage on the namespace thread: new namespaces and the hostname. This leaves the
/// thread in the new namespaces, so it must be a thread that does nothing else afterwards.
fn unshare_this_thread(hostname: &str) -> Result<File> {
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS)
        .map_err(sys("unsharing network, IPC and UTS namespaces"))?;
    // The thread is in the new UTS namespace now, so this names the sandbox, not the host.
    sethostname(hostname).map_err(sys(format!("setting hostname {hostname:?}")))?;
    File::open("/proc/thread-self/ns/net").map_err(io("opening the new network namespace"))
}

/// Second stage on the namespace thread: the private tmpfs, the files, and the bind mounts
/// that keep the thread's namespaces alive after it exits.
fn mount_this_threads_namespaces(paths: &NsPaths) -> Result<()> {
    fs::create_dir(&paths.dir).map_err(io(format!("creating {}", paths.dir.display())))?;
    mount(
        Some("tmpfs"),
        &paths.dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=16k,nr_inodes=16"),
    )
    .map_err(sys(format!("mounting a tmpfs on {}", paths.dir.display())))?;
    mount(
        None::<&str>,
        &paths.dir,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys(format!(
        "making {} a private mount",
        paths.dir.display()
    )))?;
    for (_, file) in paths.files() {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(file)
            .map_err(io(format!("creating {}", file.display())))?;
    }
    // /proc/self is the thread group leader; the new namespaces are this thread's own.
    let task = PathBuf::from(format!("/proc/self/task/{}/ns", gettid()));
    for (name, file) in paths.files() {
        let source = task.join(name);
        mount(
            Some(&source),
            file,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys(format!(
            "bind-mounting {} onto {}",
            source.display(),
            file.display()
        )))?;
    }
    Ok(())
}

/// Unmount the namespace files and the `ns` tmpfs (which deletes the files). Missing files
/// and directories that are not mount points are fine, so this works after any partial
/// create and twice.
pub(crate) fn remove(paths: &NsPaths) -> Result<()> {
    for (_, file) in paths.files() {
        unmount_all(file)?;
    }
    unmount_all(&paths.dir)
}

/// Unmount everything stacked on `path`. MNT_DETACH because a process may still be using the
/// namespace through the file (e.g. `nsenter` holding it open): the namespace then lives on
/// with that process, which is what it asked for, but the sandbox is gone.
fn unmount_all(path: &Path) -> Result<()> {
    // Bounded: each round removes one mount, and nothing stacks more than a few.
    for _ in 0..16 {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            // EINVAL: not a mount point (any more).
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(sys(format!("unmounting {}", path.display()))(e)),
        }
    }
    Err(Error::Io {
        context: format!("unmounting {}", path.display()),
        source: std::io::Error::other("still mounted after 16 unmounts"),
    })
}
