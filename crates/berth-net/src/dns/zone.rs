//! The cluster's DNS records, built from Services and EndpointSlices as the Kubernetes DNS
//! specification lays them out (what CoreDNS's kubernetes plugin answers):
//!
//! - `SVC.NS.svc.DOMAIN`: A/AAAA of the ClusterIPs; for a headless Service, of its ready
//!   endpoints; for an ExternalName Service, a CNAME.
//! - `HOST.SVC.NS.svc.DOMAIN` for each ready endpoint of a headless Service: its hostname
//!   (StatefulSet pods) or its address with dashes.
//! - `_PORT._PROTO.SVC.NS.svc.DOMAIN`: SRV per named port (to the Service name, or to each
//!   endpoint's name for a headless Service).
//! - `A-B-C-D.NS.pod.DOMAIN`: the address in the name, whatever pod has it (CoreDNS's
//!   `pods insecure`, k3s's default).
//! - PTR for ClusterIPs and headless endpoints.
//!
//! Names are kept lower-case without the final dot. A zone is built whole on every change
//! and swapped in, so lookups never lock against the watch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// One record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// An address (A or AAAA).
    Addr(IpAddr),
    /// An alias.
    Cname(String),
    /// A service location.
    Srv {
        /// Relative weight among the records of one name.
        weight: u16,
        /// The port.
        port: u16,
        /// The target name.
        target: String,
    },
    /// A reverse name.
    Ptr(String),
}

/// What the zone says of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Records of the asked type (or a CNAME to follow).
    Records(&'a [Data]),
    /// A pod name's address, computed from the name.
    Pod(Ipv4Addr),
    /// The name exists with no records of the asked type.
    NoData,
    /// The name is in the cluster domain and does not exist.
    NxDomain,
    /// Not the cluster's: ask upstream.
    Elsewhere,
}

/// A query's type, as far as the zone distinguishes types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Alias.
    Cname,
    /// Service location.
    Srv,
    /// Reverse name.
    Ptr,
    /// Every type.
    Any,
    /// Anything else (SOA, NS, TXT...): the zone has none.
    Other,
}

/// The records of the cluster domain (and of the reverse names the cluster owns).
#[derive(Debug, Default)]
pub struct Zone {
    domain: String,
    records: HashMap<String, Vec<Data>>,
    /// Names that exist only as parents of other names (`ns.svc.DOMAIN`).
    parents: HashSet<String>,
    /// Scratch space for typed answers: `records` filtered by type.
    typed: HashMap<(String, KindKey), Vec<Data>>,
}

/// `Kind` without `Any`/`Other`, as a map key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KindKey {
    A,
    Aaaa,
    Srv,
    Ptr,
}

