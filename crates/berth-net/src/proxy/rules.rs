//! The service proxy's rules: Services and EndpointSlices in, one nftables table out
//! (`ip berth-proxy`), replaced as a whole in one transaction so that no packet ever sees
//! half of an update.
//!
//! Lookups are verdict maps keyed by address, protocol and port, so a packet costs the same
//! with ten Services or ten thousand: `service-ips` (ClusterIPs and external addresses),
//! `service-nodeports` (any local address), and their `no-endpoint-*` twins in the filter
//! hooks, which reject new connections to a Service without endpoints at once (TCP reset)
//! instead of letting them time out. A Service port's chain picks an endpoint at random and
//! translates to it (a cascade of `numgen random mod K == 0` rules, see [`pick`]); with
//! `sessionAffinity: ClientIP` it has a chain per endpoint instead, with a dynamic set per
//! endpoint remembering the clients sent there for the affinity timeout. Only ready endpoints
//! are used; when there is none, serving endpoints that are terminating are (as kube-proxy
//! does). Every connection DNAT'd to any endpoint is masqueraded: the reply from a pod on the
//! same bridge must come back through this node to be translated back, and masquerading is
//! what guarantees it without `br_netfilter`.
//!
//! The traffic policies pick other chains: `internalTrafficPolicy: Local` sends ClusterIP
//! traffic to `int-` (this node's endpoints only, dropped when there is none), and
//! `externalTrafficPolicy: Local` sends node port and external address traffic to `ext-`,
//! which keeps the client's address (no masquerade: the reply leaves through this node
//! anyway, the endpoint being here) and drops what no local endpoint can take, except that
//! traffic from this node and its pods short-circuits to the Service's ordinary chain, as
//! kube-proxy does, so that in-cluster clients are never black-holed.
//!
//! Node ports and external addresses answer on 127.0.0.1 as on the node's other addresses
//! (kube-proxy's iptables mode, k3s and `docker run -p` do the same): the node's own
//! connections are translated in the output hook, and those from a loopback address always
//! go through a masquerading chain (a pod cannot answer 127.0.0.1; `ext-` sends them to
//! `svc-` with the rest of the node's traffic). The kernel routes them off `lo` only with
//! `route_localnet`, which the proxy sets; [`LOOPBACK_GUARD`] keeps everything else
//! addressed to 127.0.0.0/8 from reaching the node's loopback from outside.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The table the proxy owns.
pub const TABLE: &str = "berth-proxy";
/// The packet mark asking for masquerade.
const MASQ_MARK: &str = "0x4000";

/// One Service port as the proxy implements it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// `namespace/name:port`, for comments.
    pub name: String,
    /// Short identifier for chain and set names.
    pub id: String,
    /// The ClusterIP, when the Service has one.
    pub cluster_ip: Option<Ipv4Addr>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The Service port.
    pub port: u16,
    /// Its node port, if any.
    pub node_port: Option<u16>,
    /// Addresses the port is also served on (LoadBalancer ingress, externalIPs).
    pub external_ips: Vec<Ipv4Addr>,
    /// The `sessionAffinity: ClientIP` timeout in seconds.
    pub affinity_seconds: Option<i32>,
    /// Where connections go.
    pub endpoints: Vec<(Ipv4Addr, u16)>,
    /// The endpoints on this node.
    pub local_endpoints: Vec<(Ipv4Addr, u16)>,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// The Service's `healthCheckNodePort`.
    pub health_check_port: Option<u16>,
}

/// FNV-1a, for short stable names.
fn short_id(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The rules for `services` with the endpoints in `slices`, as seen from node `node`.
pub fn port_rules(
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
    node: &str,
) -> Vec<PortRule> {
    // Slices by namespace/service.
    let mut by_service: BTreeMap<(String, String), Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let Some(svc) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
        else {
            continue;
        };
        let ns = slice.metadata.namespace.clone().unwrap_or_default();
        by_service.entry((ns, svc.clone())).or_default().push(slice);
    }
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = svc.spec.as_ref() else {
            continue;
        };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let cluster_ip = spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        let mut external_ips: Vec<Ipv4Addr> = spec
            .external_ips
            .iter()
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        external_ips.extend(
            svc.status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|i| i.ip.as_deref()?.parse::<Ipv4Addr>().ok()),
        );
        let affinity_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(10800)
        });
        // Validation allows the policy only on externally reachable Services.
        let external_local = spec.external_traffic_policy.as_deref() == Some("Local");
        let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
        let health_check_port = spec
            .health_check_node_port
            .filter(|_| external_local)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0);
        let slices = by_service
            .get(&(ns.clone(), name.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for port in spec.ports.iter().flatten() {
            let protocol = port.protocol.as_deref().unwrap_or("TCP").to_lowercase();
            let Ok(number) = u16::try_from(port.port) else {
                continue;
            };
            let port_name = port.name.clone().unwrap_or_default();
            let candidates = candidates(slices, &port_name, &protocol, node);
            out.push(PortRule {
                namespace: ns.clone(),
                service: name.clone(),
                name: format!("{ns}/{name}:{port_name}"),
                id: short_id(&format!("{ns}/{name}/{port_name}/{protocol}")),
                cluster_ip,
                protocol,
                port: number,
                node_port: port.node_port.and_then(|n| u16::try_from(n).ok()),
                external_ips: external_ips.clone(),
                affinity_seconds,
                endpoints: choose(candidates.iter()),
                local_endpoints: choose(candidates.iter().filter(|c| c.local)),
                internal_local,
                external_local,
                health_check_port,
            });
        }
    }
    out
}

