//! Registry configuration for pulls: mirrors, credentials and insecure registries, in k3s's
//! `registries.yaml` format, plus credentials from Docker's `config.json`.
//!
//! # Where the configuration comes from
//!
//! [`Registries::load`] (used by [`ImageStore::pull`](super::ImageStore::pull) unless the
//! store was given a configuration with
//! [`ImageStore::with_registries`](super::ImageStore::with_registries)) reads, at every pull:
//!
//! - `<data-dir>/registries.yaml` if it exists, else `/etc/berth/registries.yaml` if it exists;
//! - Docker's `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`, if it exists.
//!
//! A file that exists but cannot be read or parsed fails the pull with an error naming the
//! file: a broken configuration is never silently ignored.
//!
//! # `registries.yaml`
//!
//! ```yaml
//! mirrors:
//!   docker.io:                      # registry host as in image references
//!     endpoint: ["http://127.0.0.1:5000", "https://mirror.example"]
//!   "*":                            # registries without their own entry
//!     endpoint: ["https://mirror.example"]
//! configs:
//!   "127.0.0.1:5000":               # a registry or mirror host (host[:port])
//!     auth: {username: u, password: p}   # or {auth: base64("u:p")}
//!     tls: {insecure_skip_verify: true}
//! ```
//!
//! Supported, with containerd's semantics:
//!
//! - `mirrors.<registry>.endpoint`: URLs `http://host[:port]` or `https://host[:port]` (a
//!   trailing `/` or `/v2` is accepted; other paths are an error, as the client cannot put a
//!   prefix before `/v2/`). A scheme-less endpoint means HTTPS. A pull tries the endpoints in
//!   order and then the registry itself; the first one that serves the manifest serves the
//!   whole pull (the fallback is per pull, not per request). The image is recorded under its
//!   original reference. Requests to a mirror carry `?ns=<registry>`, as containerd's do.
//! - `mirrors."*"`: the endpoints of every registry that has no entry of its own.
//! - `configs.<host>.auth`: `username` + `password`, or `auth` (base64 of `user:password`).
//!   It applies to requests to that host, whether it is the registry or one of its mirrors.
//!   Credentials are offered as HTTP Basic auth, or exchanged for a token when the registry
//!   answers with a `Bearer` challenge.
//! - `configs.<host>.tls.insecure_skip_verify`: HTTPS without certificate or host name
//!   verification for that host.
//!
//! Not supported, and rejected with an error rather than ignored: `rewrite`,
//! `auth.identity_token`, `tls.ca_file`, `tls.cert_file`, `tls.key_file`, and any other
//! unknown field.
//!
//! # Plain HTTP
//!
//! A mirror is reached over plain HTTP when its endpoint says `http://`. A registry itself is
//! reached over plain HTTP when it is on this machine (`localhost`, `127.*`, `::1`, as Docker
//! does) and its `configs` entry has no `tls` section (with one, it is HTTPS). Everything else
//! uses HTTPS; there is no fallback from HTTPS to HTTP.
//!
//! # Docker `config.json`
//!
//! `auths.<key>` entries with `auth` (base64 of `user:password`) or `username` + `password`;
//! the key may be a host or a URL (`https://index.docker.io/v1/` means `docker.io`). Credential
//! helpers as Docker runs them: `credHelpers.<host>` names the helper for one registry,
//! `credsStore` the one for all others; `docker-credential-<name> get` is given the server
//! (`https://index.docker.io/v1/` for Docker Hub, else the host) on stdin and answers
//! `{"Username": ..., "Secret": ...}`. A helper that knows nothing of the server means no
//! credentials (then a plain `auths` entry, if any, is used). Identity tokens (from
//! `identitytoken` or a helper's `<token>` user) are not used. A `configs.<host>.auth` in
//! `registries.yaml` wins over `config.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use super::error::{Error, Result};

/// The system-wide `registries.yaml`, used when the data directory has none.
pub const SYSTEM_REGISTRIES_YAML: &str = "/etc/berth/registries.yaml";

/// The parsed `registries.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistriesConfig {
    /// Registry host (or `*`) -> its mirrors.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    /// Registry or mirror host -> how to talk to it.
    #[serde(default)]
    pub configs: BTreeMap<String, HostConfig>,
}

/// The mirrors of one registry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// Mirror URLs, tried in order before the registry itself.
    #[serde(default)]
    pub endpoint: Vec<String>,
}

