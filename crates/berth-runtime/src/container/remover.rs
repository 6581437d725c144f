//! Removing deleted containers' directories off the caller's path.
//!
//! A deleted container's directory is renamed to `.del-<id>` first, which is when it stops
//! existing for every reader; unlinking its files (records, bundle, logs, the overlay's upper
//! and work directories) then takes a millisecond or more on a journaling file system. That
//! work goes to one background thread, started on the first removal. Dropping the engine
//! waits for the queue, so a short-lived command (`berth rm`, `berth run --rm`) leaves
//! nothing behind; what a crash leaves is swept by [`Remover::sweep`].
//!
//! The thread is only started by a removal: processes that must stay single-threaded to
//! fork safely (`berth exec`, the shim) never delete containers.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Prefix of a directory being removed.
pub(crate) const PREFIX: &str = ".del-";

#[derive(Default)]
pub(crate) struct Remover {
    worker: Mutex<Option<(Sender<PathBuf>, JoinHandle<()>)>>,
}

impl Remover {
    /// Remove `dir` (already renamed out of sight) in the background; inline when no thread
    /// can be started.
    pub fn remove(&self, dir: PathBuf) {
        let Ok(mut worker) = self.worker.lock() else {
            return remove_now(&dir);
        };
        if worker.is_none() {
            let (tx, rx) = channel::<PathBuf>();
            let spawned = std::thread::Builder::new()
                .name("berth-remover".into())
                .spawn(move || {
                    for dir in rx {
                        remove_now(&dir);
                    }
                });
            match spawned {
                Ok(handle) => *worker = Some((tx, handle)),
                Err(_) => return remove_now(&dir),
            }
        }
        if let Some((tx, _)) = worker.as_ref() {
            if let Err(returned) = tx.send(dir) {
                remove_now(&returned.0);
            }
        }
    }

    /// Queue the removal of every `.del-*` directory under `containers` (left by a crash).
    pub fn sweep(&self, containers: &Path) {
        let Ok(entries) = std::fs::read_dir(containers) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(PREFIX) {
                self.remove(entry.path());
            }
        }
    }
}

impl Drop for Remover {
    fn drop(&mut self) {
        let worker = match self.worker.get_mut() {
            Ok(worker) => worker.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some((tx, handle)) = worker {
            // The queue ends when the sender goes; the thread finishes what is queued.
            drop(tx);
            let _ = handle.join();
        }
    }
}

fn remove_now(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, dir = %dir.display(), "removing a deleted container's directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_finish_before_the_remover_is_gone() {
        let root = tempfile::tempdir().unwrap();
        let doomed: Vec<PathBuf> = (0..3)
            .map(|i| {
                let d = root.path().join(format!("{PREFIX}{i}"));
                std::fs::create_dir_all(d.join("upper/deep")).unwrap();
                std::fs::write(d.join("upper/deep/file"), b"x").unwrap();
                d
            })
            .collect();
        std::fs::create_dir(root.path().join("kept")).unwrap();
        let remover = Remover::default();
        remover.remove(doomed[0].clone());
        remover.sweep(root.path());
        drop(remover);
        for d in &doomed {
            assert!(!d.exists(), "{} is still there", d.display());
        }
        assert!(root.path().join("kept").is_dir());
    }
}
