//! `berth-bench`: measures the API server side by side on the embedded store and on a real
//! etcd in the same run, and prints Markdown tables for BENCHMARKS.md.
//!
//! Scenarios: create / get / list / watch throughput and p50/p99 latency with 1, 10 and 100
//! concurrent clients; LIST of 10,000 pods; cold start to ready; idle and loaded RSS.
//! Everything runs against 127.0.0.1 and stops by itself. The subcommands (`engine`, `pods`,
//! `deployments`, `proxy`, `latency`, `dns`, `router`; [`Cli`], parsed with clap) measure
//! other parts instead, one module each.

mod client;
mod deployments;
mod dns;
mod engine;
mod latency;
mod pods;
mod proxy;
mod router;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_testkit::{BerthServer, Etcd};
use client::Client;
use futures::StreamExt;
use http_body_util::BodyStream;

struct Stats {
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn pct(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut l = self.latencies.clone();
        l.sort();
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l[i.min(l.len() - 1)]
    }
    fn row(&self, backend: &str, scenario: &str, clients: usize) -> String {
        format!(
            "| {backend} | {scenario} | {clients} | {:.0} | {:.2} | {:.2} |",
            self.ops as f64 / self.elapsed.as_secs_f64(),
            self.pct(0.5).as_secs_f64() * 1000.0,
            self.pct(0.99).as_secs_f64() * 1000.0
        )
    }
}

fn berth_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("berth");
    if !bin.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p berth)",
            bin.display()
        );
    }
    Ok(bin)
}

fn configmap(name: &str) -> Vec<u8> {
    format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labels":{{"bench":"yes"}}}},"data":{{"key":"{}"}}}}"#, "v".repeat(64)).into_bytes()
}

fn pod(name: &str) -> Vec<u8> {
    format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","labels":{{"app":"bench"}}}},"spec":{{"containers":[{{"name":"main","image":"busybox:1.36","args":["sleep","3600"],"resources":{{"requests":{{"cpu":"10m","memory":"16Mi"}}}}}}]}}}}"#).into_bytes()
}

async fn create_namespace(c: &mut Client, ns: &str) -> anyhow::Result<()> {
    let body = format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#);
    let r = c
        .request(
            "POST",
            "/api/v1/namespaces",
            Some(body.into_bytes()),
            "application/json",
        )
        .await?;
    anyhow::ensure!(
        r.status == 201 || r.status == 409,
        "namespace {ns}: {}",
        r.status
    );
    Ok(())
}

