//! The engine configuration of one Kubernetes container: image, command and args with
//! `$(VAR)` expansion, environment, user, working directory, volume mounts (with `subPath`
//! and `readOnly`), the pod's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`,
//! resources, security context, and the sandbox to join.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path};

use berth_runtime::container::{ContainerConfig, Mount, MountKind, SandboxRef, SeccompMode};
use k8s_openapi::api::core::v1::{Container, Pod};

use super::env::{environment, expand, ConfigError, PodFacts, Sources};
use super::names::{self, PodKey};
use super::resources::container_resources;
use super::volumes::Prepared;

/// Everything a container of the pod is built from.
pub struct PodContext<'a> {
    /// The pod the container belongs to.
    pub pod: &'a Pod,
    /// The pod's identity, for the engine labels.
    pub key: &'a PodKey,
    /// The ConfigMaps, Secrets, tokens and Services its environment reads.
    pub sources: &'a Sources,
    /// What `fieldRef` and `resourceFieldRef` read: addresses and node allocatable.
    pub facts: &'a PodFacts,
    /// The pod's volumes, prepared on the node, by volume name.
    pub volumes: &'a BTreeMap<String, Prepared>,
    /// The pod's directory on the node, with its `etc-hosts`, `resolv.conf` and `hostname`.
    pub pod_dir: &'a Path,
    /// The sandbox whose network, IPC and UTS namespaces the container joins.
    pub sandbox: SandboxRef,
    /// The pod's host name (`spec.hostname`, else the pod's name, at most 63 characters).
    pub hostname: String,
}

/// Build the engine configuration of attempt `attempt` of `container`.
pub fn build(
    ctx: &PodContext<'_>,
    container: &Container,
    attempt: u32,
) -> Result<ContainerConfig, ConfigError> {
    let env = environment(ctx.pod, container, ctx.sources, ctx.facts)?;
    let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let expand_all = |list: &Option<Vec<String>>| {
        list.as_ref()
            .map(|l| l.iter().map(|s| expand(s, &vars)).collect::<Vec<_>>())
    };
    let mut mounts = Vec::new();
    for m in container.volume_mounts.iter().flatten() {
        let volume = ctx.volumes.get(&m.name).ok_or_else(|| {
            ConfigError(format!(
                "cannot find volume {:?} to mount into container {:?}",
                m.name, container.name
            ))
        })?;
        let mut source = volume.host_path.clone();
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            let sub = expand(sub, &vars);
            let p = Path::new(&sub);
            if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
                return Err(ConfigError(format!(
                    "subPath {sub:?} must be a relative path without '..'"
                )));
            }
            source = source.join(p);
            if !source.exists() && !volume.read_only {
                std::fs::create_dir_all(&source).map_err(|e| {
                    ConfigError(format!("creating subPath {}: {e}", source.display()))
                })?;
            }
        }
        mounts.push(Mount {
            source,
            destination: m.mount_path.clone(),
            kind: MountKind::Bind,
            read_only: m.read_only == Some(true) || volume.read_only,
            size: None,
        });
    }
    // The pod's own files, unless a volume already covers the path.
    for (file, dest) in [
        ("etc-hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
    ] {
        if !mounts.iter().any(|m| m.destination == dest) {
            mounts.push(Mount {
                source: ctx.pod_dir.join(file),
                destination: dest.to_string(),
                kind: MountKind::Bind,
                read_only: false,
                size: None,
            });
        }
    }
    let pod_sc = ctx
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref());
    let sc = container.security_context.as_ref();
    let run_as_user = sc
        .and_then(|s| s.run_as_user)
        .or_else(|| pod_sc.and_then(|s| s.run_as_user));
    let run_as_group = sc
        .and_then(|s| s.run_as_group)
        .or_else(|| pod_sc.and_then(|s| s.run_as_group));
    let user = match (run_as_user, run_as_group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        (None, Some(g)) => Some(format!("0:{g}")),
        (None, None) => None,
    };
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let seccomp_type = sc
        .and_then(|s| s.seccomp_profile.as_ref())
        .or_else(|| pod_sc.and_then(|s| s.seccomp_profile.as_ref()))
        .map(|p| p.type_.as_str());
    // The kubelet's default is Unconfined unless the pod asks for the runtime's profile.
    let seccomp = match seccomp_type {
        Some("RuntimeDefault") => SeccompMode::Default,
        _ => SeccompMode::Unconfined,
    };
    let strip_cap = |c: &String| c.trim_start_matches("CAP_").to_string();
    Ok(ContainerConfig {
        name: Some(names::container_name(
            &ctx.key.uid,
            &container.name,
            attempt,
        )),
        image: container.image.clone().unwrap_or_default(),
        command: expand_all(&container.command),
        args: expand_all(&container.args),
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        working_dir: container.working_dir.clone().filter(|w| !w.is_empty()),
        user,
        hostname: Some(ctx.hostname.clone()),
        mounts,
        resources: container_resources(container),
        cap_add: caps
            .and_then(|c| c.add.as_ref())
            .map(|v| v.iter().map(strip_cap).collect())
            .unwrap_or_default(),
        cap_drop: caps
            .and_then(|c| c.drop.as_ref())
            .map(|v| v.iter().map(strip_cap).collect())
            .unwrap_or_default(),
        read_only_rootfs: sc.and_then(|s| s.read_only_root_filesystem) == Some(true),
        no_new_privileges: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        seccomp,
        tty: container.tty == Some(true),
        stdin: container.stdin == Some(true),
        stdin_once: container.stdin_once == Some(true),
        sandbox: Some(ctx.sandbox.clone()),
        labels: names::labels(ctx.key, &container.name, attempt),
        log_path: None,
        stop_signal: None,
    })
}