/// How to talk to one host.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Credentials.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// TLS settings.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// Credentials of one host: `username` + `password`, or `auth`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
    /// Base64 of `username:password`.
    #[serde(default)]
    pub auth: Option<String>,
}

/// TLS settings of one host.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Accept any certificate (self-signed, wrong host name, expired).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// A user name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Where they come from (a file path), for error messages.
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Mirrors, credentials and TLS settings for pulls, from `registries.yaml` and Docker's
/// `config.json`.
#[derive(Debug, Clone, Default)]
pub struct Registries {
    config: RegistriesConfig,
    /// Where `config` comes from, for error messages.
    config_source: String,
    /// Host -> credentials from Docker's `config.json`.
    docker: BTreeMap<String, Credentials>,
    /// Host -> credentials of a pod's image pull secrets, tried before anything else.
    pull_secrets: BTreeMap<String, Credentials>,
    /// Docker's credential helpers.
    helpers: CredentialHelpers,
}

/// `credHelpers` and `credsStore` of a Docker `config.json`.
#[derive(Debug, Clone, Default)]
struct CredentialHelpers {
    /// Host -> helper name.
    by_host: BTreeMap<String, String>,
    /// The helper for every other host.
    store: Option<String>,
    /// Where helpers are looked for; `PATH` when unset.
    dirs: Option<Vec<PathBuf>>,
}

/// One place to try a pull from: a mirror or the registry itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `host[:port]` to connect to.
    pub host: String,
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// HTTPS without certificate verification.
    pub insecure_skip_verify: bool,
    /// Credentials for this host, if any are configured.
    pub credentials: Option<Credentials>,
    /// Whether this is a mirror (not the registry itself).
    pub mirror: bool,
}

impl Registries {
    /// These settings, with the credentials of a Docker config (`.dockerconfigjson`, or the
    /// older `.dockercfg` map) first for the hosts it names: how a pod's image pull secrets
    /// apply on top of the node's configuration. `source` names the config in errors.
    pub fn with_docker_config(&self, text: &str, source: &str) -> Result<Registries> {
        let mut r = self.clone();
        r.pull_secrets
            .extend(parse_docker_config(text, Path::new(source))?);
        Ok(r)
    }

    /// Look for `docker-credential-*` helpers in `dirs` instead of on `PATH`.
    pub fn with_credential_helper_dirs(mut self, dirs: Vec<PathBuf>) -> Registries {
        self.helpers.dirs = Some(dirs);
        self
    }

    /// No mirrors, no credentials.
    pub fn none() -> Registries {
        Registries::default()
    }

    /// The configuration of a data directory: its `registries.yaml` (else the system-wide
    /// one) and Docker's `config.json` from the environment.
    pub fn load(data_dir: &Path) -> Result<Registries> {
        let local = data_dir.join("registries.yaml");
        let yaml = [local, PathBuf::from(SYSTEM_REGISTRIES_YAML)]
            .into_iter()
            .find(|p| p.exists());
        Registries::from_files(yaml.as_deref(), docker_config_path().as_deref())
    }

    /// The configuration in these files; a path that does not exist counts as empty.
    pub fn from_files(
        registries_yaml: Option<&Path>,
        docker_config: Option<&Path>,
    ) -> Result<Registries> {
        let mut r = Registries::none();
        if let Some(path) = registries_yaml {
            if let Some(text) = read_optional(path)? {
                r.config = parse_registries_yaml(&text, path)?;
                r.config_source = path.display().to_string();
            }
        }
        if let Some(path) = docker_config {
            if let Some(text) = read_optional(path)? {
                r.docker = parse_docker_config(&text, path)?;
                r.helpers = parse_helpers(&text, path)?;
            }
        }
        Ok(r)
    }

    /// A configuration from a parsed `registries.yaml` (no Docker `config.json`).
    pub fn from_config(config: RegistriesConfig) -> Result<Registries> {
        let source = "registries configuration";
        validate(&config, source)?;
        Ok(Registries {
            config,
            config_source: source.to_string(),
            docker: BTreeMap::new(),
            pull_secrets: BTreeMap::new(),
            helpers: CredentialHelpers::default(),
        })
    }

