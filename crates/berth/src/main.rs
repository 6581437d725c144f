//! The `berth` binary: one executable for every role: `berth server` (the store and the
//! Kubernetes API server, with the admin kubeconfig written on start), `berth agent` (a node
//! joining a cluster), `berth image` (the local image store, shared with the server through
//! the data directory) and the docker-style container commands.

mod cmd;

use anyhow::Context;
use clap::{Parser, Subcommand};

// The API server's work is building and dropping many small JSON values (decode, Table rows,
// watch events); mimalloc handles that churn across threads several times faster than glibc's
// allocator and fragments less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "berth", version, about = "A container cloud in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: store and Kubernetes API server.
    Server(cmd::server::ServerArgs),
    /// Run a node agent that joins a cluster (`--server URL --token T`) and runs its pods.
    Agent(cmd::agent::AgentArgs),
    /// Manage images in the local store (the one `berth server` uses).
    Image(cmd::image::ImageArgs),
    /// Create and start a container (pulls the image when missing).
    Run(cmd::container::RunArgs),
    /// Create a container without starting it.
    Create(cmd::container::CreateArgs),
    /// Start created containers.
    Start(cmd::container::NamesArgs),
    /// List containers.
    Ps(cmd::container::PsArgs),
    /// Show a container's log.
    Logs(cmd::container::LogsArgs),
    /// Attach to a running container's output and input.
    Attach(cmd::container::AttachArgs),
    /// Run a command in a running container.
    Exec(cmd::container::ExecArgs),
    /// Stop containers: stop signal, then SIGKILL after a grace period.
    Stop(cmd::container::StopArgs),
    /// Send a signal to containers.
    Kill(cmd::container::KillArgs),
    /// Remove containers.
    Rm(cmd::container::RmArgs),
    /// Show containers as JSON.
    Inspect(cmd::container::NamesArgs),
    /// Show containers' resource usage.
    Stats(cmd::container::NamesArgs),
    /// Stop every container of the data directory and remove what Berth set up on this
    /// machine (shims, mounts, cgroups, namespaces, bridges); images and data stay.
    Reset(cmd::reset::ResetArgs),
    /// Internal: the per-container shim the engine starts.
    #[command(hide = true)]
    Shim(cmd::container::ShimArgs),
}

/// mimalloc's `purge_delay` option (its index in mimalloc's option enum; the sys crate names
/// only some of them).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Long-running roles give freed memory back to the kernel at once. mimalloc otherwise delays
/// the purge and only carries it out when the same thread allocates again, so memory freed by
/// a burst (200 pods starting) stays resident for as long as the node is then idle: 20-30 % of
/// the agent's RSS. `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn release_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: called first thing in `main`, before any other thread exists (mimalloc's option
    // setters are not thread safe); the option index is the v3 header's `mi_option_purge_delay`.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

fn main() {
    // The engine starts one shim per container, on the critical path of every start: its
    // exact argument list is read directly, without building the whole command tree.
    if let Some(args) = cmd::container::ShimArgs::from_engine(std::env::args_os().skip(1)) {
        init_shim_logging();
        std::process::exit(cmd::container::shim(args));
    }
    if let Some(args) = cmd::container::LauncherArgs::from_engine(std::env::args_os().skip(1)) {
        init_shim_logging();
        std::process::exit(cmd::container::shim_launcher(args));
    }
    let cli = Cli::parse();
    if matches!(cli.command, Command::Server(_) | Command::Agent(_)) {
        release_freed_memory_promptly();
    }
    // The server logs its work; the engine's commands only say what went wrong (libcgroups
    // warns about every controller this host lacks on every container).
    let default_filter = match cli.command {
        Command::Server(_) | Command::Agent(_) => "info",
        _ => "warn,libcgroups=error,libcontainer=error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    use cmd::container;
    // The shim and exec fork through libcontainer, which needs a single-threaded process:
    // they run before any async runtime (and its threads) exists.
    let result = match cli.command {
        Command::Shim(args) => std::process::exit(container::shim(args)),
        Command::Exec(args) => container::exec(args),
        Command::Ps(args) => container::ps(args),
        Command::Kill(args) => container::kill(args),
        Command::Inspect(args) => container::inspect(args),
        Command::Stats(args) => container::stats(args),
        command => async_main(command),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("berth: {e:#}");
            std::process::exit(125);
        }
    }
}

/// Shims (and the launcher that forks them) log warnings to their stderr, the shim's log.
fn init_shim_logging() {
    let filter = std::env::var("BERTH_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
}

fn async_main(command: Command) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    use cmd::container;
    let result = rt.block_on(async move {
        match command {
            Command::Server(args) => cmd::server::run(args).await.map(|()| 0),
            Command::Agent(args) => cmd::agent::run(args).await.map(|()| 0),
            Command::Image(args) => cmd::image::run(args).await.map(|()| 0),
            Command::Run(args) => container::run(args).await,
            Command::Create(args) => container::create(args).await,
            Command::Start(args) => container::start(args).await,
            Command::Logs(args) => container::logs(args).await,
            Command::Attach(args) => container::attach(args).await,
            Command::Stop(args) => container::stop(args).await,
            Command::Rm(args) => container::rm(args).await,
            Command::Reset(args) => cmd::reset::run(args).await,
            Command::Shim(_)
            | Command::Exec(_)
            | Command::Ps(_)
            | Command::Kill(_)
            | Command::Inspect(_)
            | Command::Stats(_) => unreachable!("handled before the runtime starts"),
        }
    });
    // A reader of this process's stdin (attached `run -i`) blocks in a runtime thread that a
    // normal shutdown would wait for: the command is over, so do not wait.
    rt.shutdown_background();
    result
}
