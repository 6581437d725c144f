//! NodeResourcesFit (score, `LeastAllocated` strategy): nodes with more cpu and memory left
//! after placing the pod score higher, which spreads pods. Pods without requests count with
//! kube-scheduler's non-zero defaults, so best-effort pods spread too.

use crate::framework::{NodeInfo, PodInfo, ScorePlugin, MAX_NODE_SCORE};

/// `(allocatable - requested) / allocatable` on the 0..=100 scale; 0 when over-committed.
fn least_requested(requested: i64, allocatable: i64) -> i64 {
    if requested > allocatable {
        return 0;
    }
    let free = i128::from(allocatable) - i128::from(requested);
    let score = free * i128::from(MAX_NODE_SCORE) / i128::from(allocatable);
    i64::try_from(score).unwrap_or(0)
}

/// The least-allocated score.
pub struct LeastAllocated;

impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn weight(&self) -> i64 {
        1
    }

    /// Equal weights for cpu and memory; a resource the node has none of is left out.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let pairs = [
            (
                node.non_zero_cpu.saturating_add(pod.demand.non_zero_cpu),
                node.allocatable.milli_cpu,
            ),
            (
                node.non_zero_memory
                    .saturating_add(pod.demand.non_zero_memory),
                node.allocatable.memory,
            ),
        ];
        let mut sum = 0;
        let mut weights = 0;
        for (requested, allocatable) in pairs {
            if allocatable <= 0 {
                continue;
            }
            sum += least_requested(requested, allocatable);
            weights += 1;
        }
        if weights == 0 {
            0
        } else {
            sum / weights
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;

    #[test]
    fn emptier_node_scores_higher() {
        let p = info(&pod_requesting("p", &[("cpu", "1"), ("memory", "1Gi")]));
        let empty = node_info(&node(
            "empty",
            &[("cpu", "4"), ("memory", "4Gi"), ("pods", "10")],
        ));
        let mut busy = empty.clone();
        busy.add_pod(&p.usage());
        busy.add_pod(&p.usage());
        // Empty: (3/4, 3/4) → 75. Busy: (1/4, 1/4) → 25.
        assert_eq!(LeastAllocated.score(&p, &empty), 75);
        assert_eq!(LeastAllocated.score(&p, &busy), 25);
    }

    #[test]
    fn best_effort_pods_count_defaults() {
        let p = info(&pod_requesting("p", &[]));
        let n = node_info(&node("n", &[("cpu", "1"), ("memory", "1000Mi")]));
        // cpu: 900/1000 → 90; memory: 800/1000 → 80.
        assert_eq!(LeastAllocated.score(&p, &n), 85);
    }

    #[test]
    fn overcommitted_and_empty_allocatable() {
        let p = info(&pod_requesting("p", &[("cpu", "8"), ("memory", "1Gi")]));
        let n = node_info(&node("n", &[("cpu", "4"), ("memory", "2Gi")]));
        // cpu over-committed → 0; memory half free → 50.
        assert_eq!(LeastAllocated.score(&p, &n), 25);
        let bare = node_info(&node("bare", &[]));
        assert_eq!(LeastAllocated.score(&p, &bare), 0);
    }
}
