//! Host-local IPv4 address management: which sandbox holds which address of a bridge's subnet.
//!
//! State lives under `<root>/network/<bridge>/`:
//!
//! - `lock`: taken with `flock` around every allocation and release, so two processes never
//!   hand out the same address;
//! - `subnet`: the CIDR the bridge was first used with; a bridge has exactly one subnet, and
//!   asking for another one is an error rather than a silent second range;
//! - `last_reserved`: the address handed out last. Allocation continues after it and wraps
//!   around (as CNI's host-local plugin does), so an address released a moment ago is not
//!   handed out again at once while peers may still have it in ARP caches or conntrack;
//! - `a.b.c.d`: one file per allocated address, holding the sandbox id.
//!
//! The network address, the gateway (first host address, which sits on the bridge) and the
//! broadcast address are never handed out.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::error::{io, sys, Error, Result};

/// An IPv4 subnet in CIDR notation, with at least two usable host addresses (gateway and one
/// sandbox), i.e. a prefix length of at most 30.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    network: u32,
    prefix_len: u8,
}

impl Subnet {
    /// Parse `a.b.c.d/len`. Host bits must be zero, so that a typo in the network part is
    /// reported instead of silently allocating from another range.
    pub fn parse(cidr: &str) -> Result<Subnet> {
        let invalid = |reason: &str| Error::InvalidConfig {
            field: "subnet",
            value: cidr.to_string(),
            reason: reason.to_string(),
        };
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| invalid("expected CIDR notation a.b.c.d/len"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| invalid("not an IPv4 address before the '/'"))?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 2 {
            return Err(invalid("prefix length must be a number"));
        }
        let prefix_len: u8 = len
            .parse()
            .map_err(|_| invalid("prefix length must be a number"))?;
        if prefix_len > 30 {
            return Err(invalid(
                "prefix length must be at most 30 (a gateway and one sandbox address)",
            ));
        }
        let subnet = Subnet {
            network: u32::from(addr) & mask(prefix_len),
            prefix_len,
        };
        if subnet.network != u32::from(addr) {
            return Err(invalid(&format!(
                "host bits are set; the network is {subnet}"
            )));
        }
        Ok(subnet)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The gateway: the first host address, assigned to the bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1)
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network | !mask(self.prefix_len))
    }

    /// Whether `ip` may be handed to a sandbox: inside the subnet and none of network,
    /// gateway and broadcast.
    pub fn is_assignable(&self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        ip >= self.first() && ip <= self.last()
    }

    /// First address handed to sandboxes.
    fn first(&self) -> u32 {
        self.network + 2
    }

    /// Last address handed to sandboxes.
    fn last(&self) -> u32 {
        (self.network | !mask(self.prefix_len)) - 1
    }

    /// How many addresses can be handed to sandboxes.
    pub fn capacity(&self) -> u32 {
        self.last() - self.first() + 1
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix_len)
    }
}

fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

/// The address allocations of one bridge.
#[derive(Debug, Clone)]
pub struct Ipam {
    dir: PathBuf,
    bridge: String,
}

/// The exclusive `flock` of a bridge's state, released on drop.
struct Locked {
    _lock: Flock<File>,
}

impl Ipam {
    /// The allocations of `bridge` under the data dir `root`. Nothing is created until an
    /// address is allocated.
    pub fn new(root: &Path, bridge: &str) -> Ipam {
        Ipam {
            dir: network_dir(root).join(bridge),
            bridge: bridge.to_string(),
        }
    }

