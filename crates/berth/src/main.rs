//! The `berth` binary: one executable for every role: `berth server` (the store and the
//! Kubernetes API server, with the admin kubeconfig written on start) and `berth image` (the
//! local image store, shared with the server through the data directory).

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
    /// Manage images in the local store (the one `berth server` uses).
    Image(cmd::image::ImageArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Server(args) => rt.block_on(cmd::server::run(args)),
        Command::Image(args) => rt.block_on(cmd::image::run(args)),
    }
}
