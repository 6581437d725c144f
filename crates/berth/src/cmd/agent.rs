//! `berth agent`: a node agent on its own, joining a cluster with the node token. On first
//! start it trusts the server's CA only if the CA's hash is the token's, exchanges the token
//! for node credentials (a client certificate for `system:node:NAME`, a serving certificate
//! for its HTTPS endpoint) and keeps them in `<data-dir>/agent/` (with a kubeconfig of the
//! node's identity); later starts reuse them. It refuses to start on a machine whose cgroups
//! cannot hold pods, saying what is missing.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use berth_pki::ca as certs;
use berth_pki::join::{self, CredentialsRequest, NodeCredentials, NodeToken};
use berth_pki::kubeconfig::{self, Credential};
use serde::{Deserialize, Serialize};

use super::node::{self, NodeArgs};

#[derive(clap::Args)]
pub struct AgentArgs {
    /// URL of the API server to join (https://HOST:PORT).
    #[arg(long, env = "BERTH_URL")]
    server: String,
    /// The cluster's node token (as in the server's `<data-dir>/node-token`).
    #[arg(long, env = "BERTH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the node token.
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Where images, containers and the node's credentials live.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "/var/lib/berth")]
    data_dir: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

/// The credentials kept between starts, with what they were issued for.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Joined {
    server: String,
    node_name: String,
    addresses: Vec<String>,
    credentials: NodeCredentials,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    // As the kubelet: a machine whose cgroups cannot hold pods is no node. (`berth server`
    // keeps its control plane and registers its node NotReady instead.)
    if let Err(p) = berth_agent::cgroups::check_host() {
        bail!("this machine cannot run pods: cgroups unusable: {p}");
    }
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("reading the token file {}", file.display()))?,
        (None, None) => bail!("the node token is missing: pass --token, --token-file or BERTH_TOKEN (the server keeps it in <data-dir>/node-token)"),
    };
    let token = NodeToken::parse(&token).context("--token")?;
    let url: http::Uri = args
        .server
        .parse()
        .with_context(|| format!("--server {:?} is not a URL", args.server))?;
    if url.scheme_str() != Some("https") || url.host().is_none() {
        bail!("--server {:?}: expected https://HOST:PORT", args.server);
    }
    let data_dir = node::data_dir(&args.data_dir)?;
    let node_name = args.node.name();
    let address = match args.node.node_ip {
        Some(ip) => ip,
        None => local_address_towards(&url).await?,
    };
    let addresses = vec![address.to_string()];
    let dir = data_dir.join("agent");
    let joined = match load(&dir) {
        Some(j)
            if j.server == args.server && j.node_name == node_name && j.addresses == addresses =>
        {
            j
        }
        _ => {
            let credentials =
                fetch_credentials(&args.server, &token, &node_name, &addresses).await?;
            let joined = Joined {
                server: args.server.clone(),
                node_name: node_name.clone(),
                addresses,
                credentials,
            };
            save(&dir, &joined)?;
            tracing::info!(node = %node_name, server = %args.server, "joined the cluster");
            joined
        }
    };
    let c = &joined.credentials;
    let kubeconfig = kubeconfig::kubeconfig(
        &args.server,
        &c.ca,
        &format!("system:node:{node_name}"),
        &Credential::Certificate {
            cert: &c.client_cert,
            key: &c.client_key,
        },
    );
    // The node's own kubeconfig, for looking at the cluster as the node does.
    let kubeconfig_path = dir.join("kubeconfig.yaml");
    certs::write_private(&kubeconfig_path, &kubeconfig)
        .with_context(|| format!("writing {}", kubeconfig_path.display()))?;
    let client = node::client_from_yaml(&kubeconfig).await?;
    let config = args.node.agent_config(
        address,
        &data_dir,
        berth_agent::server::ServingTls {
            cert: c.serving_cert.clone(),
            key: c.serving_key.clone(),
            ca: c.ca.clone(),
        },
        false,
        Some(
            args.node
                .cluster_dns
                .unwrap_or(std::net::Ipv4Addr::new(10, 43, 0, 10)),
        ),
    );
    println!(
        "berth: agent of node {node_name} ({address}) joined {}",
        args.server
    );
    berth_agent::run(client, config, node::shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

/// The address of this machine on the route to the server (what the server and the other
/// nodes reach it at).
async fn local_address_towards(url: &http::Uri) -> anyhow::Result<IpAddr> {
    let host = url.host().unwrap_or_default().trim_matches(['[', ']']);
    let port = url.port_u16().unwrap_or(443);
    let target = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let bind: std::net::SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    // Connecting a UDP socket sends nothing: it only picks the route and source address.
    let socket = std::net::UdpSocket::bind(bind).context("finding the node address")?;
    socket
        .connect(target)
        .with_context(|| format!("no route to {target}: pass --node-ip"))?;
    Ok(socket
        .local_addr()
        .context("finding the node address")?
        .ip())
}

/// Trust the server's CA if it is the token's, then trade the token for node credentials.
async fn fetch_credentials(
    server: &str,
    token: &NodeToken,
    node_name: &str,
    addresses: &[String],
) -> anyhow::Result<NodeCredentials> {
    let Some(expected) = &token.ca_hash else {
        bail!("the token is a bare secret: use the full token (K10...) from the server's <data-dir>/node-token, which also names the cluster CA to trust");
    };
    // The CA is read before anything is trusted: the token's hash is what makes it trusted.
    let mut insecure = kube::Config::new(server.parse().context("--server")?);
    insecure.accept_invalid_certs = true;
    let insecure = kube::Client::try_from(insecure).context("building an API client")?;
    let request = http::Request::get(join::CACERTS_PATH)
        .body(Vec::new())
        .context("building the request")?;
    let ca = insecure
        .request_text(request)
        .await
        .with_context(|| format!("reading the cluster CA from {server}"))?;
    if join::ca_hash(&ca) != *expected {
        bail!("the server at {server} presents a CA that is not the token's (hash {}, token {expected}): wrong server or wrong token", join::ca_hash(&ca));
    }
    let kubeconfig = kubeconfig::kubeconfig(server, &ca, "join", &Credential::Token(&token.secret));
    let client = node::client_from_yaml(&kubeconfig).await?;
    let body = serde_json::to_vec(&CredentialsRequest {
        node_name: node_name.to_string(),
        addresses: addresses.to_vec(),
    })?;
    let request = http::Request::post(join::CREDENTIALS_PATH)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .context("building the request")?;
    let text = client.request_text(request).await.map_err(|e| match &e {
        kube::Error::Api(status) if status.code == 401 => {
            anyhow::anyhow!("{server} refused the node token (401 Unauthorized): check --token")
        }
        _ => anyhow::Error::new(e).context(format!("asking {server} for node credentials")),
    })?;
    serde_json::from_str(&text).context("the server's node credentials")
}

fn load(dir: &Path) -> Option<Joined> {
    let text = std::fs::read_to_string(dir.join("credentials.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn save(dir: &Path, joined: &Joined) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("credentials.json");
    certs::write_private(&path, &serde_json::to_string_pretty(joined)?)
        .with_context(|| format!("writing {}", path.display()))
}
