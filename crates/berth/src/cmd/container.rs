//! Docker-style container commands on the local engine, no daemon: `berth run`, `create`,
//! `start`, `ps`, `logs`, `exec`, `stop`, `kill`, `rm`, `inspect`, `stats`, and the hidden
//! `berth shim` that the engine re-executes this binary as.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use berth_runtime::container::{
    attach::{self, Frame},
    config::parse_memory,
    exec::ExecConfig,
    log::LogOptions,
    ContainerConfig, ContainerInfo, Containers, Mount, MountKind, Resources, SeccompMode, State,
};
use tokio::io::AsyncWriteExt;

/// The data directory flag every command shares.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDir {
    /// The data directory (the same one `berth server` uses).
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "/var/lib/berth")]
    pub data_dir: PathBuf,
}

/// How to create a container (shared by `run` and `create`).
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Name of the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Bind mount a host path: SRC:DST[:ro].
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Mount a tmpfs at this path.
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Memory limit (e.g. 32m, 1g).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs (e.g. 0.5).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes.
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Override the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// User (name|uid[:group|gid]).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Hostname.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Add a Linux capability.
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability.
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Mount the root file system read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Security options: seccomp=unconfined, no-new-privileges.
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set a label (KEY=VALUE).
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// The image.
    pub image: String,
    /// Command and arguments (replace the image's CMD).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `berth run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// Commands taking container names.
#[derive(clap::Args, Debug)]
pub struct NamesArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Containers (id, id prefix or name).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth ps`.
#[derive(clap::Args, Debug)]
pub struct PsArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Show all containers (default: running ones).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only print ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `berth logs`.
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Follow the log until the container exits.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines from the end.
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// Only lines since this time (RFC 3339, or a duration such as 10s, 5m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// The container.
    pub container: String,
}

/// `berth exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Keep stdin open (stdin is always passed through).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// User.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// The container.
    pub container: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// `berth stop`.
#[derive(clap::Args, Debug)]
pub struct StopArgs {
    #[command(flatten)]
    pub names: NamesArgs,
    /// Seconds to wait before killing.
    #[arg(short = 't', long, default_value_t = 10)]
    pub time: u64,
}

/// `berth kill`.
#[derive(clap::Args, Debug)]
pub struct KillArgs {
    #[command(flatten)]
    pub names: NamesArgs,
    /// Signal to send.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
}

/// `berth rm`.
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    #[command(flatten)]
    pub names: NamesArgs,
    /// Kill a running container first.
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `berth shim` (internal).
#[derive(clap::Args, Debug)]
pub struct ShimArgs {
    /// The data directory.
    #[arg(long)]
    pub root: PathBuf,
    /// The container id.
    #[arg(long)]
    pub id: String,
    /// The descriptor on which to answer the engine.
    #[arg(long)]
    pub sync_fd: i32,
}

