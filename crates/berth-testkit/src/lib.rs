//! Test support shared by Berth's integration tests and benchmarks: free loopback ports, a real
//! etcd server in a temporary directory, polling with a deadline. Everything started here is
//! stopped (by PID) and removed when its guard is dropped, also when a test panics.

pub mod archive;
pub mod auth_registry;
pub mod play_node;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1, for a process the test then starts (the listener that
/// checked it is closed before returning).
///
/// Taken at random below the kernel's ephemeral range: a port the kernel hands out for
/// binding to port 0 is also what it gives outgoing connections their local port from, and
/// the parallel tests open many, so one of them could take it before the process binds it
/// (seen in CI as etcd's "address already in use").
pub fn free_port() -> std::io::Result<u16> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    // Above the agent's 10250; below 30000, since the clusters tests start put node ports
    // (30000-32767) on every local address of their node, loopback included.
    let (low, high) = (11_000u16, ephemeral_low.min(30_000));
    if high > low + 1_000 {
        let mut x = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
            ^ NEXT.fetch_add(0x9e37_79b9_7f4a_7c15, std::sync::atomic::Ordering::Relaxed);
        for _ in 0..64 {
            // xorshift: only spread, not secrecy, is needed.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let port = low + (x % u64::from(high - low)) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Poll `f` every 20 ms until it returns `Some`, or fail after `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether tests that need outside programs must run (in CI they must never be skipped).
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether a test that needs root may run: true as root; otherwise false after saying the
/// test is skipped, and a panic when every test must run (`CI=true`, see [`required`]).
pub fn require_root(test: &str) -> bool {
    // `/proc/self` belongs to the process's effective user.
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if root {
        return true;
    }
    assert!(
        !required(),
        "{test} needs root, and CI=true does not allow skipping it"
    );
    eprintln!("skipped {test}: needs root");
    false
}

/// Find a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A child process killed by PID (and reaped) on drop.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// The child's process ID.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real etcd (Debian's `etcd-server`) on free loopback ports with a temporary data dir.
pub struct Etcd {
    _child: ChildGuard,
    _dir: tempfile::TempDir,
    /// The client URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Etcd {
    /// Start etcd, or `Ok(None)` when it is not installed and not required (outside CI).
    pub fn start() -> Result<Option<Etcd>, String> {
        let Some(bin) = which("etcd") else {
            if required() {
                return Err("etcd is not installed (apt-get install etcd-server)".into());
            }
            return Ok(None);
        };
        // The ports are picked free, then bound by etcd: another test can take one in
        // between, which etcd reports as "address already in use"; pick again then.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_with(&bin) {
                Err(e) if attempt < 4 && e.contains("address already in use") => continue,
                result => return result.map(Some),
            }
        }
    }

    fn start_with(bin: &Path) -> Result<Etcd, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let client = free_port().map_err(|e| e.to_string())?;
        let peer = free_port().map_err(|e| e.to_string())?;
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args(["--name", "berth-test"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("berth-test={peer_url}")])
            .args(["--listen-metrics-urls", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting etcd: {e}"))?;
        let mut child = ChildGuard(child);
        let addr = format!("127.0.0.1:{client}");
        wait_for(Duration::from_secs(20), || {
            // An etcd that exited (a port taken) will not start listening.
            if matches!(child.0.try_wait(), Ok(Some(_))) {
                return Some(Err(()));
            }
            TcpStream::connect(&addr).ok().map(|_| Ok(()))
        })
        .and_then(|r| r.ok())
        .ok_or_else(|| {
            let log = std::fs::read_to_string(dir.path().join("etcd.log")).unwrap_or_default();
            format!("etcd did not start listening on {addr}: {log}")
        })?;
        Ok(Etcd {
            _child: child,
            _dir: dir,
            endpoint: client_url,
        })
    }
}

/// A network namespace created for a test (`ip netns add`), deleted on drop. Everything a
/// test cluster does to the network (bridges, veths, pod addresses) stays inside it, and it
/// has no route out.
pub struct NetNs {
    /// The namespace's name (`berth-t<test pid>-<n>`), as `ip netns` knows it.
    pub name: String,
}

impl NetNs {
    /// Create a namespace with `lo` up.
    pub fn create() -> Result<NetNs, String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("berth-t{}-{n}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = NetNs { name };
        run_ok(ns.command("ip").args(["link", "set", "lo", "up"]))?;
        Ok(ns)
    }

    /// A command that runs `program` inside the namespace (only the network namespace
    /// changes: mounts and processes stay the test's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.name))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Whether something listens on `127.0.0.1:port` inside the namespace.
    pub fn listening(&self, port: u16) -> bool {
        self.command("bash")
            .arg("-c")
            .arg(format!("exec 3<>/dev/tcp/127.0.0.1/{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A `berth server` process on a free loopback port with its own data directory.
pub struct BerthServer {
    child: Option<ChildGuard>,
    /// Set for servers that run pods: they live in their own network namespace.
    netns: Option<NetNs>,
    dir: tempfile::TempDir,
    /// The loopback port the API server listens on; it stays the same across restarts.
    pub port: u16,
    /// The `berth` binary that is run.
    pub binary: PathBuf,
    /// Arguments passed after `server --data-dir DIR --port PORT`.
    pub extra_args: Vec<String>,
    /// A command the server runs under (`unshare ... sh -c '...; exec "$0" "$@"'`), the
    /// server's command line appended; empty for none.
    pub wrapper: Vec<String>,
    /// The file the server's stderr goes to, appended to across restarts.
    pub log: PathBuf,
}

impl BerthServer {
    /// Start `binary server` (control plane only: no node agent, so nothing runs pods on
    /// the test machine's network) and wait until it answers on its port.
    pub fn start(binary: &str, extra_args: &[&str]) -> Result<BerthServer, String> {
        let mut args = vec!["--disable-agent"];
        args.extend_from_slice(extra_args);
        BerthServer::launch(binary, &args, None, &[])
    }

    /// Start `binary server` with its node agent inside a new network namespace: pods run
    /// for real there; `kubectl` and `curl` of this server run inside it too. On drop the
    /// server stops and `berth reset` removes its containers.
    pub fn start_node(binary: &str, extra_args: &[&str]) -> Result<BerthServer, String> {
        BerthServer::start_node_prepared(binary, extra_args, |_| Ok(()))
    }

    /// [`BerthServer::start_node`], with `prepare` run in the new network namespace before
    /// the server starts (say, to give the node an address of its own).
    pub fn start_node_prepared(
        binary: &str,
        extra_args: &[&str],
        prepare: impl FnOnce(&NetNs) -> Result<(), String>,
    ) -> Result<BerthServer, String> {
        let netns = NetNs::create()?;
        prepare(&netns)?;
        // A test machine's full disk would be real DiskPressure, tainting the node and
        // failing tests about other things: test nodes watch only memory, at 1 MiB, unless
        // the test sets its own thresholds.
        let mut args: Vec<&str> = extra_args.to_vec();
        if !args.contains(&"--eviction-hard") {
            args.extend(["--eviction-hard", "memory.available<1Mi"]);
        }
        BerthServer::launch(binary, &args, Some(netns), &[])
    }

    /// [`BerthServer::start_node`], with the server's command line run by `wrapper` (its
    /// program and first arguments): say, to start it in a mount namespace of its own
    /// that hides part of the machine from it. Commands of [`BerthServer::berth`] and
    /// [`BerthServer::kubectl`] run without it.
    pub fn start_node_wrapped(
        binary: &str,
        extra_args: &[&str],
        wrapper: &[&str],
    ) -> Result<BerthServer, String> {
        let netns = NetNs::create()?;
        let mut args: Vec<&str> = extra_args.to_vec();
        if !args.contains(&"--eviction-hard") {
            args.extend(["--eviction-hard", "memory.available<1Mi"]);
        }
        BerthServer::launch(binary, &args, Some(netns), wrapper)
    }

    fn launch(
        binary: &str,
        extra_args: &[&str],
        netns: Option<NetNs>,
        wrapper: &[&str],
    ) -> Result<BerthServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| e.to_string())?;
        let mut s = BerthServer {
            netns,
            child: None,
            log: dir.path().join("server.log"),
            dir,
            port,
            binary: PathBuf::from(binary),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            wrapper: wrapper.iter().map(|s| s.to_string()).collect(),
        };
        s.restart()?;
        Ok(s)
    }

    /// The server's `--data-dir` (inside a temporary directory removed on drop).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The admin kubeconfig the server writes into its data directory.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("kubeconfig.yaml")
    }

    /// The API server's URL, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The server process's ID; `None` after it was killed or terminated.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ChildGuard::pid)
    }

    /// (Re)start the process on the same port and data directory.
    pub fn restart(&mut self) -> Result<(), String> {
        self.child = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| e.to_string())?;
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = self.command(program);
                cmd.args(args).arg(&self.binary);
                cmd
            }
            None => self.command(&self.binary),
        };
        let child = cmd
            .arg("server")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--port", &self.port.to_string()])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        self.child = Some(ChildGuard(child));
        let addr = format!("127.0.0.1:{}", self.port);
        let kubeconfig = self.kubeconfig();
        let port = self.port;
        wait_for(Duration::from_secs(30), || {
            let up = match &self.netns {
                Some(ns) => ns.listening(port),
                None => TcpStream::connect(&addr).is_ok(),
            };
            (up && kubeconfig.exists()).then_some(())
        })
        .ok_or_else(|| format!("berth server did not come up: {}", self.log_text()))
    }

    /// A command run where the server runs (inside its network namespace, if any).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.netns {
            Some(ns) => ns.command(program),
            None => Command::new(program),
        }
    }

    /// The server's network namespace, for servers started with [`BerthServer::start_node`].
    pub fn netns(&self) -> Option<&NetNs> {
        self.netns.as_ref()
    }

    /// Run `binary ARGS` on this server's data directory (e.g. `image import`, `exec`).
    pub fn berth(&self, args: &[&str]) -> CmdOutput {
        run_cmd(
            self.command(&self.binary)
                .args(args)
                .env("BERTH_DATA_DIR", self.data_dir()),
            None,
        )
    }

    /// Send SIGKILL (no chance to clean up) and reap.
    pub fn kill9(&mut self) {
        self.child = None;
    }

    /// Send SIGTERM and wait for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut guard = self.child.take()?;
        // Signal by PID through the `kill` program: no unsafe libc call needed in tests.
        let _ = Command::new("kill")
            .args(["-TERM", &guard.pid().to_string()])
            .status();
        let status = wait_for(Duration::from_secs(20), || {
            guard.0.try_wait().ok().flatten()
        });
        if status.is_none() {
            let _ = guard.0.kill();
        }
        status
    }

    /// The server's log so far (empty if it cannot be read).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run a kubectl (the dispatcher by default) against this server.
    pub fn kubectl_with(&self, kubectl: &str, args: &[&str], stdin: Option<&str>) -> CmdOutput {
        run_cmd(
            self.command(kubectl)
                .env("KUBECONFIG", self.kubeconfig())
                .env("HOME", self.dir.path())
                .args(args),
            stdin.map(str::as_bytes),
        )
    }

    /// Run `kubectl` from PATH against this server, with no input.
    pub fn kubectl(&self, args: &[&str]) -> CmdOutput {
        self.kubectl_with("kubectl", args, None)
    }

    /// `curl` with the admin client certificate: a raw HTTP client for malformed requests.
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> CmdOutput {
        self.curl_with(&[], method, path, content_type, body)
    }

    /// `curl` with extra arguments (e.g. `--http1.1`).
    pub fn curl_with(
        &self,
        extra: &[&str],
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> CmdOutput {
        let tls = self.data_dir().join("tls");
        let mut cmd = self.command("curl");
        cmd.args(extra);
        cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method])
            .arg("--cacert")
            .arg(tls.join("ca.crt"))
            .arg("--cert")
            .arg(tls.join("admin.crt"))
            .arg("--key")
            .arg(tls.join("admin.key"));
        if !content_type.is_empty() {
            cmd.args(["-H", &format!("Content-Type: {content_type}")]);
        }
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(format!("{}{path}", self.url()));
        run_cmd(&mut cmd, body)
    }
}

