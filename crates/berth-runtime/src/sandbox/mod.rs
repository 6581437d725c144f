//! Pod sandboxes: the namespaces and network a pod's containers share.
//!
//! A sandbox is a new network, IPC and UTS namespace held by bind-mounted namespace files (no
//! pause process), a cgroup parent (`/berth/<id>`) under which the container engine creates
//! the containers' cgroups, `lo` up, and optionally a veth pair into a Linux bridge with an
//! IPv4 address from a host-local range. Containers join it by naming its namespace files in
//! their OCI spec.
//!
//! State on disk, under the data dir `<root>`:
//!
//! - `sandboxes/<id>/sandbox.json`: the [`Sandbox`] record, written last (temp file and
//!   rename), so a sandbox without it is one whose create did not finish;
//! - `sandboxes/<id>/ns/{net,ipc,uts}`: the namespace files (`namespaces.rs`);
//! - `network/<bridge>/`: address allocations (`ipam.rs`).
//!
//! A create that fails undoes what it did. A create that never finished (process killed,
//! future dropped) leaves a directory without `sandbox.json`; [`Sandboxes::remove`] cleans that
//! up too, finding the host veth by its name derived from the id and the address by scanning
//! the allocations for the id. Namespaces and interfaces do not survive a reboot, so neither
//! do sandboxes: their records are then stale and only good for `remove`.

pub(crate) mod cgroup;
mod error;
pub mod ipam;
mod namespaces;
mod network;

use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use cgroup::{parent_exists, parse_mountinfo, set_parent_limits, MountInfo, ParentLimits};
pub use error::{Error, Result};
pub use ipam::{Ipam, Subnet};
pub use network::{host_veth_name, SANDBOX_IFNAME};

use error::io;
use namespaces::NsPaths;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxConfig {
    /// Sandbox id: `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}`.
    pub id: String,
    /// Hostname inside the sandbox's UTS namespace (1 to 64 of `[a-zA-Z0-9.-]`).
    pub hostname: String,
    /// Attach the sandbox to a bridge; without it the sandbox has only `lo`.
    pub network: Option<NetworkConfig>,
    /// cgroup parent of its containers (an absolute path of `[a-zA-Z0-9_.-]` components,
    /// e.g. the node agent's `/kubepods/burstable/pod<uid>`); default `/berth/<id>`.
    #[serde(default)]
    pub cgroup_parent: Option<String>,
}

/// How to attach a sandbox to the host's network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Linux bridge, e.g. `berth0`; created on first use.
    pub bridge: String,
    /// IPv4 subnet in CIDR notation, e.g. `10.42.0.0/24`. Its first host address is the
    /// gateway, assigned to the bridge; sandboxes get the others.
    pub subnet: String,
    /// MTU of the veth pair (and of the bridge when this creates it).
    pub mtu: Option<u32>,
}

/// A created sandbox, as recorded in `sandbox.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    /// Sandbox id.
    pub id: String,
    /// Hostname of its UTS namespace.
    pub hostname: String,
    /// Network namespace file.
    pub netns: PathBuf,
    /// IPC namespace file.
    pub ipcns: PathBuf,
    /// UTS namespace file.
    pub utsns: PathBuf,
    /// cgroup parent of its containers, `/berth/<id>`.
    pub cgroup_parent: String,
    /// Address of `eth0`, when attached to a bridge.
    pub ip: Option<Ipv4Addr>,
    /// Default gateway (the bridge's address), when attached.
    pub gateway: Option<Ipv4Addr>,
    /// Prefix length of the subnet, when attached.
    pub prefix_len: Option<u8>,
    /// Host end of the veth pair, when attached.
    pub host_veth: Option<String>,
    /// The bridge, when attached.
    pub bridge: Option<String>,
    /// Creation time, RFC 3339.
    pub created_at: String,
}

/// The sandboxes of one data dir, under `<root>/sandboxes`.
#[derive(Debug, Clone)]
pub struct Sandboxes {
    root: PathBuf,
    dir: PathBuf,
}

/// What a sandbox owns outside its directory, as far as known.
#[derive(Debug, Default)]
struct Owned {
    /// Bridge and address allocated to it.
    lease: Option<(String, Ipv4Addr)>,
    /// Host veth it created.
    host_veth: Option<String>,
    /// Its cgroup parent, when not the default.
    cgroup_parent: Option<String>,
}