impl Zone {
    /// The zone of `domain` (e.g. `cluster.local`) for these Services and EndpointSlices.
    pub fn build(domain: &str, services: &[&Service], slices: &[&EndpointSlice]) -> Zone {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let mut zone = Zone {
            domain: domain.clone(),
            ..Default::default()
        };
        // Endpoints by (namespace, service name), from every slice of the Service.
        let mut endpoints: BTreeMap<(&str, &str), Vec<Endpoint>> = BTreeMap::new();
        for slice in slices {
            let (Some(ns), Some(svc)) = (
                slice.metadata.namespace.as_deref(),
                slice
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name")),
            ) else {
                continue;
            };
            let ports: Vec<(String, String, u16)> = slice
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        p.name.clone().unwrap_or_default(),
                        p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        u16::try_from(p.port?).ok()?,
                    ))
                })
                .collect();
            for ep in &slice.endpoints {
                if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                    continue;
                }
                for address in &ep.addresses {
                    let Ok(ip) = address.parse::<IpAddr>() else {
                        continue;
                    };
                    endpoints.entry((ns, svc)).or_default().push(Endpoint {
                        ip,
                        hostname: ep.hostname.clone(),
                        ports: ports.clone(),
                    });
                }
            }
        }
        for svc in services {
            let (Some(ns), Some(name)) = (
                svc.metadata.namespace.as_deref(),
                svc.metadata.name.as_deref(),
            ) else {
                continue;
            };
            let Some(spec) = &svc.spec else { continue };
            let fqdn = format!("{name}.{ns}.svc.{domain}");
            if spec.type_.as_deref() == Some("ExternalName") {
                if let Some(target) = &spec.external_name {
                    let target = target.trim_end_matches('.').to_ascii_lowercase();
                    zone.add(&fqdn, Data::Cname(target));
                }
                continue;
            }
            let headless = spec.cluster_ip.as_deref() == Some("None");
            if headless {
                let eps = endpoints.get(&(ns, name)).map(Vec::as_slice).unwrap_or(&[]);
                zone.mark(&fqdn);
                for ep in eps {
                    let host = ep.host_name();
                    let host_fqdn = format!("{host}.{fqdn}");
                    zone.add(&fqdn, Data::Addr(ep.ip));
                    zone.add(&host_fqdn, Data::Addr(ep.ip));
                    zone.add(&reverse_name(ep.ip), Data::Ptr(host_fqdn.clone()));
                    for (port_name, proto, port) in &ep.ports {
                        if port_name.is_empty() {
                            continue;
                        }
                        zone.add(
                            &srv_name(port_name, proto, &fqdn),
                            Data::Srv {
                                weight: 0,
                                port: *port,
                                target: host_fqdn.clone(),
                            },
                        );
                    }
                }
                continue;
            }
            let ips: Vec<IpAddr> = spec
                .cluster_ips
                .iter()
                .flatten()
                .chain(spec.cluster_ip.iter())
                .filter_map(|ip| ip.parse().ok())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if ips.is_empty() {
                continue;
            }
            for ip in ips {
                zone.add(&fqdn, Data::Addr(ip));
                zone.add(&reverse_name(ip), Data::Ptr(fqdn.clone()));
            }
            for port in spec.ports.iter().flatten() {
                let (Some(port_name), Ok(number)) =
                    (port.name.as_deref(), u16::try_from(port.port))
                else {
                    continue;
                };
                if port_name.is_empty() {
                    continue;
                }
                let proto = port.protocol.as_deref().unwrap_or("TCP");
                zone.add(
                    &srv_name(port_name, proto, &fqdn),
                    Data::Srv {
                        weight: 0,
                        port: number,
                        target: fqdn.clone(),
                    },
                );
            }
        }
        zone.finish();
        zone
    }

    fn add(&mut self, name: &str, data: Data) {
        let list = self.records.entry(name.to_string()).or_default();
        if !list.contains(&data) {
            list.push(data);
        }
    }

    /// A name that exists even with no records (a headless Service without endpoints).
    fn mark(&mut self, name: &str) {
        self.records.entry(name.to_string()).or_default();
    }

    /// Spread SRV weights evenly (CoreDNS: 100 split among the records of a name), index
    /// the records by type and note the parents of every name.
    fn finish(&mut self) {
        for list in self.records.values_mut() {
            let srvs = list
                .iter()
                .filter(|d| matches!(d, Data::Srv { .. }))
                .count();
            if let Some(share) = 100usize.checked_div(srvs) {
                let weight = u16::try_from(share).unwrap_or(1).max(1);
                for d in list.iter_mut() {
                    if let Data::Srv { weight: w, .. } = d {
                        *w = weight;
                    }
                }
            }
        }
        let mut typed: HashMap<(String, KindKey), Vec<Data>> = HashMap::new();
        let mut parents = HashSet::new();
        for (name, list) in &self.records {
            for d in list {
                let key = match d {
                    Data::Addr(IpAddr::V4(_)) => KindKey::A,
                    Data::Addr(IpAddr::V6(_)) => KindKey::Aaaa,
                    Data::Srv { .. } => KindKey::Srv,
                    Data::Ptr(_) => KindKey::Ptr,
                    Data::Cname(_) => continue,
                };
                typed
                    .entry((name.clone(), key))
                    .or_default()
                    .push(d.clone());
            }
            let mut rest = name.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                parents.insert(parent.to_string());
                rest = parent;
            }
        }
        self.typed = typed;
        self.parents = parents;
    }

    /// The cluster domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Whether `name` (lower-case, no final dot) is in the cluster domain.
    pub fn is_ours(&self, name: &str) -> bool {
        name == self.domain
            || name
                .strip_suffix(self.domain.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    }

    /// What the zone answers for `name` (lower-case, no final dot) and `kind`.
    pub fn lookup(&self, name: &str, kind: Kind) -> Lookup<'_> {
        if let Some(list) = self.records.get(name) {
            if let Some(cname) = list.iter().find(|d| matches!(d, Data::Cname(_))) {
                // A CNAME answers every type: the resolver follows it.
                return Lookup::Records(std::slice::from_ref(cname));
            }
            if kind == Kind::Any {
                return if list.is_empty() {
                    Lookup::NoData
                } else {
                    Lookup::Records(list)
                };
            }
            let key = match kind {
                Kind::A => Some(KindKey::A),
                Kind::Aaaa => Some(KindKey::Aaaa),
                Kind::Srv => Some(KindKey::Srv),
                Kind::Ptr => Some(KindKey::Ptr),
                _ => None,
            };
            return match key.and_then(|k| self.typed.get(&(name.to_string(), k))) {
                Some(list) => Lookup::Records(list),
                None => Lookup::NoData,
            };
        }
        if !self.is_ours(name) {
            return Lookup::Elsewhere;
        }
        if let Some(ip) = self.pod_address(name) {
            return match kind {
                Kind::A | Kind::Any => Lookup::Pod(ip),
                _ => Lookup::NoData,
            };
        }
        if name == self.domain || self.parents.contains(name) || self.is_structural(name) {
            return Lookup::NoData;
        }
        Lookup::NxDomain
    }

    /// `A-B-C-D.NS.pod.DOMAIN`.
    fn pod_address(&self, name: &str) -> Option<Ipv4Addr> {
        let rest = name.strip_suffix(&format!(".pod.{}", self.domain))?;
        let (dashed, namespace) = rest.split_once('.')?;
        if namespace.is_empty() || namespace.contains('.') {
            return None;
        }
        dashed.replace('-', ".").parse().ok()
    }

    /// `svc.DOMAIN`, `pod.DOMAIN` and `NS.pod.DOMAIN` exist whatever is in the cluster.
    fn is_structural(&self, name: &str) -> bool {
        let Some(rest) = name.strip_suffix(self.domain.as_str()) else {
            return false;
        };
        let labels: Vec<&str> = rest.trim_end_matches('.').rsplit('.').collect();
        matches!(labels.as_slice(), ["svc"] | ["pod"] | ["pod", _])
    }
}

