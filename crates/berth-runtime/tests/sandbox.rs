//! Pod sandboxes against the real kernel: namespaces, bridge, veth, addresses, routes, cgroup
//! parents, and that removal leaves nothing behind.
//!
//! Needs root. Without it the tests print why and pass, unless `CI=true`, where they fail.
//! Each test uses its own bridge (`bt` + random hex) and subnet (`10.199.N.0/24`, N random and
//! unused on this host), and sends traffic only between its own sandboxes on that bridge.
//! The tests may use `ip`, `nsenter` and `ping`; the library does not.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_runtime::sandbox::{
    host_veth_name, Error, NetworkConfig, Sandbox, SandboxConfig, Sandboxes,
};
use nix::mount::{umount2, MntFlags};
use nix::sched::{setns, CloneFlags};

use berth_testkit::require_root;

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("reading /dev/urandom");
    u32::from_ne_bytes(buf)
}

fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd} {args:?}: {e}"))
}

fn stdout_of(cmd: &str, args: &[&str]) -> String {
    let out = run(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Picks distinct subnets for the tests of this process.
static SUBNET_OFFSET: AtomicU32 = AtomicU32::new(0);

/// A test's bridge, data dir and sandboxes; on drop (also when the test fails) unmounts
/// whatever is left under the data dir and deletes leftover veths and the bridge.
struct Fixture {
    bridge: String,
    subnet: String,
    data: tempfile::TempDir,
    sandboxes: Sandboxes,
    ids: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        let bridge = format!("bt{:08x}", random_u32());
        let in_use = stdout_of("ip", &["-4", "-o", "addr"]) + &stdout_of("ip", &["-4", "route"]);
        let base = random_u32() + SUBNET_OFFSET.fetch_add(7, Ordering::Relaxed);
        let subnet = (0..256)
            .map(|i| (base + i) % 256)
            .map(|n| format!("10.199.{n}."))
            .find(|prefix| !in_use.contains(prefix.as_str()))
            .map(|prefix| format!("{prefix}0/24"))
            .expect("a free 10.199.N.0/24");
        let data = tempfile::tempdir().expect("temp dir");
        let sandboxes = Sandboxes::open(data.path()).expect("open sandboxes");
        Fixture {
            bridge,
            subnet,
            data,
            sandboxes,
            ids: Vec::new(),
        }
    }

    fn config(&mut self, id: &str, network: bool) -> SandboxConfig {
        self.ids.push(id.to_string());
        SandboxConfig {
            cgroup_parent: None,
            id: id.to_string(),
            hostname: format!("host-{id}"),
            network: network.then(|| NetworkConfig {
                bridge: self.bridge.clone(),
                subnet: self.subnet.clone(),
                mtu: None,
            }),
        }
    }

    fn data_dir(&self) -> PathBuf {
        fs::canonicalize(self.data.path()).expect("canonical data dir")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let data = self.data_dir();
        let mut leftover: Vec<PathBuf> = mount_points()
            .into_iter()
            .filter(|m| m.starts_with(&data))
            .collect();
        // Deepest first, so files go before their directory.
        leftover.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in leftover {
            let _ = umount2(&m, MntFlags::MNT_DETACH);
        }
        for id in &self.ids {
            let _ = run("ip", &["link", "del", &host_veth_name(id)]);
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
    }
}

/// Decode mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        match rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// (mount point, fs type) of every mount of this process.
fn mounts() -> Vec<(PathBuf, String)> {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("reading mountinfo")
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            Some((
                PathBuf::from(unescape(fields.get(4)?)),
                fields.get(sep + 1)?.to_string(),
            ))
        })
        .collect()
}

fn mount_points() -> Vec<PathBuf> {
    mounts().into_iter().map(|(m, _)| m).collect()
}

fn cgroup_mount_points() -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mounts()
        .into_iter()
        .filter(|(_, t)| t == "cgroup" || t == "cgroup2")
        .map(|(m, _)| m)
        .collect();
    points.sort();
    points.dedup();
    points
}

fn assert_nsfs_mount(path: &Path) {
    assert!(path.exists(), "{} missing", path.display());
    let mounts = mounts();
    assert!(
        mounts.iter().any(|(m, t)| m == path && t == "nsfs"),
        "{} is not an nsfs mount",
        path.display()
    );
}

fn in_netns(sandbox: &Sandbox, cmd: &[&str]) -> String {
    let netns = format!("--net={}", sandbox.netns.display());
    let mut args = vec![netns.as_str()];
    args.extend_from_slice(cmd);
    stdout_of("nsenter", &args)
}