impl Owned {
    fn of(sandbox: &Sandbox) -> Owned {
        Owned {
            lease: sandbox.bridge.clone().zip(sandbox.ip),
            host_veth: sandbox.host_veth.clone(),
            cgroup_parent: Some(sandbox.cgroup_parent.clone()),
        }
    }
}

/// A validated [`NetworkConfig`].
struct Network {
    bridge: String,
    subnet: Subnet,
    mtu: Option<u32>,
}

impl Sandboxes {
    /// The sandboxes of the data dir `root`; creates `<root>/sandboxes` if needed.
    pub fn open(root: &Path) -> Result<Sandboxes> {
        let dir = root.join("sandboxes");
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        Ok(Sandboxes {
            root: root.to_path_buf(),
            dir,
        })
    }

    /// `<root>/sandboxes`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The address allocations of `bridge`.
    pub fn ipam(&self, bridge: &str) -> Ipam {
        Ipam::new(&self.root, bridge)
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Make sure the bridge of `network` exists, is up and has the gateway address (what the
    /// first sandbox would do), for services the node offers its pods on that address
    /// before any pod exists (cluster DNS). Returns the gateway. The bridge is recorded like
    /// a sandbox's, so `berth reset` removes it.
    pub async fn ensure_network(&self, network: &NetworkConfig) -> Result<Ipv4Addr> {
        let net = validate_network(network)?;
        let dir = self.ipam(&net.bridge).dir().to_path_buf();
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let host = network::connect(&tokio::runtime::Handle::current())?;
        let work = async {
            let bridge = network::find_or_create_bridge(&host.handle, &net.bridge, net.mtu).await?;
            network::configure_bridge(&host.handle, &bridge, &net.bridge, &net.subnet).await
        };
        network::drive(work, host.connection, "configuring the bridge").await?;
        Ok(net.subnet.gateway())
    }

    /// Create a sandbox. Fails with [`Error::AlreadyExists`] if the id is taken, leaving that
    /// sandbox alone; any other failure undoes what was done.
    pub async fn create(&self, config: &SandboxConfig) -> Result<Sandbox> {
        validate_id(&config.id)?;
        validate_hostname(&config.hostname)?;
        if let Some(parent) = &config.cgroup_parent {
            cgroup::validate_path(parent)?;
        }
        let network = config.network.as_ref().map(validate_network).transpose()?;

        // Creating the directory claims the id, also against other processes.
        let dir = self.sandbox_dir(&config.id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists(config.id.clone()))
            }
            Err(e) => return Err(io(format!("creating {}", dir.display()))(e)),
        }

        let mut owned = Owned::default();
        match self.build(&dir, config, network, &mut owned).await {
            Ok(sandbox) => Ok(sandbox),
            Err(err) => {
                if let Err(cleanup) = self.teardown(&config.id, Some(&owned), false).await {
                    tracing::warn!(
                        sandbox = %config.id,
                        error = %cleanup,
                        "cleaning up after a failed sandbox create; remove it to retry"
                    );
                }
                Err(err)
            }
        }
    }

    /// Everything after claiming the id. Records in `owned` what needs undoing outside the
    /// sandbox directory as soon as it exists.
    ///
    /// Creating the network namespace is the slowest step (about half a millisecond of kernel
    /// work), so the address lease and the bridge lookup run while the namespace thread does
    /// it, and the veth pair is created while that thread mounts the namespaces.
    async fn build(
        &self,
        dir: &Path,
        config: &SandboxConfig,
        network: Option<Network>,
        owned: &mut Owned,
    ) -> Result<Sandbox> {
        let paths = NsPaths::new(dir);
        let runtime = tokio::runtime::Handle::current();
        let sandbox_runtime = runtime.clone();
        let creating = namespaces::spawn(&paths, &config.hostname, move || {
            network::connect(&sandbox_runtime)
        })?;

        let mut sandbox = Sandbox {
            id: config.id.clone(),
            hostname: config.hostname.clone(),
            netns: paths.net.clone(),
            ipcns: paths.ipc.clone(),
            utsns: paths.uts.clone(),
            cgroup_parent: config
                .cgroup_parent
                .clone()
                .unwrap_or_else(|| cgroup_parent(&config.id)),
            ip: None,
            gateway: None,
            prefix_len: None,
            host_veth: None,
            bridge: None,
            created_at: jiff::Timestamp::now().to_string(),
        };

        let Some(net) = network else {
            let ns = creating.finish().await?;
            network::drive(
                network::configure_sandbox(&ns.handle, None),
                ns.connection,
                "configuring the sandbox's lo",
            )
            .await?;
            write_state(dir, &sandbox)?;
            return Ok(sandbox);
        };

        // `attach` finishes it on success; on error it is finished below, because cleanup
        // must not race with the thread's mounts.
        let mut creating = Some(creating);
        let result = match network::connect(&runtime) {
            Ok(host) => {
                let work = self.attach(config, &net, &host.handle, &mut creating, owned);
                network::drive(work, host.connection, "configuring the host network").await
            }
            Err(e) => Err(e),
        };
        if let Some(creating) = creating.take() {
            let _ = creating.finish().await;
        }
        let ip = result?;

        sandbox.ip = Some(ip);
        sandbox.gateway = Some(net.subnet.gateway());
        sandbox.prefix_len = Some(net.subnet.prefix_len());
        sandbox.host_veth = Some(host_veth_name(&config.id));
        sandbox.bridge = Some(net.bridge);
        write_state(dir, &sandbox)?;
        Ok(sandbox)
    }

