//! `berth-bench pods`: pod start-up latency and density of the embedded node agent. A
//! `berth server` runs in a network namespace created for the run (pods never touch the
//! machine's network); this binary re-executes itself inside it (`pods-loop`) to create the
//! pods through the API at once and watch them, so latencies are measured by one clock with
//! sub-millisecond resolution rather than from seconds-granular API timestamps.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_testkit::{build_busybox_oci, BerthServer, ChildGuard};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;

const IMAGE: &str = "busybox:bench";

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A client that speaks HTTP/2 to the API server, as kubectl and client-go do: the burst's
/// creates share one connection. kube's own client speaks HTTP/1.1 only, so 100 creates at
/// once opened 100 TLS connections, and the benchmark measured its own handshakes (the
/// creates took 80-340 ms to send) as much as the pods' start.
fn http2_client(config: kube::Config) -> anyhow::Result<kube::Client> {
    use kube::client::ConfigExt;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    // Small frames on one connection: Nagle's algorithm would hold them for the peer's
    // delayed acknowledgement (40 ms).
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_only()
        .enable_http2()
        .wrap_connector(http);
    let http = hyper_util::client::legacy::Builder::new(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build(https);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .map_err(tower::BoxError::from)
        .service(http);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// Create `n` pods at once, wait for all to be Running and Ready, print latencies; unless
/// `keep`, delete them and wait until they are gone. Runs inside the server's namespace.
pub async fn pods_loop(kubeconfig: &str, n: usize, keep: bool) -> anyhow::Result<()> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let pods: Api<Pod> = Api::namespaced(http2_client(config)?, "default");
    let node = "bench-node";
    let mut running: HashMap<String, Instant> = HashMap::new();
    let mut ready: HashMap<String, Instant> = HashMap::new();
    let stream = watcher::watcher(pods.clone(), watcher::Config::default());
    tokio::pin!(stream);
    // The watch must be established before the first pod exists.
    while let Some(e) = stream.next().await {
        if matches!(e?, watcher::Event::InitDone) {
            break;
        }
    }
    let start = Instant::now();
    // The burst's window on the kernel's clock (seconds since boot, as `perf record -k
    // monotonic` stamps samples), so a system-wide profile can be cut to it with `--time`.
    let uptime = || {
        std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|u| u.split_whitespace().next().map(str::to_string))
            .unwrap_or_default()
    };
    let window_start = uptime();
    let busy_start = busy_seconds();
    let creates = (0..n).map(|i| {
        let pods = pods.clone();
        async move {
            let pod: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("bench-{i}")},
                "spec": {
                    "nodeName": node,
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{
                        "name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                        "command": ["sleep", "3600"]
                    }]
                }
            }))?;
            pods.create(&PostParams::default(), &pod).await?;
            anyhow::Ok(())
        }
    });
    let created = futures::future::join_all(creates).await;
    let create_done = start.elapsed();
    for r in created {
        r?;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while ready.len() < n {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline.into(), stream.next()).await else {
            anyhow::bail!("only {} of {n} pods became Ready within 300 s", ready.len());
        };
        if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = event? {
            let name = p.metadata.name.clone().unwrap_or_default();
            let status = p.status.clone().unwrap_or_default();
            if status.phase.as_deref() == Some("Running") {
                running.entry(name.clone()).or_insert_with(Instant::now);
            }
            let is_ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if is_ready {
                ready.entry(name).or_insert_with(Instant::now);
            }
        }
    }
    let busy = busy_seconds() - busy_start;
    eprintln!("burst window (uptime seconds): {window_start},{}", uptime());
    let mut to_running: Vec<Duration> = running.values().map(|t| *t - start).collect();
    let mut to_ready: Vec<Duration> = ready.values().map(|t| *t - start).collect();
    to_running.sort();
    to_ready.sort();
    println!(
        "| {n} pods created at once (creates done in {}; machine busy {:.0} ms of CPU, {:.1} ms per pod) | create -> Running p50 {} p99 {} max {} | create -> Ready p50 {} p99 {} max {} |",
        ms(create_done),
        busy * 1000.0,
        busy * 1000.0 / n as f64,
        ms(pct(&to_running, 0.5)),
        ms(pct(&to_running, 0.99)),
        ms(pct(&to_running, 1.0)),
        ms(pct(&to_ready, 0.5)),
        ms(pct(&to_ready, 0.99)),
        ms(pct(&to_ready, 1.0)),
    );
    if !keep {
        delete_all(&pods).await?;
    }
    Ok(())
}

