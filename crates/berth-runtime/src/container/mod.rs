//! Containers: created from an image in the local store and a [`ContainerConfig`], run from
//! their OCI runtime spec by a per-container shim, with their state on disk so that no daemon
//! is needed and containers outlive whatever created them.
//!
//! Layout under the data directory:
//! - `containers/<id>/container.json`, `status.json`: see [`record`];
//! - `containers/<id>/bundle/config.json`: the OCI runtime spec ([`spec`]);
//! - `containers/<id>/{rootfs,upper,work}`: the overlay root file system ([`rootfs`]);
//! - `containers/<id>/container.log`: the CRI-format log ([`log`]), unless placed elsewhere;
//! - `containers/<id>/attach.sock`: the shim's socket ([`attach`]);
//! - `runtime/<id>/`: libcontainer's state, for containers created by Berth releases that
//!   ran them through libcontainer (removed with them).
//!
//! Everything that forks into a container runs in a single-threaded process: the shim
//! ([`shim`], through [`init`]) for a container's init, the exec helper ([`exec`]) for extra
//! processes. This
//! engine side only mounts, writes files, sends signals and talks to shims, so it is safe in
//! any process (a multi-threaded agent included).

pub mod attach;
pub(crate) mod cgroup;
pub mod config;
mod console;
mod enter;
mod error;
pub mod exec;
mod filter;
mod follow;
mod init;
pub mod launcher;
mod limits;
pub mod log;
mod mounts;
mod process;
pub mod record;
mod remover;
mod resident;
mod rootfs;
mod seccomp;
pub mod shim;
pub mod spec;
pub mod user;

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use cgroup::Stats;
pub use config::{ContainerConfig, Mount, MountKind, Resources, SandboxRef, SeccompMode};
pub use error::{Error, Result};
pub use record::{ContainerRecord, ExitRecord, ShimStatus};

use crate::image::ImageStore;
use attach::Frame;
use error::{io, runtime, sys};

/// Where a data directory keeps containers.
#[derive(Debug, Clone)]
pub struct Layout {
    pub(crate) root: PathBuf,
}

impl Layout {
    /// The layout of data directory `root`.
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    /// `<root>/containers`.
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// `<root>/containers/<id>`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// libcontainer's state root, `<root>/runtime`.
    pub fn runtime_root(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// `<root>/container-names`: one file per container name holding its id, so a create
    /// checks its name without reading every record.
    pub fn names_dir(&self) -> PathBuf {
        self.root.join("container-names")
    }
}

/// Lifecycle state of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum State {
    /// Created, not started: the init process waits to exec the command.
    Created,
    /// The command runs.
    Running,
    /// The command has exited.
    Exited,
    /// Being created, or its creation failed half-way.
    Unknown,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
            State::Unknown => "unknown",
        })
    }
}

/// A container as `ps` and `inspect` show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInfo {
    /// What the engine recorded.
    #[serde(flatten)]
    pub record: ContainerRecord,
    /// Current state.
    pub state: State,
    /// The init pid while it runs.
    pub pid: Option<i32>,
    /// How it ended.
    pub exit: Option<ExitRecord>,
}

/// How to start a shim: the program (normally the `berth` binary itself) and the arguments
/// that make it one. The engine appends `--root <dir> --id <id>`.
#[derive(Debug, Clone)]
pub struct ShimCommand {
    /// The executable.
    pub program: PathBuf,
    /// Leading arguments, e.g. `["shim"]`.
    pub args: Vec<String>,
}

impl ShimCommand {
    /// The shim's program and leading arguments, with what every shim process gets (executed
    /// or forked by a launcher): no stdin or stdout, and mimalloc told not to commit and keep
    /// arenas eagerly, since a shim idles for its container's lifetime and memory should go
    /// back to the kernel at once.
    fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args)
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
            .env("MIMALLOC_PURGE_DELAY", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }

    /// The running executable with the `shim` subcommand.
    pub fn current_exe() -> Result<ShimCommand> {
        Ok(ShimCommand {
            program: std::env::current_exe().map_err(io("finding the berth executable"))?,
            args: vec!["shim".into()],
        })
    }
}

/// The container engine of one data directory.
pub struct Containers {
    layout: Layout,
    images: ImageStore,
    shim: ShimCommand,
    remover: remover::Remover,
    /// Shims this engine started and has not reaped yet.
    shims: std::sync::Arc<std::sync::Mutex<Vec<std::process::Child>>>,
    /// Whether shims are forked by a launcher (see [`launcher`]), and the launcher once
    /// started.
    use_launcher: bool,
    launcher: std::sync::Mutex<Option<launcher::Launcher>>,
}