    /// The network part of [`Sandboxes::build`]: lease, bridge, veth pair, and the inside of
    /// the sandbox once `creating` has finished. Returns the sandbox's address.
    async fn attach(
        &self,
        config: &SandboxConfig,
        net: &Network,
        host: &rtnetlink::Handle,
        creating: &mut Option<namespaces::Creating<network::Netlink>>,
        owned: &mut Owned,
    ) -> Result<Ipv4Addr> {
        let thread_gone = || Error::TaskFailed("the sandbox namespace thread");
        let lease = {
            let ipam = self.ipam(&net.bridge);
            let (subnet, id) = (net.subnet, config.id.clone());
            // flock may wait for another process, so not on a runtime thread.
            async move {
                tokio::task::spawn_blocking(move || ipam.allocate(&subnet, &id))
                    .await
                    .map_err(|_| Error::TaskFailed("the address allocation"))?
            }
        };
        let bridge = network::find_or_create_bridge(host, &net.bridge, net.mtu);
        let netns = async {
            match creating.as_mut() {
                Some(creating) => creating.netns().await,
                None => Err(thread_gone()),
            }
        };
        let (netns, lease, bridge) = tokio::join!(netns, lease, bridge);
        if let Ok(ip) = &lease {
            owned.lease = Some((net.bridge.clone(), *ip));
        }
        let (netns, ip, bridge) = (netns?, lease?, bridge?);

        let host_veth = host_veth_name(&config.id);
        let attachment = network::Attachment {
            id: &config.id,
            subnet: net.subnet,
            ip,
            host_veth: &host_veth,
            mtu: net.mtu,
            netns: &netns,
        };
        // Independent of each other, so they go to the kernel together.
        let (bridge_ready, veth) = futures::future::join(
            network::configure_bridge(host, &bridge, &net.bridge, &net.subnet),
            network::create_veth(host, &attachment, &bridge),
        )
        .await;
        if veth.is_ok() {
            owned.host_veth = Some(host_veth.clone());
        }
        veth?;
        bridge_ready?;
        let ns = match creating.take() {
            Some(creating) => creating.finish().await?,
            None => return Err(thread_gone()),
        };

        let inside = network::drive(
            network::configure_sandbox(&ns.handle, Some(&attachment)),
            ns.connection,
            "configuring the sandbox network",
        );
        let alias = network::set_alias(host, &host_veth, &config.id);
        let (inside, alias) = tokio::join!(inside, alias);
        inside?;
        alias?;
        Ok(ip)
    }

