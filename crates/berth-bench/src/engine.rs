//! `berth-bench engine`: the container engine side by side with the reference tools, in one
//! run (root needed):
//!
//! - create + start + wait + delete of `/bin/true`: Berth (library, and the `berth run --rm`
//!   CLI) vs `runc run` and `crun run` on the same busybox root file system, median of N;
//! - pod sandbox creation (namespaces, bridge, veth, address), inside a network namespace
//!   the benchmark creates so nothing touches the host's network;
//! - pull + unpack of a ~50 MB image from a registry on loopback vs `skopeo copy` to an OCI
//!   layout + `umoci unpack`;
//! - exec of `/bin/true` in a running container: `berth exec` vs `runc exec`;
//! - shim memory per running container.
//!
//! Debian 12's crun refuses a hybrid cgroup host; it runs in a private mount namespace with
//! the v2 `unified` mount hidden (the benchmark re-executes itself for that).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_runtime::container::{ContainerConfig, Containers, ShimCommand};
use berth_runtime::sandbox::{NetworkConfig, SandboxConfig, Sandboxes};
use berth_runtime::ImageStore;

fn median(mut v: Vec<Duration>) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() * 9 / 10).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn sh(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Time `n` runs of a command built by `make(i)`.
fn time_command(n: usize, make: impl Fn(usize) -> Command) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let mut cmd = make(i);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let t = Instant::now();
        let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
        times.push(t.elapsed());
        if !out.status.success() {
            bail!(
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(times)
}

/// Entry point of the re-executed `crun-loop BUNDLE N`: times `crun run` N times and prints
/// one duration in microseconds per line.
pub fn crun_loop(bundle: &str, n: usize) -> anyhow::Result<()> {
    let times = time_command(n, |i| {
        let mut c = Command::new("crun");
        c.args(["run", "--bundle", bundle, &format!("bench-crun-{i}")]);
        c
    })?;
    for t in times {
        println!("{}", t.as_micros());
    }
    Ok(())
}

/// A bundle for crun with the runtime spec Berth generates for `config` (seccomp profile,
/// capabilities, masked and read-only paths, mounts) over the reference bundle's root file
/// system: the same work as Berth's containers, minus what is Berth's own (overlay, shim,
/// state). The container-specific files it binds (`/etc/hosts`, ...) are left out.
async fn berth_spec_bundle(
    engine: &Containers,
    config: &ContainerConfig,
    dir: &Path,
    reference: &Path,
) -> anyhow::Result<PathBuf> {
    let c = engine.create(config.clone()).await?;
    let generated = engine
        .layout()
        .container_dir(&c.record.id)
        .join("bundle/config.json");
    let text = std::fs::read(&generated);
    engine.delete(&c.record.id, true).await?;
    let mut spec: serde_json::Value = serde_json::from_slice(&text?)?;
    let data = engine
        .layout()
        .container_dir(&c.record.id)
        .display()
        .to_string();
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        mounts.retain(|m| !m["source"].as_str().is_some_and(|s| s.starts_with(&data)));
    }
    spec["root"]["path"] = serde_json::json!(reference.join("rootfs"));
    spec["linux"]["cgroupsPath"] = serde_json::json!("/bench-crun-berth-spec");
    spec["process"]["rlimits"] = serde_json::json!([]);
    let bundle = dir.join("berth-spec-bundle");
    std::fs::create_dir_all(&bundle)?;
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec)?,
    )?;
    Ok(bundle)
}

/// Create and start a `sleep 600` container of `image`; returns its id.
async fn start_sleeper(engine: &Containers, image: &str) -> anyhow::Result<String> {
    let c = engine
        .create(ContainerConfig {
            image: image.to_string(),
            command: Some(vec!["sleep".into(), "600".into()]),
            ..Default::default()
        })
        .await?;
    engine.start(&c.record.id).await?;
    Ok(c.record.id)
}