    /// The state directory of this bridge.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self, create: bool) -> Result<Option<Locked>> {
        if create {
            fs::create_dir_all(&self.dir)
                .map_err(io(format!("creating {}", self.dir.display())))?;
        }
        let path = self.dir.join("lock");
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if !create && e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(format!("opening {}", path.display()))(e)),
        };
        loop {
            match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(lock) => return Ok(Some(Locked { _lock: lock })),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, e)) => return Err(sys(format!("locking {}", path.display()))(e)),
            }
        }
    }

    /// Hand an address of `subnet` to sandbox `id`.
    pub fn allocate(&self, subnet: &Subnet, id: &str) -> Result<Ipv4Addr> {
        let _lock = self.lock(true)?;
        self.check_subnet(subnet)?;

        let last_path = self.dir.join("last_reserved");
        let last = match fs::read_to_string(&last_path) {
            Ok(s) => s
                .trim()
                .parse::<Ipv4Addr>()
                .ok()
                .filter(|ip| subnet.is_assignable(*ip)),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(io(format!("reading {}", last_path.display()))(e)),
        };
        // Start right after the last address handed out; from the start of the range if none.
        let start = match last {
            Some(ip) if u32::from(ip) < subnet.last() => u32::from(ip) + 1,
            _ => subnet.first(),
        };
        let capacity = subnet.capacity();
        for step in 0..capacity {
            let offset = (start - subnet.first() + step) % capacity;
            let ip = Ipv4Addr::from(subnet.first() + offset);
            let path = self.dir.join(ip.to_string());
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    if let Err(e) = f.write_all(id.as_bytes()) {
                        // Leaving an empty file would leak the address forever.
                        let _ = fs::remove_file(&path);
                        return Err(io(format!("writing {}", path.display()))(e));
                    }
                    // A torn or missing `last_reserved` only changes where the next search
                    // starts, so it is written in place.
                    fs::write(&last_path, ip.to_string())
                        .map_err(io(format!("writing {}", last_path.display())))?;
                    return Ok(ip);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(format!("creating {}", path.display()))(e)),
            }
        }
        Err(Error::IpamExhausted {
            bridge: self.bridge.clone(),
            subnet: subnet.to_string(),
        })
    }

    /// Record the bridge's subnet on first use; refuse another one later.
    fn check_subnet(&self, subnet: &Subnet) -> Result<()> {
        let path = self.dir.join("subnet");
        match fs::read_to_string(&path) {
            Ok(existing) => {
                let existing = existing.trim();
                if existing == subnet.to_string() {
                    Ok(())
                } else {
                    Err(Error::SubnetMismatch {
                        bridge: self.bridge.clone(),
                        existing: existing.to_string(),
                        requested: subnet.to_string(),
                    })
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => fs::write(&path, subnet.to_string())
                .map_err(io(format!("writing {}", path.display()))),
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    /// Free `ip` if sandbox `id` holds it. Returns whether it did. An address held by another
    /// sandbox is left alone, so releasing twice never frees someone else's address.
    pub fn release(&self, ip: Ipv4Addr, id: &str) -> Result<bool> {
        let Some(_lock) = self.lock(false)? else {
            return Ok(false);
        };
        self.release_locked(ip, id)
    }

    fn release_locked(&self, ip: Ipv4Addr, id: &str) -> Result<bool> {
        let path = self.dir.join(ip.to_string());
        match fs::read_to_string(&path) {
            Ok(owner) if owner.trim() == id => match fs::remove_file(&path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io(format!("removing {}", path.display()))(e)),
            },
            Ok(_) => Ok(false),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    /// Free every address sandbox `id` holds on this bridge. Used when the sandbox's own record
    /// of its address was never written (a create that crashed half-way).
    pub fn release_id(&self, id: &str) -> Result<usize> {
        let Some(_lock) = self.lock(false)? else {
            return Ok(0);
        };
        let mut released = 0;
        for (ip, owner) in self.allocations_locked()? {
            if owner == id && self.release_locked(ip, id)? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Every allocated address and the sandbox holding it, in address order.
    pub fn allocations(&self) -> Result<Vec<(Ipv4Addr, String)>> {
        let Some(_lock) = self.lock(false)? else {
            return Ok(Vec::new());
        };
        self.allocations_locked()
    }

    fn allocations_locked(&self) -> Result<Vec<(Ipv4Addr, String)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("listing {}", self.dir.display()))(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(format!("listing {}", self.dir.display())))?;
            let name = entry.file_name();
            let Some(ip) = name.to_str().and_then(|n| n.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            let path = entry.path();
            match fs::read_to_string(&path) {
                Ok(owner) => out.push((ip, owner.trim().to_string())),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
            }
        }
        out.sort();
        Ok(out)
    }
}

/// `<root>/network`.
pub fn network_dir(root: &Path) -> PathBuf {
    root.join("network")
}

/// The bridges that have allocation state under `root`.
pub fn bridges(root: &Path) -> Result<Vec<String>> {
    let dir = network_dir(root);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(format!("listing {}", dir.display()))(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(format!("listing {}", dir.display())))?;
        if let Some(name) = entry.file_name().to_str() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;

    fn subnet(s: &str) -> Subnet {
        match Subnet::parse(s) {
            Ok(s) => s,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_cidr() {
        let s = subnet("10.42.0.0/24");
        assert_eq!(s.network(), Ipv4Addr::new(10, 42, 0, 0));
        assert_eq!(s.prefix_len(), 24);
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 42, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 42, 0, 255));
        assert_eq!(s.capacity(), 253);
        assert_eq!(s.to_string(), "10.42.0.0/24");

        let s = subnet("172.16.0.0/12");
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 31, 255, 255));
        assert_eq!(subnet("10.0.0.0/30").capacity(), 1);
        assert_eq!(subnet("0.0.0.0/0").gateway(), Ipv4Addr::new(0, 0, 0, 1));

        assert!(s.is_assignable(Ipv4Addr::new(172, 16, 0, 2)));
        assert!(!s.is_assignable(Ipv4Addr::new(172, 16, 0, 1)));
        assert!(!s.is_assignable(Ipv4Addr::new(172, 16, 0, 0)));
        assert!(!s.is_assignable(Ipv4Addr::new(172, 31, 255, 255)));
        assert!(!s.is_assignable(Ipv4Addr::new(172, 32, 0, 2)));
    }

    #[test]
    fn rejects_bad_cidr() {
        for bad in [
            "",
            "10.42.0.0",
            "10.42.0.0/",
            "10.42.0.0/33",
            "10.42.0.0/31",
            "10.42.0.0/-1",
            "10.42.0.0/+8",
            "10.42.0.0/024",
            "10.42.0/24",
            "10.42.0.1/24",
            "fd00::/64",
            "10.42.0.0/24/1",
            " 10.42.0.0/24",
        ] {
            assert!(
                matches!(
                    Subnet::parse(bad),
                    Err(Error::InvalidConfig {
                        field: "subnet",
                        ..
                    })
                ),
                "{bad:?} accepted"
            );
        }
    }

    fn alloc(ipam: &Ipam, s: &Subnet, id: &str) -> Ipv4Addr {
        match ipam.allocate(s, id) {
            Ok(ip) => ip,
            Err(e) => panic!("allocate {id}: {e}"),
        }
    }

    #[test]
    fn allocates_in_order_skipping_reserved_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path(), "br0");
        let s = subnet("10.42.0.0/29");
        // .0 network, .1 gateway, .7 broadcast.
        let got: Vec<Ipv4Addr> = (0..5).map(|i| alloc(&ipam, &s, &format!("s{i}"))).collect();
        let want: Vec<Ipv4Addr> = (2..=6).map(|h| Ipv4Addr::new(10, 42, 0, h)).collect();
        assert_eq!(got, want);
        assert!(matches!(
            ipam.allocate(&s, "s5"),
            Err(Error::IpamExhausted { .. })
        ));
        let allocations = ipam.allocations().unwrap();
        assert_eq!(allocations.len(), 5);
        assert_eq!(
            allocations[0],
            (Ipv4Addr::new(10, 42, 0, 2), "s0".to_string())
        );
    }

    #[test]
    fn release_and_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path(), "br0");
        let s = subnet("10.42.0.0/29");
        let a = alloc(&ipam, &s, "a");
        let b = alloc(&ipam, &s, "b");
        assert_ne!(a, b);

        // Releasing needs the right owner.
        assert!(!ipam.release(a, "b").unwrap());
        assert!(ipam.release(a, "a").unwrap());
        assert!(!ipam.release(a, "a").unwrap());

        // Round robin: the next allocation goes past b, not back to a.
        let c = alloc(&ipam, &s, "c");
        assert_eq!(c, Ipv4Addr::new(10, 42, 0, 4));

        // Once the end is reached, it wraps around to the released address.
        for id in ["d", "e"] {
            alloc(&ipam, &s, id);
        }
        assert_eq!(alloc(&ipam, &s, "f"), a);
        assert!(matches!(
            ipam.allocate(&s, "g"),
            Err(Error::IpamExhausted { .. })
        ));

        // Released addresses are free for everyone again.
        assert_eq!(ipam.release_id("d").unwrap(), 1);
        assert_eq!(alloc(&ipam, &s, "h"), Ipv4Addr::new(10, 42, 0, 5));
        assert_eq!(ipam.release_id("nobody").unwrap(), 0);
    }

    #[test]
    fn release_without_state_is_a_noop() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path(), "br0");
        assert!(!ipam.release(Ipv4Addr::new(10, 0, 0, 2), "x").unwrap());
        assert_eq!(ipam.release_id("x").unwrap(), 0);
        assert!(ipam.allocations().unwrap().is_empty());
        assert!(bridges(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn one_subnet_per_bridge() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path(), "br0");
        alloc(&ipam, &subnet("10.42.0.0/24"), "a");
        assert!(matches!(
            ipam.allocate(&subnet("10.43.0.0/24"), "b"),
            Err(Error::SubnetMismatch { .. })
        ));
        // Another bridge has its own range.
        let other = Ipam::new(dir.path(), "br1");
        assert_eq!(
            alloc(&other, &subnet("10.43.0.0/24"), "b"),
            Ipv4Addr::new(10, 43, 0, 2)
        );
        assert_eq!(bridges(dir.path()).unwrap(), vec!["br0", "br1"]);
    }

    #[test]
    fn corrupt_last_reserved_restarts_from_the_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path(), "br0");
        let s = subnet("10.42.0.0/24");
        alloc(&ipam, &s, "a");
        fs::write(ipam.dir().join("last_reserved"), "garbage").unwrap();
        assert_eq!(alloc(&ipam, &s, "b"), Ipv4Addr::new(10, 42, 0, 3));
        fs::write(ipam.dir().join("last_reserved"), "192.168.0.1").unwrap();
        assert_eq!(alloc(&ipam, &s, "c"), Ipv4Addr::new(10, 42, 0, 4));
    }

    #[test]
    fn concurrent_allocations_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let root = Arc::new(dir.path().to_path_buf());
        let s = subnet("10.42.0.0/24");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let root = Arc::clone(&root);
                std::thread::spawn(move || {
                    // Each thread has its own open file description, so flock really
                    // arbitrates between them as it does between processes.
                    let ipam = Ipam::new(&root, "br0");
                    (0..30)
                        .map(|i| ipam.allocate(&s, &format!("t{t}-{i}")))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for t in threads {
            for ip in t.join().unwrap().unwrap() {
                assert!(s.is_assignable(ip));
                assert!(all.insert(ip), "{ip} handed out twice");
            }
        }
        assert_eq!(all.len(), 240);
        let allocations = Ipam::new(&root, "br0").allocations().unwrap();
        assert_eq!(allocations.len(), 240);
        // 253 usable addresses: 13 left, then exhausted.
        let ipam = Ipam::new(&root, "br0");
        for i in 0..13 {
            alloc(&ipam, &s, &format!("rest{i}"));
        }
        assert!(matches!(
            ipam.allocate(&s, "one-too-many"),
            Err(Error::IpamExhausted { .. })
        ));
    }
}
