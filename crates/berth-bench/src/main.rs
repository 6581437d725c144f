//! `berth-bench`: measures the API server side by side on the embedded store and on a real
//! etcd in the same run, and prints Markdown tables for BENCHMARKS.md.
//!
//! Scenarios: create / get / list / watch throughput and p50/p99 latency with 1, 10 and 100
//! concurrent clients; LIST of 10,000 pods; cold start to ready; idle and loaded RSS.
//! Everything runs against 127.0.0.1 and stops by itself. `berth-bench engine` measures the
//! container engine instead (see `engine.rs`).

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // Sub-modes: the engine benchmarks and the loops they re-execute this binary for.
    match args.get(1).map(String::as_str) {
        Some("engine") => return engine::run(&berth_binary()?, quick).await,
        Some("pods") => {
            let latency_only = args.iter().any(|a| a == "--latency-only");
            return pods::run(&berth_binary()?, quick, latency_only).await;
        }
        Some("deployments") => return deployments::run(&berth_binary()?, quick).await,
        Some("proxy") => return proxy::run(quick),
        Some("latency") => return latency::run(quick),
        Some("dns") => return dns::run(quick).await,
        Some("router") => return router::run(quick),
        Some("router-serve") => {
            let port = args
                .get(2)
                .and_then(|p| p.parse().ok())
                .context("router-serve PORT BACKEND_PORT...")?;
            let backends: Vec<u16> = args[3..].iter().filter_map(|p| p.parse().ok()).collect();
            return router::serve_router(port, &backends).await;
        }
        Some("dns-serve") => {
            let port = args
                .get(2)
                .and_then(|p| p.parse().ok())
                .context("dns-serve PORT")?;
            return dns::serve(port).await;
        }
        Some("pods-loop") => {
            let kubeconfig = args.get(2).context("pods-loop KUBECONFIG N [--keep]")?;
            let n = args
                .get(3)
                .and_then(|n| n.parse().ok())
                .context("pods-loop KUBECONFIG N [--keep]")?;
            let keep = args.iter().any(|a| a == "--keep");
            return pods::pods_loop(kubeconfig, n, keep).await;
        }
        Some("crun-loop") => {
            let bundle = args.get(2).context("crun-loop BUNDLE N")?;
            let n = args
                .get(3)
                .and_then(|n| n.parse().ok())
                .context("crun-loop BUNDLE N")?;
            return engine::crun_loop(bundle, n);
        }
        Some("sandbox-loop") => {
            let data = args.get(2).context("sandbox-loop DATA N")?;
            let n = args
                .get(3)
                .and_then(|n| n.parse().ok())
                .context("sandbox-loop DATA N")?;
            return engine::sandbox_loop(data, n).await;
        }
        _ => {}
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