/// Wait until the controllers have given `namespaces` their defaults (the `default`
/// ServiceAccount and the `kube-root-ca.crt` ConfigMap): the server has finished starting
/// and reacting to the set-up, so the first scenario measures the steady state rather than
/// the start-up work it would otherwise share the machine with.
async fn settled(c: &mut Client, namespaces: &[&str]) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for ns in namespaces {
        for path in [
            format!("/api/v1/namespaces/{ns}/serviceaccounts/default"),
            format!("/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"),
        ] {
            while c
                .request("GET", &path, None, "application/json")
                .await?
                .status
                != 200
            {
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "the server did not settle: {path} never appeared"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    Ok(())
}

/// Run `total` operations spread over `clients` connections; `op(i)` gives the request.
async fn run<F>(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    clients: usize,
    total: usize,
    op: F,
) -> anyhow::Result<Stats>
where
    F: Fn(usize) -> (&'static str, String, Option<Vec<u8>>) + Send + Sync + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let tls = tls.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(port, tls).await?;
            let mut lat = Vec::new();
            let mut i = c;
            while i < total {
                let (method, path, body) = op(i);
                let t = Instant::now();
                let r = client
                    .request(method, &path, body, "application/json")
                    .await?;
                lat.push(t.elapsed());
                anyhow::ensure!(
                    (200..300).contains(&r.status),
                    "{method} {path}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
                i += clients;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Stats {
        ops: total,
        elapsed: start.elapsed(),
        latencies,
    })
}

/// `watchers` watch one namespace while one writer creates `events` objects; latency is from
/// the writer's acknowledgement to each watcher's receipt.
async fn watch_fanout(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    ns: &str,
    watchers: usize,
    events: usize,
) -> anyhow::Result<Stats> {
    let mut setup = Client::connect(port, tls.clone()).await?;
    create_namespace(&mut setup, ns).await?;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let list = setup
        .request(
            "GET",
            &format!("/api/v1/namespaces/{ns}/configmaps"),
            None,
            "application/json",
        )
        .await?;
    let rv = serde_json::from_slice::<serde_json::Value>(&list.body)?["metadata"]
        ["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let mut c = Client::connect(port, tls.clone()).await?;
        let body = c.stream(&format!("/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=120")).await?;
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let _keep = c;
            let mut stream = BodyStream::new(body);
            let mut buf = Vec::new();
            let mut lat = Vec::new();
            while lat.len() < events {
                let Some(frame) = stream.next().await else {
                    break;
                };
                let Ok(data) = frame?.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let now = Instant::now();
                    let ev: serde_json::Value = serde_json::from_slice(&line)?;
                    let name = ev["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let at = sent
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .get(&name)
                        .copied();
                    lat.push(at.map_or(Duration::ZERO, |t| now.saturating_duration_since(t)));
                }
            }
            anyhow::Ok(lat)
        }));
    }
    let start = Instant::now();
    for i in 0..events {
        let name = format!("w-{i}");
        // Latency is counted from just before the create is sent: it includes the write itself.
        sent.lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(name.clone(), Instant::now());
        let r = setup
            .request(
                "POST",
                &format!("/api/v1/namespaces/{ns}/configmaps"),
                Some(configmap(&name)),
                "application/json",
            )
            .await?;
        anyhow::ensure!(r.status == 201, "create {name}: {}", r.status);
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(tokio::time::timeout(Duration::from_secs(120), t).await???);
    }
    Ok(Stats {
        ops: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Spawn to first accepted TCP connection on the API port, polled every millisecond.
fn cold_start(bin: &PathBuf, runs: usize) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let port = berth_testkit::free_port()?;
        let start = Instant::now();
        let child = Command::new(bin)
            .args(["server", "--port", &port.to_string(), "--data-dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let guard = berth_testkit::ChildGuard(child);
        let mut ready = None;
        while start.elapsed() < Duration::from_secs(10) {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                ready = Some(start.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(guard);
        out.push(ready.context("server did not start within 10 s")?);
    }
    Ok(out)
}

async fn bench_backend(
    label: &str,
    server: &BerthServer,
    rows: &mut Vec<String>,
    quick: bool,
) -> anyhow::Result<()> {
    let tls = client::tls_config(&server.data_dir().join("tls"))?;
    let port = server.port;
    let mut setup = Client::connect(port, tls.clone()).await?;
    create_namespace(&mut setup, "bench").await?;
    create_namespace(&mut setup, "list100").await?;
    for i in 0..100 {
        setup
            .request(
                "POST",
                "/api/v1/namespaces/list100/configmaps",
                Some(configmap(&format!("l-{i}"))),
                "application/json",
            )
            .await?;
    }
    settled(&mut setup, &["bench", "list100"]).await?;
    for clients in [1usize, 10, 100] {
        let n = match (clients, quick) {
            (1, _) => 500,
            (_, true) => 1000,
            (10, false) => 3000,
            _ => 5000,
        };
        let s = run(port, tls.clone(), clients, n, move |i| {
            (
                "POST",
                "/api/v1/namespaces/bench/configmaps".to_string(),
                Some(configmap(&format!("c{clients}-{i}"))),
            )
        })
        .await?;
        rows.push(s.row(label, "create", clients));
        let s = run(port, tls.clone(), clients, n, move |i| {
            (
                "GET",
                format!("/api/v1/namespaces/bench/configmaps/c{clients}-{i}"),
                None,
            )
        })
        .await?;
        rows.push(s.row(label, "get", clients));
        let s = run(port, tls.clone(), clients, n / 5, |_| {
            (
                "GET",
                "/api/v1/namespaces/list100/configmaps".to_string(),
                None,
            )
        })
        .await?;
        rows.push(s.row(label, "list (100 objects)", clients));
        let s = watch_fanout(
            port,
            tls.clone(),
            &format!("watch{clients}"),
            clients,
            if quick { 100 } else { 300 },
        )
        .await?;
        rows.push(s.row(label, "watch (events delivered)", clients));
    }
    Ok(())
}

async fn list_10k(server: &BerthServer) -> anyhow::Result<(Duration, Duration, usize)> {
    let tls = client::tls_config(&server.data_dir().join("tls"))?;
    let mut c = Client::connect(server.port, tls.clone()).await?;
    create_namespace(&mut c, "pods").await?;
    run(server.port, tls.clone(), 100, 10_000, |i| {
        (
            "POST",
            "/api/v1/namespaces/pods/pods".to_string(),
            Some(pod(&format!("p-{i:05}"))),
        )
    })
    .await?;
    let mut json = Vec::new();
    let mut table = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = c
            .request(
                "GET",
                "/api/v1/namespaces/pods/pods",
                None,
                "application/json",
            )
            .await?;
        json.push(t.elapsed());
        anyhow::ensure!(r.status == 200, "LIST pods: {}", r.status);
        bytes = r.body.len();
        let t = Instant::now();
        let r = c
            .request(
                "GET",
                "/api/v1/namespaces/pods/pods",
                None,
                "application/json;as=Table;v=v1;g=meta.k8s.io",
            )
            .await?;
        table.push(t.elapsed());
        let rows = serde_json::from_slice::<serde_json::Value>(&r.body)?["rows"]
            .as_array()
            .map_or(0, Vec::len);
        anyhow::ensure!(
            r.status == 200 && rows == 10_000,
            "Table LIST pods: {} with {rows} rows",
            r.status
        );
    }
    json.sort();
    table.sort();
    Ok((json[2], table[2], bytes))
}

// The allocator of the `berth` binary, so that what runs here in its place (the router,
// the DNS server) allocates as it does there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command line: the API benchmark without a subcommand, another benchmark with one.
#[derive(Debug, PartialEq, clap::Parser)]
#[command(
    name = "berth-bench",
    about = "Benchmarks of Berth: without a subcommand, the API server on the embedded store \
             and on etcd side by side (throughput and latency, LIST of 10,000 pods, cold \
             start, RSS); Markdown tables for BENCHMARKS.md on stdout"
)]
struct Cli {
    /// A shorter run (fewer operations, runs or seconds per measurement).
    #[arg(long, global = true)]
    quick: bool,
    #[command(subcommand)]
    command: Option<Bench>,
}

#[derive(Debug, PartialEq, clap::Subcommand)]
enum Bench {
    /// The container engine: Berth's engine and `berth run` against runc and crun (root).
    Engine,
    /// Pods on the embedded node agent: start-up latency and density (root).
    Pods {
        /// Only three 100-pod rounds, to iterate on start-up latency.
        #[arg(long)]
        latency_only: bool,
    },
    /// Deployments at scale, with simulated nodes.
    Deployments,
    /// The service proxy's rules for many Services: building, applying, updating (root).
    Proxy,
    /// ClusterIP connection latency through the proxy's rules (root).
    Latency,
    /// Cluster DNS against dnsmasq.
    Dns,
    /// The Ingress router against nginx.
    Router,
    /// (Re-executed by `router`.) Serve the router on PORT for BACKEND_PORTs.
    #[command(hide = true)]
    RouterServe { port: u16, backends: Vec<u16> },
    /// (Re-executed by `dns`.) Serve cluster DNS on PORT.
    #[command(hide = true)]
    DnsServe { port: u16 },
    /// (Re-executed by `pods`.) Start N pods through KUBECONFIG.
    #[command(hide = true)]
    PodsLoop {
        kubeconfig: String,
        n: usize,
        #[arg(long)]
        keep: bool,
    },
    /// (Re-executed by `engine`.) Time `crun run` of BUNDLE N times.
    #[command(hide = true)]
    CrunLoop { bundle: String, n: usize },
    /// (Re-executed by `engine`.) Time N sandbox creations in DATA.
    #[command(hide = true)]
    SandboxLoop { data: String, n: usize },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Usage (`--help`, exit 0) and unknown arguments (exit 2) end here, before anything starts.
    let cli = <Cli as clap::Parser>::parse();
    let quick = cli.quick;
    // Sub-modes: the other benchmarks and the loops they re-execute this binary for.
    match cli.command {
        Some(Bench::Engine) => return engine::run(&berth_binary()?, quick).await,
        Some(Bench::Pods { latency_only }) => {
            return pods::run(&berth_binary()?, quick, latency_only).await;
        }
        Some(Bench::Deployments) => return deployments::run(&berth_binary()?, quick).await,
        Some(Bench::Proxy) => return proxy::run(quick),
        Some(Bench::Latency) => return latency::run(quick),
        Some(Bench::Dns) => return dns::run(quick).await,
        Some(Bench::Router) => return router::run(quick),
        Some(Bench::RouterServe { port, backends }) => {
            return router::serve_router(port, &backends).await;
        }
        Some(Bench::DnsServe { port }) => return dns::serve(port).await,
        Some(Bench::PodsLoop {
            kubeconfig,
            n,
            keep,
        }) => return pods::pods_loop(&kubeconfig, n, keep).await,
        Some(Bench::CrunLoop { bundle, n }) => return engine::crun_loop(&bundle, n),
        Some(Bench::SandboxLoop { data, n }) => return engine::sandbox_loop(&data, n).await,
        None => {}
    }
    let bin = berth_binary()?;
    let bin_s = bin.to_string_lossy().to_string();
    println!(
        "# berth-bench ({} mode)\n",
        if quick { "quick" } else { "full" }
    );

    let starts = cold_start(&bin, 5)?;
    let mut sorted = starts.clone();
    sorted.sort();
    println!(
        "cold start to listening (5 runs): median {:.1} ms, max {:.1} ms\n",
        sorted[2].as_secs_f64() * 1000.0,
        sorted[4].as_secs_f64() * 1000.0
    );

    let embedded = BerthServer::start(&bin_s, &[]).map_err(anyhow::Error::msg)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = embedded.pid().map(rss_kib).unwrap_or(0);
    println!(
        "idle RSS of berth server (embedded store): {:.1} MiB\n",
        idle as f64 / 1024.0
    );

    let etcd = Etcd::start()
        .map_err(anyhow::Error::msg)?
        .context("etcd (Debian etcd-server) is needed for the side-by-side run")?;
    let on_etcd = BerthServer::start(
        &bin_s,
        &[
            "--store",
            &format!("etcd://{}", etcd.endpoint.trim_start_matches("http://")),
        ],
    )
    .map_err(anyhow::Error::msg)?;

    let mut rows = vec![
        "| store | scenario | clients | ops/s | p50 ms | p99 ms |".to_string(),
        "|---|---|---|---|---|---|".to_string(),
    ];
    bench_backend("embedded", &embedded, &mut rows, quick).await?;
    bench_backend("etcd 3.4", &on_etcd, &mut rows, quick).await?;
    println!("{}\n", rows.join("\n"));

    let (json, table, bytes) = list_10k(&embedded).await?;
    let (ejson, etable, _) = list_10k(&on_etcd).await?;
    println!("| LIST 10,000 pods | embedded | etcd 3.4 |\n|---|---|---|");
    println!(
        "| JSON ({:.1} MB), median of 5 | {:.0} ms | {:.0} ms |",
        bytes as f64 / 1e6,
        json.as_secs_f64() * 1000.0,
        ejson.as_secs_f64() * 1000.0
    );
    println!(
        "| Table (kubectl get), median of 5 | {:.0} ms | {:.0} ms |\n",
        table.as_secs_f64() * 1000.0,
        etable.as_secs_f64() * 1000.0
    );
    let loaded = embedded.pid().map(rss_kib).unwrap_or(0);
    println!("RSS of berth server (embedded) after the run, holding 10,000 pods and ~20,000 configmaps: {:.1} MiB", loaded as f64 / 1024.0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Bench, Cli};
    use clap::Parser;

    fn parsed(args: &[&str]) -> Result<Cli, clap::error::ErrorKind> {
        Cli::try_parse_from(std::iter::once("berth-bench").chain(args.iter().copied()))
            .map_err(|e| e.kind())
    }

    fn cli(quick: bool, command: Option<Bench>) -> Result<Cli, clap::error::ErrorKind> {
        Ok(Cli { quick, command })
    }

    /// Every way the benchmarks and their re-executed loops are invoked (BENCHMARKS.md and
    /// the modules that run this binary again) means what it meant before clap.
    #[test]
    fn the_command_lines_in_use_keep_their_meaning() {
        use clap::error::ErrorKind;
        let pods_loop = |n, keep| Bench::PodsLoop {
            kubeconfig: "/k.yaml".into(),
            n,
            keep,
        };
        let cases: Vec<(&[&str], Result<Cli, ErrorKind>)> = vec![
            (&[], cli(false, None)),
            (&["--quick"], cli(true, None)),
            (&["engine"], cli(false, Some(Bench::Engine))),
            (&["engine", "--quick"], cli(true, Some(Bench::Engine))),
            (
                &["pods", "--latency-only"],
                cli(false, Some(Bench::Pods { latency_only: true })),
            ),
            (
                &["pods", "--quick"],
                cli(
                    true,
                    Some(Bench::Pods {
                        latency_only: false,
                    }),
                ),
            ),
            (
                &["deployments", "--quick"],
                cli(true, Some(Bench::Deployments)),
            ),
            (&["proxy"], cli(false, Some(Bench::Proxy))),
            (&["latency", "--quick"], cli(true, Some(Bench::Latency))),
            (&["dns"], cli(false, Some(Bench::Dns))),
            (&["router", "--quick"], cli(true, Some(Bench::Router))),
            (
                &["router-serve", "8080", "9001", "9002"],
                cli(
                    false,
                    Some(Bench::RouterServe {
                        port: 8080,
                        backends: vec![9001, 9002],
                    }),
                ),
            ),
            (
                &["dns-serve", "5353"],
                cli(false, Some(Bench::DnsServe { port: 5353 })),
            ),
            (
                &["pods-loop", "/k.yaml", "100"],
                cli(false, Some(pods_loop(100, false))),
            ),
            (
                &["pods-loop", "/k.yaml", "200", "--keep"],
                cli(false, Some(pods_loop(200, true))),
            ),
            (
                &["crun-loop", "/b", "50"],
                cli(
                    false,
                    Some(Bench::CrunLoop {
                        bundle: "/b".into(),
                        n: 50,
                    }),
                ),
            ),
            (
                &["sandbox-loop", "/d", "20"],
                cli(
                    false,
                    Some(Bench::SandboxLoop {
                        data: "/d".into(),
                        n: 20,
                    }),
                ),
            ),
            // What used to start the whole benchmark.
            (&["--help"], Err(ErrorKind::DisplayHelp)),
            (&["-h"], Err(ErrorKind::DisplayHelp)),
            (&["engine", "--help"], Err(ErrorKind::DisplayHelp)),
            (&["--bogus"], Err(ErrorKind::UnknownArgument)),
            (&["pods", "--bogus"], Err(ErrorKind::UnknownArgument)),
            (&["bogus"], Err(ErrorKind::InvalidSubcommand)),
            (
                &["pods-loop", "/k.yaml"],
                Err(ErrorKind::MissingRequiredArgument),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parsed(args), want, "{args:?}");
        }
    }
}