    /// Delete every bridge this data directory's sandboxes were attached to, with its address
    /// state (`berth reset`; sandboxes must be removed first). Returns the deleted bridges.
    pub async fn remove_bridges(&self) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        for bridge in ipam::bridges(&self.root)? {
            if network::delete_bridge(&bridge).await? {
                deleted.push(bridge.clone());
            }
            let dir = ipam::network_dir(&self.root).join(&bridge);
            std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
        }
        Ok(deleted)
    }

    /// The sandbox `id`, if it exists and its create finished.
    pub fn get(&self, id: &str) -> Result<Option<Sandbox>> {
        validate_id(id)?;
        let path = self.sandbox_dir(id).join("sandbox.json");
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::State { path, source })
    }

    /// Every sandbox whose create finished, by id. A sandbox with a corrupt record is left out
    /// (with a warning) rather than hiding all the others.
    pub fn list(&self) -> Result<Vec<Sandbox>> {
        let entries =
            fs::read_dir(&self.dir).map_err(io(format!("listing {}", self.dir.display())))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(format!("listing {}", self.dir.display())))?;
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if validate_id(&id).is_err() {
                continue;
            }
            match self.get(&id) {
                Ok(Some(sandbox)) => out.push(sandbox),
                Ok(None) => {}
                Err(e @ Error::State { .. }) => {
                    tracing::warn!(sandbox = %id, error = %e, "skipping unreadable sandbox");
                }
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Remove sandbox `id`: its cgroup parent, host veth, address, namespace mounts and
    /// directory. Removing a sandbox that does not exist is not an error, and a remove that
    /// failed half-way can be repeated.
    ///
    /// Fails with [`Error::CgroupBusy`], changing nothing, while the cgroup parent still has
    /// containers' cgroups in it.
    pub async fn remove(&self, id: &str) -> Result<()> {
        validate_id(id)?;
        let dir = self.sandbox_dir(id);
        match fs::symlink_metadata(&dir) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(format!("inspecting {}", dir.display()))(e)),
        }
        let owned = match self.get(id) {
            Ok(record) => record.as_ref().map(Owned::of),
            // A corrupt record must not make the sandbox unremovable: fall back to what can
            // be found from the id alone.
            Err(e @ Error::State { .. }) => {
                tracing::warn!(
                    sandbox = %id,
                    error = %e,
                    "removing a sandbox with a corrupt record"
                );
                None
            }
            Err(e) => return Err(e),
        };
        self.teardown(id, owned.as_ref(), true).await
    }

    /// Undo a sandbox. `owned: None` means unknown (no record): look for what the sandbox may
    /// own by its id. Stops at the first error, so that the rest is still found on a retry.
    async fn teardown(&self, id: &str, owned: Option<&Owned>, cgroups: bool) -> Result<()> {
        // First, because a busy cgroup means containers still use the sandbox: it must then
        // stay whole.
        if cgroups {
            let recorded = owned.and_then(|o| o.cgroup_parent.clone());
            cgroup::remove_parent(&recorded.unwrap_or_else(|| cgroup_parent(id)))?;
        }
        match owned {
            Some(owned) => {
                if let Some(veth) = &owned.host_veth {
                    network::delete_host_veth(veth, None).await?;
                }
                if let Some((bridge, ip)) = &owned.lease {
                    self.ipam(bridge).release(*ip, id)?;
                }
            }
            None => {
                network::delete_host_veth(&host_veth_name(id), Some(id)).await?;
                for bridge in ipam::bridges(&self.root)? {
                    self.ipam(&bridge).release_id(id)?;
                }
            }
        }
        let dir = self.sandbox_dir(id);
        namespaces::remove(&NsPaths::new(&dir))?;
        // Everything is unmounted now; were something still mounted, unlinking it would fail
        // with EBUSY rather than reach through it.
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("removing {}", dir.display()))(e)),
        }
    }
}

/// The cgroup parent of sandbox `id`.
pub fn cgroup_parent(id: &str) -> String {
    format!("/berth/{id}")
}

/// Write `sandbox.json` through a temp file and a rename, so readers see the whole record or
/// none. Not fsynced: the namespaces and interfaces it describes do not survive a crash of
/// the machine either.
fn write_state(dir: &Path, sandbox: &Sandbox) -> Result<()> {
    let path = dir.join("sandbox.json");
    let tmp = dir.join("sandbox.json.tmp");
    let bytes = serde_json::to_vec_pretty(sandbox).map_err(|source| Error::State {
        path: path.clone(),
        source,
    })?;
    fs::write(&tmp, bytes).map_err(io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, &path).map_err(io(format!("renaming {} into place", tmp.display())))
}

