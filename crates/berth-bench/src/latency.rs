//! `berth-bench latency`: what the service proxy adds to a pod's traffic. A client pod and
//! a server pod (network namespaces on a bridge in a node namespace, as the agent wires
//! them) exchange 32-byte messages over TCP, straight to the server pod's IP and through a
//! ClusterIP of the proxy's rules (with 1,000 other Services x 10 endpoints in the table):
//! round trips on a kept connection (every packet after the first is conntrack's), and
//! connect + round trip + close (the first packet of each goes through the NAT rules).
//! Everything runs in namespaces the benchmark creates and removes (root, nft and ip needed).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_net::proxy::rules::{port_rules, render, Host};
use berth_testkit::NetNs;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use nix::sched::CloneFlags;
use serde_json::json;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 2);
const CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 250, 1);
const PORT: u16 = 8080;

fn sh(script: &str) -> anyhow::Result<()> {
    let out = Command::new("sh").args(["-c", script]).output()?;
    if !out.status.success() {
        bail!("{script}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Namespaces for the node and the two pods (the testkit's: removed, with the bridge and
/// veths in them, however the run ends).
struct Namespaces {
    node: NetNs,
    server: NetNs,
    client: NetNs,
}

/// The node namespace with a bridge, and the two pod namespaces on it.
fn wire() -> anyhow::Result<Namespaces> {
    let create = || NetNs::create().map_err(anyhow::Error::msg);
    let ns = Namespaces {
        node: create()?,
        server: create()?,
        client: create()?,
    };
    let node = &ns.node.name;
    sh(&format!(
        "ip netns exec {node} sysctl -qw net.ipv4.ip_forward=1 && \
         ip -n {node} link add br0 type bridge && ip -n {node} addr add 10.42.0.1/24 dev br0 && \
         ip -n {node} link set br0 up"
    ))?;
    for (pod, ip, veth) in [
        (&ns.server, "10.42.0.2", "vs"),
        (&ns.client, "10.42.0.3", "vc"),
    ] {
        let pod = &pod.name;
        sh(&format!(
            "ip -n {node} link add {veth} type veth peer name eth0 netns {pod} && \
             ip -n {node} link set {veth} master br0 up && \
             ip -n {pod} addr add {ip}/24 dev eth0 && ip -n {pod} link set eth0 up && \
             ip -n {pod} route add default via 10.42.0.1"
        ))?;
    }
    Ok(ns)
}

/// 1,000 Services x 10 endpoints, and the measured one in front of the server pod.
fn table() -> String {
    let mut services: Vec<Arc<Service>> = Vec::new();
    let mut slices: Vec<Arc<EndpointSlice>> = Vec::new();
    let mut add = |name: String, ip: Ipv4Addr, endpoints: Vec<String>, target: u16| {
        services.push(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": "bench", "name": name},
                "spec": {"clusterIP": ip.to_string(), "type": "ClusterIP",
                         "ports": [{"name": "p", "port": 80, "protocol": "TCP"}]}
            }))
            .unwrap_or_default(),
        ));
        let endpoints: Vec<_> = endpoints
            .iter()
            .map(|a| json!({"addresses": [a], "conditions": {"ready": true}}))
            .collect();
        slices.push(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": "bench", "name": format!("{name}-x"),
                             "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "ports": [{"name": "p", "port": target, "protocol": "TCP"}],
                "endpoints": endpoints,
            }))
            .unwrap_or_default(),
        ));
    };
    for i in 0..1000u32 {
        let ip = Ipv4Addr::new(10, 43, (i / 250) as u8, (i % 250 + 2) as u8);
        let endpoints = (0..10)
            .map(|e| format!("10.44.{}.{}", i % 250, e + 2))
            .collect();
        add(format!("other-{i}"), ip, endpoints, 8080);
    }
    add(
        "measured".into(),
        CLUSTER_IP,
        vec![SERVER_IP.to_string()],
        PORT,
    );
    render(&port_rules(&services, &slices, "bench"), &Host::default())
}

/// Move this thread into network namespace `ns`.
fn enter(ns: &str) -> anyhow::Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))
        .with_context(|| format!("opening namespace {ns}"))?;
    nix::sched::setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering namespace {ns}"))?;
    Ok(())
}