/// Check a networked sandbox from the inside: lo up, eth0 with its address, default route,
/// hostname.
fn assert_configured(sandbox: &Sandbox) {
    let ip = sandbox.ip.expect("sandbox ip");
    let prefix = sandbox.prefix_len.expect("prefix len");
    let gateway = sandbox.gateway.expect("gateway");

    let links = in_netns(sandbox, &["ip", "-o", "link"]);
    let lo = links
        .lines()
        .find(|l| l.contains(": lo:"))
        .expect("lo in link list");
    assert!(lo.contains(",UP"), "lo is not up: {lo}");
    let eth0 = links
        .lines()
        .find(|l| l.contains(": eth0@"))
        .unwrap_or_else(|| panic!("no eth0 in {links}"));
    assert!(eth0.contains(",UP"), "eth0 is not up: {eth0}");

    let addrs = in_netns(sandbox, &["ip", "-o", "addr"]);
    assert!(
        addrs
            .lines()
            .any(|l| l.contains(" lo ") && l.contains("inet 127.0.0.1/8")),
        "lo has no 127.0.0.1: {addrs}"
    );
    assert!(
        addrs
            .lines()
            .any(|l| l.contains(" eth0 ") && l.contains(&format!("inet {ip}/{prefix} "))),
        "eth0 lacks {ip}/{prefix}: {addrs}"
    );

    let routes = in_netns(sandbox, &["ip", "-4", "route"]);
    assert!(
        routes.contains(&format!("default via {gateway} dev eth0")),
        "no default route via {gateway}: {routes}"
    );

    let hostname = stdout_of(
        "nsenter",
        &[&format!("--uts={}", sandbox.utsns.display()), "hostname"],
    );
    assert_eq!(hostname.trim(), sandbox.hostname);
}

