//! `berth-bench dns`: cluster DNS queries per second for Service names, side by side with
//! Debian's dnsmasq answering the same names from a hosts file (a lean, single-threaded
//! reference). Each server runs as its own process on a free loopback port with 1,000
//! Services; the same load generator (64 queries in flight over UDP, A queries for random
//! Service names) drives each for a fixed time and counts answers and their latency.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_net::dns::zone::Zone;
use berth_net::dns::{serve_zone, DnsConfig, ZoneCell};
use berth_testkit::{free_port, ChildGuard};
use k8s_openapi::api::core::v1::Service;
use serde_json::json;

const SERVICES: usize = 1000;
const IN_FLIGHT: usize = 64;

fn services() -> Vec<(String, String)> {
    (0..SERVICES)
        .map(|i| {
            (
                format!("svc-{i}.bench.svc.cluster.local"),
                format!("10.43.{}.{}", i / 250, i % 250 + 2),
            )
        })
        .collect()
}

/// `berth-bench dns-serve PORT`: Berth's DNS server with the benchmark's Services.
pub async fn serve(port: u16) -> anyhow::Result<()> {
    let services: Vec<Service> = (0..SERVICES)
        .map(|i| {
            serde_json::from_value(json!({
                "metadata": {"namespace": "bench", "name": format!("svc-{i}")},
                "spec": {"clusterIP": format!("10.43.{}.{}", i / 250, i % 250 + 2),
                         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
            }))
        })
        .collect::<Result<_, _>>()?;
    let zone = ZoneCell::default();
    zone.set(Zone::build(
        "cluster.local",
        &services.iter().collect::<Vec<_>>(),
        &[],
    ));
    let config = DnsConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        domain: "cluster.local".into(),
        upstreams: Vec::new(),
    };
    // Runs until the benchmark kills it.
    serve_zone(zone, config, std::future::pending()).await?;
    Ok(())
}

fn query(name: &str, id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

struct Load {
    answers: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Drive `server` for `duration` with [`IN_FLIGHT`] concurrent queries.
async fn load(server: SocketAddr, duration: Duration) -> anyhow::Result<Load> {
    let names = Arc::new(services());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for worker in 0..IN_FLIGHT {
        let names = names.clone();
        tasks.push(tokio::spawn(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
            socket.connect(server).await?;
            let mut buf = [0u8; 1500];
            let (mut answers, mut errors, mut latencies) = (0usize, 0usize, Vec::new());
            let mut i = worker;
            while Instant::now() < deadline {
                i = (i * 7919 + 13) % names.len();
                let id = (i as u16).wrapping_add(worker as u16);
                let q = query(&names[i].0, id);
                let sent = Instant::now();
                socket.send(&q).await?;
                match tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await {
                    // An answer: our id, NOERROR, one answer record.
                    Ok(Ok(n))
                        if n > 12
                            && buf[..2] == id.to_be_bytes()
                            && buf[3] & 0x0f == 0
                            && buf[7] == 1 =>
                    {
                        answers += 1;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            anyhow::Ok((answers, errors, latencies))
        }));
    }
    let mut total = Load {
        answers: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (a, e, l) = t.await??;
        total.answers += a;
        total.errors += e;
        total.latencies.extend(l);
    }
    total.elapsed = start.elapsed();
    total.latencies.sort();
    Ok(total)
}

fn pct(l: &[Duration], p: f64) -> f64 {
    if l.is_empty() {
        return 0.0;
    }
    let i = ((l.len() as f64 - 1.0) * p).round() as usize;
    l[i.min(l.len() - 1)].as_secs_f64() * 1e6
}

/// Wait until `server` answers a query.
async fn answering(server: SocketAddr) -> anyhow::Result<()> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(server).await?;
    let mut buf = [0u8; 1500];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        // Until the server binds, the kernel refuses at once (connected UDP socket).
        if socket
            .send(&query("svc-1.bench.svc.cluster.local", 7))
            .await
            .is_ok()
        {
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut buf)).await
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{server} does not answer")
}

pub async fn run(quick: bool) -> anyhow::Result<()> {
    let duration = Duration::from_secs(if quick { 2 } else { 5 });
    let dir = tempfile::tempdir()?;
    let hosts = dir.path().join("hosts");
    let lines: String = services()
        .iter()
        .map(|(name, ip)| format!("{ip} {name}\n"))
        .collect();
    std::fs::write(&hosts, lines)?;

    let berth_port = free_port()?;
    let _berth = ChildGuard(
        Command::new(std::env::current_exe()?)
            .args(["dns-serve", &berth_port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .context("starting Berth's DNS server")?,
    );
    let dnsmasq_port = free_port()?;
    let _dnsmasq = ChildGuard(
        Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--local=/cluster.local/",
            ])
            .arg(format!("--port={dnsmasq_port}"))
            .arg(format!("--addn-hosts={}", hosts.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dnsmasq (apt-get install dnsmasq-base)")?,
    );
    println!("## Cluster DNS: A queries for {SERVICES} Service names, {IN_FLIGHT} in flight over UDP, {} s each\n", duration.as_secs());
    println!("| server | queries/s | p50 us | p99 us | failed |");
    println!("|---|---:|---:|---:|---:|");
    for (label, port) in [
        ("berth (hickory-server, cluster zone)", berth_port),
        ("dnsmasq 2.90 (hosts file)", dnsmasq_port),
    ] {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        answering(addr).await.with_context(|| label.to_string())?;
        let l = load(addr, duration).await?;
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} | {} |",
            l.answers as f64 / l.elapsed.as_secs_f64(),
            pct(&l.latencies, 0.5),
            pct(&l.latencies, 0.99),
            l.errors
        );
    }
    Ok(())
}
