//! `berth-bench router`: the Ingress router against Debian's nginx configured as a reverse
//! proxy to the same backends, side by side in one run, measured with wrk. Two backends
//! (an nginx answering a short body itself) on loopback; Berth's router with one Ingress
//! rule (host `bench.test`) whose Service's endpoints are the two backends, as its own
//! process; nginx proxying `bench.test` to an upstream of the same two, with its default of
//! a new backend connection per request and with upstream keepalive (which Berth's router
//! does). Everything on 127.0.0.1, bounded in time.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_net::router::{routes, serve, tls, State};
use berth_testkit::{free_port, ChildGuard};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::json;

/// `berth-bench router-serve PORT BACKEND_PORT...`: the router with the benchmark's rule.
pub async fn serve_router(port: u16, backends: &[u16]) -> anyhow::Result<()> {
    let ingress: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "bench", "namespace": "bench"},
        "spec": {"rules": [{"host": "bench.test", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    }))?;
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "bench"},
        "spec": {"ports": [{"name": "http", "port": 80}]}
    }))?;
    let endpoints: Vec<_> = backends
        .iter()
        .map(|_| json!({"addresses": ["127.0.0.1"], "conditions": {"ready": true}}))
        .collect();
    // One slice per backend port (the ports differ on loopback).
    let slices: Vec<Arc<EndpointSlice>> = backends
        .iter()
        .zip(endpoints)
        .enumerate()
        .map(|(i, (port, ep))| {
            serde_json::from_value(json!({
                "metadata": {"name": format!("web-{i}"), "namespace": "bench",
                             "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": port}],
                "endpoints": [ep],
            }))
            .map(Arc::new)
        })
        .collect::<Result<_, _>>()?;
    let state = Arc::new(State::default());
    state.set(
        routes::Table::build(&[Arc::new(ingress)], &[Arc::new(service)], &slices),
        tls::Certs::default(),
    );
    let listener = berth_net::router::bind(([127, 0, 0, 1], port).into())?;
    serve(state, listener, None, std::future::pending()).await?;
    Ok(())
}

fn wait_listening(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("nothing listens on 127.0.0.1:{port}")
}

/// An nginx master process, stopped with SIGTERM so that it takes its workers with it (a
/// SIGKILL, as [`ChildGuard`] sends, leaves them running, orphaned).
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx(dir: &std::path::Path, name: &str, body: &str) -> anyhow::Result<Nginx> {
    let conf = dir.join(format!("{name}.conf"));
    std::fs::create_dir_all(dir.join(name))?;
    let text = format!(
        "daemon off;\nworker_processes auto;\npid {pid};\nerror_log {err} error;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {tmp};\n  proxy_temp_path {tmp};\n  {body}\n}}\n",
        pid = dir.join(format!("{name}.pid")).display(),
        err = dir.join(format!("{name}.err")).display(),
        tmp = dir.join(name).display(),
    );
    std::fs::write(&conf, text)?;
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx (apt-get install nginx-light)")?;
    Ok(Nginx(child))
}

struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: String,
}

fn parse_ms(v: &str) -> f64 {
    let v = v.trim();
    if let Some(us) = v.strip_suffix("us") {
        us.parse::<f64>().unwrap_or(0.0) / 1000.0
    } else if let Some(ms) = v.strip_suffix("ms") {
        ms.parse().unwrap_or(0.0)
    } else if let Some(s) = v.strip_suffix('s') {
        s.parse::<f64>().unwrap_or(0.0) * 1000.0
    } else {
        0.0
    }
}

fn wrk(port: u16, seconds: u64) -> anyhow::Result<Wrk> {
    let out = Command::new("wrk")
        .args([
            "-t",
            "1",
            "-c",
            "32",
            "-d",
            &format!("{seconds}s"),
            "--latency",
        ])
        .args(["-H", "Host: bench.test"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string()))
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("wrk printed no rate: {text}"))?;
    Ok(Wrk {
        rps,
        p50_ms: field("50%").map(|v| parse_ms(&v)).unwrap_or(0.0),
        p99_ms: field("99%").map(|v| parse_ms(&v)).unwrap_or(0.0),
        errors: field("Non-2xx or 3xx responses:").unwrap_or_else(|| "0".into()),
    })
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    let seconds = if quick { 3 } else { 10 };
    let dir = tempfile::tempdir()?;
    let backend_ports = [free_port()?, free_port()?];
    let servers: String = backend_ports
        .iter()
        .map(|p| format!("server {{ listen 127.0.0.1:{p}; location / {{ return 200 \"hello from {p}\\n\"; }} }}\n"))
        .collect();
    let _backends = nginx(dir.path(), "backends", &servers)?;
    let nginx_port = free_port()?;
    let upstreams: String = backend_ports
        .iter()
        .map(|p| format!("server 127.0.0.1:{p};"))
        .collect();
    let _nginx = nginx(
        dir.path(),
        "proxy",
        &format!("upstream web {{ {upstreams} }}\n  server {{ listen 127.0.0.1:{nginx_port}; server_name bench.test; location / {{ proxy_pass http://web; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }} }}"),
    )?;
    // The same with connections to the backends kept open, as Berth's router keeps them.
    let keepalive_port = free_port()?;
    let _nginx_keepalive = nginx(
        dir.path(),
        "proxy-keepalive",
        &format!("upstream web {{ {upstreams} keepalive 64; }}\n  server {{ listen 127.0.0.1:{keepalive_port}; server_name bench.test; location / {{ proxy_pass http://web; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }} }}"),
    )?;
    let router_port = free_port()?;
    let mut args = vec!["router-serve".to_string(), router_port.to_string()];
    args.extend(backend_ports.iter().map(u16::to_string));
    let _router = ChildGuard(
        Command::new(std::env::current_exe()?)
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .context("starting the router")?,
    );
    for p in backend_ports
        .iter()
        .chain([&nginx_port, &keepalive_port, &router_port])
    {
        wait_listening(*p)?;
    }
    let addr: SocketAddr = ([127, 0, 0, 1], router_port).into();
    println!("## Ingress router vs nginx: wrk, 1 thread, 32 connections, {seconds} s, two backends (nginx `return 200`)\n");
    println!("| proxy | requests/s | p50 ms | p99 ms | non-2xx |");
    println!("|---|---:|---:|---:|---:|");
    for (label, port) in [
        ("berth router", addr.port()),
        ("nginx 1.22 (proxy_pass, upstream of 2)", nginx_port),
        ("nginx 1.22, upstream keepalive 64", keepalive_port),
        ("berth router (again)", addr.port()),
        ("nginx (again)", nginx_port),
        ("nginx keepalive (again)", keepalive_port),
    ] {
        let w = wrk(port, seconds)?;
        println!(
            "| {label} | {:.0} | {:.2} | {:.2} | {} |",
            w.rps, w.p50_ms, w.p99_ms, w.errors
        );
    }
    Ok(())
}
