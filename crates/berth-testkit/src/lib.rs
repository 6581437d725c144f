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