impl Containers {
    /// Open the engine for data directory `root`; shims are this executable's `shim`
    /// subcommand unless [`Containers::with_shim`] says otherwise.
    pub fn open(root: &Path) -> Result<Containers> {
        let shim = ShimCommand::current_exe().unwrap_or_else(|_| ShimCommand {
            program: PathBuf::from("berth"),
            args: vec!["shim".into()],
        });
        for d in [root.join("containers"), root.join("runtime")] {
            fs::create_dir_all(&d).map_err(io(format!("creating {}", d.display())))?;
        }
        // Absolute, because the shim works from inside the container's directory.
        let root = fs::canonicalize(root).map_err(io(format!("resolving {}", root.display())))?;
        let layout = Layout::new(&root);
        Ok(Containers {
            images: ImageStore::open(&root)?,
            layout,
            shim,
            remover: remover::Remover::default(),
            shims: Default::default(),
            use_launcher: false,
            launcher: Default::default(),
        })
    }

    /// Reap the shims of this engine that have exited (and keep `new` for later).
    fn reap_shims(&self, new: Option<std::process::Child>) {
        reap_exited(&self.shims);
        if let (Some(child), Ok(mut shims)) = (new, self.shims.lock()) {
            shims.push(child);
        }
    }

    /// Spawn shims with `shim` (tests and embedders whose executable is not `berth`).
    pub fn with_shim(mut self, shim: ShimCommand) -> Containers {
        self.shim = shim;
        self
    }

    /// Have shims forked by a launcher process started on the first create, rather than
    /// executed one by one: for long-lived engines (the node agent), where it saves about a
    /// millisecond of every container's creation. Falls back to executing shims whenever
    /// the launcher cannot be started.
    pub fn with_shim_launcher(mut self) -> Containers {
        self.use_launcher = true;
        self
    }

    /// The image store of the same data directory.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// The directory layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Create a container (its init process waits for [`Containers::start`]).
    pub async fn create(&self, config: ContainerConfig) -> Result<ContainerInfo> {
        let image = self
            .images
            .get(&config.image)?
            .ok_or_else(|| Error::ImageNotFound(config.image.clone()))?;
        let id = new_id()?;
        let dir = self.layout.container_dir(&id);
        let reserved = {
            let _lock = self.lock()?;
            self.ensure_name_index()?;
            let name = match &config.name {
                Some(name) => {
                    validate_name(name)?;
                    if self.name_owner(name).is_some() {
                        return Err(Error::NameInUse(name.clone()));
                    }
                    name.clone()
                }
                None => generated_name(&image.reference, &id),
            };
            let entry = self.layout.names_dir().join(&name);
            fs::write(&entry, &id).map_err(io(format!("writing {}", entry.display())))?;
            // The directory appears complete, record included (a rename), so that a reader
            // never sees a container directory without its record.
            let staging = self.layout.containers_dir().join(format!(".new-{id}"));
            fs::create_dir_all(staging.join("bundle"))
                .map_err(io(format!("creating {}", staging.display())))?;
            // A placeholder record reserves the name until the real one replaces it.
            let placeholder = ContainerRecord {
                id: id.clone(),
                name,
                image: image.reference.clone(),
                image_digest: image.digest.clone(),
                image_id: image.config_digest.clone(),
                image_layers: image.layers.clone(),
                config: config.clone(),
                args: Vec::new(),
                created_at: record::now_rfc3339(),
                started_at: None,
                cgroups_path: String::new(),
                log_path: dir.join("container.log"),
                stop_signal: "SIGTERM".into(),
            };
            record::write(&staging.join("container.json"), &placeholder)?;
            fs::rename(&staging, &dir).map_err(io(format!("creating {}", dir.display())))?;
            placeholder
        };
        match self.prepare_and_spawn(&dir, reserved, &image).await {
            Ok(()) => self.inspect(&id),
            Err(e) => {
                self.cleanup(&id, false);
                Err(e)
            }
        }
    }