struct Endpoint {
    ip: IpAddr,
    hostname: Option<String>,
    ports: Vec<(String, String, u16)>,
}

impl Endpoint {
    /// The endpoint's own name under its Service: its hostname, else its address with
    /// dashes (`10-42-0-5`).
    fn host_name(&self) -> String {
        match &self.hostname {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => match self.ip {
                IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
                IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
            },
        }
    }
}

fn srv_name(port: &str, protocol: &str, fqdn: &str) -> String {
    format!(
        "_{}._{}.{fqdn}",
        port.to_ascii_lowercase(),
        protocol.to_ascii_lowercase()
    )
}

/// The reverse name of an address (`5.0.42.10.in-addr.arpa`, nibbles under `ip6.arpa`).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut out = String::new();
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn slice(
        ns: &str,
        svc: &str,
        endpoints: serde_json::Value,
        ports: serde_json::Value,
    ) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{svc}-x"), "namespace": ns,
                "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
        }))
        .unwrap()
    }

    fn zone() -> Zone {
        let services = [
            service(json!({"metadata": {"name": "web", "namespace": "shop"},
                "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"],
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81}]}})),
            service(json!({"metadata": {"name": "db", "namespace": "shop"},
                "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}})),
            service(json!({"metadata": {"name": "empty", "namespace": "shop"},
                "spec": {"clusterIP": "None"}})),
            service(json!({"metadata": {"name": "ext", "namespace": "shop"},
                "spec": {"type": "ExternalName", "externalName": "db.example.org."}})),
        ];
        let slices = [slice(
            "shop",
            "db",
            json!([
                {"addresses": ["10.42.0.7"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.8"], "conditions": {"ready": true}},
                {"addresses": ["10.42.0.9"], "conditions": {"ready": false}},
            ]),
            json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
        )];
        let services: Vec<&Service> = services.iter().collect();
        let slices: Vec<&EndpointSlice> = slices.iter().collect();
        Zone::build("Cluster.Local.", &services, &slices)
    }

    fn addrs(l: Lookup<'_>) -> Vec<String> {
        match l {
            Lookup::Records(list) => list
                .iter()
                .map(|d| match d {
                    Data::Addr(ip) => ip.to_string(),
                    Data::Cname(c) => format!("CNAME {c}"),
                    Data::Srv {
                        weight,
                        port,
                        target,
                    } => format!("SRV {weight} {port} {target}"),
                    Data::Ptr(p) => format!("PTR {p}"),
                })
                .collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn cluster_ip_services_have_a_and_srv_and_ptr() {
        let z = zone();
        assert_eq!(
            addrs(z.lookup("web.shop.svc.cluster.local", Kind::A)),
            ["10.43.0.20"]
        );
        assert_eq!(
            z.lookup("web.shop.svc.cluster.local", Kind::Aaaa),
            Lookup::NoData
        );
        assert_eq!(
            addrs(z.lookup("_http._tcp.web.shop.svc.cluster.local", Kind::Srv)),
            ["SRV 100 80 web.shop.svc.cluster.local"]
        );
        assert_eq!(
            addrs(z.lookup("20.0.43.10.in-addr.arpa", Kind::Ptr)),
            ["PTR web.shop.svc.cluster.local"]
        );
    }

    #[test]
    fn headless_services_answer_ready_endpoints() {
        let z = zone();
        assert_eq!(
            addrs(z.lookup("db.shop.svc.cluster.local", Kind::A)),
            ["10.42.0.7", "10.42.0.8"]
        );
        assert_eq!(
            addrs(z.lookup("db-0.db.shop.svc.cluster.local", Kind::A)),
            ["10.42.0.7"]
        );
        assert_eq!(
            addrs(z.lookup("10-42-0-8.db.shop.svc.cluster.local", Kind::A)),
            ["10.42.0.8"]
        );
        assert_eq!(
            z.lookup("10-42-0-9.db.shop.svc.cluster.local", Kind::A),
            Lookup::NxDomain
        );
        assert_eq!(
            addrs(z.lookup("_pg._tcp.db.shop.svc.cluster.local", Kind::Srv)),
            [
                "SRV 50 5432 db-0.db.shop.svc.cluster.local",
                "SRV 50 5432 10-42-0-8.db.shop.svc.cluster.local"
            ]
        );
        assert_eq!(
            addrs(z.lookup("7.0.42.10.in-addr.arpa", Kind::Ptr)),
            ["PTR db-0.db.shop.svc.cluster.local"]
        );
        // A headless Service without endpoints exists, with nothing in it.
        assert_eq!(
            z.lookup("empty.shop.svc.cluster.local", Kind::A),
            Lookup::NoData
        );
    }

    #[test]
    fn names_outside_or_missing() {
        let z = zone();
        assert_eq!(
            addrs(z.lookup("ext.shop.svc.cluster.local", Kind::A)),
            ["CNAME db.example.org"]
        );
        assert_eq!(
            z.lookup("nope.shop.svc.cluster.local", Kind::A),
            Lookup::NxDomain
        );
        assert_eq!(
            z.lookup("web.other.svc.cluster.local", Kind::A),
            Lookup::NxDomain
        );
        assert_eq!(z.lookup("shop.svc.cluster.local", Kind::A), Lookup::NoData);
        assert_eq!(z.lookup("svc.cluster.local", Kind::A), Lookup::NoData);
        assert_eq!(z.lookup("cluster.local", Kind::Other), Lookup::NoData);
        assert_eq!(z.lookup("example.org", Kind::A), Lookup::Elsewhere);
        assert_eq!(z.lookup("notcluster.local", Kind::A), Lookup::Elsewhere);
        assert_eq!(
            z.lookup("9.9.9.9.in-addr.arpa", Kind::Ptr),
            Lookup::Elsewhere
        );
    }

    #[test]
    fn pod_names_carry_their_address() {
        let z = zone();
        assert_eq!(
            z.lookup("10-42-0-5.shop.pod.cluster.local", Kind::A),
            Lookup::Pod(Ipv4Addr::new(10, 42, 0, 5))
        );
        assert_eq!(
            z.lookup("10-42-0-5.shop.pod.cluster.local", Kind::Aaaa),
            Lookup::NoData
        );
        assert_eq!(
            z.lookup("10-42-0.shop.pod.cluster.local", Kind::A),
            Lookup::NxDomain
        );
        assert_eq!(z.lookup("shop.pod.cluster.local", Kind::A), Lookup::NoData);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("10.43.0.1".parse().unwrap()),
            "1.0.43.10.in-addr.arpa"
        );
        assert!(reverse_name("fd00::1".parse().unwrap()).ends_with(".0.0.d.f.ip6.arpa"));
        assert!(reverse_name("fd00::1".parse().unwrap()).starts_with("1.0.0.0."));
    }
}