/// The echo server in the server pod: every message sent straight back.
fn serve(ns: String, ready: std::sync::mpsc::Sender<anyhow::Result<()>>) {
    let listener = enter(&ns).and_then(|()| Ok(TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT))?));
    let listener = match listener {
        Ok(l) => {
            let _ = ready.send(Ok(()));
            l
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            continue;
        };
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut buf = [0u8; 64];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

fn round_trip(stream: &mut TcpStream, buf: &mut [u8; 32]) -> anyhow::Result<()> {
    stream.write_all(buf)?;
    stream.read_exact(buf)?;
    Ok(())
}

/// Round trip times to `to` on one kept connection, in microseconds.
fn kept(to: SocketAddr, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
    stream.set_nodelay(true)?;
    let mut buf = [7u8; 32];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        round_trip(&mut stream, &mut buf)?;
        out.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(out)
}

/// Times of connect + round trip + close to `to`, in microseconds.
fn fresh(to: SocketAddr, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut buf = [7u8; 32];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        round_trip(&mut stream, &mut buf)?;
        drop(stream);
        out.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(out)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Figures {
    kept: Vec<f64>,
    fresh: Vec<f64>,
}

/// The client pod's measurements, alternating between the two paths in rounds so that
/// neither gets the machine's quieter moments.
fn measure(ns: &str, quick: bool) -> anyhow::Result<[Figures; 2]> {
    enter(ns)?;
    let targets = [
        SocketAddr::from((SERVER_IP, PORT)),
        SocketAddr::from((CLUSTER_IP, 80)),
    ];
    let (rounds, per_kept, per_fresh) = if quick {
        (3, 2000, 200)
    } else {
        (5, 10_000, 1000)
    };
    let mut figures = [
        Figures {
            kept: Vec::new(),
            fresh: Vec::new(),
        },
        Figures {
            kept: Vec::new(),
            fresh: Vec::new(),
        },
    ];
    // Warm up both paths (ARP, conntrack, caches).
    for to in targets {
        kept(to, 200).with_context(|| format!("reaching {to}"))?;
    }
    for _ in 0..rounds {
        for (i, to) in targets.iter().enumerate() {
            figures[i].kept.extend(kept(*to, per_kept)?);
            figures[i].fresh.extend(fresh(*to, per_fresh)?);
        }
    }
    for f in &mut figures {
        f.kept.sort_by(f64::total_cmp);
        f.fresh.sort_by(f64::total_cmp);
    }
    Ok(figures)
}

/// Run the benchmark and print a table.
pub fn run(quick: bool) -> anyhow::Result<()> {
    if Command::new("nft").arg("--version").output().is_err() {
        bail!("nft is not installed (Debian: nftables)");
    }
    let ns = wire()?;
    crate::proxy::apply_in(&ns.node.name, &table())?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // The server thread lives in its namespace until the process ends.
    let server = ns.server.name.clone();
    std::thread::spawn(move || serve(server, ready_tx));
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .context("the echo server did not start")??;
    let client = ns.client.name.clone();
    let figures = std::thread::spawn(move || measure(&client, quick))
        .join()
        .map_err(|_| anyhow::anyhow!("the client thread panicked"))??;
    println!("## ClusterIP latency (pod to pod, TCP, 32-byte messages)\n");
    println!("| path | kept connection round trip p50 us | p99 us | connect + round trip + close p50 us | p99 us |");
    println!("|---|---|---|---|---|");
    for (name, f) in [
        ("pod IP (same bridge)", &figures[0]),
        ("ClusterIP (1,001 Services in the table)", &figures[1]),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            percentile(&f.kept, 0.5),
            percentile(&f.kept, 0.99),
            percentile(&f.fresh, 0.5),
            percentile(&f.fresh, 0.99)
        );
    }
    let added = |f: fn(&Figures) -> &Vec<f64>| {
        percentile(f(&figures[1]), 0.5) - percentile(f(&figures[0]), 0.5)
    };
    println!(
        "\nadded by the ClusterIP at p50: {:.1} us per round trip on a kept connection, {:.1} us per new connection (goal < 50 us)",
        added(|f| &f.kept),
        added(|f| &f.fresh)
    );
    Ok(())
}