/// An endpoint of one Service port, before the choice of which ones take traffic.
struct Candidate {
    address: (Ipv4Addr, u16),
    ready: bool,
    serving_terminating: bool,
    local: bool,
}

/// The endpoints of one Service port in `slices`; `node` tells which are local.
fn candidates(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: &str,
    node: &str,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for slice in slices {
        let Some(port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| {
                p.name.as_deref().unwrap_or("") == port_name
                    && p.protocol
                        .as_deref()
                        .unwrap_or("TCP")
                        .eq_ignore_ascii_case(protocol)
            })
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for e in &slice.endpoints {
            let Some(ip) = e.addresses.first().and_then(|a| a.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            let c = e.conditions.clone().unwrap_or_default();
            out.push(Candidate {
                address: (ip, port),
                ready: c.ready != Some(false),
                serving_terminating: c.serving == Some(true) && c.terminating == Some(true),
                local: e.node_name.as_deref() == Some(node),
            });
        }
    }
    out
}

/// The ready endpoints, else the serving terminating ones, in a stable order.
fn choose<'a>(candidates: impl Iterator<Item = &'a Candidate>) -> Vec<(Ipv4Addr, u16)> {
    let mut ready = Vec::new();
    let mut fallback = Vec::new();
    for c in candidates {
        if c.ready {
            ready.push(c.address);
        } else if c.serving_terminating {
            fallback.push(c.address);
        }
    }
    let mut chosen = if ready.is_empty() { fallback } else { ready };
    chosen.sort();
    chosen.dedup();
    chosen
}

/// The Services with a health check port, by port: what the proxy answers there.
pub fn health_checks(rules: &[PortRule]) -> BTreeMap<u16, HealthCheck> {
    let mut out: BTreeMap<u16, (String, String, BTreeSet<Ipv4Addr>)> = BTreeMap::new();
    for r in rules {
        let Some(port) = r.health_check_port else {
            continue;
        };
        let entry = out
            .entry(port)
            .or_insert_with(|| (r.namespace.clone(), r.service.clone(), BTreeSet::new()));
        if entry.0 == r.namespace && entry.1 == r.service {
            entry.2.extend(r.local_endpoints.iter().map(|(ip, _)| *ip));
        }
    }
    out.into_iter()
        .map(|(port, (namespace, name, local))| {
            (
                port,
                HealthCheck {
                    namespace,
                    name,
                    local_endpoints: local.len(),
                },
            )
        })
        .collect()
}

/// What a Service's health check port reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheck {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// How many of its endpoints (pods) are on this node.
    pub local_endpoints: usize,
}

/// Where the rules are applied.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// The bridge this node's pods are on: their traffic to an external address of a
    /// `Local` Service short-circuits to all endpoints.
    pub bridge: Option<String>,
}

/// The start of `filter-input`: what arrives addressed to 127.0.0.0/8 from an interface
/// other than `lo` gets in only when this proxy translated its connection. With
/// `route_localnet` on (which localhost node ports need, see the proxy's `SYSCTLS`) the
/// kernel no longer drops such packets as martians; the replies of a connection from
/// 127.0.0.1 to a node port come back from the pod that way (translated back to 127.0.0.1
/// before routing), and nothing else may, or whatever listens on the node's loopback (the
/// API server, say) would be reachable from its neighbours and pods. kube-proxy and the
/// kubelet guard the same (CVE-2020-8558); this one goes by interface rather than by source
/// address, which a sender chooses, and lets in no untracked packet.
const LOOPBACK_GUARD: &str = "    iifname != \"lo\" ip daddr 127.0.0.0/8 ct status dnat accept\n    iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n";

/// The verdict maps and the type of their keys.
const MAPS: [(&str, &str); 4] = [
    ("service-ips", "ipv4_addr . inet_proto . inet_service"),
    ("service-nodeports", "inet_proto . inet_service"),
    (
        "no-endpoint-services",
        "ipv4_addr . inet_proto . inet_service",
    ),
    ("no-endpoint-nodeports", "inet_proto . inet_service"),
];

/// The table as the proxy wants it: the elements of its verdict maps and the chains and sets
/// of each Service port. [`Table::full`] writes it whole; [`Table::update`] writes only what
/// differs from another, so that one endpoint changing among thousands of Services costs a
/// few lines instead of the whole table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Map name -> element key -> verdict.
    maps: BTreeMap<&'static str, BTreeMap<String, String>>,
    /// Chains and sets of each Service port, by its id.
    ports: BTreeMap<String, PortChains>,
}

