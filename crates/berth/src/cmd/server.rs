//! `berth server`: the store and the Kubernetes API server, with the admin kubeconfig
//! written on start.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

#[derive(clap::Args)]
pub struct ServerArgs {
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

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
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