impl Drop for BerthServer {
    fn drop(&mut self) {
        if self.netns.is_none() {
            return;
        }
        // Pods outlive the server by design: stop them explicitly, before the data
        // directory and the namespace go.
        self.terminate();
        let _ = self
            .command(&self.binary)
            .arg("reset")
            .arg("--data-dir")
            .arg(self.data_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Whether the command ran and exited with status 0.
    pub ok: bool,
    /// Its standard output (lossily decoded as UTF-8).
    pub stdout: String,
    /// Its standard error, or why it could not be run.
    pub stderr: String,
}

impl CmdOutput {
    /// For `BerthServer::curl`: the HTTP status code and the body.
    pub fn http(&self) -> (u16, String) {
        let (body, code) = self.stdout.rsplit_once('\n').unwrap_or(("", &self.stdout));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

/// Run `cmd` to its end, with no input.
pub fn run(cmd: &mut Command) -> CmdOutput {
    run_cmd(cmd, None)
}

fn run_cmd(cmd: &mut Command, stdin: Option<&[u8]>) -> CmdOutput {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = cmd.spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return CmdOutput {
                ok: false,
                stdout: String::new(),
                stderr: format!("could not run {cmd:?}: {e}"),
            }
        }
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(input);
    }
    match child.wait_with_output() {
        Ok(out) => CmdOutput {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => CmdOutput {
            ok: false,
            stdout: String::new(),
            stderr: e.to_string(),
        },
    }
}

/// Debian's `docker-registry` on a free loopback port with storage in a temporary directory.
pub struct Registry {
    _child: ChildGuard,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl Registry {
    /// Start a registry, or `Ok(None)` when it is not installed and not required (outside CI).
    pub fn start() -> Result<Option<Registry>, String> {
        let Some(bin) = which("docker-registry") else {
            if required() {
                return Err(
                    "docker-registry is not installed (apt-get install docker-registry)".into(),
                );
            }
            return Ok(None);
        };
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| e.to_string())?;
        let addr = format!("127.0.0.1:{port}");
        let yaml = registry_config(dir.path(), &addr);
        let child = serve_registry(&bin, dir.path(), &addr, &yaml, None)?;
        Ok(Some(Registry {
            _child: child,
            _dir: dir,
            addr,
        }))
    }
}

fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let out = run_ok(Command::new("sha256sum").arg(path))?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| "sha256sum printed nothing".to_string())
}

/// The busybox-static package: `$BERTH_BUSYBOX_DEB`, or downloaded with `apt-get download`.
fn busybox_deb(work: &Path) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BERTH_BUSYBOX_DEB").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
    }
    run_ok(
        Command::new("apt-get")
            .args(["download", "-qq", "busybox-static"])
            .current_dir(work),
    )?;
    std::fs::read_dir(work)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| "apt-get download busybox-static produced no .deb".to_string())
}