/// The chains and affinity sets of one Service port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PortChains {
    chains: Vec<String>,
    /// Name and declaration of each set.
    sets: Vec<(String, String)>,
    /// The chain and set blocks, as they go inside `table ip berth-proxy { ... }`.
    text: String,
}

impl Table {
    /// The table for `rules` on `host`.
    pub fn new(rules: &[PortRule], host: &Host) -> Table {
        let mut maps: BTreeMap<&'static str, BTreeMap<String, String>> =
            MAPS.iter().map(|(m, _)| (*m, BTreeMap::new())).collect();
        // Two Services may claim one address and port (the same externalIP, say); a map with a
        // key twice would make nft refuse the whole table, so the first claim wins.
        let mut seen = std::collections::HashSet::new();
        let mut add = |map: &'static str, key: String, verdict: &str| {
            if seen.insert(key.clone()) {
                maps.entry(map)
                    .or_default()
                    .insert(key, verdict.to_string());
            }
        };
        let mut ports = BTreeMap::new();
        for r in rules {
            let cluster = format!("goto svc-{}", r.id);
            let internal = if r.internal_local {
                format!("goto int-{}", r.id)
            } else {
                cluster.clone()
            };
            let external = if r.external_local {
                format!("goto ext-{}", r.id)
            } else {
                cluster.clone()
            };
            let addresses = r
                .cluster_ip
                .iter()
                .map(|ip| (*ip, &internal))
                .chain(r.external_ips.iter().map(|ip| (*ip, &external)));
            for (ip, target) in addresses {
                let key = format!("{ip} . {} . {}", r.protocol, r.port);
                if r.endpoints.is_empty() {
                    add("no-endpoint-services", key, "goto reject-chain");
                } else {
                    add("service-ips", key, target);
                }
            }
            if let Some(n) = r.node_port {
                let key = format!("{} . {n}", r.protocol);
                if r.endpoints.is_empty() {
                    add("no-endpoint-nodeports", key, "goto reject-chain");
                } else {
                    add("service-nodeports", key, &external);
                }
            }
            if r.endpoints.is_empty() {
                continue;
            }
            let mut port = PortChains::default();
            balance(&mut port, r, "", &r.endpoints, true, &[]);
            if r.internal_local {
                balance(&mut port, r, "int-", &r.local_endpoints, true, &[]);
            }
            if r.external_local {
                let cluster = format!("goto svc-{}", r.id);
                let mut in_cluster = vec![format!("fib saddr type local {cluster}")];
                if let Some(bridge) = &host.bridge {
                    in_cluster.insert(0, format!("iifname \"{bridge}\" {cluster}"));
                }
                balance(&mut port, r, "ext-", &r.local_endpoints, false, &in_cluster);
            }
            ports.insert(r.id.clone(), port);
        }
        Table { maps, ports }
    }

    /// The whole table as an `nft -f` script that replaces the previous one atomically.
    pub fn full(&self) -> String {
        let mut s = String::new();
        // Creating then deleting makes the script work whether or not the table exists.
        let _ = writeln!(s, "add table ip {TABLE}");
        let _ = writeln!(s, "delete table ip {TABLE}");
        let _ = writeln!(s, "table ip {TABLE} {{");
        for (name, key) in MAPS {
            let _ = writeln!(s, "  map {name} {{");
            let _ = writeln!(s, "    type {key} : verdict");
            let elements = self.elements(name);
            if !elements.is_empty() {
                let list: Vec<String> =
                    elements.iter().map(|(k, v)| format!("{k} : {v}")).collect();
                let _ = writeln!(s, "    elements = {{ {} }}", list.join(", "));
            }
            let _ = writeln!(s, "  }}");
        }
        let _ = writeln!(
            s,
            "  chain reject-chain {{\n    meta l4proto tcp reject with tcp reset\n    reject\n  }}"
        );
        let lookups = "    ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services\n    ct state new fib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports";
        for hook in ["input", "forward", "output"] {
            let guard = if hook == "input" { LOOPBACK_GUARD } else { "" };
            let _ = writeln!(
                s,
                "  chain filter-{hook} {{\n    type filter hook {hook} priority -110; policy accept;\n{guard}{lookups}\n  }}"
            );
        }
        let _ = writeln!(
            s,
            "  chain services {{\n    ip daddr . meta l4proto . th dport vmap @service-ips\n    fib daddr type local meta l4proto . th dport vmap @service-nodeports\n  }}"
        );
        for hook in ["prerouting", "output"] {
            let _ = writeln!(
                s,
                "  chain nat-{hook} {{\n    type nat hook {hook} priority -100; policy accept;\n    jump services\n  }}"
            );
        }
        let _ = writeln!(
            s,
            "  chain nat-postrouting {{\n    type nat hook postrouting priority 100; policy accept;\n    meta mark & {MASQ_MARK} == {MASQ_MARK} masquerade fully-random\n  }}"
        );
        for port in self.ports.values() {
            s.push_str(&port.text);
        }
        let _ = writeln!(s, "}}");
        s
    }

    /// An `nft -f` script turning the applied table `old` into `self`, in one transaction:
    /// map elements that go or change are deleted first and chains of changed ports are
    /// flushed, so that nothing refers to what is then deleted; then the new chains and sets
    /// and finally the new elements, which refer to them. `None` when nothing differs.
    /// Affinity sets whose declaration stays are kept, with the clients they remember.
    pub fn update(&self, old: &Table) -> Option<String> {
        if self == old {
            return None;
        }
        let mut s = String::new();
        let mut added: Vec<(&str, Vec<String>)> = Vec::new();
        for (name, _) in MAPS {
            let (before, after) = (old.elements(name), self.elements(name));
            let gone: Vec<&str> = before
                .iter()
                .filter(|(k, v)| after.get(*k) != Some(*v))
                .map(|(k, _)| k.as_str())
                .collect();
            if !gone.is_empty() {
                let _ = writeln!(
                    s,
                    "delete element ip {TABLE} {name} {{ {} }}",
                    gone.join(", ")
                );
            }
            let new: Vec<String> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k} : {v}"))
                .collect();
            if !new.is_empty() {
                added.push((name, new));
            }
        }
        let changed: Vec<(&String, &PortChains)> = old
            .ports
            .iter()
            .filter(|(id, port)| self.ports.get(*id) != Some(*port))
            .collect();
        for (_, port) in &changed {
            for chain in &port.chains {
                let _ = writeln!(s, "flush chain ip {TABLE} {chain}");
            }
        }
        for (id, port) in &changed {
            let next = self.ports.get(*id);
            for chain in &port.chains {
                if !next.is_some_and(|n| n.chains.contains(chain)) {
                    let _ = writeln!(s, "delete chain ip {TABLE} {chain}");
                }
            }
            for set in &port.sets {
                if !next.is_some_and(|n| n.sets.contains(set)) {
                    let _ = writeln!(s, "delete set ip {TABLE} {}", set.0);
                }
            }
        }
        let fresh: Vec<&PortChains> = self
            .ports
            .iter()
            .filter(|(id, port)| old.ports.get(*id) != Some(*port))
            .map(|(_, port)| port)
            .collect();
        if !fresh.is_empty() {
            // Blocks add to what exists: a flushed chain gets its new rules, a kept set stays.
            let _ = writeln!(s, "table ip {TABLE} {{");
            for port in fresh {
                s.push_str(&port.text);
            }
            let _ = writeln!(s, "}}");
        }
        for (name, elements) in added {
            let _ = writeln!(
                s,
                "add element ip {TABLE} {name} {{ {} }}",
                elements.join(", ")
            );
        }
        Some(s)
    }

    fn elements(&self, map: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.maps.get(map).unwrap_or(&EMPTY)
    }
}