impl ShimArgs {
    /// The arguments exactly as the engine passes them (`shim --root R --id I --sync-fd N`);
    /// anything else is left to the full parser.
    pub fn from_engine(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<ShimArgs> {
        if args.next()? != "shim" {
            return None;
        }
        let mut value = |flag: &str| {
            (args.next()? == flag).then_some(())?;
            args.next()
        };
        let root = PathBuf::from(value("--root")?);
        let id = value("--id")?.into_string().ok()?;
        let sync_fd = value("--sync-fd")?.to_str()?.parse().ok()?;
        // Anything more (`--help`, a typo) goes to the full parser.
        args.next()
            .is_none()
            .then_some(ShimArgs { root, id, sync_fd })
    }
}

/// `berth shim --launcher` (internal; see `berth_runtime::container::launcher`), as the
/// engine starts it: `shim --launcher --root R --socket-fd N`.
#[derive(Debug)]
pub struct LauncherArgs {
    /// The data directory.
    pub root: PathBuf,
    /// The engine's end of the socket pair.
    pub socket_fd: i32,
}

impl LauncherArgs {
    /// The arguments exactly as the engine passes them; `None` for anything else.
    pub fn from_engine(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<LauncherArgs> {
        if args.next()? != "shim" || args.next()? != "--launcher" {
            return None;
        }
        let mut value = |flag: &str| {
            (args.next()? == flag).then_some(())?;
            args.next()
        };
        let root = PathBuf::from(value("--root")?);
        let socket_fd = value("--socket-fd")?.to_str()?.parse().ok()?;
        // Then only the blank room forked shims write their command lines in.
        let room = args.next();
        (room
            .as_deref()
            .is_none_or(berth_runtime::container::launcher::is_title_room)
            && args.next().is_none())
        .then_some(LauncherArgs { root, socket_fd })
    }
}

fn open(data: &DataDir) -> anyhow::Result<Containers> {
    Containers::open(&data.data_dir)
        .with_context(|| format!("opening the engine in {}", data.data_dir.display()))
}

fn container_config(args: &CreateArgs) -> anyhow::Result<ContainerConfig> {
    let mut mounts = Vec::new();
    for v in &args.volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (source, destination, read_only) = match parts.as_slice() {
            [s, d] => (*s, *d, false),
            [s, d, "ro"] => (*s, *d, true),
            [s, d, "rw"] => (*s, *d, false),
            _ => bail!("invalid volume {v:?}: expected SRC:DST[:ro]"),
        };
        let source =
            std::fs::canonicalize(source).with_context(|| format!("volume source {source:?}"))?;
        mounts.push(Mount {
            source,
            destination: destination.to_string(),
            kind: MountKind::Bind,
            read_only,
            size: None,
        });
    }
    for t in &args.tmpfs {
        mounts.push(Mount {
            source: PathBuf::from("tmpfs"),
            destination: t.clone(),
            kind: MountKind::Tmpfs,
            read_only: false,
            size: None,
        });
    }
    let mut resources = Resources {
        memory_limit: match &args.memory {
            Some(m) => Some(parse_memory(m).with_context(|| format!("invalid memory size {m:?}"))?),
            None => None,
        },
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
        ..Default::default()
    };
    if let Some(cpus) = args.cpus {
        if cpus.is_nan() || cpus <= 0.0 {
            bail!("--cpus must be positive");
        }
        resources = resources.with_cpus(cpus);
    }
    let mut seccomp = SeccompMode::Default;
    let mut no_new_privileges = false;
    for opt in &args.security_opt {
        match opt.as_str() {
            "seccomp=unconfined" | "seccomp:unconfined" => seccomp = SeccompMode::Unconfined,
            "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => {
                no_new_privileges = true
            }
            other => bail!("unsupported --security-opt {other:?}"),
        }
    }
    let env = args
        .env
        .iter()
        .map(|e| {
            if e.contains('=') {
                e.clone()
            } else {
                format!("{e}={}", std::env::var(e).unwrap_or_default())
            }
        })
        .collect();
    let mut labels = std::collections::BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(ContainerConfig {
        name: args.name.clone(),
        image: args.image.clone(),
        command: args.entrypoint.as_ref().map(|e| vec![e.clone()]),
        args: if args.command.is_empty() {
            None
        } else {
            Some(args.command.clone())
        },
        env,
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        mounts,
        resources,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        read_only_rootfs: args.read_only,
        no_new_privileges,
        seccomp,
        tty: args.tty,
        stdin: args.interactive,
        stdin_once: args.interactive,
        labels,
        ..Default::default()
    })
}

async fn create_container(engine: &Containers, args: &CreateArgs) -> anyhow::Result<ContainerInfo> {
    let config = container_config(args)?;
    if engine.images().get(&args.image)?.is_none() {
        eprintln!("Unable to find image '{}' locally, pulling", args.image);
        super::pull_progress::pull(engine.images(), &args.image)
            .await
            .with_context(|| format!("pulling {}", args.image))?;
    }
    Ok(engine.create(config).await?)
}

/// `berth create`: prints the new container's id.
pub async fn create(args: CreateArgs) -> anyhow::Result<i32> {
    let engine = open(&args.data)?;
    let info = create_container(&engine, &args).await?;
    println!("{}", info.record.id);
    Ok(0)
}