    async fn prepare_and_spawn(
        &self,
        dir: &Path,
        mut rec: ContainerRecord,
        image: &crate::image::Image,
    ) -> Result<()> {
        let config = rec.config.clone();
        let layers = self.images.layer_dirs(image);
        let rootfs = rootfs::mount_overlay(dir, &layers)?;
        let user = config
            .user
            .clone()
            .or_else(|| image.config["config"]["User"].as_str().map(String::from))
            .unwrap_or_default();
        let identity = user::resolve(&rootfs, &user)?;
        let hostname = config
            .hostname
            .clone()
            .unwrap_or_else(|| rec.id[..12].to_string());
        let etc_files = if config.sandbox.is_none() {
            standalone_etc_files(dir, &hostname)?
        } else {
            Vec::new()
        };
        let cgroups_path = match &config.sandbox {
            Some(s) => format!("{}/{}", s.cgroup_parent.trim_end_matches('/'), rec.id),
            None => format!("/berth/{}", rec.id),
        };
        let cgroup_v2 = cgroup::is_v2();
        let input = spec::SpecInput {
            config: &config,
            image_config: &image.config,
            identity: &identity,
            rootfs: &rootfs,
            cgroups_path: &cgroups_path,
            hostname: &hostname,
            etc_files: &etc_files,
            cgroup_v2,
        };
        let oci = spec::generate(&input)?;
        let spec_path = dir.join("bundle").join("config.json");
        oci.save(&spec_path)
            .map_err(|e| Error::InvalidConfig(format!("writing {}: {e}", spec_path.display())))?;
        rec.args = spec::process_args(&config, &image.config)?;
        rec.cgroups_path = cgroups_path;
        rec.stop_signal = config
            .stop_signal
            .clone()
            .or_else(|| {
                image.config["config"]["StopSignal"]
                    .as_str()
                    .map(String::from)
            })
            .unwrap_or_else(|| "SIGTERM".into());
        parse_signal(&rec.stop_signal)?;
        if let Some(path) = &config.log_path {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
            }
            rec.log_path = path.clone();
        }
        record::write(&dir.join("container.json"), &rec)?;
        self.spawn_shim(dir, &rec.id).await
    }

    /// Start the shim and wait for its verdict on the creation.
    async fn spawn_shim(&self, dir: &Path, id: &str) -> Result<()> {
        let (read_end, write_end) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("creating a pipe"))?;
        let log = fs::File::create(dir.join("shim.log"))
            .map_err(io(format!("creating {}", dir.join("shim.log").display())))?;
        // An executed shim is this process's child, to be reaped; a forked one is the
        // launcher's.
        let child = if self.launch(id, &write_end, &log) {
            None
        } else {
            Some(self.execute_shim(id, &write_end, log)?)
        };
        drop(write_end);
        let answer = tokio::task::spawn_blocking(move || {
            let mut f = fs::File::from(read_end);
            let mut text = Vec::new();
            let mut byte = [0u8; 1];
            // Up to the newline: the container's init keeps the pipe open until it execs.
            loop {
                match f.read(&mut byte) {
                    Ok(0) => break,
                    Ok(_) if byte[0] == b'\n' => break,
                    Ok(_) => text.push(byte[0]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            Ok(String::from_utf8_lossy(&text).into_owned())
        })
        .await
        .map_err(|e| Error::Create(format!("waiting for the shim: {e}")))?
        .map_err(io("reading the shim's answer"))?;
        match child {
            // The shim lives for the container's lifetime as this process's child (in a
            // session of its own, so it outlives this process too); reaped once it exits.
            Some(child) if answer == "ok" => self.reap_shims(Some(child)),
            // A shim that failed exits right after answering.
            Some(mut child) => {
                let _ = tokio::task::spawn_blocking(move || child.wait()).await;
            }
            None => {}
        }
        match answer.as_str() {
            "ok" => Ok(()),
            "" => Err(Error::Create(format!(
                "the shim exited without an answer (see {})",
                dir.join("shim.log").display()
            ))),
            message => Err(Error::Create(message.to_string())),
        }
    }

    /// Have the launcher fork the shim of `id`; false when it could not (not wanted, or no
    /// launcher), in which case nothing was started.
    fn launch(&self, id: &str, sync: &OwnedFd, log: &fs::File) -> bool {
        if !self.use_launcher {
            return false;
        }
        let Ok(mut slot) = self.launcher.lock() else {
            return false;
        };
        // A launcher that died (killed, or by `berth reset`) is replaced once.
        for _ in 0..2 {
            if slot.is_none() {
                match launcher::Launcher::spawn(&self.shim, &self.layout.root) {
                    Ok(started) => *slot = Some(started),
                    Err(e) => {
                        tracing::warn!(error = %e, "starting the shim launcher; executing shims instead");
                        return false;
                    }
                }
            }
            let Some(current) = slot.as_ref() else {
                return false;
            };
            match current.launch(id, sync, log) {
                launcher::Launch::Forked => return true,
                launcher::Launch::Gone(e) => {
                    tracing::warn!(error = %e, "the shim launcher is gone; starting another");
                    *slot = None;
                }
                launcher::Launch::Failed(e) => {
                    tracing::warn!(error = %e, "the shim launcher could not fork; executing the shim");
                    return false;
                }
                launcher::Launch::Unanswered(e) => {
                    // Whether it forked is unknown: stopping it closes its copy of the sync
                    // pipe, so the engine hears the shim's answer or the end of the pipe.
                    tracing::warn!(error = %e, "the shim launcher did not answer; stopping it");
                    *slot = None;
                    return true;
                }
            }
        }
        false
    }

    /// Execute the shim of `id` as this process's child.
    fn execute_shim(&self, id: &str, sync: &OwnedFd, log: fs::File) -> Result<std::process::Child> {
        // The write end is inherited by number (`--sync-fd`) rather than moved to a fixed
        // descriptor: without a `pre_exec` hook the standard library spawns with
        // posix_spawn (vfork), several milliseconds cheaper than forking this process. A
        // sibling spawned meanwhile may inherit the descriptor too: harmless, the answer is
        // one line, and the shim closes every descriptor it did not ask for.
        nix::fcntl::fcntl(
            sync,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map_err(sys("passing the sync pipe to the shim"))?;
        self.shim
            .command()
            .arg("--root")
            .arg(&self.layout.root)
            .arg("--id")
            .arg(id)
            .arg("--sync-fd")
            .arg(sync.as_raw_fd().to_string())
            .stderr(log)
            .spawn()
            .map_err(io(format!(
                "starting the shim {}",
                self.shim.program.display()
            )))
    }

    /// Start a created container.
    pub async fn start(&self, id_or_name: &str) -> Result<()> {
        let info = self.inspect(id_or_name)?;
        if info.state != State::Created {
            return Err(Error::InvalidState {
                id: info.record.id,
                status: info.state.to_string(),
                operation: "start",
            });
        }
        let mut conn = self.attach(&info.record.id).await?;
        attach::write_frame(&mut conn, &Frame::Start)
            .await
            .map_err(io("asking the shim to start the container"))?;
        loop {
            match attach::read_frame(&mut conn).await {
                Ok(Some(Frame::Started(error))) if error.is_empty() => break,
                Ok(Some(Frame::Started(error))) => return Err(Error::Create(error)),
                Ok(Some(_)) => continue,
                Ok(None) => {
                    return Err(Error::Create(
                        "the shim closed the connection before starting the container".into(),
                    ))
                }
                Err(e) => return Err(io("waiting for the shim to start the container")(e)),
            }
        }
        // The shim recorded the start (and its time) in `status.json` before answering.
        Ok(())
    }

    /// Connect to the container's shim for its output, input and exit.
    pub async fn attach(&self, id_or_name: &str) -> Result<tokio::net::UnixStream> {
        let id = self.resolve(id_or_name)?;
        attach::connect(&self.layout.container_dir(&id))
            .await
            .map_err(io(format!("connecting to the shim of container {id}")))
    }

    /// Send a signal to the container's init process.
    pub fn kill(&self, id_or_name: &str, signal: Signal) -> Result<()> {
        let info = self.inspect(id_or_name)?;
        let status = self.shim_status(&info.record.id)?;
        match (info.state, status) {
            (State::Running | State::Created, Some(s)) if record::is_alive(s.pid, s.pid_start) => {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(s.pid), signal)
                    .map_err(sys(format!("signalling container {}", info.record.id)))
            }
            (state, _) => Err(Error::InvalidState {
                id: info.record.id,
                status: state.to_string(),
                operation: "kill",
            }),
        }
    }

    /// Stop the container: its stop signal, then SIGKILL after `grace`.
    pub async fn stop(&self, id_or_name: &str, grace: Duration) -> Result<ExitRecord> {
        let info = self.inspect(id_or_name)?;
        if let Some(exit) = info.exit {
            return Ok(exit);
        }
        let signal = parse_signal(&info.record.stop_signal)?;
        if grace > Duration::ZERO && info.state == State::Running {
            // It may have exited meanwhile: then the wait below returns at once.
            let _ = self.kill(&info.record.id, signal);
            if let Ok(exit) = tokio::time::timeout(grace, self.wait(&info.record.id)).await {
                return exit;
            }
        }
        let _ = self.kill(&info.record.id, Signal::SIGKILL);
        self.wait(&info.record.id).await
    }

    /// Wait for the container to exit.
    pub async fn wait(&self, id_or_name: &str) -> Result<ExitRecord> {
        let id = self.resolve(id_or_name)?;
        loop {
            let status = self.shim_status(&id)?;
            let Some(status) = status else {
                return Err(Error::InvalidState {
                    id,
                    status: State::Unknown.to_string(),
                    operation: "wait",
                });
            };
            if let Some(exit) = status.exit {
                return Ok(exit);
            }
            match pidfd::open(status.shim_pid, status.shim_start) {
                Some(fd) => {
                    pidfd::exited(fd).await;
                    self.reap_shims(None);
                }
                None => {
                    // The shim is gone without recording an exit: it was killed. Read the
                    // status once more (it may have written it just before going).
                    if let Some(exit) = self.shim_status(&id)?.and_then(|s| s.exit) {
                        return Ok(exit);
                    }
                    return Ok(lost_exit());
                }
            }
        }
    }

    /// Delete a container: its processes (when `force`), cgroup, root file system and state.
    pub async fn delete(&self, id_or_name: &str, force: bool) -> Result<()> {
        self.reap_shims(None);
        let info = self.inspect(id_or_name)?;
        let id = info.record.id.clone();
        match info.state {
            State::Running if !force => {
                return Err(Error::InvalidState {
                    id,
                    status: "running".into(),
                    operation: "remove (stop it first, or force)",
                })
            }
            State::Running | State::Created => {
                let _ = self.kill(&id, Signal::SIGKILL);
                self.wait(&id).await?;
            }
            State::Exited | State::Unknown => {}
        }
        // Its processes are gone once the shim has recorded the exit (the init process was
        // the pid namespace's first; its end took every other process with it).
        let exited = matches!(self.inspect(&id).map(|i| i.state), Ok(State::Exited));
        self.cleanup(&id, exited);
        let dir = self.layout.container_dir(&id);
        if dir.exists() {
            return Err(Error::Io {
                context: format!("removing {}", dir.display()),
                source: std::io::Error::other("the directory is still there"),
            });
        }
        Ok(())
    }

    /// Remove everything a container may have left: its processes and cgroup, the root file
    /// system mount, the state directory. Best effort: also used on failed creations.
    ///
    /// An `exited` container's processes are gone (the init was the first of its PID
    /// namespace), so its cgroup is removed directly; anything else (a container created but
    /// never started, a cgroup still busy) has what is left of its processes killed first.
    /// A container from before Berth had a runtime of its own still has libcontainer's
    /// state, and goes through libcontainer.
    fn cleanup(&self, id: &str, exited: bool) {
        let record =
            record::read::<ContainerRecord>(&self.layout.container_dir(id).join("container.json"))
                .ok()
                .flatten();
        let cgroups_path = record.as_ref().map(|r| r.cgroups_path.clone());
        let name = record.map(|r| r.name);
        let runtime_dir = self.layout.runtime_root().join(id);
        if runtime_dir.exists() {
            match libcontainer::container::Container::load(runtime_dir.clone()) {
                Ok(mut c) => {
                    if let Err(e) = c.delete(true).map_err(runtime("deleting")) {
                        tracing::warn!(error = %e, id, "libcontainer delete");
                    }
                }
                Err(_) => {
                    let _ = fs::remove_dir_all(&runtime_dir);
                }
            }
        }
        if let Some(path) = cgroups_path.filter(|p| !p.is_empty()) {
            let removed = exited && crate::sandbox::cgroup::remove_leaf(&path);
            if !removed {
                if let Err(e) = crate::sandbox::cgroup::kill_and_remove_leaf(&path) {
                    tracing::warn!(error = %e, id, "removing the container's cgroup");
                }
            }
        }
        let dir = self.layout.container_dir(id);
        if let Err(e) = rootfs::unmount(&dir) {
            tracing::warn!(error = %e, id, "unmounting the root file system");
        }
        // Out of sight first (a rename), so that no reader ever finds the directory half
        // deleted, without its record; then the slow recursive removal, in the background.
        let doomed = self
            .layout
            .containers_dir()
            .join(format!("{}{id}", remover::PREFIX));
        match fs::rename(&dir, &doomed) {
            Ok(()) => self.remover.remove(doomed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {
                if let Err(e) = fs::remove_dir_all(&dir) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(error = %e, id, "removing the container directory");
                    }
                }
            }
        }
        // The name goes last, and only if it still names this container (a create may have
        // taken it over once the directory was gone).
        if let (Some(name), Ok(_lock)) = (name, self.lock()) {
            let entry = self.layout.names_dir().join(&name);
            if fs::read_to_string(&entry).is_ok_and(|owner| owner == id) {
                let _ = fs::remove_file(&entry);
            }
        }
    }

    /// Build the name index from the records if it does not exist yet (a data dir from
    /// before it). Called under the lock.
    fn ensure_name_index(&self) -> Result<()> {
        let dir = self.layout.names_dir();
        if dir.is_dir() {
            return Ok(());
        }
        let staging = self.layout.containers_dir().join(".names-new");
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(io(format!("creating {}", staging.display())))?;
        for r in self.list_records()? {
            let entry = staging.join(&r.name);
            fs::write(&entry, &r.id).map_err(io(format!("writing {}", entry.display())))?;
        }
        fs::rename(&staging, &dir).map_err(io(format!("creating {}", dir.display())))
    }

    /// The id of the live container called `name`, from the index. An entry whose container
    /// is gone (a crash between removal and index update) does not count.
    fn name_owner(&self, name: &str) -> Option<String> {
        let id = fs::read_to_string(self.layout.names_dir().join(name)).ok()?;
        self.layout
            .container_dir(&id)
            .join("container.json")
            .exists()
            .then_some(id)
    }

    /// Remove what deletions interrupted by a crash left (`.del-*` directories), in the
    /// background. For long-running callers: it starts a thread.
    pub fn remove_leftovers(&self) {
        self.remover.sweep(&self.layout.containers_dir());
    }

    /// All containers, oldest first.
    pub fn list(&self) -> Result<Vec<ContainerInfo>> {
        let mut all: Vec<ContainerInfo> = self
            .list_records()?
            .into_iter()
            .map(|r| self.info(r))
            .collect::<Result<_>>()?;
        all.sort_by(|a, b| a.record.created_at.cmp(&b.record.created_at));
        Ok(all)
    }

    /// Digests (manifest, config, layers) of every image some container uses: what image
    /// garbage collection must keep.
    pub fn images_in_use(&self) -> Result<std::collections::HashSet<String>> {
        let mut keep = std::collections::HashSet::new();
        for r in self.list_records()? {
            keep.insert(r.image_digest);
            keep.insert(r.image_id);
            keep.extend(r.image_layers);
        }
        Ok(keep)
    }

    /// The container with this id, unique id prefix or name.
    pub fn inspect(&self, id_or_name: &str) -> Result<ContainerInfo> {
        let id = self.resolve(id_or_name)?;
        let rec: ContainerRecord =
            record::read(&self.layout.container_dir(&id).join("container.json"))?
                .ok_or_else(|| Error::NotFound(id_or_name.to_string()))?;
        self.info(rec)
    }

    /// Resource usage of a running container.
    pub fn stats(&self, id_or_name: &str) -> Result<Stats> {
        let info = self.inspect(id_or_name)?;
        cgroup::stats(&info.record.cgroups_path).ok_or_else(|| Error::InvalidState {
            id: info.record.id,
            status: info.state.to_string(),
            operation: "read stats (no cgroup)",
        })
    }

    /// Write the container's log to `out`, following it until the container exits when asked.
    pub async fn logs<W: AsyncWrite + Unpin>(
        &self,
        id_or_name: &str,
        options: &log::LogOptions,
        out: &mut W,
    ) -> Result<()> {
        let info = self.inspect(id_or_name)?;
        let path = info.record.log_path.clone();
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(format!("opening {}", path.display()))(e)),
        };
        let mut reassembler = log::Reassembler::default();
        let mut buf = Vec::new();
        if let Some(f) = file.as_mut() {
            f.read_to_end(&mut buf)
                .await
                .map_err(io(format!("reading {}", path.display())))?;
        }
        let mut lines: Vec<log::Line> = reassembler
            .feed(&buf)
            .into_iter()
            .filter(|l| log::keep(l, options))
            .collect();
        if let Some(tail) = options.tail {
            let skip = lines.len().saturating_sub(tail);
            lines.drain(..skip);
        }
        let mut rendered = Vec::new();
        for l in &lines {
            log::render(l, options, &mut rendered);
        }
        out.write_all(&rendered)
            .await
            .map_err(io("writing the log"))?;
        out.flush().await.map_err(io("writing the log"))?;
        if !options.follow {
            return Ok(());
        }
        let watch = follow::Watch::new(&path, &self.layout.container_dir(&info.record.id));
        loop {
            let exited = self
                .shim_status(&info.record.id)?
                .is_none_or(|s| s.exit.is_some())
                || self.inspect(&info.record.id)?.state == State::Exited;
            if file.is_none() {
                file = tokio::fs::File::open(&path).await.ok();
            }
            buf.clear();
            if let Some(f) = file.as_mut() {
                f.read_to_end(&mut buf)
                    .await
                    .map_err(io(format!("reading {}", path.display())))?;
            }
            if !buf.is_empty() {
                rendered.clear();
                for l in reassembler.feed(&buf) {
                    if log::keep(&l, options) {
                        log::render(&l, options, &mut rendered);
                    }
                }
                out.write_all(&rendered)
                    .await
                    .map_err(io("writing the log"))?;
                out.flush().await.map_err(io("writing the log"))?;
            } else if exited {
                // Everything up to the exit was read after the exit was seen.
                return Ok(());
            } else {
                match &watch {
                    Some(w) => w.changed(Duration::from_secs(1)).await,
                    None => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }

    /// Id of the container with this id, unique id prefix or name.
    pub fn resolve(&self, id_or_name: &str) -> Result<String> {
        if id_or_name.is_empty() {
            return Err(Error::NotFound(String::new()));
        }
        // A full id needs no listing: callers holding ids (the node agent inspects every
        // container of every pod each pass) must not pay for reading every record.
        if id_or_name.len() == 64
            && id_or_name.bytes().all(|b| b.is_ascii_hexdigit())
            && self
                .layout
                .container_dir(id_or_name)
                .join("container.json")
                .exists()
        {
            return Ok(id_or_name.to_string());
        }
        if validate_name(id_or_name).is_ok() {
            if let Some(id) = self.name_owner(id_or_name) {
                return Ok(id);
            }
        }
        let records = self.list_records()?;
        if let Some(r) = records
            .iter()
            .find(|r| r.id == id_or_name || r.name == id_or_name)
        {
            return Ok(r.id.clone());
        }
        let matches: Vec<&ContainerRecord> = records
            .iter()
            .filter(|r| r.id.starts_with(id_or_name))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(Error::NotFound(id_or_name.to_string())),
            _ => Err(Error::Ambiguous(id_or_name.to_string())),
        }
    }

    fn list_records(&self) -> Result<Vec<ContainerRecord>> {
        let dir = self.layout.containers_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("listing {}", dir.display()))(e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            // `.new-<id>`, `.del-<id>`: a creation staging its directory, a removal under way
            // (or either one interrupted by a crash).
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path().join("container.json");
            // A directory without a readable record is a creation in progress or a leftover.
            if let Ok(Some(r)) = record::read::<ContainerRecord>(&path) {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn shim_status(&self, id: &str) -> Result<Option<ShimStatus>> {
        record::read(&self.layout.container_dir(id).join("status.json"))
    }

    fn info(&self, mut rec: ContainerRecord) -> Result<ContainerInfo> {
        let status = self.shim_status(&rec.id)?;
        if rec.started_at.is_none() {
            rec.started_at = status.as_ref().and_then(|s| s.started_at.clone());
        }
        let (state, pid, exit) = match status {
            None => (State::Unknown, None, None),
            Some(s) => match s.exit {
                Some(exit) => (State::Exited, None, Some(exit)),
                None if record::is_alive(s.pid, s.pid_start) => {
                    // The shim records the start before answering it; containers of
                    // earlier releases have it in the engine's record (`started_at`).
                    let started =
                        s.started || rec.started_at.is_some() || self.libcontainer_running(&rec.id);
                    let state = if started {
                        State::Running
                    } else {
                        State::Created
                    };
                    (state, Some(s.pid), None)
                }
                // The init is gone; the shim records the exit in a moment.
                None if record::is_alive(s.shim_pid, s.shim_start) => (State::Running, None, None),
                None => (State::Exited, None, Some(lost_exit())),
            },
        };
        Ok(ContainerInfo {
            record: rec,
            state,
            pid,
            exit,
        })
    }

    /// Whether libcontainer's state of a container created before Berth had a runtime of its
    /// own says it was started.
    fn libcontainer_running(&self, id: &str) -> bool {
        let path = self.layout.runtime_root().join(id).join("state.json");
        fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["status"] != "created")
    }

    fn lock(&self) -> Result<nix::fcntl::Flock<fs::File>> {
        let path = self.layout.containers_dir().join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| sys(format!("locking {}", path.display()))(e))
    }
}

