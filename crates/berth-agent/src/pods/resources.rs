//! Container requests and limits as cgroup settings, and the pod's QoS class, following the
//! kubelet's conversions (CPU request -> shares, CPU limit -> CFS quota, memory limit ->
//! memory limit); the kubelet's cgroup tree: `/kubepods` limited to the node's allocatable,
//! `burstable` and `besteffort` under it, and a cgroup per pod with the pod's limits.

use berth_api::quantity::Quantity;
use berth_runtime::container::Resources;
use berth_runtime::sandbox::ParentLimits;
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

/// The root of the node's pod cgroups.
pub const KUBEPODS: &str = "/kubepods";

/// Set up `/kubepods` with the node's allocatable CPU and memory as its limits, and its
/// QoS class children (BestEffort pods get the minimum CPU weight between them all).
pub fn setup_kubepods(cpu_milli: i128, memory_bytes: u64) -> Result<(), String> {
    let set = |path: &str, limits: ParentLimits| {
        berth_runtime::sandbox::set_parent_limits(path, &limits)
            .map_err(|e| format!("setting up cgroup {path}: {e}"))
    };
    set(
        KUBEPODS,
        ParentLimits {
            memory_bytes: Some(memory_bytes),
            cpu_shares: Some(shares(cpu_milli)),
        },
    )?;
    set(
        &format!("{KUBEPODS}/burstable"),
        ParentLimits {
            memory_bytes: None,
            cpu_shares: Some(1024),
        },
    )?;
    set(
        &format!("{KUBEPODS}/besteffort"),
        ParentLimits {
            memory_bytes: None,
            cpu_shares: Some(MIN_SHARES),
        },
    )
}

/// Whether the `/kubepods` tree [`setup_kubepods`] makes is there (its last part made).
pub fn kubepods_exists() -> bool {
    berth_runtime::sandbox::parent_exists(&format!("{KUBEPODS}/besteffort"))
}

/// A pod's cgroup, under its QoS class as the kubelet lays them out.
pub fn pod_cgroup_parent(pod: &Pod, uid: &str) -> String {
    match qos_class(pod) {
        "Guaranteed" => format!("{KUBEPODS}/pod{uid}"),
        "Burstable" => format!("{KUBEPODS}/burstable/pod{uid}"),
        _ => format!("{KUBEPODS}/besteffort/pod{uid}"),
    }
}

/// The pod's own limits, as the kubelet computes them: what its app containers and sidecars
/// use together, or the largest init container, whichever is more; a memory limit only when
/// every container has one.
pub fn pod_limits(pod: &Pod) -> ParentLimits {
    let Some(spec) = &pod.spec else {
        return ParentLimits::default();
    };
    let none = ResourceRequirements::default();
    let sidecar = |c: &&Container| c.restart_policy.as_deref() == Some("Always");
    let long_running = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten().filter(sidecar));
    let mut milli = 0i128;
    let mut memory = Some(0i128);
    for c in long_running {
        let r = c.resources.as_ref().unwrap_or(&none);
        milli += request(r, "cpu").map_or(0, |q| q.as_milli());
        memory = memory
            .zip(get(r.limits.as_ref(), "memory").map(|q| q.as_value()))
            .map(|(a, b)| a + b);
    }
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| !sidecar(c))
    {
        let r = c.resources.as_ref().unwrap_or(&none);
        milli = milli.max(request(r, "cpu").map_or(0, |q| q.as_milli()));
        memory = memory
            .zip(get(r.limits.as_ref(), "memory").map(|q| q.as_value()))
            .map(|(a, b)| a.max(b));
    }
    ParentLimits {
        memory_bytes: memory
            .and_then(|m| u64::try_from(m).ok())
            .filter(|m| *m > 0),
        cpu_shares: Some(shares(milli)),
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

    #[test]
    fn pods_get_a_cgroup_under_their_qos_class_with_their_limits() {
        let g = json!({"limits": {"cpu": "1", "memory": "1Gi"}});
        assert_eq!(
            pod_cgroup_parent(&pod(std::slice::from_ref(&g)), "u1"),
            "/kubepods/podu1"
        );
        assert_eq!(
            pod_cgroup_parent(&pod(&[json!({})]), "u1"),
            "/kubepods/besteffort/podu1"
        );
        let limits = pod_limits(&pod(&[g.clone(), g]));
        assert_eq!(limits.memory_bytes, Some(2 << 30));
        assert_eq!(limits.cpu_shares, Some(2048));
        // One container without a memory limit: the pod has none either.
        let b = json!({"requests": {"cpu": "100m"}, "limits": {"memory": "64Mi"}});
        let limits = pod_limits(&pod(&[b, json!({})]));
        assert_eq!(limits.memory_bytes, None);
        assert_eq!(limits.cpu_shares, Some(102));
        // A big init container sets the floor.
        let p: Pod = serde_json::from_value(json!({"spec": {
            "initContainers": [{"name": "i", "resources": {"limits": {"memory": "1Gi"}}}],
            "containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}]
        }}))
        .unwrap();
        assert_eq!(pod_limits(&p).memory_bytes, Some(1 << 30));
    }
}