/// `berth run`: returns the container's exit code in the foreground.
pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    let engine = open(&args.create.data)?;
    let info = create_container(&engine, &args.create).await?;
    let id = info.record.id.clone();
    if args.detach {
        if let Err(e) = engine.start(&id).await {
            let _ = engine.delete(&id, true).await;
            return Err(e.into());
        }
        println!("{id}");
        return Ok(0);
    }
    // Attach before starting, so that no output is missed.
    let conn = engine.attach(&id).await?;
    if let Err(e) = engine.start(&id).await {
        let _ = engine.delete(&id, true).await;
        return Err(e.into());
    }
    let code = relay(conn, args.create.interactive, args.create.tty).await;
    let code = match code {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: lost the connection to the container: {e:#}");
            engine.wait(&id).await.map(|e| e.exit_code).unwrap_or(255)
        }
    };
    if args.rm {
        engine.delete(&id, true).await?;
    }
    Ok(code)
}

/// Put the local terminal in raw mode while attached to a container's terminal.
struct RawTerminal(Option<nix::sys::termios::Termios>);

impl RawTerminal {
    fn enable() -> RawTerminal {
        use nix::sys::termios;
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawTerminal(None);
        }
        match termios::tcgetattr(&stdin) {
            Ok(original) => {
                let mut raw = original.clone();
                termios::cfmakeraw(&mut raw);
                let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
                RawTerminal(Some(original))
            }
            Err(_) => RawTerminal(None),
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(original) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                original,
            );
        }
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `winsize` into the struct, which outlives the call.
    let rc = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some((size.ws_col, size.ws_row))
}

/// Relay an attach connection to this process's stdio; returns the container's exit code.
async fn relay(conn: tokio::net::UnixStream, interactive: bool, tty: bool) -> anyhow::Result<i32> {
    let (mut reader, writer) = conn.into_split();
    let writer = std::sync::Arc::new(tokio::sync::Mutex::new(writer));
    let _raw = if tty && interactive {
        Some(RawTerminal::enable())
    } else {
        None
    };
    if tty {
        if let Some((cols, rows)) = terminal_size() {
            let mut w = writer.lock().await;
            attach::write_frame(&mut *w, &Frame::Resize { cols, rows }).await?;
        }
        let w = writer.clone();
        tokio::spawn(async move {
            let Ok(mut winch) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
            else {
                return;
            };
            while winch.recv().await.is_some() {
                if let Some((cols, rows)) = terminal_size() {
                    let mut w = w.lock().await;
                    if attach::write_frame(&mut *w, &Frame::Resize { cols, rows })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
    }
    if interactive {
        let w = writer.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let frame = match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => Frame::CloseStdin,
                    Ok(n) => Frame::Stdin(buf[..n].to_vec()),
                };
                let last = frame == Frame::CloseStdin;
                let mut w = w.lock().await;
                if attach::write_frame(&mut *w, &frame).await.is_err() || last {
                    return;
                }
            }
        });
    }
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    loop {
        match attach::read_frame(&mut reader).await? {
            Some(Frame::Stdout(data)) => {
                stdout.write_all(&data).await?;
                stdout.flush().await?;
            }
            Some(Frame::Stderr(data)) => {
                stderr.write_all(&data).await?;
                stderr.flush().await?;
            }
            Some(Frame::Exit(code)) => return Ok(code),
            Some(_) => {}
            None => bail!("the shim closed the connection without an exit status"),
        }
    }
}

/// `berth attach`.
#[derive(clap::Args, Debug)]
pub struct AttachArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Do not send this terminal's input to the container.
    #[arg(long)]
    pub no_stdin: bool,
    /// The container.
    pub container: String,
}

/// `berth attach`: the running container's output (and input, when it was created with
/// `-i`) until it exits; returns its exit code.
pub async fn attach(args: AttachArgs) -> anyhow::Result<i32> {
    let engine = open(&args.data)?;
    let info = engine.inspect(&args.container)?;
    if info.state != State::Running {
        bail!(
            "container {} is {}: only running containers can be attached to",
            args.container,
            info.state
        );
    }
    let conn = engine.attach(&info.record.id).await?;
    let interactive = info.record.config.stdin && !args.no_stdin;
    relay(conn, interactive, info.record.config.tty).await
}