/// The busybox test image as an OCI archive (a tar of its layout), built once per test
/// binary, for `berth image import`.
pub fn busybox_archive() -> Result<&'static Path, String> {
    static ARCHIVE: std::sync::OnceLock<Result<(tempfile::TempDir, PathBuf), String>> =
        std::sync::OnceLock::new();
    let built = ARCHIVE.get_or_init(|| {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let layout = dir.path().join("layout");
        build_busybox_oci(&layout, "test")?;
        let archive = dir.path().join("busybox.tar");
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(&layout)
                .arg("-cf")
                .arg(&archive)
                .arg("."),
        )?;
        Ok((dir, archive))
    });
    match built {
        Ok((_, archive)) => Ok(archive.as_path()),
        Err(e) => Err(e.clone()),
    }
}

/// A `berth server` with its node agent (in a test-created network namespace, see
/// [`BerthServer::start_node`]) named `node`, with the busybox test image imported as
/// `image`; `None` when not root (pods need it).
pub fn node_with_busybox(binary: &str, node: &str, image: &str) -> Option<BerthServer> {
    if !require_root(node) {
        return None;
    }
    let archive = match busybox_archive() {
        Ok(a) => a,
        Err(e) => panic!("building the busybox image: {e}"),
    };
    let server = match BerthServer::start_node(binary, &["--node-name", node]) {
        Ok(s) => s,
        Err(e) => panic!("server starts: {e}"),
    };
    let out = server.berth(&[
        "image",
        "import",
        &archive.to_string_lossy(),
        "--tag",
        image,
    ]);
    assert!(out.ok, "importing the image: {}", out.stderr);
    Some(server)
}