/// The whole table for `rules` as an `nft -f` script that replaces the previous one.
pub fn render(rules: &[PortRule], host: &Host) -> String {
    Table::new(rules, host).full()
}

/// The chain `{tag}svc-ID` (`svc-ID`, `int-ID`, `ext-ID`) sending `r`'s connections to
/// one of `endpoints` after the rules of `first`; dropping them when there is none.
fn balance(
    port: &mut PortChains,
    r: &PortRule,
    tag: &str,
    endpoints: &[(Ipv4Addr, u16)],
    masquerade: bool,
    first: &[String],
) {
    let s = &mut port.text;
    let chain = if tag.is_empty() {
        format!("svc-{}", r.id)
    } else {
        format!("{tag}{}", r.id)
    };
    let _ = writeln!(s, "  chain {chain} {{");
    port.chains.push(chain);
    let _ = writeln!(s, "    comment \"{}\"", r.name.replace('"', ""));
    for rule in first {
        let _ = writeln!(s, "    {rule}");
    }
    let n = endpoints.len();
    if n == 0 {
        let _ = writeln!(s, "    drop\n  }}");
        return;
    }
    let masq = if masquerade {
        format!("    meta mark set meta mark | {MASQ_MARK}\n")
    } else {
        String::new()
    };
    let Some(timeout) = r.affinity_seconds else {
        // Translated right here: no chain per endpoint.
        s.push_str(&masq);
        for (i, (ip, port)) in endpoints.iter().enumerate() {
            let _ = writeln!(
                s,
                "    {}meta l4proto {} dnat to {ip}:{port}",
                pick(i, n),
                r.protocol
            );
        }
        let _ = writeln!(s, "  }}");
        return;
    };
    let (ep, aff) = (format!("{tag}ep-{}", r.id), format!("{tag}aff-{}", r.id));
    for i in 0..n {
        let _ = writeln!(s, "    ip saddr @{aff}-{i} goto {ep}-{i}");
    }
    for i in 0..n {
        let _ = writeln!(s, "    {}goto {ep}-{i}", pick(i, n));
    }
    let _ = writeln!(s, "  }}");
    for (i, (ip, endpoint_port)) in endpoints.iter().enumerate() {
        let set = format!(
            "  set {aff}-{i} {{\n    type ipv4_addr\n    flags dynamic,timeout\n    timeout {}s\n  }}\n",
            timeout.max(1)
        );
        s.push_str(&set);
        port.sets.push((format!("{aff}-{i}"), set));
        let _ = writeln!(s, "  chain {ep}-{i} {{");
        port.chains.push(format!("{ep}-{i}"));
        s.push_str(&masq);
        let _ = writeln!(s, "    update @{aff}-{i} {{ ip saddr }}");
        let _ = writeln!(
            s,
            "    meta l4proto {} dnat to {ip}:{endpoint_port}",
            r.protocol
        );
        let _ = writeln!(s, "  }}");
    }
}

