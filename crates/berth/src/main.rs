//! The `berth` binary: one executable for every role. This issue brings `berth server`: the
//! store and the Kubernetes API server, with the admin kubeconfig written on start.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    Server(ServerArgs),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where state, certificates and the admin kubeconfig live.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "/var/lib/berth")]
    data_dir: PathBuf,
    /// Address the API server listens on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port of the API server (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// `embedded` (default) or `etcd://HOST:PORT[,HOST:PORT...]`.
    #[arg(long, default_value = "embedded")]
    store: String,
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
    match cli.command {
        Command::Server(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(server(args))
        }
    }
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let store = berth_store::open(&args.store, &args.data_dir)
        .await
        .with_context(|| format!("opening the store {:?}", args.store))?;
    let config = berth_apiserver::ServerConfig {
        data_dir: args.data_dir.clone(),
        bind: args.bind,
        port: args.port,
    };
    let server = berth_apiserver::Server::bind(&config, store.clone())
        .await
        .context("starting the API server")?;
    tracing::info!(
        addr = %server.addr,
        ready_ms = started.elapsed().as_millis() as u64,
        "API server ready"
    );
    println!(
        "berth: API server ready on https://{} in {} ms\nberth: export KUBECONFIG={}",
        server.addr,
        started.elapsed().as_millis(),
        server.kubeconfig.display()
    );
    server
        .serve(shutdown_signal(), Duration::from_secs(10))
        .await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers, ctrl-c is the only way out.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}
