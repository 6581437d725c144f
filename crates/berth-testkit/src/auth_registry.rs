//! A registry that requires a user name and password: Debian's `docker-registry` with
//! `htpasswd` auth on a free loopback port, over plain HTTP or HTTPS with a self-signed
//! certificate (made with the `openssl` CLI). The bcrypt password hash comes from the C
//! library's `crypt` through `perl`, so no `htpasswd` program is needed.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{required, run_ok, which, ChildGuard};

/// A running registry with `htpasswd` authentication; stopped and removed on drop.
pub struct AuthRegistry {
    _child: ChildGuard,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// Whether it serves HTTPS (self-signed) instead of plain HTTP.
    pub tls: bool,
    /// The one user it accepts.
    pub username: String,
    /// That user's password.
    pub password: String,
    /// The network namespace it listens in, when not the test's own.
    netns: Option<String>,
}

/// A bcrypt hash of `password` (cost 5: tests need speed, not strength).
fn bcrypt(password: &str) -> Result<String, String> {
    // glibc's libxcrypt implements `$2b$`; the salt is 22 characters of bcrypt's base64.
    let hash = run_ok(
        Command::new("perl")
            .args([
                "-e",
                "print crypt($ARGV[0], '$2b$05$' . 'berthtestsaltberthtest')",
            ])
            .arg(password),
    )?;
    if !hash.starts_with("$2b$05$") || hash.len() != 60 {
        return Err(format!(
            "perl crypt() did not produce a bcrypt hash: {hash:?}"
        ));
    }
    Ok(hash)
}

fn self_signed(dir: &Path) -> Result<(), String> {
    run_ok(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stderr(Stdio::null()),
    )
    .map(|_| ())
}

impl AuthRegistry {
    /// Start a registry accepting only `username`/`password`, or `Ok(None)` when
    /// `docker-registry` (or, for TLS, `openssl`) is not installed and not required.
    pub fn start(
        username: &str,
        password: &str,
        tls: bool,
    ) -> Result<Option<AuthRegistry>, String> {
        AuthRegistry::start_in(None, username, password, tls)
    }

    /// [`AuthRegistry::start`], listening inside `netns` (where a test cluster's node runs)
    /// instead of the test's own network namespace.
    pub fn start_in(
        netns: Option<&crate::NetNs>,
        username: &str,
        password: &str,
        tls: bool,
    ) -> Result<Option<AuthRegistry>, String> {
        let missing = ["docker-registry", "perl", "skopeo"]
            .into_iter()
            .chain(tls.then_some("openssl"))
            .find(|p| which(p).is_none());
        if let Some(program) = missing {
            if required() {
                return Err(format!("{program} is not installed"));
            }
            return Ok(None);
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{username}:{}\n", bcrypt(password)?))
            .map_err(|e| e.to_string())?;
        let port = crate::free_port().map_err(|e| e.to_string())?;
        let addr = format!("127.0.0.1:{port}");
        let mut yaml = crate::registry_config(dir.path(), &addr);
        if tls {
            self_signed(dir.path())?;
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("cert.pem").display(),
                dir.path().join("key.pem").display()
            ));
        }
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            htpasswd.display()
        ));
        let child = crate::serve_registry(
            Path::new("docker-registry"),
            dir.path(),
            &addr,
            &yaml,
            netns,
        )?;
        Ok(Some(AuthRegistry {
            _child: child,
            _dir: dir,
            addr,
            tls,
            username: username.to_string(),
            password: password.to_string(),
            netns: netns.map(|n| n.name.clone()),
        }))
    }

    /// Build the busybox test image and push it as `name` (`repo:tag`) with the registry's
    /// credentials. Returns the manifest digest.
    pub fn push_busybox(&self, name: &str) -> Result<String, String> {
        let (_, tag) = name.rsplit_once(':').ok_or("name must be repo:tag")?;
        let layout = tempfile::tempdir().map_err(|e| e.to_string())?;
        let digest = crate::build_busybox_oci(layout.path(), tag)?;
        let mut skopeo = match &self.netns {
            Some(name) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{name}"))
                    .arg("--")
                    .arg("skopeo");
                c
            }
            None => Command::new("skopeo"),
        };
        run_ok(
            skopeo
                .args([
                    "--insecure-policy",
                    "copy",
                    "--preserve-digests",
                    // Also skips verifying the self-signed certificate.
                    "--dest-tls-verify=false",
                    "-q",
                ])
                .arg(format!("--dest-creds={}:{}", self.username, self.password))
                .arg(format!("oci:{}:{tag}", layout.path().display()))
                .arg(format!("docker://{}/{name}", self.addr)),
        )?;
        Ok(digest)
    }
}
