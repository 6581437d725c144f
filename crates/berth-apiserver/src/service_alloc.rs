//! Service address and port allocation, as kube-apiserver's Service registry does it:
//! ClusterIPs from the service CIDR (default 10.43.0.0/16; the first address belongs to the
//! `kubernetes` Service), NodePorts (and LoadBalancer health-check ports) from the node port
//! range (default 30000-32767), each reserved before the Service is written and given back
//! when it is deleted or stops using it.
//!
//! Every reservation is a key of its own (`/berth/allocations/clusterip/<ip>`,
//! `/berth/allocations/nodeport/<protocol>/<port>`) created with the store's create-if-absent,
//! so two Services can never get the same one, even when created at the same instant on two
//! servers; the key holds the owning Service and when it was taken. A repair pass (at start
//! and every minute) gives back reservations whose Service is gone or no longer uses them and
//! that are older than a minute: that covers deletions that went around the registry (the
//! namespace cleanup) and a crash between reserving and writing.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use berth_api::kinds::core::service::needs_health_check;
use berth_api::registry::builtin;
use berth_api::validation::{ErrorType, FieldError};
use berth_store::{RangeRequest, Store, StoreError};
use serde_json::{json, Value};

use crate::kinds::Reserved;
use crate::objects;
use crate::status::{ApiError, ApiResult};

const IP_PREFIX: &str = "/berth/allocations/clusterip/";
const PORT_PREFIX: &str = "/berth/allocations/nodeport/";
/// Reservations younger than this are never repaired away: their Service may be being
/// written right now.
const REPAIR_GRACE: Duration = Duration::from_secs(60);

/// The ranges Services are given addresses and ports from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranges {
    /// Network address of the service CIDR.
    pub network: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// First and last node port.
    pub node_ports: (u16, u16),
}

impl Default for Ranges {
    fn default() -> Ranges {
        Ranges {
            network: Ipv4Addr::new(10, 43, 0, 0),
            prefix: 16,
            node_ports: (30000, 32767),
        }
    }
}

impl Ranges {
    /// Parse `A.B.C.D/N` and `LOW-HIGH`.
    pub fn parse(cidr: &str, ports: &str) -> Result<Ranges, String> {
        let (ip, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("service CIDR {cidr:?}: expected ADDRESS/PREFIX"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|e| format!("service CIDR {cidr:?}: {e} (only IPv4 is supported)"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("service CIDR {cidr:?}: the prefix must be 8..30"))?;
        let mask = u32::MAX << (32 - prefix);
        let (low, high) = ports
            .split_once('-')
            .ok_or_else(|| format!("node port range {ports:?}: expected LOW-HIGH"))?;
        let parse = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|e| format!("node port range {ports:?}: {e}"))
        };
        let (low, high) = (parse(low)?, parse(high)?);
        if low == 0 || low > high {
            return Err(format!(
                "node port range {ports:?}: expected 1 <= LOW <= HIGH"
            ));
        }
        Ok(Ranges {
            network: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
            node_ports: (low, high),
        })
    }

    /// The CIDR as text.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }

    /// How many addresses Services can get (network and broadcast excluded).
    fn size(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 2
    }

    /// The `i`th assignable address (0: the one after the network address).
    fn nth(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1 + i)
    }

    /// Whether `ip` is an address Services can get.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let base = u32::from(self.network);
        let ip = u32::from(ip);
        ip > base && ip - base <= self.size()
    }

    /// The `kubernetes` Service's address: the first of the range.
    pub fn api_service_ip(&self) -> Ipv4Addr {
        self.nth(0)
    }

    /// Cluster DNS's conventional address: the tenth of the range (10.43.0.10), if the
    /// range has one.
    pub fn dns_service_ip(&self) -> Option<Ipv4Addr> {
        (self.size() >= 10).then(|| self.nth(9))
    }
}

/// What a Service holds: its ClusterIP, its (protocol, node port)s and its health check
/// node port (TCP, from the same range).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    ip: Option<Ipv4Addr>,
    ports: BTreeSet<(String, u16)>,
    health: Option<u16>,
}

impl Held {
    /// Every (protocol, port) reserved, the health check port included.
    fn all_ports(&self) -> BTreeSet<(String, u16)> {
        let mut all = self.ports.clone();
        all.extend(self.health.map(|n| ("TCP".to_string(), n)));
        all
    }
}

/// What `svc` (as stored) holds.
pub fn held(svc: &Value) -> Held {
    let spec = &svc["spec"];
    let ip = spec["clusterIP"].as_str().and_then(|s| s.parse().ok());
    let mut ports = BTreeSet::new();
    for p in spec["ports"].as_array().into_iter().flatten() {
        if let Some(n) = p["nodePort"].as_u64().and_then(|n| u16::try_from(n).ok()) {
            ports.insert((protocol(p), n));
        }
    }
    let health = spec["healthCheckNodePort"]
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n != 0);
    Held { ip, ports, health }
}