/// The exit of a container whose shim died before recording it.
/// `try_wait` each child: a non-blocking `waitpid` on its own pid (which its zombie keeps
/// from being reused), so nothing else is ever reaped here.
fn reap_exited(shims: &std::sync::Mutex<Vec<std::process::Child>>) {
    if let Ok(mut shims) = shims.lock() {
        shims.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    }
}

fn lost_exit() -> ExitRecord {
    ExitRecord {
        exit_code: 255,
        signal: None,
        oom_killed: false,
        finished_at: record::now_rfc3339(),
        reason: Some("the shim exited without recording the container's exit".into()),
    }
}

/// `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` for a container without a sandbox.
fn standalone_etc_files(dir: &Path, hostname: &str) -> Result<Vec<(String, PathBuf)>> {
    let etc = dir.join("etc");
    fs::create_dir_all(&etc).map_err(io(format!("creating {}", etc.display())))?;
    let mut files = Vec::new();
    let hostname_file = etc.join("hostname");
    fs::write(&hostname_file, format!("{hostname}\n"))
        .map_err(io(format!("writing {}", hostname_file.display())))?;
    files.push(("/etc/hostname".to_string(), hostname_file));
    let hosts = etc.join("hosts");
    fs::write(
        &hosts,
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"),
    )
    .map_err(io(format!("writing {}", hosts.display())))?;
    files.push(("/etc/hosts".to_string(), hosts));
    if let Ok(resolv) = fs::read("/etc/resolv.conf") {
        let path = etc.join("resolv.conf");
        fs::write(&path, resolv).map_err(io(format!("writing {}", path.display())))?;
        files.push(("/etc/resolv.conf".to_string(), path));
    }
    Ok(files)
}

