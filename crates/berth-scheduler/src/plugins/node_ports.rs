//! NodePorts: a pod asking for a host port fits only where no pod already holds the same
//! port and protocol on an overlapping host IP (`0.0.0.0` overlaps every address).

use k8s_openapi::api::core::v1::{Container, PodSpec};

use crate::framework::{ClusterEvents, FilterPlugin, HostPort, NodeInfo, PodInfo, Status};

/// kube-scheduler's failure reason.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

const ANY_IP: &str = "0.0.0.0";

/// The host ports of a pod spec: its containers' and its sidecars' (init containers with
/// `restartPolicy: Always`, which run alongside them).
pub fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c: &Container| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|p| *p > 0)?;
            Some(HostPort {
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| ANY_IP.to_string()),
                protocol: p
                    .protocol
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "TCP".to_string()),
                port,
            })
        })
        .collect()
}

/// Whether `wanted` clashes with a port in `used`.
pub fn conflicts(used: &[HostPort], wanted: &HostPort) -> bool {
    used.iter().any(|u| {
        u.port == wanted.port
            && u.protocol == wanted.protocol
            && (wanted.ip == ANY_IP || u.ip == ANY_IP || u.ip == wanted.ip)
    })
}

/// The NodePorts filter.
pub struct NodePorts;

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod
            .host_ports
            .iter()
            .any(|p| conflicts(&node.used_ports, p))
        {
            Status::unschedulable(REASON)
        } else {
            Status::success()
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADDED | ClusterEvents::POD_FREED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::framework::{Code, PodUsage};

    fn port_pod(port: i32, ip: Option<&str>, proto: &str) -> PodInfo {
        info(&pod(
            "p",
            PodSpec {
                containers: vec![with_host_port(container(&[]), port, ip, proto)],
                ..PodSpec::default()
            },
        ))
    }

    fn node_using(ports: &[(i32, Option<&str>, &str)]) -> NodeInfo {
        let mut n = node_info(&big_node("n"));
        for (port, ip, proto) in ports {
            n.add_pod(&PodUsage {
                ports: port_pod(*port, *ip, proto).host_ports,
                ..PodUsage::default()
            });
        }
        n
    }

    #[test]
    fn defaults_applied() {
        let p = port_pod(8080, None, "");
        assert_eq!(
            p.host_ports,
            vec![HostPort {
                ip: "0.0.0.0".to_string(),
                protocol: "TCP".to_string(),
                port: 8080
            }]
        );
        // A containerPort without hostPort takes nothing on the host.
        let mut c = container(&[]);
        c.ports = Some(vec![k8s_openapi::api::core::v1::ContainerPort {
            container_port: 80,
            ..Default::default()
        }]);
        let p = info(&pod(
            "p",
            PodSpec {
                containers: vec![c],
                ..PodSpec::default()
            },
        ));
        assert!(p.host_ports.is_empty());
    }

    #[test]
    fn conflict_rules() {
        let clash = |used: &[(i32, Option<&str>, &str)], wanted: (i32, Option<&str>, &str)| {
            let status =
                NodePorts.filter(&port_pod(wanted.0, wanted.1, wanted.2), &node_using(used));
            if !status.is_success() {
                assert_eq!(status.code, Code::Unschedulable);
                assert_eq!(status.reasons, vec![REASON]);
            }
            !status.is_success()
        };
        assert!(clash(&[(80, None, "TCP")], (80, None, "TCP")));
        assert!(!clash(&[(80, None, "TCP")], (81, None, "TCP")));
        assert!(!clash(&[(80, None, "UDP")], (80, None, "TCP")));
        assert!(clash(&[(80, Some("10.0.0.1"), "TCP")], (80, None, "TCP")));
        assert!(clash(&[(80, None, "TCP")], (80, Some("10.0.0.1"), "TCP")));
        assert!(clash(
            &[(80, Some("10.0.0.1"), "TCP")],
            (80, Some("10.0.0.1"), "TCP")
        ));
        assert!(!clash(
            &[(80, Some("10.0.0.1"), "TCP")],
            (80, Some("10.0.0.2"), "TCP")
        ));
    }

    #[test]
    fn freed_port_is_available_again() {
        let mut n = node_using(&[(80, None, "TCP")]);
        let p = port_pod(80, None, "TCP");
        assert!(!NodePorts.filter(&p, &n).is_success());
        n.remove_pod(&p.usage());
        assert!(NodePorts.filter(&p, &n).is_success());
    }

    #[test]
    fn sidecar_ports_count_init_ports_do_not() {
        let mut sidecar = with_host_port(container(&[]), 9000, None, "TCP");
        sidecar.restart_policy = Some("Always".to_string());
        let init = with_host_port(container(&[]), 9001, None, "TCP");
        let p = info(&pod(
            "p",
            PodSpec {
                init_containers: Some(vec![sidecar, init]),
                ..PodSpec::default()
            },
        ));
        let ports: Vec<i32> = p.host_ports.iter().map(|h| h.port).collect();
        assert_eq!(ports, vec![9000]);
    }
}