/// Check a sandbox id: `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}`. Ids name directories and go into
/// cgroup paths, so nothing else may pass.
pub fn validate_id(id: &str) -> Result<()> {
    let bytes = id.as_bytes();
    let ok = matches!(bytes.first(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

fn validate_hostname(hostname: &str) -> Result<()> {
    let bytes = hostname.as_bytes();
    // 64 is the kernel's limit (HOST_NAME_MAX); the characters are those of DNS names.
    let ok = matches!(bytes.first(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.len() <= 64
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: "hostname",
            value: hostname.to_string(),
            reason: "expected 1 to 64 of [a-zA-Z0-9.-], starting with a letter or digit"
                .to_string(),
        })
    }
}

fn validate_network(config: &NetworkConfig) -> Result<Network> {
    let bridge = config.bridge.as_bytes();
    // 15 is the kernel's interface name limit (IFNAMSIZ - 1); the name is also a directory
    // under `network/`.
    let ok = matches!(bridge.first(), Some(b) if b.is_ascii_alphanumeric())
        && bridge.len() <= 15
        && bridge
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(Error::InvalidConfig {
            field: "bridge",
            value: config.bridge.clone(),
            reason: "expected 1 to 15 of [a-zA-Z0-9_.-], starting with a letter or digit"
                .to_string(),
        });
    }
    if let Some(mtu) = config.mtu {
        // 68 is the IPv4 minimum; 65535 the veth maximum.
        if !(68..=65535).contains(&mtu) {
            return Err(Error::InvalidConfig {
                field: "mtu",
                value: mtu.to_string(),
                reason: "expected 68 to 65535".to_string(),
            });
        }
    }
    Ok(Network {
        bridge: config.bridge.clone(),
        subnet: Subnet::parse(&config.subnet)?,
        mtu: config.mtu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for good in ["a", "A9", "0", "pod_1.x-y", &"a".repeat(128)] {
            assert!(validate_id(good).is_ok(), "{good:?} rejected");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "..",
            ".",
            "a/b",
            "a b",
            "a\0",
            "é",
            &"a".repeat(129),
        ] {
            assert!(
                matches!(validate_id(bad), Err(Error::InvalidId(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn hostnames() {
        assert!(validate_hostname("web-0.example").is_ok());
        assert!(validate_hostname(&"h".repeat(64)).is_ok());
        for bad in ["", "-x", "a_b", "a b", &"h".repeat(65)] {
            assert!(validate_hostname(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn networks() {
        let config = |bridge: &str, subnet: &str, mtu| NetworkConfig {
            bridge: bridge.to_string(),
            subnet: subnet.to_string(),
            mtu,
        };
        let net = validate_network(&config("berth0", "10.42.0.0/24", Some(1400))).unwrap();
        assert_eq!(net.subnet.gateway(), Ipv4Addr::new(10, 42, 0, 1));
        for bad in [
            config("", "10.42.0.0/24", None),
            config("a-very-long-bridge", "10.42.0.0/24", None),
            config("../x", "10.42.0.0/24", None),
            config("br0", "10.42.0.0/33", None),
            config("br0", "10.42.0.0/24", Some(10)),
            config("br0", "10.42.0.0/24", Some(70000)),
        ] {
            assert!(validate_network(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn state_round_trip_and_bad_ids() {
        let dir = tempfile::tempdir().unwrap();
        let sandboxes = Sandboxes::open(dir.path()).unwrap();
        assert!(sandboxes.get("nope").unwrap().is_none());
        assert!(sandboxes.list().unwrap().is_empty());
        assert!(matches!(sandboxes.get("../x"), Err(Error::InvalidId(_))));

        let sandbox_dir = sandboxes.dir().join("s1");
        fs::create_dir(&sandbox_dir).unwrap();
        // Half-created: not listed.
        assert!(sandboxes.list().unwrap().is_empty());
        let sandbox = Sandbox {
            id: "s1".to_string(),
            hostname: "h".to_string(),
            netns: sandbox_dir.join("ns/net"),
            ipcns: sandbox_dir.join("ns/ipc"),
            utsns: sandbox_dir.join("ns/uts"),
            cgroup_parent: cgroup_parent("s1"),
            ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
            gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            prefix_len: Some(24),
            host_veth: Some(host_veth_name("s1")),
            bridge: Some("br0".to_string()),
            created_at: jiff::Timestamp::now().to_string(),
        };
        write_state(&sandbox_dir, &sandbox).unwrap();
        assert!(!sandbox_dir.join("sandbox.json.tmp").exists());
        assert_eq!(sandboxes.get("s1").unwrap(), Some(sandbox.clone()));
        assert_eq!(sandboxes.list().unwrap(), vec![sandbox]);

        fs::create_dir(sandboxes.dir().join("s2")).unwrap();
        fs::write(sandboxes.dir().join("s2/sandbox.json"), "{").unwrap();
        assert!(matches!(sandboxes.get("s2"), Err(Error::State { .. })));
        assert_eq!(sandboxes.list().unwrap().len(), 1);
    }
}