/// A new container id: 64 random hex digits, as Docker's.
pub(crate) fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io("reading /dev/urandom"))?;
    Ok(hex::encode(bytes))
}

fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_string()))
    }
}

/// `<image name>-<6 hex>`, e.g. `busybox-3f2a1c`.
fn generated_name(reference: &str, id: &str) -> String {
    let path = reference.split(['@']).next().unwrap_or(reference);
    let base = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .split(':')
        .next()
        .unwrap_or("container");
    let base: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .collect();
    let base = if base.is_empty() {
        "container".into()
    } else {
        base
    };
    format!("{base}-{}", &id[..6])
}

/// Parse `SIGTERM`, `TERM`, `15` into a signal.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let t = text.trim().to_ascii_uppercase();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| Error::InvalidConfig(format!("unknown signal {text:?}")));
    }
    let name = if t.starts_with("SIG") {
        t
    } else {
        format!("SIG{t}")
    };
    name.parse::<Signal>()
        .map_err(|_| Error::InvalidConfig(format!("unknown signal {text:?}")))
}

/// Waiting for a process that is not our child, through a pidfd.
mod pidfd {
    use std::os::fd::{FromRawFd, OwnedFd};

    use super::record;

    /// A pidfd for `pid` if it is still the process that started at `start`.
    pub fn open(pid: i32, start: u64) -> Option<OwnedFd> {
        if !record::is_alive(pid, start) {
            return None;
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the descriptor was just created for us and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // The pid could have been reused between the check and the open: check again now
        // that the pidfd pins the process.
        record::is_alive(pid, start).then_some(fd)
    }

    /// Resolves when the process has exited (a pidfd becomes readable then).
    pub async fn exited(fd: OwnedFd) {
        match super::shim::async_fd(fd) {
            Ok(fd) => {
                let _ = fd.readable().await;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("web-1.a_b").is_ok());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a/b").is_err());
        assert_eq!(
            generated_name("localhost:5000/x/busybox:1.36", "abcdef0123"),
            "busybox-abcdef"
        );
        assert_eq!(
            generated_name("docker.io/library/alpine@sha256:00", "123456789"),
            "alpine-123456"
        );
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("2").unwrap(), Signal::SIGINT);
        assert!(parse_signal("SIGNOPE").is_err());
    }

    #[test]
    fn ids_are_64_hex() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
