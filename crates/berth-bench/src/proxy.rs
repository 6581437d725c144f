//! `berth-bench proxy`: the service proxy's cost at 100, 1,000 and 5,000 Services (three
//! endpoints each; and 1,000 with ten, the figure): building the rules, applying the
//! whole table with `nft -f` the first time, and after one endpoint changed both what the
//! proxy does (rebuild the rules from the Services, apply only what differs) and, for
//! comparison, replacing the whole table again. Runs in a network namespace the benchmark
//! creates and removes (root and nft needed).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use berth_net::proxy::rules::{port_rules, Host, Table};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

const NETNS: &str = "berth-bench-proxy";

struct Netns;

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", NETNS]).status();
    }
}

fn objects(n: usize, endpoints: usize, shift: u8) -> (Vec<Arc<Service>>, Vec<Arc<EndpointSlice>>) {
    let mut services = Vec::with_capacity(n);
    let mut slices = Vec::with_capacity(n);
    for i in 0..n {
        let ip = format!("10.43.{}.{}", i / 250, i % 250 + 2);
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"namespace": "bench", "name": format!("svc-{i}")},
            "spec": {"clusterIP": ip, "type": "ClusterIP",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        }))
        .unwrap_or_default();
        let eps: Vec<_> = (0..endpoints)
            .map(|e| {
                // Only service 0 moves when `shift` changes: one endpoint changed.
                let last = if i == 0 { e as u8 + 2 + shift } else { e as u8 + 2 };
                json!({"addresses": [format!("10.42.{}.{last}", i % 250)], "conditions": {"ready": true}})
            })
            .collect();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"namespace": "bench", "name": format!("svc-{i}-x"),
                         "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": eps,
        }))
        .unwrap_or_default();
        services.push(Arc::new(svc));
        slices.push(Arc::new(slice));
    }
    (services, slices)
}

fn apply(script: &str) -> anyhow::Result<f64> {
    apply_in(NETNS, script)
}

/// Apply `script` with `nft -f` in network namespace `netns`; how long it took, in ms.
pub fn apply_in(netns: &str, script: &str) -> anyhow::Result<f64> {
    use std::io::Write;
    let started = Instant::now();
    let mut child = Command::new("ip")
        .args(["netns", "exec", netns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft refused the rules: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Run the benchmark and print a table.
pub fn run(quick: bool) -> anyhow::Result<()> {
    if Command::new("nft").arg("--version").output().is_err() {
        bail!("nft is not installed (Debian: nftables)");
    }
    let status = Command::new("ip").args(["netns", "add", NETNS]).status()?;
    if !status.success() {
        bail!("creating network namespace {NETNS} (root needed)");
    }
    let _guard = Netns;
    let sizes: &[(usize, usize)] = if quick {
        &[(100, 3), (1000, 3), (1000, 10)]
    } else {
        &[(100, 3), (1000, 3), (1000, 10), (5000, 3)]
    };
    println!("## service proxy (nftables)\n");
    println!("| services | endpoints each | build rules ms | script KiB | first apply ms | one endpoint changed: update ms (script bytes) | same change replacing the table ms |");
    println!("|---|---|---|---|---|---|---|");
    for &(n, endpoints) in sizes {
        let (services, slices) = objects(n, endpoints, 0);
        let started = Instant::now();
        let table = Table::new(&port_rules(&services, &slices, "bench"), &Host::default());
        let script = table.full();
        let build = started.elapsed().as_secs_f64() * 1000.0;
        let first = apply(&script)?;
        // What the proxy does on a change: rules from the Services again, then the update.
        let (services, slices) = objects(n, endpoints, 100);
        let started = Instant::now();
        let changed = Table::new(&port_rules(&services, &slices, "bench"), &Host::default());
        let update = changed.update(&table).context("one endpoint changed")?;
        let rebuild = started.elapsed().as_secs_f64() * 1000.0;
        let updated = apply(&update)?;
        // The same kind of change (the endpoint moving back) by replacing the whole table.
        let (services, slices) = objects(n, endpoints, 0);
        let started = Instant::now();
        let back = Table::new(&port_rules(&services, &slices, "bench"), &Host::default()).full();
        let rebuild_full = started.elapsed().as_secs_f64() * 1000.0;
        let replaced = apply(&back)?;
        println!(
            "| {n} | {endpoints} | {build:.1} | {} | {first:.1} | {:.1} ({}) | {:.1} |",
            script.len() / 1024,
            rebuild + updated,
            update.len(),
            rebuild_full + replaced
        );
    }
    Ok(())
}