/// The condition of the `i`th of `n` endpoint rules: endpoint `i` is taken with probability
/// 1/(n-i) among those left, which makes every endpoint equally likely (iptables' cascade
/// of `statistic` rules). Plain comparisons: an anonymous map per Service (`numgen ... map`)
/// made nft's own work superlinear, 2.7 s for 5,000 Services against 0.3 s this way.
fn pick(i: usize, n: usize) -> String {
    if i + 1 < n {
        format!("numgen random mod {} == 0 ", n - i)
    } else {
        String::new()
    }
}

/// The script that removes the table.
pub fn remove() -> String {
    format!("add table ip {TABLE}\ndelete table ip {TABLE}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(value: serde_json::Value) -> Arc<Service> {
        Arc::new(serde_json::from_value(value).unwrap_or_default())
    }

    fn slice(value: serde_json::Value) -> Arc<EndpointSlice> {
        Arc::new(serde_json::from_value(value).unwrap_or_default())
    }

    fn web() -> Vec<Arc<Service>> {
        vec![service(json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"clusterIP": "10.43.0.5", "type": "NodePort", "sessionAffinity": "ClientIP",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}
        }))]
    }

    fn endpoints(list: serde_json::Value) -> Vec<Arc<EndpointSlice>> {
        vec![slice(json!({
            "metadata": {"namespace": "default", "name": "web-x",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": list,
        }))]
    }

    #[test]
    fn ready_endpoints_are_used_and_terminating_ones_only_as_a_fallback() {
        let rules = port_rules(
            &web(),
            &endpoints(json!([
                {"addresses": ["10.42.0.3"], "conditions": {"ready": true}},
                {"addresses": ["10.42.0.2"], "conditions": {}},
                {"addresses": ["10.42.0.4"], "conditions": {"ready": false}},
                {"addresses": ["10.42.0.5"], "conditions": {"ready": false, "serving": true, "terminating": true}},
            ])),
            "node-a",
        );
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(
            r.endpoints,
            vec![
                (Ipv4Addr::new(10, 42, 0, 2), 8080),
                (Ipv4Addr::new(10, 42, 0, 3), 8080)
            ]
        );
        assert_eq!(r.node_port, Some(30080));
        assert_eq!(r.affinity_seconds, Some(10800));
        let only_terminating = port_rules(
            &web(),
            &endpoints(json!([
                {"addresses": ["10.42.0.5"], "conditions": {"ready": false, "serving": true, "terminating": true}},
            ])),
            "node-a",
        );
        assert_eq!(
            only_terminating[0].endpoints,
            vec![(Ipv4Addr::new(10, 42, 0, 5), 8080)]
        );
    }

    #[test]
    fn the_script_replaces_the_table_and_routes_by_maps() {
        let rules = port_rules(
            &web(),
            &endpoints(json!([
                {"addresses": ["10.42.0.2"], "conditions": {"ready": true}},
                {"addresses": ["10.42.0.3"], "conditions": {"ready": true}},
            ])),
            "node-a",
        );
        let script = render(&rules, &Host::default());
        assert!(script.starts_with("add table ip berth-proxy\ndelete table ip berth-proxy\n"));
        let id = &rules[0].id;
        assert!(
            script.contains(&format!("10.43.0.5 . tcp . 80 : goto svc-{id}")),
            "{script}"
        );
        assert!(script.contains(&format!("tcp . 30080 : goto svc-{id}")));
        assert!(
            script.contains(&format!(
                "    numgen random mod 2 == 0 goto ep-{id}-0\n    goto ep-{id}-1\n"
            )),
            "{script}"
        );
        assert!(script.contains("meta l4proto tcp dnat to 10.42.0.3:8080"));
        assert!(script.contains(&format!("update @aff-{id}-1 {{ ip saddr }}")));
        assert!(script.contains("timeout 10800s"));
        // Without endpoints: rejected, not routed.
        let empty = render(&port_rules(&web(), &[], "node-a"), &Host::default());
        assert!(
            empty.contains("10.43.0.5 . tcp . 80 : goto reject-chain"),
            "{empty}"
        );
        assert!(!empty.contains("chain svc-"));
    }

    fn local_policies() -> Vec<Arc<Service>> {
        vec![service(json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"clusterIP": "10.43.0.5", "type": "LoadBalancer",
                     "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
                     "healthCheckNodePort": 31999,
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}
        }))]
    }

    fn spread() -> Vec<Arc<EndpointSlice>> {
        endpoints(json!([
            {"addresses": ["10.42.0.2"], "nodeName": "node-a", "conditions": {"ready": true}},
            {"addresses": ["10.42.1.2"], "nodeName": "node-b", "conditions": {"ready": true}},
            {"addresses": ["10.42.1.3"], "nodeName": "node-b", "conditions": {"ready": true}},
        ]))
    }

    #[test]
    fn local_traffic_policies_keep_to_this_nodes_endpoints() {
        let rules = port_rules(&local_policies(), &spread(), "node-a");
        let r = &rules[0];
        assert_eq!(r.endpoints.len(), 3);
        assert_eq!(r.local_endpoints, vec![(Ipv4Addr::new(10, 42, 0, 2), 8080)]);
        assert!(r.internal_local && r.external_local);
        let host = Host {
            bridge: Some("berth0".into()),
        };
        let script = render(&rules, &host);
        let id = &r.id;
        // ClusterIP -> int-, node port and LoadBalancer address -> ext-.
        assert!(
            script.contains(&format!("10.43.0.5 . tcp . 80 : goto int-{id}")),
            "{script}"
        );
        assert!(
            script.contains(&format!("192.0.2.9 . tcp . 80 : goto ext-{id}")),
            "{script}"
        );
        assert!(
            script.contains(&format!("tcp . 30080 : goto ext-{id}")),
            "{script}"
        );
        let chain = |name: &str| chain_in(&script, name);
        let ext = chain(&format!("ext-{id}"));
        assert!(
            ext.contains(&format!("iifname \"berth0\" goto svc-{id}")),
            "{ext}"
        );
        assert!(
            ext.contains(&format!("fib saddr type local goto svc-{id}")),
            "{ext}"
        );
        assert!(ext.contains("dnat to 10.42.0.2:8080"), "{ext}");
        assert!(!ext.contains("10.42.1."), "{ext}");
        // The client's address is kept for external traffic, not for cluster traffic.
        assert!(!ext.contains("meta mark set"), "{ext}");
        assert!(chain(&format!("int-{id}")).contains("meta mark set"));
        assert!(chain(&format!("svc-{id}")).contains("dnat to 10.42.1.3:8080"));
        // A node without local endpoints drops external traffic instead of forwarding it.
        let elsewhere = render(&port_rules(&local_policies(), &spread(), "node-c"), &host);
        let start = elsewhere.find(&format!("chain ext-{id}")).unwrap_or(0);
        assert!(elsewhere[start..].contains("goto svc-"), "{elsewhere}");
        assert!(elsewhere[start..].contains("    drop\n"), "{elsewhere}");
        let checks = health_checks(&port_rules(&local_policies(), &spread(), "node-b"));
        assert_eq!(
            checks.get(&31999),
            Some(&HealthCheck {
                namespace: "default".into(),
                name: "web".into(),
                local_endpoints: 2
            })
        );
        assert_eq!(
            health_checks(&port_rules(&web(), &spread(), "node-b")),
            BTreeMap::new()
        );
    }

    /// The text of chain `name` in `script`.
    fn chain_in(script: &str, name: &str) -> String {
        let start = script.find(&format!("  chain {name} {{")).unwrap_or(0);
        let end = script[start..]
            .find("\n  }")
            .map_or(script.len(), |e| start + e);
        script[start..end].to_string()
    }

    /// The default single node (its address 127.0.0.1): a LoadBalancer exposed on
    /// 127.0.0.1 is in the address map; the node's own connections are translated in the
    /// output hook; those from a loopback address are masqueraded when translated, with
    /// `externalTrafficPolicy: Local` and session affinity too (a pod cannot answer
    /// 127.0.0.1); and only translated connections reach 127.0.0.0/8 from other interfaces.
    #[test]
    fn localhost_is_served_and_guarded() {
        let mut lb = serde_json::to_value(local_policies()[0].as_ref()).unwrap_or_default();
        lb["status"]["loadBalancer"]["ingress"] = json!([{"ip": "127.0.0.1"}]);
        let mut sticky_lb = lb.clone();
        sticky_lb["spec"]["sessionAffinity"] = json!("ClientIP");
        let host = Host {
            bridge: Some("berth0".into()),
        };
        let cases = [
            (vec![service(lb.clone())], "node-a"),
            (vec![service(lb)], "node-c"),
            (vec![service(sticky_lb)], "node-a"),
            (web(), "node-a"),
        ];
        for (services, node) in cases {
            let rules = port_rules(&services, &spread(), node);
            let script = render(&rules, &host);
            let r = &rules[0];
            let id = &r.id;
            let entry = if r.external_local {
                format!("ext-{id}")
            } else {
                format!("svc-{id}")
            };
            assert!(
                script.contains(&format!("tcp . 30080 : goto {entry}")),
                "{script}"
            );
            if !r.external_ips.is_empty() {
                assert!(
                    script.contains(&format!("127.0.0.1 . tcp . 80 : goto {entry}")),
                    "{script}"
                );
            }
            let output = chain_in(&script, "nat-output");
            assert!(output.contains("type nat hook output"), "{output}");
            assert!(output.contains("jump services"), "{output}");
            assert!(
                chain_in(&script, "services").contains(
                    "fib daddr type local meta l4proto . th dport vmap @service-nodeports"
                ),
                "{script}"
            );
            // From a local address, `ext-` hands over to `svc-` before anything else...
            if r.external_local {
                let ext = chain_in(&script, &entry);
                let first = ext.lines().nth(2).unwrap_or("");
                assert_eq!(
                    first,
                    format!("    iifname \"berth0\" goto svc-{id}"),
                    "{ext}"
                );
                let second = ext.lines().nth(3).unwrap_or("");
                assert_eq!(
                    second,
                    format!("    fib saddr type local goto svc-{id}"),
                    "{ext}"
                );
            }
            // ... and every chain of `svc-` marks the connection for masquerade before
            // translating it.
            let chains: Vec<String> = script
                .lines()
                .filter_map(|l| l.trim().strip_prefix("chain ")?.strip_suffix(" {"))
                .filter(|c| {
                    c.starts_with(&format!("svc-{id}")) || c.starts_with(&format!("ep-{id}"))
                })
                .map(str::to_string)
                .collect();
            assert!(!chains.is_empty(), "{script}");
            for name in chains {
                let chain = chain_in(&script, &name);
                if let Some(dnat) = chain.find("dnat to") {
                    let mark = chain.find(&format!("meta mark set meta mark | {MASQ_MARK}"));
                    assert!(mark.is_some_and(|m| m < dnat), "{chain}");
                }
            }
            assert!(chain_in(&script, "nat-postrouting").contains(&format!(
                "meta mark & {MASQ_MARK} == {MASQ_MARK} masquerade"
            )));
            // The guard comes first on the way in, and only there.
            let input = chain_in(&script, "filter-input");
            let guard = "    iifname != \"lo\" ip daddr 127.0.0.0/8 ct status dnat accept\n    iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n";
            assert!(
                input.contains(&format!("policy accept;\n{guard}    ct state new")),
                "{input}"
            );
            for hook in ["filter-forward", "filter-output"] {
                assert!(!chain_in(&script, hook).contains("127.0.0.0/8"), "{script}");
            }
        }
    }

    /// The real `nft` accepts the script (in a network namespace of its own, which goes away
    /// with the process), with and without endpoints, affinity and node ports.
    /// Root and `nft` are there (tests of the real `nft` are skipped otherwise).
    fn can_run_nft() -> bool {
        if !berth_testkit::require_root("nft tests") {
            return false;
        }
        let have_nft = std::process::Command::new("nft")
            .arg("--version")
            .output()
            .is_ok();
        assert!(
            have_nft || !berth_testkit::required(),
            "nft is required in CI"
        );
        if !have_nft {
            eprintln!("skipped: needs nft");
        }
        have_nft
    }

    #[test]
    fn nft_accepts_the_script() {
        if !can_run_nft() {
            return;
        }
        let full = render(
            &port_rules(
                &web(),
                &endpoints(json!([
                    {"addresses": ["10.42.0.2"], "conditions": {"ready": true}},
                    {"addresses": ["10.42.0.3"], "conditions": {"ready": true}},
                ])),
                "node-a",
            ),
            &Host::default(),
        );
        // Two Services claiming one external address and port (and one node port).
        let mut twins = web();
        for name in ["a", "b"] {
            twins.push(service(json!({
                "metadata": {"namespace": "default", "name": name},
                "spec": {"clusterIP": if name == "a" { "10.43.0.6" } else { "10.43.0.7" },
                         "externalIPs": ["192.0.2.1"], "type": "NodePort",
                         "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}
            })));
        }
        let twin_script = render(&port_rules(&twins, &[], "node-a"), &Host::default());
        // Without affinity: one DNAT rule over a map (two endpoints) or straight (one).
        let plain = vec![service(json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"clusterIP": "10.43.0.5", "type": "ClusterIP",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        }))];
        let two = render(
            &port_rules(
                &plain,
                &endpoints(json!([
                    {"addresses": ["10.42.0.2"], "conditions": {"ready": true}},
                    {"addresses": ["10.42.0.3"], "conditions": {"ready": true}},
                ])),
                "node-a",
            ),
            &Host::default(),
        );
        assert!(
            two.contains("    numgen random mod 2 == 0 meta l4proto tcp dnat to 10.42.0.2:8080\n    meta l4proto tcp dnat to 10.42.0.3:8080\n"),
            "{two}"
        );
        assert!(!two.contains("chain ep-"), "{two}");
        let one = render(
            &port_rules(
                &plain,
                &endpoints(json!([{"addresses": ["10.42.0.2"], "conditions": {"ready": true}}])),
                "node-a",
            ),
            &Host::default(),
        );
        assert!(
            one.contains("meta l4proto tcp dnat to 10.42.0.2:8080"),
            "{one}"
        );
        assert_eq!(
            twin_script.matches("192.0.2.1 . tcp . 80").count(),
            1,
            "{twin_script}"
        );
        assert_eq!(
            twin_script.matches("tcp . 30080").count(),
            1,
            "{twin_script}"
        );
        let mut sticky = serde_json::to_value(local_policies()[0].as_ref()).unwrap_or_default();
        sticky["spec"]["sessionAffinity"] = json!("ClientIP");
        let sticky_local = vec![service(sticky)];
        for script in [
            full,
            twin_script,
            two,
            one,
            render(&port_rules(&web(), &[], "node-a"), &Host::default()),
            render(&[], &Host::default()),
            render(
                &port_rules(&local_policies(), &spread(), "node-c"),
                &Host {
                    bridge: Some("berth0".into()),
                },
            ),
            render(
                &port_rules(&local_policies(), &spread(), "node-b"),
                &Host::default(),
            ),
            render(
                &port_rules(&sticky_local, &spread(), "node-b"),
                &Host::default(),
            ),
            remove(),
        ] {
            use std::io::Write;
            let mut child = std::process::Command::new("unshare")
                .args(["--net", "nft", "-c", "-f", "-"])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("unshare runs");
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(script.as_bytes()).expect("script written");
            }
            let out = child.wait_with_output().expect("nft finishes");
            assert!(
                out.status.success(),
                "{}\n{script}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Apply `scripts` one after another (each its own transaction) with the real `nft` in
    /// a network namespace of its own, then list the table: its lines, sorted, with map
    /// elements one per line (the kernel lists chains in creation order and elements in
    /// its own order, neither of which matters).
    fn applied(scripts: &[String]) -> Vec<String> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut shell = String::from("set -e\n");
        for (i, script) in scripts.iter().enumerate() {
            let path = dir.path().join(format!("{i}.nft"));
            std::fs::write(&path, script).expect("script written");
            shell.push_str(&format!("nft -f {}\n", path.display()));
        }
        shell.push_str(&format!("nft list table ip {TABLE}\n"));
        let out = std::process::Command::new("unshare")
            .args(["--net", "sh", "-c", &shell])
            .output()
            .expect("unshare runs");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            scripts.join("\n---\n")
        );
        let listing = String::from_utf8_lossy(&out.stdout).replace("elements = {", "\n");
        let mut lines: Vec<String> = listing
            .split(['\n', ','])
            .map(|l| l.trim().trim_end_matches('}').trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        lines.sort();
        lines
    }

    /// Each change applied as an update to the table before it ends in the same table as
    /// writing the new one whole: endpoints added and removed, a Service losing all its
    /// endpoints and getting them back, an affinity timeout changing, traffic policies
    /// switching chains, Services appearing and going.
    #[test]
    fn updates_reach_the_same_table_as_a_full_replace() {
        if !can_run_nft() {
            return;
        }
        let two = endpoints(json!([
            {"addresses": ["10.42.0.2"], "conditions": {"ready": true}},
            {"addresses": ["10.42.0.3"], "conditions": {"ready": true}},
        ]));
        let three = endpoints(json!([
            {"addresses": ["10.42.0.2"], "conditions": {"ready": true}},
            {"addresses": ["10.42.0.3"], "conditions": {"ready": true}},
            {"addresses": ["10.42.0.4"], "conditions": {"ready": true}},
        ]));
        let mut shorter = serde_json::to_value(web()[0].as_ref()).unwrap_or_default();
        shorter["spec"]["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 60}});
        let mut plain = serde_json::to_value(web()[0].as_ref()).unwrap_or_default();
        plain["spec"]["sessionAffinity"] = json!("None");
        let plain = vec![service(plain)];
        let mut more = plain.clone();
        more.push(service(json!({
            "metadata": {"namespace": "default", "name": "api"},
            "spec": {"clusterIP": "10.43.0.9", "type": "ClusterIP",
                     "ports": [{"port": 443, "protocol": "TCP"}]}
        })));
        let host = Host {
            bridge: Some("berth0".into()),
        };
        let steps = [
            Table::new(&port_rules(&web(), &two, "node-a"), &host),
            Table::new(&port_rules(&web(), &three, "node-a"), &host),
            Table::new(&port_rules(&web(), &[], "node-a"), &host),
            Table::new(&port_rules(&web(), &two, "node-a"), &host),
            Table::new(&port_rules(&[service(shorter)], &two, "node-a"), &host),
            Table::new(&port_rules(&plain, &two, "node-a"), &host),
            Table::new(&port_rules(&local_policies(), &spread(), "node-b"), &host),
            Table::new(&port_rules(&local_policies(), &spread(), "node-c"), &host),
            Table::new(&port_rules(&more, &three, "node-a"), &host),
            Table::new(&port_rules(&plain, &three, "node-a"), &host),
            Table::new(&[], &host),
            Table::new(&port_rules(&more, &two, "node-a"), &host),
        ];
        for pair in steps.windows(2) {
            let (old, new) = (&pair[0], &pair[1]);
            let update = new.update(old).expect("the tables differ");
            assert!(!update.contains("delete table"), "{update}");
            assert_eq!(
                applied(&[old.full(), update]),
                applied(&[new.full()]),
                "from\n{}\nto\n{}",
                old.full(),
                new.full()
            );
        }
        assert_eq!(steps[0].update(&steps[0].clone()), None);
    }
}