/// Times `runc exec ID /bin/true` `n` times in a detached `sleep` container made from a copy
/// of `bundle`'s config, which is killed and deleted afterwards.
fn runc_exec_times(bundle: &Path, n: usize) -> anyhow::Result<Vec<Duration>> {
    let path = bundle.join("config.json");
    let original = std::fs::read(&path)?;
    let mut spec: serde_json::Value = serde_json::from_slice(&original)?;
    spec["process"]["args"] = serde_json::json!(["sleep", "600"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    let id = "bench-runc-exec";
    // The detached container keeps its stdio: no pipe whose end-of-file would never come.
    let started = Command::new("runc")
        .args(["run", "-d", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    std::fs::write(&path, &original)?;
    if !started?.success() {
        bail!("runc run -d {id} failed");
    }
    let times = time_command(n, |_| {
        let mut c = Command::new("runc");
        c.args(["exec", id, "/bin/true"]);
        c
    });
    let _ = Command::new("runc").args(["delete", "-f", id]).output();
    times
}

/// Entry point of the re-executed `sandbox-loop DATA N` (inside a fresh network namespace):
/// prints create durations in microseconds, one per line.
pub async fn sandbox_loop(data: &str, n: usize) -> anyhow::Result<()> {
    let sandboxes = Sandboxes::open(Path::new(data))?;
    let network = NetworkConfig {
        bridge: "bench0".into(),
        subnet: "10.200.0.0/16".into(),
        mtu: None,
    };
    // The first create also makes the bridge: not part of the per-pod figure.
    let warm = SandboxConfig {
        cgroup_parent: None,
        id: "warm".into(),
        hostname: "warm".into(),
        network: Some(network.clone()),
    };
    sandboxes.create(&warm).await?;
    let mut times = Vec::new();
    for i in 0..n {
        let config = SandboxConfig {
            cgroup_parent: None,
            id: format!("bench-{i}"),
            hostname: format!("pod-{i}"),
            network: Some(network.clone()),
        };
        let t = Instant::now();
        sandboxes.create(&config).await?;
        times.push(t.elapsed());
    }
    for i in 0..n {
        sandboxes.remove(&format!("bench-{i}")).await?;
    }
    sandboxes.remove("warm").await?;
    for t in times {
        println!("{}", t.as_micros());
    }
    Ok(())
}

fn parse_micros(out: &[u8]) -> Vec<Duration> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .map(Duration::from_micros)
        .collect()
}

/// A runc/crun bundle over a copy of the image's root file system, running `/bin/true`.
fn reference_bundle(dir: &Path, rootfs_src: &Path) -> anyhow::Result<PathBuf> {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle)?;
    sh(Command::new("cp")
        .arg("-a")
        .arg(rootfs_src)
        .arg(bundle.join("rootfs")))?;
    sh(Command::new("runc").args(["spec", "--bundle"]).arg(&bundle))?;
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    spec["process"]["terminal"] = serde_json::json!(false);
    spec["root"]["readonly"] = serde_json::json!(false);
    // This host may not raise RLIMIT_NOFILE (no CAP_SYS_RESOURCE in some sandboxes).
    spec["process"]["rlimits"] = serde_json::json!([]);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(bundle)
}

pub fn memory_kib(pid: i32) -> (u64, u64, u64) {
    let read = |file: &str, key: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix(key)
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse().ok())
                })
            })
            .unwrap_or(0)
    };
    (
        read("status", "VmRSS:"),
        read("smaps_rollup", "Pss:"),
        read("status", "RssAnon:"),
    )
}