fn protocol(port: &Value) -> String {
    port["protocol"].as_str().unwrap_or("TCP").to_string()
}

fn ip_key(ip: Ipv4Addr) -> String {
    format!("{IP_PREFIX}{ip}")
}

fn port_key(protocol: &str, port: u16) -> String {
    format!("{PORT_PREFIX}{}/{port}", protocol.to_ascii_lowercase())
}

fn owner_value(owner: &str) -> bytes::Bytes {
    bytes::Bytes::from(json!({"service": owner, "at": objects::now()}).to_string())
}

fn invalid(name: &str, field: &str, value: &str, why: &str) -> ApiError {
    let info = builtin().by_kind("", "v1", "Service");
    let error = FieldError {
        field: field.into(),
        error_type: ErrorType::Invalid,
        detail: format!("Invalid value: \"{value}\": {why}"),
    };
    match info {
        Some(info) => ApiError::invalid(info, name, &[error]),
        None => ApiError::internal(why.to_string()),
    }
}

/// Whether a Service of this type has a ClusterIP, node ports, and a health check port.
fn needs(spec: &Value) -> (bool, bool, bool) {
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    let headless = spec["clusterIP"].as_str() == Some("None");
    let ip = ty != "ExternalName" && !headless;
    let ports = matches!(ty, "NodePort" | "LoadBalancer")
        && !(ty == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"] == json!(false));
    (ip, ports, needs_health_check(spec))
}

/// Fill in and reserve the ClusterIP and node ports of `svc` (a Service about to be
/// created, or the new version of `old`). Whatever `old` held and `svc` keeps stays reserved.
pub async fn allocate(
    store: &dyn Store,
    ranges: &Ranges,
    svc: &mut Value,
    old: Option<&Value>,
) -> ApiResult<Reserved> {
    let owner = format!(
        "{}/{}",
        svc["metadata"]["namespace"].as_str().unwrap_or(""),
        svc["metadata"]["name"].as_str().unwrap_or("")
    );
    let name = svc["metadata"]["name"].as_str().unwrap_or("").to_string();
    let before = old.map(held).unwrap_or_default();
    let mut reserved = Reserved::default();
    let result = allocate_into(store, ranges, svc, &before, &owner, &name, &mut reserved).await;
    match result {
        Ok(()) => Ok(reserved),
        Err(e) => {
            reserved.release(store).await;
            Err(e)
        }
    }
}

async fn allocate_into(
    store: &dyn Store,
    ranges: &Ranges,
    svc: &mut Value,
    before: &Held,
    owner: &str,
    name: &str,
    reserved: &mut Reserved,
) -> ApiResult<()> {
    let (wants_ip, wants_ports, wants_health) = needs(&svc["spec"]);
    let spec = &mut svc["spec"];
    if wants_ip {
        let given = spec["clusterIP"].as_str().unwrap_or("").to_string();
        let ip = if given.is_empty() {
            match before.ip {
                Some(ip) => ip,
                None => reserve_any_ip(store, ranges, owner, reserved).await?,
            }
        } else {
            let ip: Ipv4Addr = given.parse().map_err(|_| {
                invalid(
                    name,
                    "spec.clusterIPs[0]",
                    &given,
                    "must be a valid IP address",
                )
            })?;
            if before.ip != Some(ip) {
                if !ranges.contains(ip) {
                    return Err(invalid(
                        name,
                        "spec.clusterIPs[0]",
                        &given,
                        &format!(
                            "failed to allocate IP {given}: the provided IP ({given}) is not in the valid range. The range of valid IPs is {}",
                            ranges.cidr()
                        ),
                    ));
                }
                if !reserve(store, &ip_key(ip), owner).await? {
                    return Err(invalid(
                        name,
                        "spec.clusterIPs[0]",
                        &given,
                        &format!("failed to allocate IP {given}: provided IP is already allocated"),
                    ));
                }
                reserved.push(ip_key(ip));
            }
            ip
        };
        spec["clusterIP"] = json!(ip.to_string());
        spec["clusterIPs"] = json!([ip.to_string()]);
        spec["ipFamilies"] = json!(["IPv4"]);
        if spec["ipFamilyPolicy"].is_null() {
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
    }
    let mut taken: BTreeSet<(String, u16)> = BTreeSet::new();
    let count = if wants_ports {
        spec["ports"].as_array().map_or(0, Vec::len)
    } else {
        0
    };
    for i in 0..count {
        let port = &mut spec["ports"][i];
        let proto = protocol(port);
        let given = port["nodePort"].as_u64().filter(|n| *n != 0);
        let n = match given {
            Some(n) => {
                let field = format!("spec.ports[{i}].nodePort");
                let n = in_range(ranges, name, &field, n)?;
                let mine = before.all_ports().contains(&(proto.clone(), n))
                    || taken.contains(&(proto.clone(), n));
                if !mine {
                    if !reserve(store, &port_key(&proto, n), owner).await? {
                        return Err(invalid(
                            name,
                            &field,
                            &n.to_string(),
                            "provided port is already allocated",
                        ));
                    }
                    reserved.push(port_key(&proto, n));
                }
                n
            }
            None => {
                // Keep the port this service port had, if any (same protocol, same port).
                let kept = before
                    .ports
                    .iter()
                    .find(|(p, n)| *p == proto && !taken.contains(&(p.clone(), *n)))
                    .map(|(_, n)| *n);
                match kept {
                    Some(n) => n,
                    None => reserve_any_port(store, ranges, &proto, owner, reserved).await?,
                }
            }
        };
        taken.insert((proto, n));
        spec["ports"][i]["nodePort"] = json!(n);
    }
    if wants_health {
        let n = match spec["healthCheckNodePort"].as_u64().filter(|n| *n != 0) {
            Some(n) => {
                let field = "spec.healthCheckNodePort";
                let n = in_range(ranges, name, field, n)?;
                let key = ("TCP".to_string(), n);
                if taken.contains(&key) {
                    return Err(invalid(
                        name,
                        field,
                        &n.to_string(),
                        "provided port is already allocated",
                    ));
                }
                if before.health != Some(n) && !before.ports.contains(&key) {
                    if !reserve(store, &port_key("TCP", n), owner).await? {
                        return Err(invalid(
                            name,
                            field,
                            &n.to_string(),
                            "provided port is already allocated",
                        ));
                    }
                    reserved.push(port_key("TCP", n));
                }
                n
            }
            None => match before.health {
                Some(n) if !taken.contains(&("TCP".to_string(), n)) => n,
                _ => reserve_any_port(store, ranges, "TCP", owner, reserved).await?,
            },
        };
        spec["healthCheckNodePort"] = json!(n);
    }
    Ok(())
}

/// A node port asked for at `field`, if it is in the range.
fn in_range(ranges: &Ranges, name: &str, field: &str, n: u64) -> ApiResult<u16> {
    let (low, high) = ranges.node_ports;
    u16::try_from(n)
        .ok()
        .filter(|n| (low..=high).contains(n))
        .ok_or_else(|| {
            invalid(
                name,
                field,
                &n.to_string(),
                &format!(
                    "provided port is not in the valid range. The range of valid ports is {low}-{high}"
                ),
            )
        })
}

/// Create the reservation key; false if someone holds it.
async fn reserve(store: &dyn Store, key: &str, owner: &str) -> ApiResult<bool> {
    match store.create(key, owner_value(owner)).await {
        Ok(_) => Ok(true),
        Err(StoreError::AlreadyExists(_)) => Ok(false),
        Err(e) => Err(ApiError::store(e)),
    }
}

/// A pseudo-random start so that concurrent creates rarely probe the same keys.
fn start_offset(n: u32) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    (mixed % u64::from(n.max(1))) as u32
}

async fn reserve_any_ip(
    store: &dyn Store,
    ranges: &Ranges,
    owner: &str,
    reserved: &mut Reserved,
) -> ApiResult<Ipv4Addr> {
    let size = ranges.size();
    // The first address is the `kubernetes` Service's, the tenth cluster DNS's by
    // convention: both are only ever given when asked for.
    let start = start_offset(size);
    for k in 0..size {
        let i = (start + k) % size;
        if i == 0 || i == 9 {
            continue;
        }
        let ip = ranges.nth(i);
        if reserve(store, &ip_key(ip), owner).await? {
            reserved.push(ip_key(ip));
            return Ok(ip);
        }
    }
    Err(ApiError::new(
        500,
        "InternalError",
        format!(
            "failed to allocate a serviceIP: range is full ({})",
            ranges.cidr()
        ),
    ))
}

async fn reserve_any_port(
    store: &dyn Store,
    ranges: &Ranges,
    proto: &str,
    owner: &str,
    reserved: &mut Reserved,
) -> ApiResult<u16> {
    let (low, high) = ranges.node_ports;
    let size = u32::from(high - low) + 1;
    let start = start_offset(size);
    for k in 0..size {
        let Ok(n) = u16::try_from(u32::from(low) + (start + k) % size) else {
            continue;
        };
        if reserve(store, &port_key(proto, n), owner).await? {
            reserved.push(port_key(proto, n));
            return Ok(n);
        }
    }
    Err(ApiError::new(
        500,
        "InternalError",
        "failed to allocate a nodePort: range is full",
    ))
}

/// Give back what `old` held and `new` (if any) no longer does.
pub async fn release_unused(store: &dyn Store, old: &Value, new: Option<&Value>) {
    let before = held(old);
    let after = new.map(held).unwrap_or_default();
    let mut keys = Vec::new();
    if let Some(ip) = before.ip.filter(|ip| after.ip != Some(*ip)) {
        keys.push(ip_key(ip));
    }
    for (proto, n) in before.all_ports().difference(&after.all_ports()) {
        keys.push(port_key(proto, *n));
    }
    let mut gone = Reserved::default();
    for key in keys {
        gone.push(key);
    }
    gone.release(store).await;
}

/// Give back reservations whose Service is gone or no longer holds them (and that are old
/// enough not to belong to a write under way).
pub async fn repair(store: &dyn Store) -> Result<usize, StoreError> {
    let Some(info) = builtin().by_kind("", "v1", "Service") else {
        return Ok(0);
    };
    let mut released = 0;
    for prefix in [IP_PREFIX, PORT_PREFIX] {
        let resp = store
            .range(RangeRequest {
                prefix: prefix.to_string(),
                revision: 0,
                limit: 0,
                start_after: None,
            })
            .await?;
        for kv in resp.kvs {
            let value: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            let young = value["at"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| {
                    jiff::Timestamp::now().duration_since(t)
                        < jiff::SignedDuration::try_from(REPAIR_GRACE).unwrap_or_default()
                });
            if young {
                continue;
            }
            let owner = value["service"].as_str().unwrap_or("");
            let (ns, name) = owner.split_once('/').unwrap_or(("", owner));
            let svc = match store.get(&info.key(Some(ns), name)).await? {
                Some(kv) => objects::decode_stored(&kv).ok(),
                None => None,
            };
            let still = svc.as_ref().is_some_and(|svc| {
                let h = held(svc);
                let rest = &kv.key[prefix.len()..];
                if prefix == IP_PREFIX {
                    h.ip.map(|ip| ip.to_string()).as_deref() == Some(rest)
                } else {
                    h.all_ports()
                        .iter()
                        .any(|(p, n)| format!("{}/{n}", p.to_ascii_lowercase()) == rest)
                }
            });
            if !still
                && store
                    .delete_if(&kv.key, Some(kv.mod_revision))
                    .await
                    .is_ok()
            {
                released += 1;
            }
        }
    }
    Ok(released)
}

/// Run [`repair`] now and every minute until the task is dropped.
pub fn spawn_repair(store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REPAIR_GRACE);
        loop {
            tick.tick().await;
            match repair(store.as_ref()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(released = n, "service allocations repaired"),
                Err(e) => tracing::warn!(error = %e, "repairing service allocations"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_bound() {
        let r = Ranges::parse("10.43.7.9/16", "30000-32767").unwrap_or_default();
        assert_eq!(r.network, Ipv4Addr::new(10, 43, 0, 0));
        assert_eq!(r.api_service_ip(), Ipv4Addr::new(10, 43, 0, 1));
        assert!(r.contains(Ipv4Addr::new(10, 43, 255, 254)));
        assert!(!r.contains(Ipv4Addr::new(10, 43, 255, 255)));
        assert!(!r.contains(Ipv4Addr::new(10, 43, 0, 0)));
        assert!(!r.contains(Ipv4Addr::new(10, 44, 0, 1)));
        assert!(Ranges::parse("fd00::/108", "30000-32767").is_err());
        assert!(Ranges::parse("10.43.0.0/16", "32767-30000").is_err());
        assert!(Ranges::parse("10.43.0.0", "30000-32767").is_err());
    }

    #[test]
    fn held_reads_ip_and_ports() {
        let svc = json!({"spec": {"clusterIP": "10.43.0.5", "ports": [
            {"port": 80, "nodePort": 30080},
            {"port": 53, "protocol": "UDP", "nodePort": 30053}],
            "healthCheckNodePort": 31000}});
        let h = held(&svc);
        assert_eq!(h.ip, Some(Ipv4Addr::new(10, 43, 0, 5)));
        assert_eq!(h.ports.len(), 2);
        assert_eq!(h.health, Some(31000));
        assert_eq!(h.all_ports().len(), 3);
        assert!(h.ports.contains(&("UDP".to_string(), 30053)));
    }
}