    /// Where to pull images of `registry` from, in order: its mirrors (or those of `*`), then
    /// the registry itself. `registry` is the host of a normalized reference (`docker.io`).
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mirrors = self
            .config
            .mirrors
            .get(registry)
            .or_else(|| self.config.mirrors.get("*"));
        let mut out: Vec<Endpoint> = mirrors
            .into_iter()
            .flat_map(|m| &m.endpoint)
            // Validated when loaded; an endpoint that does not parse cannot occur here.
            .filter_map(|e| parse_endpoint(e).ok())
            .map(|(host, plain_http)| self.endpoint(host, plain_http, true))
            .collect();
        // A mirror entry may list the registry itself; it is tried once, in its place.
        let itself_listed = out.iter().any(|e| same_host(&e.host, registry));
        if !itself_listed {
            // A registry on this machine speaks plain HTTP, as Docker assumes, unless its
            // `configs` entry has a `tls` section, which says it serves HTTPS.
            let has_tls = self.host_config(registry).is_some_and(|c| c.tls.is_some());
            let plain = is_loopback_host(registry) && !has_tls;
            out.push(self.endpoint(registry.to_string(), plain, false));
        }
        for e in &mut out {
            if same_host(&e.host, registry) {
                e.mirror = false;
            }
        }
        out
    }

    fn endpoint(&self, host: String, plain_http: bool, mirror: bool) -> Endpoint {
        let config = self.host_config(&host);
        let insecure_skip_verify = config
            .and_then(|c| c.tls.as_ref())
            .is_some_and(|t| t.insecure_skip_verify);
        let pull_secret = self
            .pull_secrets
            .iter()
            .find(|(k, _)| same_host(k, &host))
            .map(|(_, c)| c.clone());
        let credentials = pull_secret
            .or_else(|| {
                config
                    .and_then(|c| c.auth.as_ref())
                    // Validated when loaded: an auth entry always yields credentials.
                    .and_then(|a| auth_credentials(a, &self.config_source).ok())
            })
            .or_else(|| self.helpers.credentials(&host))
            .or_else(|| {
                self.docker
                    .iter()
                    .find(|(k, _)| same_host(k, &host))
                    .map(|(_, c)| c.clone())
            });
        Endpoint {
            plain_http,
            host,
            insecure_skip_verify,
            credentials,
            mirror,
        }
    }

    fn host_config(&self, host: &str) -> Option<&HostConfig> {
        self.config
            .configs
            .iter()
            .find(|(k, _)| same_host(k, host))
            .map(|(_, c)| c)
    }
}

/// Docker's `config.json`: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The file's text, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::RegistriesConfig {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// Parse and validate a `registries.yaml`.
pub fn parse_registries_yaml(text: &str, path: &Path) -> Result<RegistriesConfig> {
    let bad = |reason: String| Error::RegistriesConfig {
        path: path.to_path_buf(),
        reason,
    };
    // An empty file (or one with only comments) is an empty configuration, as in k3s.
    let config: Option<RegistriesConfig> =
        serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?;
    let config = config.unwrap_or_default();
    validate(&config, &path.display().to_string()).map_err(|e| match e {
        Error::RegistriesConfig { reason, .. } => bad(reason),
        other => other,
    })?;
    Ok(config)
}

/// Check what serde cannot: endpoint URLs and auth entries.
fn validate(config: &RegistriesConfig, source: &str) -> Result<()> {
    let bad = |reason: String| Error::RegistriesConfig {
        path: PathBuf::from(source),
        reason,
    };
    for (registry, mirror) in &config.mirrors {
        for e in &mirror.endpoint {
            parse_endpoint(e).map_err(|r| bad(format!("mirrors.{registry}.endpoint: {r}")))?;
        }
    }
    for (host, c) in &config.configs {
        if let Some(a) = &c.auth {
            auth_credentials(a, source).map_err(|r| bad(format!("configs.{host}.auth: {r}")))?;
        }
    }
    Ok(())
}

/// `http(s)://host[:port][/][v2[/]]` -> (host, plain HTTP).
fn parse_endpoint(url: &str) -> std::result::Result<(String, bool), String> {
    let (rest, plain) = if let Some(r) = url.strip_prefix("http://") {
        (r, true)
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, false)
    } else if url.contains("://") {
        return Err(format!(
            "{url:?}: only http:// and https:// endpoints are supported"
        ));
    } else {
        (url, false)
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if !matches!(path.trim_end_matches('/'), "" | "v2") {
        return Err(format!(
            "{url:?}: endpoints with a path are not supported (only host[:port])"
        ));
    }
    Ok((host.to_string(), plain))
}

