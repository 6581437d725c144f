//! The `berth` binary: one executable for every role: `berth server` (the store and the
//! Kubernetes API server, with the admin kubeconfig written on start) and `berth image` (the
//! local image store, shared with the server through the data directory).

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
    /// Manage images in the local store (the one `berth server` uses).
    Image(ImageArgs),
}

#[derive(clap::Args)]
struct ImageArgs {
    /// The data directory whose image store to use.
    #[arg(
        long,
        env = "BERTH_DATA_DIR",
        default_value = "/var/lib/berth",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Pull an image from a registry (plain HTTP for localhost registries).
    Pull { reference: String },
    /// List images.
    Ls,
    /// Show an image as JSON.
    Inspect { reference: String },
    /// Remove images; layers no image uses any more are deleted.
    Rm {
        #[arg(required = true)]
        references: Vec<String>,
    },
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Server(args) => rt.block_on(server(args)),
        Command::Image(args) => rt.block_on(image(args)),
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

async fn image(args: ImageArgs) -> anyhow::Result<()> {
    let store = berth_runtime::ImageStore::open(&args.data_dir)
        .with_context(|| format!("opening the image store in {}", args.data_dir.display()))?;
    match args.command {
        ImageCommand::Pull { reference } => {
            let image = store
                .pull(&reference)
                .await
                .with_context(|| format!("pulling {reference}"))?;
            println!("{}: pulled {}", image.reference, image.digest);
        }
        ImageCommand::Ls => {
            println!("{:<60} {:<14} {:>8}", "REFERENCE", "IMAGE ID", "SIZE");
            for image in store.list()? {
                let id = image.config_digest.trim_start_matches("sha256:");
                println!(
                    "{:<60} {:<14} {:>8}",
                    image.reference,
                    id.get(..12).unwrap_or(id),
                    human_size(image.size)
                );
            }
        }
        ImageCommand::Inspect { reference } => {
            let image = store
                .get(&reference)?
                .with_context(|| format!("no such image: {reference}"))?;
            println!("{}", serde_json::to_string_pretty(&image)?);
        }
        ImageCommand::Rm { references } => {
            for reference in references {
                store
                    .remove(&reference)
                    .with_context(|| format!("removing {reference}"))?;
                println!("Untagged: {reference}");
            }
        }
    }
    Ok(())
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    // Absolute, so the printed `export KUBECONFIG=...` works from any directory.
    let data_dir = std::fs::canonicalize(&args.data_dir).unwrap_or_else(|_| args.data_dir.clone());
    let store = berth_store::open(&args.store, &data_dir)
        .await
        .with_context(|| format!("opening the store {:?}", args.store))?;
    let config = berth_apiserver::ServerConfig {
        data_dir,
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