/// The pod's `/etc/hosts`, as the kubelet writes it.
pub fn hosts_file(pod: &Pod, hostname: &str, ip: Option<&str>) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        let spec = pod.spec.as_ref();
        let fqdn = spec.and_then(|s| s.subdomain.as_ref()).map(|sub| {
            format!(
                "{hostname}.{sub}.{}.svc.cluster.local\t",
                pod.metadata.namespace.as_deref().unwrap_or("default")
            )
        });
        out.push_str(&format!("{ip}\t{}{hostname}\n", fqdn.unwrap_or_default()));
    }
    let aliases = pod.spec.as_ref().and_then(|s| s.host_aliases.as_ref());
    if let Some(aliases) = aliases {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let hostnames = a.hostnames.clone().unwrap_or_default().join("\t");
            out.push_str(&format!("{}\t{hostnames}\n", a.ip));
        }
    }
    out
}

/// Cluster DNS as pods see it: the `kube-dns` Service address and the cluster domain.
#[derive(Debug, Clone, Copy)]
pub struct ClusterDns<'a> {
    /// The `kube-dns` Service's cluster IP, the pod's first nameserver.
    pub server: std::net::Ipv4Addr,
    /// The cluster domain (`cluster.local`) the pod's search path is made from.
    pub domain: &'a str,
}