/// `berth start`.
pub async fn start(args: NamesArgs) -> anyhow::Result<i32> {
    let engine = open(&args.data)?;
    for c in &args.containers {
        engine
            .start(c)
            .await
            .with_context(|| format!("starting {c}"))?;
        println!("{c}");
    }
    Ok(0)
}

fn human_ago(rfc3339: &str) -> String {
    let Ok(t) = rfc3339.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn status_text(info: &ContainerInfo) -> String {
    match info.state {
        State::Created => "Created".into(),
        State::Running => format!(
            "Up {}",
            human_ago(info.record.started_at.as_deref().unwrap_or(""))
        ),
        State::Exited => match &info.exit {
            Some(e) => format!(
                "Exited ({}){} {} ago",
                e.exit_code,
                if e.oom_killed { " OOMKilled" } else { "" },
                human_ago(&e.finished_at)
            ),
            None => "Exited".into(),
        },
        State::Unknown => "Unknown".into(),
    }
}

/// `berth ps`.
pub fn ps(args: PsArgs) -> anyhow::Result<i32> {
    let engine = open(&args.data)?;
    let all: Vec<ContainerInfo> = engine
        .list()?
        .into_iter()
        .filter(|c| args.all || c.state == State::Running)
        .collect();
    if args.quiet {
        for c in all {
            println!("{}", &c.record.id[..12]);
        }
        return Ok(0);
    }
    println!(
        "{:<14} {:<30} {:<24} {:<16} {:<26} NAMES",
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS"
    );
    for c in all {
        let mut command = format!("\"{}\"", c.record.args.join(" "));
        if command.len() > 22 {
            command = format!(
                "\"{}…\"",
                &c.record.args.join(" ").chars().take(19).collect::<String>()
            );
        }
        println!(
            "{:<14} {:<30} {:<24} {:<16} {:<26} {}",
            &c.record.id[..12],
            c.record.image,
            command,
            format!("{} ago", human_ago(&c.record.created_at)),
            status_text(&c),
            c.record.name
        );
    }
    Ok(0)
}

fn parse_since(text: &str) -> anyhow::Result<jiff::Timestamp> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number.parse().with_context(|| {
        format!("invalid --since {text:?}: use RFC 3339 or a duration like 10s")
    })?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => bail!("invalid --since {text:?}: use RFC 3339 or a duration like 10s"),
    };
    Ok(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs))
}

/// `berth logs`.
pub async fn logs(args: LogsArgs) -> anyhow::Result<i32> {
    let engine = open(&args.data)?;
    let tail = match args.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(n.parse().with_context(|| format!("invalid --tail {n:?}"))?),
    };
    let options = LogOptions {
        tail,
        since: args.since.as_deref().map(parse_since).transpose()?,
        timestamps: args.timestamps,
        follow: args.follow,
    };
    let mut out = tokio::io::stdout();
    engine.logs(&args.container, &options, &mut out).await?;
    Ok(0)
}

/// `berth exec`: runs in this (single-threaded) process, see `berth_runtime::container::exec`.
pub fn exec(args: ExecArgs) -> anyhow::Result<i32> {
    let config = ExecConfig {
        args: args.command,
        env: args.env,
        working_dir: args.workdir,
        user: args.user,
        tty: args.tty,
    };
    let _ = args.interactive;
    Ok(berth_runtime::container::exec::exec(
        &args.data.data_dir,
        &args.container,
        &config,
    )?)
}

/// `berth stop`.
pub async fn stop(args: StopArgs) -> anyhow::Result<i32> {
    let engine = open(&args.names.data)?;
    for c in &args.names.containers {
        engine
            .stop(c, Duration::from_secs(args.time))
            .await
            .with_context(|| format!("stopping {c}"))?;
        println!("{c}");
    }
    Ok(0)
}

