//! Waiting for a followed log to grow, or for the container's exit to be recorded, with
//! inotify instead of polling the file.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;

/// An inotify instance watching a log file and the container's state directory.
pub(crate) struct Watch {
    fd: AsyncFd<OwnedFd>,
}

impl Watch {
    /// Watch `log` for writes and `dir` for files being replaced (`status.json` is renamed
    /// into place when the container exits). `None` when inotify is unavailable: the caller
    /// then falls back to polling.
    pub(crate) fn new(log: &Path, dir: &Path) -> Option<Watch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        inotify
            .add_watch(dir, AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE)
            .ok()?;
        // The log may live elsewhere (a kubelet-style path) or not exist yet.
        let _ = inotify.add_watch(log, AddWatchFlags::IN_MODIFY);
        if let Some(parent) = log.parent().filter(|p| *p != dir) {
            let _ = inotify.add_watch(
                parent,
                AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
            );
        }
        super::shim::async_fd(OwnedFd::from(inotify))
            .ok()
            .map(|fd| Watch { fd })
    }

    /// Resolves after the next change, or after `max` (so that a missed event costs at most
    /// that much).
    pub(crate) async fn changed(&self, max: Duration) {
        let _ = tokio::time::timeout(max, async {
            if let Ok(mut guard) = self.fd.readable().await {
                // Drain the queued events: what changed does not matter, only that something did.
                let mut buf = [0u8; 4096];
                let _ = guard.try_io(|inner| loop {
                    match nix::unistd::read(inner.get_ref(), &mut buf) {
                        Ok(0) => return Ok(()),
                        Ok(_) => continue,
                        Err(e) => return Err(std::io::Error::from(e)),
                    }
                });
            }
        })
        .await;
    }
}
