//! NodeResourcesBalancedAllocation: nodes whose cpu and memory would be used in similar
//! proportions after placing the pod score higher, so neither resource is stranded. Counts
//! actual requests (no non-zero defaults), and skips pods that request neither resource.

use crate::framework::{NodeInfo, PodInfo, ScorePlugin, MAX_NODE_SCORE};

/// The balanced-allocation score.
pub struct BalancedAllocation;

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }

    fn weight(&self) -> i64 {
        1
    }

    fn skip(&self, pod: &PodInfo) -> bool {
        pod.demand.requests.milli_cpu == 0 && pod.demand.requests.memory == 0
    }

    /// `(1 - |cpu fraction - memory fraction| / 2) × 100`, fractions capped at 1; a resource
    /// the node has none of is left out (one fraction alone is perfectly balanced).
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let fraction = |requested: i64, allocatable: i64| -> Option<f64> {
            (allocatable > 0).then(|| (requested as f64 / allocatable as f64).min(1.0))
        };
        let cpu = fraction(
            node.requested
                .milli_cpu
                .saturating_add(pod.demand.requests.milli_cpu),
            node.allocatable.milli_cpu,
        );
        let memory = fraction(
            node.requested
                .memory
                .saturating_add(pod.demand.requests.memory),
            node.allocatable.memory,
        );
        let std = match (cpu, memory) {
            (Some(c), Some(m)) => ((c - m) / 2.0).abs(),
            _ => 0.0,
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;

    #[test]
    fn balanced_node_scores_higher() {
        let p = info(&pod_requesting("p", &[("cpu", "1"), ("memory", "1Gi")]));
        let n = node_info(&node("n", &[("cpu", "4"), ("memory", "4Gi")]));
        // Both at 1/4: perfectly balanced.
        assert_eq!(BalancedAllocation.score(&p, &n), 100);
        let mut lopsided = n.clone();
        lopsided.add_pod(&info(&pod_requesting("cpu-hog", &[("cpu", "2")])).usage());
        // cpu 3/4, memory 1/4: std 0.25 → 75.
        assert_eq!(BalancedAllocation.score(&p, &lopsided), 75);
    }

    #[test]
    fn fractions_are_capped() {
        let p = info(&pod_requesting("p", &[("cpu", "8"), ("memory", "1Gi")]));
        let n = node_info(&node("n", &[("cpu", "4"), ("memory", "4Gi")]));
        // cpu capped at 1, memory 1/4: std 0.375 → 62.
        assert_eq!(BalancedAllocation.score(&p, &n), 62);
    }

    #[test]
    fn skips_pods_without_requests() {
        assert!(BalancedAllocation.skip(&info(&pod_requesting("p", &[]))));
        assert!(!BalancedAllocation.skip(&info(&pod_requesting("q", &[("memory", "1Mi")]))));
    }
}
