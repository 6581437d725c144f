//! Container requests and limits as cgroup settings, and the pod's QoS class, following the
//! kubelet's conversions (CPU request -> shares, CPU limit -> CFS quota, memory limit ->
//! memory limit).

use berth_api::quantity::Quantity;
use berth_runtime::container::Resources;
use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

/// The CFS period the kubelet uses.
const CPU_PERIOD: u64 = 100_000;
/// cgroup v1 bounds of cpu.shares.
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

fn get(map: Option<&BTreeMap<String, ApiQuantity>>, name: &str) -> Option<Quantity> {
    map?.get(name).and_then(|q| Quantity::parse(&q.0).ok())
}

/// Requests, falling back to limits (the API defaults a missing request to its limit).
fn request(r: &ResourceRequirements, name: &str) -> Option<Quantity> {
    get(r.requests.as_ref(), name).or_else(|| get(r.limits.as_ref(), name))
}

/// cgroup settings for `container`.
pub fn container_resources(container: &Container) -> Resources {
    let none = ResourceRequirements::default();
    let r = container.resources.as_ref().unwrap_or(&none);
    let mut out = Resources::default();
    // Without a request a container still gets the minimum weight, as the kubelet does, so
    // that Guaranteed and Burstable pods win under contention.
    let milli = request(r, "cpu").map(|q| q.as_milli()).unwrap_or(0);
    out.cpu_shares = Some(shares(milli));
    if let Some(limit) = get(r.limits.as_ref(), "cpu") {
        let quota = (limit.as_milli() * CPU_PERIOD as i128) / 1000;
        // The kernel refuses quotas under 1 ms.
        out.cpu_quota = Some(i64::try_from(quota.max(1000)).unwrap_or(i64::MAX));
        out.cpu_period = Some(CPU_PERIOD);
    }
    if let Some(limit) = get(r.limits.as_ref(), "memory") {
        out.memory_limit = i64::try_from(limit.as_value()).ok();
    }
    out
}

fn shares(milli: i128) -> u64 {
    let s = (milli * 1024) / 1000;
    u64::try_from(s).unwrap_or(0).clamp(MIN_SHARES, MAX_SHARES)
}

/// The QoS class: Guaranteed when every container has equal CPU and memory requests and
/// limits, BestEffort when none has any, Burstable otherwise.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = &pod.spec else {
        return "BestEffort";
    };
    let all = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let none = ResourceRequirements::default();
        let r = c.resources.as_ref().unwrap_or(&none);
        for name in ["cpu", "memory"] {
            let req = request(r, name);
            let lim = get(r.limits.as_ref(), name);
            if req.as_ref().is_some_and(|q| !q.is_zero()) || lim.is_some() {
                any = true;
            }
            match (req, lim) {
                (Some(a), Some(b)) if a.as_milli() == b.as_milli() => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(resources: serde_json::Value) -> Container {
        serde_json::from_value(json!({"name": "c", "resources": resources})).unwrap()
    }

    fn pod(resources: &[serde_json::Value]) -> Pod {
        let containers: Vec<_> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| json!({"name": format!("c{i}"), "resources": r}))
            .collect();
        serde_json::from_value(json!({"spec": {"containers": containers}})).unwrap()
    }

    #[test]
    fn cpu_and_memory_become_shares_quota_and_limit() {
        let r = container_resources(&container(
            json!({"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}),
        ));
        assert_eq!(r.cpu_shares, Some(256));
        assert_eq!(r.cpu_quota, Some(50_000));
        assert_eq!(r.cpu_period, Some(100_000));
        assert_eq!(r.memory_limit, Some(64 * 1024 * 1024));
        let none = container_resources(&container(json!({})));
        assert_eq!(none.cpu_shares, Some(2));
        assert_eq!(none.cpu_quota, None);
        assert_eq!(none.memory_limit, None);
    }

    #[test]
    fn qos_classes() {
        assert_eq!(qos_class(&pod(&[json!({})])), "BestEffort");
        let g = json!({"limits": {"cpu": "1", "memory": "1Gi"}});
        assert_eq!(qos_class(&pod(&[g.clone(), g.clone()])), "Guaranteed");
        assert_eq!(qos_class(&pod(&[g, json!({})])), "Burstable");
        assert_eq!(
            qos_class(&pod(&[json!({"requests": {"memory": "10Mi"}})])),
            "Burstable"
        );
    }
}