/// Build a reproducible one-layer busybox image (Debian's static busybox plus its applet
/// links) as an OCI layout in `out`, tagged `tag`. Returns the manifest digest (`sha256:...`).
pub fn build_busybox_oci(out: &Path, tag: &str) -> Result<String, String> {
    build_busybox_oci_with_data(out, tag, 0)
}

/// A reproducible gzip layer made from `dir`; returns (diff id hex, blob hex, size) with the
/// blob moved into `blobs`.
fn gzip_layer(
    dir: &Path,
    work: &Path,
    name: &str,
    blobs: &Path,
    level: &str,
) -> Result<(String, String, u64), String> {
    let tar = work.join(format!("{name}.tar"));
    run_ok(
        Command::new("tar")
            .args([
                "--sort=name",
                "--mtime=@0",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "-C",
            ])
            .arg(dir)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    )?;
    let diff_id = sha256_file(&tar)?;
    run_ok(Command::new("gzip").args(["-n", level]).arg(&tar))?;
    let gz = work.join(format!("{name}.tar.gz"));
    let digest = sha256_file(&gz)?;
    let size = std::fs::metadata(&gz).map_err(|e| e.to_string())?.len();
    std::fs::rename(&gz, blobs.join(&digest)).map_err(|e| e.to_string())?;
    Ok((diff_id, digest, size))
}