/// Run `f` on a thread that has joined `sandbox`'s network namespace.
fn on_thread_in<T: Send + 'static>(
    sandbox: &Sandbox,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let netns = fs::File::open(&sandbox.netns).expect("open netns");
    std::thread::spawn(move || {
        setns(&netns, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// TCP from `a` to `b` through the bridge, without relying on any tool being installed.
fn assert_tcp_reaches(a: &Sandbox, b: &Sandbox) {
    let b_ip = b.ip.expect("b ip");
    let (tx, rx) = std::sync::mpsc::channel();
    let server = on_thread_in(b, move || {
        let listener = TcpListener::bind(SocketAddrV4::new(b_ip, 0)).expect("bind in b");
        tx.send(listener.local_addr().expect("local addr"))
            .expect("send port");
        let (mut conn, peer) = listener.accept().expect("accept");
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).expect("read");
        (peer, buf)
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("listener address");
    let client = on_thread_in(a, move || {
        let mut conn =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect from a");
        conn.write_all(b"hello").expect("write");
    });
    client.join().expect("client thread");
    let (peer, buf) = server.join().expect("server thread");
    assert_eq!(&buf, b"hello");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(a.ip.expect("a ip")));
}

fn have(cmd: &str) -> bool {
    Command::new(cmd).arg("-V").output().is_ok()
}

/// Everything a removed sandbox owned is gone.
fn assert_gone(f: &Fixture, sandbox: &Sandbox) {
    let dir = f.data_dir().join("sandboxes").join(&sandbox.id);
    let left: Vec<PathBuf> = mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&dir))
        .collect();
    assert!(
        left.is_empty(),
        "mounts left under {}: {left:?}",
        dir.display()
    );
    if let Some(veth) = &sandbox.host_veth {
        let out = run("ip", &["link", "show", veth]);
        assert!(!out.status.success(), "{veth} still exists");
    }
    let allocations = f
        .sandboxes
        .ipam(&f.bridge)
        .allocations()
        .expect("allocations");
    assert!(
        !allocations.iter().any(|(_, id)| *id == sandbox.id),
        "address still allocated: {allocations:?}"
    );
    assert!(!f.sandboxes.dir().join(&sandbox.id).exists());
    for point in cgroup_mount_points() {
        let dir = point.join("berth").join(&sandbox.id);
        assert!(!dir.exists(), "{} left", dir.display());
    }
    assert_eq!(f.sandboxes.get(&sandbox.id).expect("get"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networked_sandboxes_talk_and_leave_nothing_behind() {
    if !require_root("networked_sandboxes_talk_and_leave_nothing_behind") {
        return;
    }
    let mut f = Fixture::new();
    let config_a = f.config("sb-a", true);
    let config_b = f.config("sb-b", true);

    let started = Instant::now();
    let a = f.sandboxes.create(&config_a).await.expect("create a");
    let first = started.elapsed();
    let started = Instant::now();
    let b = f.sandboxes.create(&config_b).await.expect("create b");
    let second = started.elapsed();
    println!(
        "create with network: {first:?} (creating bridge {}), {second:?} (bridge exists)",
        f.bridge
    );

    for sandbox in [&a, &b] {
        assert_nsfs_mount(&sandbox.netns);
        assert_nsfs_mount(&sandbox.ipcns);
        assert_nsfs_mount(&sandbox.utsns);
        assert_eq!(sandbox.cgroup_parent, format!("/berth/{}", sandbox.id));
        assert_eq!(sandbox.bridge.as_deref(), Some(f.bridge.as_str()));
        assert!(sandbox.host_veth.as_ref().is_some_and(|v| v.len() <= 15));
        assert_configured(sandbox);
    }
    assert_ne!(a.ip, b.ip);
    assert_ne!(a.netns, b.netns);
    assert_eq!(
        f.sandboxes.list().expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(f.sandboxes.get("sb-a").expect("get"), Some(a.clone()));

    // The host veths are ports of the test bridge.
    let ports = stdout_of("ip", &["-o", "link", "show", "master", &f.bridge]);
    for sandbox in [&a, &b] {
        let veth = sandbox.host_veth.as_deref().expect("veth");
        assert!(ports.contains(veth), "{veth} not on {}: {ports}", f.bridge);
    }

    let b_ip = b.ip.expect("b ip").to_string();
    if have("ping") {
        let out = run(
            "nsenter",
            &[
                &format!("--net={}", a.netns.display()),
                "ping",
                "-c1",
                "-W2",
                &b_ip,
            ],
        );
        assert!(
            out.status.success(),
            "ping from a to b failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        println!("ping is not installed: checking reachability with TCP only");
    }
    assert_tcp_reaches(&a, &b);
    assert_tcp_reaches(&b, &a);

    // The container engine puts its cgroups under the parent in every hierarchy. While one
    // is left, removal refuses and the sandbox stays whole.
    let points = cgroup_mount_points();
    assert!(!points.is_empty(), "no cgroup mounts");
    for point in &points {
        fs::create_dir_all(point.join("berth/sb-a")).expect("create cgroup parent");
    }
    let busy = points[points.len() - 1].join("berth/sb-a/ctr");
    fs::create_dir(&busy).expect("create child cgroup");
    match f.sandboxes.remove("sb-a").await {
        Err(Error::CgroupBusy { children, .. }) => assert_eq!(children, vec!["ctr"]),
        other => panic!("expected CgroupBusy, got {other:?}"),
    }
    assert_eq!(f.sandboxes.get("sb-a").expect("get"), Some(a.clone()));
    assert_nsfs_mount(&a.netns);
    assert_configured(&a);
    fs::remove_dir(&busy).expect("remove child cgroup");

    let started = Instant::now();
    f.sandboxes.remove("sb-a").await.expect("remove a");
    let removal = started.elapsed();
    f.sandboxes.remove("sb-b").await.expect("remove b");
    println!("remove with network: {removal:?}");
    assert_gone(&f, &a);
    assert_gone(&f, &b);
    let data = f.data_dir();
    let left: Vec<PathBuf> = mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&data))
        .collect();
    assert!(left.is_empty(), "mounts left under the data dir: {left:?}");
    assert!(f.sandboxes.list().expect("list").is_empty());
    assert!(f
        .sandboxes
        .ipam(&f.bridge)
        .allocations()
        .expect("allocations")
        .is_empty());

    // Idempotent.
    f.sandboxes.remove("sb-a").await.expect("remove a again");

    // Steady-state timing over a few more.
    let mut times = Vec::new();
    let mut ips = HashSet::new();
    for i in 0..20 {
        let config = f.config(&format!("t{i}"), true);
        let started = Instant::now();
        let sandbox = f.sandboxes.create(&config).await.expect("create");
        times.push(started.elapsed());
        assert!(ips.insert(sandbox.ip));
    }
    let mut removals = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        f.sandboxes.remove(&format!("t{i}")).await.expect("remove");
        removals.push(started.elapsed());
    }
    times.sort();
    removals.sort();
    println!(
        "create with network, 20 runs: min {:?}, median {:?}, max {:?}; remove median {:?}",
        times[0], times[10], times[19], removals[10]
    );
    assert!(f
        .sandboxes
        .ipam(&f.bridge)
        .allocations()
        .expect("allocations")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_without_network_has_only_lo() {
    if !require_root("sandbox_without_network_has_only_lo") {
        return;
    }
    let mut f = Fixture::new();
    let config = f.config("plain", false);
    let started = Instant::now();
    let sandbox = f.sandboxes.create(&config).await.expect("create");
    println!("create without network: {:?}", started.elapsed());

    assert_eq!(sandbox.ip, None);
    assert_eq!(sandbox.host_veth, None);
    assert_eq!(sandbox.bridge, None);
    for path in [&sandbox.netns, &sandbox.ipcns, &sandbox.utsns] {
        assert_nsfs_mount(path);
    }
    let links = in_netns(&sandbox, &["ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "more than lo: {links}");
    assert!(links.contains(": lo:") && links.contains(",UP"), "{links}");
    let hostname = stdout_of(
        "nsenter",
        &[&format!("--uts={}", sandbox.utsns.display()), "hostname"],
    );
    assert_eq!(hostname.trim(), "host-plain");
    // Not the host's own namespaces.
    let host_net = fs::read_link("/proc/self/ns/net").expect("own netns");
    let host_ipc = fs::read_link("/proc/self/ns/ipc").expect("own ipcns");
    assert_ne!(
        stdout_of(
            "nsenter",
            &[
                &format!("--net={}", sandbox.netns.display()),
                "readlink",
                "/proc/self/ns/net"
            ]
        )
        .trim(),
        host_net.to_string_lossy()
    );
    assert_ne!(
        stdout_of(
            "nsenter",
            &[
                &format!("--ipc={}", sandbox.ipcns.display()),
                "readlink",
                "/proc/self/ns/ipc"
            ]
        )
        .trim(),
        host_ipc.to_string_lossy()
    );

    f.sandboxes.remove("plain").await.expect("remove");
    assert_gone(&f, &sandbox);
    // The bridge was never needed.
    assert!(!run("ip", &["link", "show", &f.bridge]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_ids_unknown_ids_and_half_created_sandboxes() {
    if !require_root("duplicate_ids_unknown_ids_and_half_created_sandboxes") {
        return;
    }
    let mut f = Fixture::new();
    let config = f.config("dup", true);
    let first = f.sandboxes.create(&config).await.expect("create");

    let mut second = config.clone();
    second.hostname = "other".to_string();
    match f.sandboxes.create(&second).await {
        Err(Error::AlreadyExists(id)) => assert_eq!(id, "dup"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // The first is untouched.
    assert_eq!(f.sandboxes.get("dup").expect("get"), Some(first.clone()));
    assert_nsfs_mount(&first.netns);
    assert_configured(&first);
    let allocations = f
        .sandboxes
        .ipam(&f.bridge)
        .allocations()
        .expect("allocations");
    assert_eq!(
        allocations,
        vec![(first.ip.expect("ip"), "dup".to_string())]
    );

    // Unknown and invalid ids.
    f.sandboxes
        .remove("never-existed")
        .await
        .expect("remove unknown");
    assert!(matches!(
        f.sandboxes.remove("../etc").await,
        Err(Error::InvalidId(_))
    ));
    assert!(matches!(
        f.sandboxes
            .create(&SandboxConfig {
                cgroup_parent: None,
                id: "bad/id".to_string(),
                hostname: "h".to_string(),
                network: None,
            })
            .await,
        Err(Error::InvalidId(_))
    ));

    // A create that died before writing its record: remove finds the veth by name and alias
    // and the address by id.
    let config = f.config("half", true);
    let half = f.sandboxes.create(&config).await.expect("create half");
    fs::remove_file(f.sandboxes.dir().join("half/sandbox.json")).expect("drop record");
    assert_eq!(f.sandboxes.get("half").expect("get"), None);
    f.sandboxes.remove("half").await.expect("remove half");
    assert_gone(&f, &half);

    // A failed create undoes itself: a bridge name taken by a non-bridge interface.
    let dummy = format!("bd{:08x}", random_u32());
    let _ = stdout_of(
        "ip",
        &[
            "link",
            "add",
            &dummy,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{dummy}p"),
        ],
    );
    let mut config = f.config("fails", true);
    if let Some(net) = config.network.as_mut() {
        net.bridge = dummy.clone();
    }
    let result = f.sandboxes.create(&config).await;
    let _ = run("ip", &["link", "del", &dummy]);
    assert!(
        matches!(
            result,
            Err(Error::InvalidConfig {
                field: "bridge",
                ..
            })
        ),
        "{result:?}"
    );
    assert!(!f.sandboxes.dir().join("fails").exists());
    assert!(f
        .sandboxes
        .ipam(&dummy)
        .allocations()
        .expect("allocations")
        .is_empty());
    let data = f.data_dir();
    assert!(!mount_points()
        .iter()
        .any(|m| m.starts_with(data.join("sandboxes/fails"))));

    f.sandboxes.remove("dup").await.expect("remove");
    assert_gone(&f, &first);
}