/// The pod's `/etc/resolv.conf` by its `dnsPolicy`, as the kubelet writes it: `ClusterFirst`
/// (the default; `Default` for host-network pods) and `ClusterFirstWithHostNet` use cluster
/// DNS with the namespace's search path and `ndots:5` (falling back to `Default` when the node
/// has no cluster DNS); `Default` uses the node's resolvers minus loopback ones (unreachable
/// from a pod's network namespace); `None` only `dnsConfig`, which the others merge in too.
pub fn resolv_conf(pod: &Pod, host_resolv: &str, cluster: Option<ClusterDns<'_>>) -> String {
    let spec = pod.spec.as_ref();
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let cluster = match policy {
        "ClusterFirstWithHostNet" => cluster,
        "ClusterFirst" if !host_network => cluster,
        _ => None,
    };
    let mut nameservers: Vec<String> = Vec::new();
    let mut searches: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    if let Some(dns) = cluster {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        nameservers.push(dns.server.to_string());
        searches.extend([
            format!("{namespace}.svc.{}", dns.domain),
            format!("svc.{}", dns.domain),
            dns.domain.to_string(),
        ]);
        options.push("ndots:5".into());
    }
    if policy != "None" {
        for line in host_resolv.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") if cluster.is_none() => {
                    if let Some(ns) = words.next() {
                        let loopback = ns
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback());
                        if !loopback {
                            nameservers.push(ns.to_string());
                        }
                    }
                }
                Some("search") | Some("domain") => searches.extend(words.map(str::to_string)),
                Some("options") if cluster.is_none() => options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
    }
    if let Some(cfg) = spec.and_then(|s| s.dns_config.as_ref()) {
        nameservers.extend(cfg.nameservers.iter().flatten().cloned());
        searches.extend(cfg.searches.iter().flatten().cloned());
        for o in cfg.options.iter().flatten() {
            let name = o.name.clone().unwrap_or_default();
            // A pod's option replaces the default of the same name (ndots:5).
            options.retain(|existing| existing.split(':').next() != Some(name.as_str()));
            match &o.value {
                Some(v) => options.push(format!("{name}:{v}")),
                None => options.push(name),
            }
        }
    }
    searches.dedup();
    let mut out = String::new();
    for ns in nameservers.iter().take(3) {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !searches.is_empty() {
        // glibc reads at most 6 search domains (the kubelet trims the same way).
        out.push_str(&format!(
            "search {}\n",
            searches
                .iter()
                .take(6)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hosts_has_the_pod_and_aliases() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"containers": [], "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a", "b"]}]}
        }))
        .unwrap();
        let hosts = hosts_file(&pod, "web", Some("10.42.0.7"));
        assert!(hosts.contains("10.42.0.7\tweb\n"), "{hosts}");
        assert!(hosts.contains("1.2.3.4\ta\tb\n"), "{hosts}");
    }

    #[test]
    fn resolv_drops_loopback_and_honours_dns_config() {
        let pod: Pod = serde_json::from_value(json!({
            "spec": {"containers": [], "dnsPolicy": "None",
                     "dnsConfig": {"nameservers": ["9.9.9.9"], "searches": ["x.y"], "options": [{"name": "ndots", "value": "2"}]}}
        }))
        .unwrap();
        let dns = Some(ClusterDns {
            server: std::net::Ipv4Addr::new(10, 43, 0, 10),
            domain: "cluster.local",
        });
        assert_eq!(
            resolv_conf(&pod, "nameserver 1.1.1.1\n", dns),
            "nameserver 9.9.9.9\nsearch x.y\noptions ndots:2\n"
        );
        let pod: Pod =
            serde_json::from_value(json!({"spec": {"containers": [], "dnsPolicy": "Default"}}))
                .unwrap();
        assert_eq!(
            resolv_conf(
                &pod,
                "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan\n",
                dns
            ),
            "nameserver 10.0.0.2\nsearch lan\n"
        );
    }

    #[test]
    fn cluster_first_uses_cluster_dns_with_the_namespace_search_path() {
        let dns = Some(ClusterDns {
            server: std::net::Ipv4Addr::new(10, 43, 0, 10),
            domain: "cluster.local",
        });
        let host = "nameserver 10.0.0.2\nsearch lan\noptions edns0\n";
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"namespace": "shop"},
            "spec": {"containers": [], "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}}
        }))
        .unwrap();
        assert_eq!(
            resolv_conf(&pod, host, dns),
            "nameserver 10.43.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local lan\noptions ndots:2\n"
        );
        // Host-network pods use the node's resolvers unless they ask for cluster DNS.
        let host_net: Pod = serde_json::from_value(json!({
            "metadata": {"namespace": "shop"},
            "spec": {"containers": [], "hostNetwork": true}
        }))
        .unwrap();
        assert_eq!(
            resolv_conf(&host_net, host, dns),
            "nameserver 10.0.0.2\nsearch lan\noptions edns0\n"
        );
        let with_host_net: Pod = serde_json::from_value(json!({
            "metadata": {"namespace": "shop"},
            "spec": {"containers": [], "hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}
        }))
        .unwrap();
        assert!(resolv_conf(&with_host_net, host, dns).starts_with("nameserver 10.43.0.10\n"));
        // Without cluster DNS on the node, ClusterFirst falls back to the node's resolvers.
        let pod: Pod = serde_json::from_value(json!({"spec": {"containers": []}})).unwrap();
        assert_eq!(
            resolv_conf(&pod, host, None),
            "nameserver 10.0.0.2\nsearch lan\noptions edns0\n"
        );
    }
}