/// Run the engine benchmarks and print Markdown.
pub async fn run(berth: &Path, quick: bool) -> anyhow::Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("the engine benchmarks need root");
    }
    let n = if quick { 20 } else { 50 };
    let work = tempfile::tempdir()?;
    let data = work.path().join("data");
    let registry = berth_testkit::Registry::start()
        .map_err(anyhow::Error::msg)?
        .context("docker-registry is needed")?;
    berth_testkit::push_busybox(&registry, "bench/busybox:1").map_err(anyhow::Error::msg)?;
    berth_testkit::push_busybox_with_data(&registry, "bench/big:1", 50)
        .map_err(anyhow::Error::msg)?;
    let small = format!("{}/bench/busybox:1", registry.addr);
    let big = format!("{}/bench/big:1", registry.addr);

    // As the node agent uses it: shims forked by the launcher.
    let engine = Containers::open(&data)?
        .with_shim(ShimCommand {
            program: berth.to_path_buf(),
            args: vec!["shim".into()],
        })
        .with_shim_launcher();
    let image = engine.images().pull(&small).await?;
    let rootfs_src = engine
        .images()
        .layer_dirs(&image)
        .into_iter()
        .next()
        .context("the image has a layer")?;

    // --- create + start + wait + delete of /bin/true ---
    let config = ContainerConfig {
        image: small.clone(),
        command: Some(vec!["/bin/true".into()]),
        ..Default::default()
    };
    let mut lib_times = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let c = engine.create(config.clone()).await?;
        let t1 = t.elapsed();
        engine.start(&c.record.id).await?;
        let t2 = t.elapsed();
        let exit = engine.wait(&c.record.id).await?;
        let t3 = t.elapsed();
        engine.delete(&c.record.id, false).await?;
        lib_times.push(t.elapsed());
        if std::env::var_os("BENCH_PHASES").is_some() {
            eprintln!(
                "create {:?} start {:?} wait {:?} delete {:?}",
                t1,
                t2 - t1,
                t3 - t2,
                t.elapsed() - t3
            );
        }
        anyhow::ensure!(exit.exit_code == 0, "/bin/true exited {}", exit.exit_code);
    }
    let cli_times = time_command(n, |_| {
        let mut c = Command::new(berth);
        c.arg("run")
            .arg("--data-dir")
            .arg(&data)
            .args(["--rm", &small, "/bin/true"]);
        c
    })?;
    let bundle = reference_bundle(work.path(), &rootfs_src)?;
    let runc_times = time_command(n, |i| {
        let mut c = Command::new("runc");
        c.arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(format!("bench-runc-{i}"));
        c
    })?;
    let self_exe = std::env::current_exe()?;
    let crun_loop = |bundle: &Path| -> anyhow::Result<Vec<Duration>> {
        let crun = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "umount /sys/fs/cgroup/unified 2>/dev/null; exec {} crun-loop {} {n}",
                self_exe.display(),
                bundle.display()
            ))
            .output()?;
        let times = parse_micros(&crun.stdout);
        if times.is_empty() {
            eprintln!(
                "crun did not run: {}",
                String::from_utf8_lossy(&crun.stderr).trim()
            );
        }
        Ok(times)
    };
    let crun_times = crun_loop(&bundle)?;
    let berth_spec = berth_spec_bundle(&engine, &config, work.path(), &bundle).await?;
    let crun_berth_spec_times = crun_loop(&berth_spec)?;
    let crun_median = median(crun_times.clone());
    let ratio = |d: Duration| {
        if crun_median.is_zero() {
            "-".to_string()
        } else {
            format!("{:.2}x", d.as_secs_f64() / crun_median.as_secs_f64())
        }
    };
    println!("## create + start + wait + delete of /bin/true (median of {n})\n");
    println!("| runtime | median ms | p90 ms | vs crun |\n|---|---|---|---|");
    for (name, times) in [
        ("berth (library: overlay rootfs, shim, seccomp)", &lib_times),
        ("berth run --rm (CLI process)", &cli_times),
        ("runc run (Debian 1.1)", &runc_times),
        ("crun run (Debian 1.8)", &crun_times),
        (
            "crun run with Berth's spec (Docker's seccomp profile, masked paths), for reference",
            &crun_berth_spec_times,
        ),
    ] {
        let m = median(times.clone());
        println!(
            "| {name} | {} | {} | {} |",
            ms(m),
            ms(p90(times.clone())),
            ratio(m)
        );
    }
    println!();

    // --- exec of /bin/true in a running container ---
    let sleeper_id = start_sleeper(&engine, &small).await?;
    let berth_exec = time_command(n, |_| {
        let mut c = Command::new(berth);
        c.arg("exec")
            .arg("--data-dir")
            .arg(&data)
            .args([&sleeper_id, "/bin/true"]);
        c
    });
    engine.delete(&sleeper_id, true).await?;
    let runc_exec = runc_exec_times(&bundle, n);
    println!("## exec of /bin/true in a running container (median of {n})\n");
    println!("| command | median ms | p90 ms |\n|---|---|---|");
    for (name, times) in [
        ("berth exec (CLI process)", berth_exec?),
        ("runc exec (Debian 1.1)", runc_exec?),
    ] {
        println!(
            "| {name} | {} | {} |",
            ms(median(times.clone())),
            ms(p90(times))
        );
    }
    println!();

    // --- sandbox creation, in a network namespace of the benchmark's own ---
    let sandbox_data = work.path().join("sandbox-data");
    let out = Command::new("unshare")
        .args(["-n"])
        .arg(&self_exe)
        .arg("sandbox-loop")
        .arg(&sandbox_data)
        .arg(n.to_string())
        .output()?;
    let sandbox_times = parse_micros(&out.stdout);
    if sandbox_times.is_empty() {
        eprintln!(
            "sandbox loop failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut sorted = sandbox_times.clone();
    sorted.sort();
    println!(
        "## pod sandbox creation (netns + ipc + uts + veth into a bridge + address), {} runs\n\nmedian {} ms, best {} ms\n",
        sandbox_times.len(),
        ms(median(sandbox_times.clone())),
        ms(sorted.first().copied().unwrap_or_default())
    );

    // --- pull + unpack of a ~50 MB image ---
    let runs = 3;
    let mut berth_pull = Vec::new();
    for i in 0..runs {
        let dir = work.path().join(format!("pull-{i}"));
        let t = Instant::now();
        let store = ImageStore::open(&dir)?;
        store.pull(&big).await?;
        berth_pull.push(t.elapsed());
        std::fs::remove_dir_all(&dir)?;
    }
    let mut skopeo_umoci = Vec::new();
    for i in 0..runs {
        let layout = work.path().join(format!("oci-{i}"));
        let unpacked = work.path().join(format!("umoci-{i}"));
        let t = Instant::now();
        sh(Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "-q",
                "--src-tls-verify=false",
                &format!("docker://{big}"),
            ])
            .arg(format!("oci:{}:big", layout.display())))?;
        sh(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:big", layout.display()))
            .arg(&unpacked))?;
        skopeo_umoci.push(t.elapsed());
        let _ = std::fs::remove_dir_all(&layout);
        let _ = std::fs::remove_dir_all(&unpacked);
    }
    println!(
        "## pull + unpack of busybox + 50 MiB layer from a loopback registry (median of {runs})\n"
    );
    println!("| tool | median ms |\n|---|---|");
    println!("| berth (ImageStore::pull) | {} |", ms(median(berth_pull)));
    println!(
        "| skopeo copy to OCI layout + umoci unpack | {} |\n",
        ms(median(skopeo_umoci))
    );

    // --- shim memory ---
    let count = 10;
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(start_sleeper(&engine, &small).await?);
    }
    // A shim drops the code pages of creating and starting 1 s after it starts serving: what
    // a running container costs is read once that has happened.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rss = 0;
    let mut pss = 0;
    let mut anon = 0;
    for id in &ids {
        let status: berth_runtime::container::ShimStatus = berth_runtime::container::record::read(
            &engine.layout().container_dir(id).join("status.json"),
        )?
        .context("shim status")?;
        let (r, p, a) = memory_kib(status.shim_pid);
        rss += r;
        pss += p;
        anon += a;
    }
    for id in &ids {
        engine.delete(id, true).await?;
    }
    println!(
        "## shim memory, {count} running containers\n\nper shim: RSS {:.2} MiB (of which private/anonymous {:.2} MiB; the rest is the binary's code, shared by all shims), PSS {:.2} MiB\n",
        rss as f64 / count as f64 / 1024.0,
        anon as f64 / count as f64 / 1024.0,
        pss as f64 / count as f64 / 1024.0
    );
    Ok(())
}
