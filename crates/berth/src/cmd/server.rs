//! `berth server`: the store, the Kubernetes API server (with the admin kubeconfig written
//! on start), the scheduler, the controllers and, unless disabled, the node agent of this
//! machine.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::node;

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
    #[command(flatten)]
    node: super::node::NodeArgs,
    /// Address pods reach the API server at (default: the --bind address).
    #[arg(long)]
    advertise_address: Option<IpAddr>,
    /// Address range of Services' ClusterIPs (IPv4).
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cidr: String,
    /// Port range of NodePort Services.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: String,
    /// Run only the control plane, without the embedded node agent.
    #[arg(long)]
    disable_agent: bool,
    /// HTTP port of the Ingress router on the node's address.
    #[arg(long, default_value_t = 80)]
    router_http_port: u16,
    /// HTTPS port of the Ingress router on the node's address.
    #[arg(long, default_value_t = 443)]
    router_https_port: u16,
    /// Do not run the Ingress router (Ingresses of class `berth` are then not served).
    #[arg(long)]
    disable_router: bool,
    /// Do not run the scheduler (pods then need `spec.nodeName`).
    #[arg(long)]
    disable_scheduler: bool,
    /// Do not run the controllers (Deployments, ReplicaSets, garbage collection, node
    /// lifecycle, namespace defaults...): an API server and store only.
    #[arg(long)]
    disable_controller_manager: bool,
    /// How long a node may go without heartbeats before it is marked Unknown and tainted
    /// (`30s`, `2m`, ...).
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    node_monitor_grace_period: Duration,
    /// How often pods of deleted nodes and surplus finished pods are collected (for tests).
    #[arg(long, default_value = "20s", value_parser = parse_duration, hide = true)]
    pod_gc_period: Duration,
}

/// `500ms`, `30s`, `2m`, `1h`, or whole seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}: expected a number with ms, s, m or h");
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let data_dir = node::data_dir(&args.data_dir)?;
    let store = berth_store::open(&args.store, &data_dir)
        .await
        .with_context(|| format!("opening the store {:?}", args.store))?;
    let service_ranges = berth_apiserver::service_alloc::Ranges::parse(
        &args.service_cidr,
        &args.service_node_port_range,
    )
    .map_err(anyhow::Error::msg)?;
    let cluster_dns = args.node.cluster_dns.or(service_ranges.dns_service_ip());
    let config = berth_apiserver::ServerConfig {
        data_dir: data_dir.clone(),
        bind: args.bind,
        port: args.port,
        service_ranges,
        cluster_dns,
        advertise: args
            .advertise_address
            .unwrap_or(if args.bind.is_unspecified() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                args.bind
            }),
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
        "berth: API server ready on https://{} in {} ms\nberth: export KUBECONFIG={}\nberth: other machines join with: berth agent --server https://{} --token-file {}",
        server.addr,
        started.elapsed().as_millis(),
        server.kubeconfig.display(),
        server.addr,
        data_dir.join("node-token").display(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // The scheduler and the controllers are clients of the API like any other, with the
    // admin credentials, each active only while this server holds its Lease in kube-system
    // (with several servers, one copy runs).
    let identity = format!(
        "{}_{}",
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().to_lowercase())
            .unwrap_or_else(|_| "berth".into()),
        uuid::Uuid::new_v4()
    );
    let mut components = Vec::new();
    if !args.disable_scheduler {
        let scheduler_client = node::client(&server.kubeconfig).await?;
        components.push(tokio::spawn(berth_leader::run(
            scheduler_client.clone(),
            berth_leader::Config::new("kube-scheduler", &identity),
            stopped(stop_rx.clone()),
            move |stop| berth_scheduler::run(scheduler_client.clone(), stop),
        )));
    }
    if !args.disable_controller_manager {
        let controllers_client = node::client(&server.kubeconfig).await?;
        let controller_options = berth_controllers::Options {
            node_lifecycle: berth_controllers::node_lifecycle::Config {
                grace_period: args.node_monitor_grace_period,
                ..Default::default()
            },
            podgc: berth_controllers::podgc::Config {
                period: args.pod_gc_period,
                ..Default::default()
            },
            root_ca: std::fs::read_to_string(data_dir.join("tls").join("ca.crt")).ok(),
        };
        components.push(tokio::spawn(berth_leader::run(
            controllers_client.clone(),
            berth_leader::Config::new("kube-controller-manager", &identity),
            stopped(stop_rx.clone()),
            move |stop| {
                berth_controllers::run(controllers_client.clone(), controller_options.clone(), stop)
            },
        )));
    }
    let agent = if args.disable_agent {
        None
    } else {
        let node_name = args.node.name();
        let node_ip = args.node.node_ip.unwrap_or(if args.bind.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            args.bind
        });
        let tls_dir = data_dir.join("tls");
        let (cert, key) = berth_pki::ca::issue_serving_cert(
            &tls_dir,
            &format!("system:node:{node_name}"),
            &[node_ip.to_string(), node_name.clone()],
        )
        .context("issuing the node agent's certificate")?;
        let ca = std::fs::read_to_string(tls_dir.join("ca.crt"))
            .with_context(|| format!("reading {}", tls_dir.join("ca.crt").display()))?;
        let mut agent_config = args.node.agent_config(
            node_ip,
            &data_dir,
            berth_agent::server::ServingTls { cert, key, ca },
            true,
            cluster_dns,
        );
        if !args.disable_router {
            agent_config.router = Some(berth_net::router::RouterConfig {
                http: std::net::SocketAddr::new(node_ip, args.router_http_port),
                https: std::net::SocketAddr::new(node_ip, args.router_https_port),
                addresses: vec![node_ip.to_string()],
            });
        }
        let client = node::client(&server.kubeconfig).await?;
        Some(tokio::spawn(berth_agent::run(
            client,
            agent_config,
            stopped(stop_rx.clone()),
        )))
    };
    server
        .serve(
            async move {
                node::shutdown_signal().await;
                let _ = stop_tx.send(true);
            },
            Duration::from_secs(10),
        )
        .await;
    if let Some(agent) = agent {
        let _ = agent.await;
    }
    for c in components {
        let _ = c.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