/// CPU seconds the whole machine has spent busy since boot (all CPUs: user, nice, system,
/// interrupts, steal), from `/proc/stat`.
fn busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let fields: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: f64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    busy / clock_ticks_per_second()
}

/// The unit of `/proc`'s CPU times.
fn clock_ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

async fn delete_all(pods: &Api<Pod>) -> anyhow::Result<()> {
    let started = Instant::now();
    pods.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left = pods.list(&ListParams::default()).await?.items.len();
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("{left} pods still there after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "| API objects deleted (grace 0) in {} | | |",
        ms(started.elapsed())
    );
    Ok(())
}

/// CPU seconds (user + system) `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the command.
    let hz = clock_ticks_per_second();
    (ticks(11) + ticks(12)) / hz
}

/// Shim pids of the data directory's containers, from their status files.
fn shim_pids(data: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(data.join("containers")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("status.json")).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter_map(|v| v["shimPid"].as_i64())
        .map(|p| p as i32)
        .collect()
}

/// Run the pod benchmarks and print Markdown; `latency_only` stops after three rounds of the
/// create-at-once figure (for working on start-up latency).
pub async fn run(berth: &Path, quick: bool, latency_only: bool) -> anyhow::Result<()> {
    let berth_s = berth.to_string_lossy().to_string();
    let server = BerthServer::start_node(
        &berth_s,
        &["--node-name", "bench-node", "--max-pods", "250"],
    )
    .map_err(anyhow::Error::msg)?;
    let work = tempfile::tempdir()?;
    build_busybox_oci(&work.path().join("layout"), "bench").map_err(anyhow::Error::msg)?;
    let archive = work.path().join("busybox.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(work.path().join("layout"))
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()?
        .success();
    anyhow::ensure!(ok, "tar failed");
    let out = server.berth(&[
        "image",
        "import",
        &archive.to_string_lossy(),
        "--tag",
        IMAGE,
    ]);
    anyhow::ensure!(out.ok, "importing the image: {}", out.stderr);
    let me = std::env::current_exe()?;
    let kubeconfig = server.kubeconfig().to_string_lossy().to_string();
    let pid = server.pid().context("server pid")?;
    let loop_run = |n: usize, keep: bool| -> anyhow::Result<()> {
        let mut cmd = server.command(&me);
        cmd.args(["pods-loop", &kubeconfig, &n.to_string()]);
        if keep {
            cmd.arg("--keep");
        }
        let status = cmd.status()?;
        anyhow::ensure!(status.success(), "pods-loop failed");
        Ok(())
    };
    // Deleted pods are torn down by the agent after their API objects are gone: wait for
    // that, so one phase's clean-up does not run into the next one's figures.
    let data = server.data_dir();
    let clean = || wait_clean(&data);
    println!("## Pods (embedded node agent, image present)\n");
    println!("| run | to Running | to Ready |\n|---|---|---|");
    let latency_pods = if quick { 20 } else { 100 };
    // One warm-up pod so that first-use costs (bridge creation) are not in the figures.
    loop_run(1, false)?;
    clean()?;
    loop_run(latency_pods, false)?;
    clean()?;
    if latency_only {
        for _ in 0..2 {
            loop_run(latency_pods, false)?;
            clean()?;
        }
        return Ok(());
    }
    let density = if quick { 50 } else { 200 };
    let (rss_before, _, _) = crate::engine::memory_kib(pid as i32);
    loop_run(density, true)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_start, _, _) = crate::engine::memory_kib(pid as i32);
    let cpu0 = cpu_seconds(pid);
    let idle = Duration::from_secs(if quick { 5 } else { 20 });
    tokio::time::sleep(idle).await;
    let cpu = (cpu_seconds(pid) - cpu0) / idle.as_secs_f64() * 100.0;
    let (rss, pss, _) = crate::engine::memory_kib(pid as i32);
    let shims = shim_pids(&server.data_dir());
    let shim_pss: u64 = shims.iter().map(|p| crate::engine::memory_kib(*p).1).sum();
    let shim_rss: u64 = shims.iter().map(|p| crate::engine::memory_kib(*p).0).sum();
    println!(
        "\n{density} pods Running on this node: berth server (API server + store + agent) idle CPU {cpu:.2}% over {} s, then RSS {:.1} MiB (PSS {:.1} MiB; {:.1} MiB before the pods, {:.1} MiB 5 s after the last started); {} shims: {:.2} MiB PSS per pod (RSS {:.2} MiB)",
        idle.as_secs(),
        rss as f64 / 1024.0,
        pss as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        rss_start as f64 / 1024.0,
        shims.len(),
        shim_pss as f64 / 1024.0 / shims.len().max(1) as f64,
        shim_rss as f64 / 1024.0 / shims.len().max(1) as f64,
    );
    let out = server.kubectl(&["delete", "pods", "--all", "--timeout=300s"]);
    anyhow::ensure!(out.ok, "deleting the pods: {}", out.stderr);
    // Kept for a look at per-phase timings (BERTH_LOG=info,berth_agent=debug).
    let _ = std::fs::write(
        std::env::temp_dir().join("berth-bench-pods.log"),
        server.log_text(),
    );
    wait_clean(&data)?;
    drop(server);
    separate_agent(&berth_s, &archive, density, idle).await
}

