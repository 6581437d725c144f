//! NodeResourcesFit (filter): a pod fits where its effective requests fit in the node's
//! allocatable minus what the pods already there request, and the node has room for one
//! more pod. Also where a pod's effective requests are worked out ([`pod_demand`]), since
//! the cache counts assigned pods with the same rule.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::framework::{
    is_scalar_resource, ClusterEvents, FilterPlugin, NodeInfo, PodDemand, PodInfo, Resources,
    Status,
};
use crate::quantity;

/// CPU counted for scoring when a container requests none (kube-scheduler's default).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory counted for scoring when a container requests none (kube-scheduler's default).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// The reason when the node already holds its maximum number of pods.
pub const TOO_MANY_PODS: &str = "Too many pods";

/// A container's requests. A resource with a limit but no request requests its limit, as
/// API defaulting would have made it.
fn container_demand(c: &Container) -> PodDemand {
    let resources = c.resources.as_ref();
    let requests = resources.and_then(|r| r.requests.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    let get = |name: &str| -> Option<&Quantity> {
        requests
            .and_then(|m| m.get(name))
            .or_else(|| limits.and_then(|m| m.get(name)))
    };
    let cpu = get("cpu").map(|q| quantity::milli_value(&q.0).unwrap_or(0));
    let memory = get("memory").map(|q| quantity::value(&q.0).unwrap_or(0));
    let mut r = Resources {
        milli_cpu: cpu.unwrap_or(0),
        memory: memory.unwrap_or(0),
        ephemeral_storage: get("ephemeral-storage")
            .and_then(|q| quantity::value(&q.0))
            .unwrap_or(0),
        scalar: Vec::new(),
    };
    let names = requests
        .into_iter()
        .flat_map(BTreeMap::keys)
        .chain(limits.into_iter().flat_map(BTreeMap::keys));
    for name in names {
        if is_scalar_resource(name) && r.scalar.iter().all(|(n, _)| n != name) {
            let v = get(name).and_then(|q| quantity::value(&q.0)).unwrap_or(0);
            r.scalar.push((name.clone(), v));
        }
    }
    PodDemand {
        requests: r,
        non_zero_cpu: cpu.unwrap_or(DEFAULT_MILLI_CPU_REQUEST),
        non_zero_memory: memory.unwrap_or(DEFAULT_MEMORY_REQUEST),
    }
}

/// A pod's effective requests, kube's `PodRequests`: the larger of (app containers plus
/// sidecars) and, for each init container in turn, (that container plus the sidecars started
/// before it); then `spec.overhead` on top.
pub fn pod_demand(spec: &PodSpec) -> PodDemand {
    let mut total = PodDemand::default();
    for c in &spec.containers {
        total.add(&container_demand(c));
    }
    let mut sidecars = PodDemand::default();
    let mut init_peak = PodDemand::default();
    for c in spec.init_containers.iter().flatten() {
        let demand = container_demand(c);
        if c.restart_policy.as_deref() == Some("Always") {
            total.add(&demand);
            sidecars.add(&demand);
            init_peak.set_max(&sidecars);
        } else {
            let mut during = demand;
            during.add(&sidecars);
            init_peak.set_max(&during);
        }
    }
    total.set_max(&init_peak);
    if let Some(overhead) = &spec.overhead {
        let overhead = Resources::from_list(overhead);
        total.non_zero_cpu = total.non_zero_cpu.saturating_add(overhead.milli_cpu);
        total.non_zero_memory = total.non_zero_memory.saturating_add(overhead.memory);
        total.requests.add(&overhead);
    }
    total
}

/// The NodeResourcesFit filter.
pub struct NodeResourcesFit;

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let mut reasons = Vec::new();
        if node.pod_count + 1 > node.allowed_pods {
            reasons.push(TOO_MANY_PODS.into());
        }
        let want = &pod.demand.requests;
        let free = |alloc: i64, used: i64| alloc.saturating_sub(used);
        if want.milli_cpu > 0
            && want.milli_cpu > free(node.allocatable.milli_cpu, node.requested.milli_cpu)
        {
            reasons.push("Insufficient cpu".into());
        }
        if want.memory > 0 && want.memory > free(node.allocatable.memory, node.requested.memory) {
            reasons.push("Insufficient memory".into());
        }
        if want.ephemeral_storage > 0
            && want.ephemeral_storage
                > free(
                    node.allocatable.ephemeral_storage,
                    node.requested.ephemeral_storage,
                )
        {
            reasons.push("Insufficient ephemeral-storage".into());
        }
        for (name, amount) in &want.scalar {
            if *amount > 0
                && *amount > free(node.allocatable.scalar(name), node.requested.scalar(name))
            {
                reasons.push(format!("Insufficient {name}").into());
            }
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status {
                code: crate::framework::Code::Unschedulable,
                reasons,
            }
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::ALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::framework::{Code, PodUsage};
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn demand_of(spec: PodSpec) -> PodDemand {
        pod_demand(&spec)
    }

    #[test]
    fn containers_add_up() {
        let d = demand_of(PodSpec {
            containers: vec![
                container(&[("cpu", "100m"), ("memory", "64Mi")]),
                container(&[("cpu", "250m"), ("ephemeral-storage", "1Gi")]),
            ],
            ..PodSpec::default()
        });
        assert_eq!(d.requests.milli_cpu, 350);
        assert_eq!(d.requests.memory, 64 << 20);
        assert_eq!(d.requests.ephemeral_storage, 1 << 30);
        // The second container has no memory request: scoring counts 200Mi for it.
        assert_eq!(d.non_zero_cpu, 350);
        assert_eq!(d.non_zero_memory, (64 << 20) + DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn best_effort_pod_requests_nothing_but_scores_as_default() {
        let d = demand_of(PodSpec {
            containers: vec![container(&[])],
            ..PodSpec::default()
        });
        assert!(d.requests.is_zero());
        assert_eq!(d.non_zero_cpu, DEFAULT_MILLI_CPU_REQUEST);
        assert_eq!(d.non_zero_memory, DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn limits_stand_in_for_missing_requests() {
        let mut c = container(&[("cpu", "100m")]);
        c.resources = Some(ResourceRequirements {
            requests: Some(list(&[("cpu", "100m")])),
            limits: Some(list(&[
                ("cpu", "2"),
                ("memory", "1Gi"),
                ("example.com/gpu", "1"),
            ])),
            ..ResourceRequirements::default()
        });
        let d = demand_of(PodSpec {
            containers: vec![c],
            ..PodSpec::default()
        });
        assert_eq!(d.requests.milli_cpu, 100);
        assert_eq!(d.requests.memory, 1 << 30);
        assert_eq!(d.requests.scalar("example.com/gpu"), 1);
    }

    #[test]
    fn init_containers_and_sidecars() {
        let mut sidecar = container(&[("cpu", "100m")]);
        sidecar.restart_policy = Some("Always".to_string());
        // The big init container runs after the sidecar started: 1000m + 100m.
        let d = demand_of(PodSpec {
            init_containers: Some(vec![sidecar.clone(), container(&[("cpu", "1")])]),
            containers: vec![container(&[("cpu", "500m")])],
            ..PodSpec::default()
        });
        assert_eq!(d.requests.milli_cpu, 1100);
        // Small init containers: app containers plus the sidecar win.
        let d = demand_of(PodSpec {
            init_containers: Some(vec![container(&[("cpu", "200m")]), sidecar]),
            containers: vec![container(&[("cpu", "500m")])],
            ..PodSpec::default()
        });
        assert_eq!(d.requests.milli_cpu, 600);
    }

    #[test]
    fn overhead_is_added() {
        let d = demand_of(PodSpec {
            containers: vec![container(&[("cpu", "100m")])],
            overhead: Some(list(&[("cpu", "50m"), ("memory", "10Mi")])),
            ..PodSpec::default()
        });
        assert_eq!(d.requests.milli_cpu, 150);
        assert_eq!(d.requests.memory, 10 << 20);
        assert_eq!(d.non_zero_cpu, 150);
        assert_eq!(d.non_zero_memory, DEFAULT_MEMORY_REQUEST + (10 << 20));
    }

    #[test]
    fn fits_against_what_is_left() {
        let mut n = node_info(&node(
            "n",
            &[("cpu", "1"), ("memory", "1Gi"), ("pods", "3")],
        ));
        let p = info(&pod_requesting(
            "p",
            &[("cpu", "600m"), ("memory", "256Mi")],
        ));
        assert!(NodeResourcesFit.filter(&p, &n).is_success());
        n.add_pod(&p.usage());
        let status = NodeResourcesFit.filter(&p, &n);
        assert_eq!(status.code, Code::Unschedulable);
        assert_eq!(status.reasons, vec!["Insufficient cpu"]);

        let big = info(&pod_requesting(
            "big",
            &[("cpu", "2"), ("memory", "2Gi"), ("ephemeral-storage", "1")],
        ));
        let status = NodeResourcesFit.filter(&big, &n);
        assert_eq!(
            status.reasons,
            vec![
                "Insufficient cpu",
                "Insufficient memory",
                "Insufficient ephemeral-storage"
            ]
        );
    }

    #[test]
    fn pod_count_is_checked_even_for_best_effort_pods() {
        let mut n = node_info(&node("n", &[("cpu", "1"), ("pods", "1")]));
        let p = info(&pod_requesting("p", &[]));
        assert!(NodeResourcesFit.filter(&p, &n).is_success());
        n.add_pod(&PodUsage::default());
        let status = NodeResourcesFit.filter(&p, &n);
        assert_eq!(status.reasons, vec![TOO_MANY_PODS]);
        // A node that reports no pod capacity takes none.
        let none = node_info(&node("m", &[("cpu", "1")]));
        assert!(!NodeResourcesFit.filter(&p, &none).is_success());
    }

    #[test]
    fn extended_resources() {
        let n = node_info(&node(
            "n",
            &[("cpu", "1"), ("pods", "10"), ("example.com/gpu", "1")],
        ));
        let one = info(&pod_requesting("p", &[("example.com/gpu", "1")]));
        let two = info(&pod_requesting("q", &[("example.com/gpu", "2")]));
        let other = info(&pod_requesting("r", &[("example.com/fpga", "1")]));
        assert!(NodeResourcesFit.filter(&one, &n).is_success());
        assert_eq!(
            NodeResourcesFit.filter(&two, &n).reasons,
            vec!["Insufficient example.com/gpu"]
        );
        assert_eq!(
            NodeResourcesFit.filter(&other, &n).reasons,
            vec!["Insufficient example.com/fpga"]
        );
    }
}