/// `berth kill`.
pub fn kill(args: KillArgs) -> anyhow::Result<i32> {
    let engine = open(&args.names.data)?;
    let signal = berth_runtime::container::parse_signal(&args.signal)?;
    for c in &args.names.containers {
        engine
            .kill(c, signal)
            .with_context(|| format!("killing {c}"))?;
        println!("{c}");
    }
    Ok(0)
}

/// `berth rm`.
pub async fn rm(args: RmArgs) -> anyhow::Result<i32> {
    let engine = open(&args.names.data)?;
    let mut failed = false;
    for c in &args.names.containers {
        match engine.delete(c, args.force).await {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("berth: removing {c}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `berth inspect`.
pub fn inspect(args: NamesArgs) -> anyhow::Result<i32> {
    let engine = open(&args.data)?;
    let mut out = Vec::new();
    for c in &args.containers {
        out.push(engine.inspect(c)?);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

/// `berth stats` (one reading).
pub fn stats(args: NamesArgs) -> anyhow::Result<i32> {
    let engine = open(&args.data)?;
    println!(
        "{:<14} {:<20} {:>14} {:>12} {:>12} {:>6}",
        "CONTAINER ID", "NAME", "CPU TIME", "MEM USAGE", "MEM LIMIT", "PIDS"
    );
    for c in &args.containers {
        let info = engine.inspect(c)?;
        let s = engine.stats(c)?;
        println!(
            "{:<14} {:<20} {:>13.3}s {:>12} {:>12} {:>6}",
            &info.record.id[..12],
            info.record.name,
            s.cpu_usage_nanos as f64 / 1e9,
            super::image::human_size(s.memory_usage_bytes),
            if s.memory_limit_bytes == 0 {
                "-".to_string()
            } else {
                super::image::human_size(s.memory_limit_bytes)
            },
            s.pids
        );
    }
    Ok(0)
}

/// `berth shim`: never returns to the caller's runtime; see `berth_runtime::container::shim`.
pub fn shim(args: ShimArgs) -> i32 {
    berth_runtime::container::shim::run(&args.root, &args.id, args.sync_fd)
}

/// `berth shim --launcher`: fork shims for the engine until it goes away.
pub fn shim_launcher(args: LauncherArgs) -> i32 {
    berth_runtime::container::launcher::serve(&args.root, args.socket_fd)
}

#[cfg(test)]
mod tests {
    use super::{LauncherArgs, ShimArgs};

    /// A command line given as one string of words.
    fn words(line: &str) -> impl Iterator<Item = std::ffi::OsString> + '_ {
        line.split_whitespace().map(std::ffi::OsString::from)
    }

    #[test]
    fn the_launchers_arguments_are_read_directly() {
        let parsed = LauncherArgs::from_engine(words("shim --launcher --root /d --socket-fd 4"))
            .expect("parsed");
        assert_eq!((parsed.root.to_str(), parsed.socket_fd), (Some("/d"), 4));
        let with_room = words("shim --launcher --root /d --socket-fd 4").chain(["   ".into()]);
        assert!(LauncherArgs::from_engine(with_room).is_some());
        for other in [
            "shim --root /d --id abc --sync-fd 5",
            "shim --launcher --root /d --socket-fd x",
            "shim --launcher --root /d --socket-fd 4 more",
            "shim --launcher",
        ] {
            assert!(LauncherArgs::from_engine(words(other)).is_none(), "{other}");
        }
    }

    #[test]
    fn the_engines_shim_arguments_are_read_directly() {
        let parsed =
            ShimArgs::from_engine(words("shim --root /d --id abc --sync-fd 5")).expect("parsed");
        assert_eq!(parsed.root, std::path::PathBuf::from("/d"));
        assert_eq!((parsed.id.as_str(), parsed.sync_fd), ("abc", 5));
        for other in [
            "shim --help",
            "shim --root /d --id abc --sync-fd x",
            "shim --root /d --id abc --sync-fd 5 extra",
            "run --root /d",
            "",
        ] {
            assert!(ShimArgs::from_engine(words(other)).is_none(), "{other}");
        }
    }
}