/// Wait until the agent of `data` has removed every container.
fn wait_clean(data: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left = std::fs::read_dir(data.join("containers"))
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0);
        if left == 0 {
            wait_quiet();
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{left} containers left after 300 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Wait (up to 30 s) until the machine is quiet: less than a tenth of a core busy over half a
/// second. The kernel tears down deleted pods' network namespaces and cgroups in its own
/// workers after the agent is done with them; a burst measured while that runs measures it
/// too.
fn wait_quiet() {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let before = busy_seconds();
        std::thread::sleep(Duration::from_millis(500));
        if busy_seconds() - before < 0.05 {
            return;
        }
    }
}

/// The agent on its own: a control-plane `berth server --disable-agent` and `berth agent`
/// joined to it as a process of its own (as on a second machine), `density` pods on it, so
/// the agent's memory and idle CPU are measured apart from the API server's.
async fn separate_agent(
    berth: &str,
    archive: &Path,
    density: usize,
    idle: Duration,
) -> anyhow::Result<()> {
    let server =
        BerthServer::start_node(berth, &["--disable-agent"]).map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir()?;
    let agent_data = dir.path().join("agent");
    let imported = server
        .command(berth)
        .args([
            "image",
            "import",
            &archive.to_string_lossy(),
            "--tag",
            IMAGE,
        ])
        .env("BERTH_DATA_DIR", &agent_data)
        .output()?;
    anyhow::ensure!(
        imported.status.success(),
        "importing the image for the agent: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let log = std::fs::File::create(dir.path().join("agent.log"))?;
    let token = server.data_dir().join("node-token");
    let agent = ChildGuard(
        server
            .command(berth)
            .args(["agent", "--server", &server.url(), "--token-file"])
            .arg(&token)
            .arg("--data-dir")
            .arg(&agent_data)
            .args(["--node-name", "bench-node", "--max-pods", "250"])
            .args(["--eviction-hard", "memory.available<1Mi"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting berth agent")?,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = server.kubectl(&[
            "get",
            "node",
            "bench-node",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        if ready.stdout == "True" {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the agent's node never got Ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let me = std::env::current_exe()?;
    let kubeconfig = server.kubeconfig().to_string_lossy().to_string();
    println!("\n### The same node agent as its own process (`berth agent`)\n");
    println!("| run | to Running | to Ready |\n|---|---|---|");
    let (rss_before, _, _) = crate::engine::memory_kib(agent.pid() as i32);
    let status = server
        .command(&me)
        .args(["pods-loop", &kubeconfig, &density.to_string(), "--keep"])
        .status()?;
    anyhow::ensure!(status.success(), "pods-loop failed");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_start, _, _) = crate::engine::memory_kib(agent.pid() as i32);
    let cpu0 = cpu_seconds(agent.pid());
    tokio::time::sleep(idle).await;
    let cpu = (cpu_seconds(agent.pid()) - cpu0) / idle.as_secs_f64() * 100.0;
    // After the idle window: the threads the start-up burst added have gone by then (tokio
    // ends idle blocking threads after 10 s), so this is what a node with these pods holds.
    let (rss, pss, _) = crate::engine::memory_kib(agent.pid() as i32);
    println!(
        "\n{density} pods Running on a joined node: berth agent idle CPU {cpu:.2}% over {} s, then RSS {:.1} MiB (PSS {:.1} MiB; {:.1} MiB before the pods, {:.1} MiB 5 s after the last started)",
        idle.as_secs(),
        rss as f64 / 1024.0,
        pss as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        rss_start as f64 / 1024.0,
    );
    let out = server.kubectl(&["delete", "pods", "--all", "--timeout=300s"]);
    anyhow::ensure!(out.ok, "deleting the pods: {}", out.stderr);
    wait_clean(&agent_data)?;
    drop(agent);
    Ok(())
}
