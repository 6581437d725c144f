//! Test support shared by Berth's integration tests and benchmarks: free loopback ports, a real
//! etcd server in a temporary directory, polling with a deadline. Everything started here is
//! stopped (by PID) and removed when its guard is dropped, also when a test panics.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (the OS picks it; the listener is closed before returning).
pub fn free_port() -> std::io::Result<u16> {
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
        Self::start_with(&bin).map(Some)
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
        let child = ChildGuard(child);
        let addr = format!("127.0.0.1:{client}");
        wait_for(Duration::from_secs(20), || {
            TcpStream::connect(&addr).ok().map(|_| ())
        })
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

/// A `berth server` process on a free loopback port with its own data directory.
pub struct BerthServer {
    child: Option<ChildGuard>,
    dir: tempfile::TempDir,
    pub port: u16,
    pub binary: PathBuf,
    pub extra_args: Vec<String>,
    pub log: PathBuf,
}

impl BerthServer {
    /// Start `binary server` and wait until it answers on its port.
    pub fn start(binary: &str, extra_args: &[&str]) -> Result<BerthServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| e.to_string())?;
        let mut s = BerthServer {
            child: None,
            log: dir.path().join("server.log"),
            dir,
            port,
            binary: PathBuf::from(binary),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        s.restart()?;
        Ok(s)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("kubeconfig.yaml")
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

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
        let child = Command::new(&self.binary)
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
        wait_for(Duration::from_secs(30), || {
            (TcpStream::connect(&addr).is_ok() && kubeconfig.exists()).then_some(())
        })
        .ok_or_else(|| format!("berth server did not come up: {}", self.log_text()))
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

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run a kubectl (the dispatcher by default) against this server.
    pub fn kubectl_with(&self, kubectl: &str, args: &[&str], stdin: Option<&str>) -> CmdOutput {
        run_cmd(
            Command::new(kubectl)
                .env("KUBECONFIG", self.kubeconfig())
                .env("HOME", self.dir.path())
                .args(args),
            stdin.map(str::as_bytes),
        )
    }

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
        let mut cmd = Command::new("curl");
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

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    /// For `BerthServer::curl`: the HTTP status code and the body.
    pub fn http(&self) -> (u16, String) {
        let (body, code) = self.stdout.rsplit_once('\n').unwrap_or(("", &self.stdout));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
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