/// Credentials of an `auth` entry of `registries.yaml`.
fn auth_credentials(a: &AuthConfig, source: &str) -> std::result::Result<Credentials, String> {
    let (username, password) = match (&a.username, &a.password, &a.auth) {
        (Some(u), Some(p), None) => (u.clone(), p.clone()),
        (None, None, Some(b64)) => decode_basic(b64)?,
        _ => {
            return Err(
                "expected either username and password, or auth (base64 of user:password)".into(),
            )
        }
    };
    Ok(Credentials {
        username,
        password,
        source: source.to_string(),
    })
}

/// base64 of `user:password` -> (user, password).
fn decode_basic(b64: &str) -> std::result::Result<(String, String), String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("auth is not valid base64: {e}"))?;
    let text = String::from_utf8(raw).map_err(|_| "auth is not UTF-8 once decoded".to_string())?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| "auth does not decode to user:password".to_string())?;
    Ok((u.to_string(), p.to_string()))
}

/// The `auths` part of Docker's `config.json`.
#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Debug, Default, Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Host -> credentials from a Docker `config.json`.
fn parse_docker_config(text: &str, path: &Path) -> Result<BTreeMap<String, Credentials>> {
    let bad = |reason: String| Error::RegistriesConfig {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    // The older `.dockercfg` format is the `auths` map alone.
    let config: DockerConfig = if !is_dockercfg(&value) {
        serde_json::from_value(value).map_err(|e| bad(e.to_string()))?
    } else {
        DockerConfig {
            auths: serde_json::from_value(value).map_err(|e| bad(e.to_string()))?,
        }
    };
    let mut out = BTreeMap::new();
    for (key, a) in config.auths {
        let (username, password) = match (a.auth.filter(|s| !s.is_empty()), a.username, a.password)
        {
            (Some(b64), _, _) => {
                decode_basic(&b64).map_err(|r| bad(format!("auths.{key}: {r}")))?
            }
            (None, Some(u), Some(p)) => (u, p),
            // Identity tokens only, or an entry for a credential helper: nothing usable here.
            _ => continue,
        };
        out.insert(
            docker_config_host(&key),
            Credentials {
                username,
                password,
                source: path.display().to_string(),
            },
        );
    }
    Ok(out)
}

/// Whether a Docker config is the older `.dockercfg` map of hosts (every value an
/// object, none of `config.json`'s own keys).
fn is_dockercfg(value: &serde_json::Value) -> bool {
    let Some(map) = value.as_object() else {
        return false;
    };
    let own_keys = ["auths", "credsStore", "credHelpers"];
    !own_keys.iter().any(|k| map.contains_key(*k)) && map.values().all(|v| v.is_object())
}

/// The credential helper settings of a Docker `config.json`.
fn parse_helpers(text: &str, path: &Path) -> Result<CredentialHelpers> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Helpers {
        #[serde(default)]
        creds_store: Option<String>,
        #[serde(default)]
        cred_helpers: BTreeMap<String, String>,
    }
    let bad = |reason: String| Error::RegistriesConfig {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if value.get("auths").is_none()
        && value.get("credsStore").is_none()
        && value.get("credHelpers").is_none()
    {
        // The older `.dockercfg` format has no helpers.
        return Ok(CredentialHelpers::default());
    }
    let h: Helpers = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    let valid = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    for name in h.cred_helpers.values().chain(&h.creds_store) {
        if !valid(name) {
            return Err(bad(format!("{name:?} is not a credential helper name")));
        }
    }
    Ok(CredentialHelpers {
        by_host: h
            .cred_helpers
            .into_iter()
            .map(|(k, v)| (docker_config_host(&k), v))
            .collect(),
        store: h.creds_store.filter(|s| !s.is_empty()),
        dirs: None,
    })
}

impl CredentialHelpers {
    /// What the helper for `host` knows, if there is one and it knows anything.
    fn credentials(&self, host: &str) -> Option<Credentials> {
        let name = self
            .by_host
            .iter()
            .find(|(k, _)| same_host(k, host))
            .map(|(_, v)| v)
            .or(self.store.as_ref())?;
        let program = format!("docker-credential-{name}");
        let path = match &self.dirs {
            Some(dirs) => dirs
                .iter()
                .map(|d| d.join(&program))
                .find(|p| p.is_file())?,
            None => PathBuf::from(&program),
        };
        let server = if canonical_host(host) == "docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            host.to_string()
        };
        match run_helper(&path, &server) {
            Ok(Some((username, password))) => Some(Credentials {
                username,
                password,
                source: program,
            }),
            Ok(None) => None,
            Err(why) => {
                tracing::warn!(helper = %program, %host, "credential helper failed: {why}");
                None
            }
        }
    }
}