/// [`build_busybox_oci`] plus, when `data_mib` > 0, a second layer holding `/data/blob`:
/// `data_mib` MiB of deterministic pseudo-random (incompressible) bytes, for pull and
/// unpack benchmarks of a realistically sized image.
pub fn build_busybox_oci_with_data(
    out: &Path,
    tag: &str,
    data_mib: usize,
) -> Result<String, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let deb = busybox_deb(work.path())?;
    let extracted = work.path().join("deb");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted))?;
    let rootfs = work.path().join("rootfs");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    for d in ["etc", "tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).map_err(|e| e.to_string())?;
    }
    // Run the copy dpkg-deb wrote, not ours: a file this process just wrote can still be open
    // for writing in a child another test thread is forking, and exec then fails with ETXTBSY.
    let applets = run_ok(Command::new(extracted.join("bin/busybox")).arg("--list"))?;
    std::fs::copy(extracted.join("bin/busybox"), bin.join("busybox")).map_err(|e| e.to_string())?;
    for applet in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| e.to_string())?;
    let mut layers = vec![gzip_layer(&rootfs, work.path(), "base", &blobs, "-9")?];
    if data_mib > 0 {
        let data_root = work.path().join("data-root");
        std::fs::create_dir_all(data_root.join("data")).map_err(|e| e.to_string())?;
        let mut bytes = Vec::with_capacity(data_mib << 20);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        while bytes.len() < data_mib << 20 {
            // xorshift64: reproducible, and incompressible for gzip.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(data_root.join("data/blob"), &bytes).map_err(|e| e.to_string())?;
        layers.push(gzip_layer(&data_root, work.path(), "data", &blobs, "-1")?);
    }
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|(d, _, _)| format!("\"sha256:{d}\""))
        .collect();
    let layer_descs: Vec<String> = layers
        .iter()
        .map(|(_, digest, size)| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{digest}","size":{size}}}"#
            )
        })
        .collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let config_path = work.path().join("config.json");
    std::fs::write(&config_path, &config).map_err(|e| e.to_string())?;
    let config_digest = sha256_file(&config_path)?;
    std::fs::write(blobs.join(&config_digest), &config).map_err(|e| e.to_string())?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config_digest}","size":{}}},"layers":[{}]}}"#,
        config.len(),
        layer_descs.join(",")
    );
    let manifest_path = work.path().join("manifest.json");
    std::fs::write(&manifest_path, &manifest).map_err(|e| e.to_string())?;
    let manifest_digest = sha256_file(&manifest_path)?;
    std::fs::write(blobs.join(&manifest_digest), &manifest).map_err(|e| e.to_string())?;
    std::fs::write(out.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(|e| e.to_string())?;
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest_digest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#,
        manifest.len()
    );
    std::fs::write(out.join("index.json"), index).map_err(|e| e.to_string())?;
    Ok(format!("sha256:{manifest_digest}"))
}

/// Build the busybox test image and push it to `registry` as `name` (`repo:tag`) with skopeo.
/// Returns the manifest digest, which the push preserves.
pub fn push_busybox(registry: &Registry, name: &str) -> Result<String, String> {
    push_busybox_with_data(registry, name, 0)
}

/// The config of a plain registry on `addr` storing its data under `dir` (callers append
/// `tls:` or `auth:` sections).
pub(crate) fn registry_config(dir: &Path, addr: &str) -> String {
    format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
        dir.join("data").display()
    )
}

/// Start `docker-registry` (`bin`) with config `yaml` written into `dir`, and wait until it
/// listens on `addr`; its log (shown if it never listens) is `dir/registry.log`.
pub(crate) fn serve_registry(
    bin: &Path,
    dir: &Path,
    addr: &str,
    yaml: &str,
    netns: Option<&NetNs>,
) -> Result<ChildGuard, String> {
    let config = dir.join("config.yml");
    std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
    let log_path = dir.join("registry.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let mut cmd = match netns {
        // nsenter execs the registry: the guard's PID is the registry's.
        Some(ns) => ns.command(bin),
        None => Command::new(bin),
    };
    let child = cmd
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting docker-registry: {e}"))?;
    let child = ChildGuard(child);
    let port: u16 = addr
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0);
    wait_for(Duration::from_secs(20), || match netns {
        Some(ns) => ns.listening(port).then_some(()),
        None => TcpStream::connect(addr).ok().map(|_| ()),
    })
    .ok_or_else(|| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        format!("docker-registry did not start listening on {addr}: {log}")
    })?;
    Ok(child)
}

/// A registry on loopback serving the busybox test image as `name` (`repo:tag`): the
/// registry, the full reference (`127.0.0.1:PORT/repo:tag`) and the manifest digest. `None`
/// when docker-registry is not installed outside CI (the caller skips); panics on any other
/// failure, since a test cannot go on without it.
pub fn registry_with_busybox(name: &str) -> Option<(Registry, String, String)> {
    let registry = match Registry::start() {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!("skipped: docker-registry is not installed");
            return None;
        }
        Err(e) => panic!("starting the registry: {e}"),
    };
    let digest = push_busybox(&registry, name).unwrap_or_else(|e| panic!("pushing busybox: {e}"));
    let reference = format!("{}/{name}", registry.addr);
    Some((registry, reference, digest))
}

/// [`push_busybox`] of [`build_busybox_oci_with_data`]: busybox plus `data_mib` MiB of
/// incompressible data in a second layer.
pub fn push_busybox_with_data(
    registry: &Registry,
    name: &str,
    data_mib: usize,
) -> Result<String, String> {
    let (_, tag) = name.rsplit_once(':').ok_or("name must be repo:tag")?;
    let layout = tempfile::tempdir().map_err(|e| e.to_string())?;
    let digest = build_busybox_oci_with_data(layout.path(), tag, data_mib)?;
    run_ok(
        Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--preserve-digests",
                "--dest-tls-verify=false",
                "-q",
            ])
            .arg(format!("oci:{}:{tag}", layout.path().display()))
            .arg(format!("docker://{}/{name}", registry.addr)),
    )?;
    Ok(digest)
}