/// Run `<helper> get` for `server`: its user name and secret, `None` when it has none.
fn run_helper(path: &Path, server: &str) -> std::result::Result<Option<(String, String)>, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(path)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its answer below.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {}: {e}", path.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let said = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        // The wording every helper of docker-credential-helpers uses.
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("{}: {}", out.status, said.trim()));
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let answer: Answer =
        serde_json::from_str(&stdout).map_err(|e| format!("unreadable answer: {e}"))?;
    if answer.username == "<token>" || answer.secret.is_empty() {
        // An identity token, which pulls do not use.
        return Ok(None);
    }
    Ok(Some((answer.username, answer.secret)))
}

/// A `config.json` key (host or URL) -> the registry host of normalized references.
fn docker_config_host(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest);
    canonical_host(host).to_string()
}

/// Docker Hub's aliases are one host.
fn canonical_host(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    }
}

fn same_host(a: &str, b: &str) -> bool {
    canonical_host(a).eq_ignore_ascii_case(canonical_host(b))
}

/// Whether `host[:port]` is on this machine.
pub(crate) fn is_loopback_host(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.split(':').next().unwrap_or(registry)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Registries> {
        let config = parse_registries_yaml(text, Path::new("/x/registries.yaml"))?;
        Registries::from_config(config)
    }

    #[test]
    fn mirrors_then_registry_in_order() {
        let r = parse(
            "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:5000\", \"https://m.example/v2/\"]\n\
             configs:\n  m.example:\n    auth: {username: u, password: p}\n    tls: {insecure_skip_verify: true}\n",
        )
        .unwrap();
        let e = r.endpoints("docker.io");
        let hosts: Vec<_> = e
            .iter()
            .map(|e| (e.host.as_str(), e.plain_http, e.mirror))
            .collect();
        assert_eq!(
            hosts,
            [
                ("127.0.0.1:5000", true, true),
                ("m.example", false, true),
                ("docker.io", false, false)
            ]
        );
        assert!(e[1].insecure_skip_verify);
        assert_eq!(e[1].credentials.as_ref().unwrap().username, "u");
        assert!(e[0].credentials.is_none());
        // Other registries fall back to "*" only when it exists.
        assert_eq!(r.endpoints("quay.io").len(), 1);
    }

    #[test]
    fn wildcard_and_base64_auth() {
        let r = parse(
            "mirrors:\n  \"*\":\n    endpoint: [\"m.example:8443\"]\nconfigs:\n  quay.io:\n    auth: {auth: dTpzZWNyZXRwdw==}\n",
        )
        .unwrap();
        let e = r.endpoints("quay.io");
        assert_eq!(e[0].host, "m.example:8443");
        assert!(!e[0].plain_http);
        let c = e[1].credentials.as_ref().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("u", "secretpw")
        );
        assert!(
            !format!("{c:?}").contains("secretpw"),
            "Debug hides the password"
        );
    }

    #[test]
    fn loopback_registry_is_plain_http() {
        let e = Registries::none().endpoints("localhost:5000");
        assert_eq!(e.len(), 1);
        assert!(e[0].plain_http);
        assert!(!Registries::none().endpoints("example.com")[0].plain_http);
        let tls = parse("configs:\n  localhost:5000:\n    tls: {insecure_skip_verify: true}\n")
            .unwrap()
            .endpoints("localhost:5000");
        assert!(!tls[0].plain_http && tls[0].insecure_skip_verify);
    }

    #[test]
    fn malformed_files_name_file_and_problem() {
        for (text, needle) in [
            ("mirrors: [1, 2]", "mirrors"),
            ("mirrors:\n  a:\n    endpoints: []\n", "endpoints"),
            ("mirrors:\n  a:\n    endpoint: [\"ftp://x\"]\n", "ftp"),
            (
                "mirrors:\n  a:\n    endpoint: [\"https://x/prefix\"]\n",
                "path",
            ),
            (
                "configs:\n  a:\n    auth: {username: u}\n",
                "configs.a.auth",
            ),
            ("configs:\n  a:\n    auth: {auth: \"!!\"}\n", "base64"),
            ("configs:\n  a:\n    tls: {ca_file: /x}\n", "ca_file"),
            ("mirrors: {a: {endpoint: [\"x\"]}\n", "registries.yaml"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains("/x/registries.yaml"), "{text:?}: {err}");
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        assert_eq!(parse("# nothing\n").unwrap().endpoints("a").len(), 1);
    }

    #[test]
    fn docker_config_credentials_and_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("config.json");
        std::fs::write(
            &docker,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"ZDpl"},
               "r.example":{"username":"a","password":"b"},
               "t.example":{"identitytoken":"x"}},"credsStore":"desktop"}"#,
        )
        .unwrap();
        let yaml = dir.path().join("registries.yaml");
        std::fs::write(
            &yaml,
            "configs:\n  r.example:\n    auth: {username: y, password: z}\n",
        )
        .unwrap();
        let r = Registries::from_files(Some(&yaml), Some(&docker)).unwrap();
        let c = r.endpoints("docker.io")[0].credentials.clone().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("d", "e"));
        let c = r.endpoints("r.example")[0].credentials.clone().unwrap();
        assert_eq!(c.username, "y", "registries.yaml wins");
        assert!(r.endpoints("t.example")[0].credentials.is_none());
        // Missing files are empty configurations.
        let none = Registries::from_files(
            Some(&dir.path().join("absent.yaml")),
            Some(&dir.path().join("absent.json")),
        )
        .unwrap();
        assert!(none.endpoints("docker.io")[0].credentials.is_none());
    }

    #[test]
    fn credential_helper_settings_are_read_and_checked() {
        let path = Path::new("config.json");
        let h = parse_helpers(
            r#"{"credsStore":"desktop","credHelpers":{"https://index.docker.io/v1/":"hub","r.example":"ecr-login"}}"#,
            path,
        )
        .unwrap_or_default();
        assert_eq!(h.store.as_deref(), Some("desktop"));
        assert_eq!(h.by_host.get("docker.io").map(String::as_str), Some("hub"));
        assert_eq!(
            h.by_host.get("r.example").map(String::as_str),
            Some("ecr-login")
        );
        // A name that would run something else is refused, naming the file.
        let err = parse_helpers(r#"{"credsStore":"../../bin/sh"}"#, path);
        assert!(err.is_err_and(|e| e.to_string().contains("config.json")));
        // The old `.dockercfg` map has none.
        let old = parse_helpers(r#"{"r.example":{"auth":"dTpw"}}"#, path).unwrap_or_default();
        assert!(old.store.is_none() && old.by_host.is_empty());
        // A helper that is not installed gives no credentials (and no panic).
        let missing = CredentialHelpers {
            store: Some("berth-test-missing".into()),
            dirs: Some(vec![PathBuf::from("/nonexistent")]),
            ..CredentialHelpers::default()
        };
        assert!(missing.credentials("r.example").is_none());
    }

    #[test]
    fn pull_secrets_come_first_in_either_format() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("registries.yaml");
        std::fs::write(
            &yaml,
            "configs:\n  r.example:\n    auth: {username: node, password: n}\n",
        )
        .unwrap();
        let node = Registries::from_files(Some(&yaml), None).unwrap();
        // `.dockerconfigjson`
        let pod = node
            .with_docker_config(
                r#"{"auths":{"r.example":{"username":"pod","password":"p"}}}"#,
                "secret default/regcred",
            )
            .unwrap();
        let c = pod.endpoints("r.example")[0].credentials.clone().unwrap();
        assert_eq!(c.username, "pod");
        // `.dockercfg`: the auths map alone.
        let pod = node
            .with_docker_config(r#"{"q.example":{"auth":"ZDpl"}}"#, "secret default/old")
            .unwrap();
        let c = pod.endpoints("q.example")[0].credentials.clone().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("d", "e"));
        assert_eq!(
            pod.endpoints("r.example")[0]
                .credentials
                .clone()
                .unwrap()
                .username,
            "node"
        );
        let err = node
            .with_docker_config("{not json", "secret default/bad")
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret default/bad"), "{err}");
    }
}
