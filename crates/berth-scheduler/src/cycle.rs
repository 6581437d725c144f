//! One scheduling cycle: filter nodes until enough feasible ones are found, score them,
//! pick the best (ties at random).
//!
//! Like kube-scheduler, a cycle does not look at every node of a big cluster: it stops once
//! it has found an adaptive share of feasible nodes (all of them below 100 nodes, about 10%
//! at 5,000 nodes, never fewer than 100) and the next cycle starts where this one stopped,
//! so pods still spread over the whole cluster. A pod that fits nowhere has seen every node,
//! which is what its failure message counts.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::cache::Cache;
use crate::framework::{CycleState, PodInfo, Profile};
use crate::message::{Diagnosis, FitError};

/// Below this many nodes, all are considered.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive share never drops below this percentage.
const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// How many feasible nodes a cycle looks for (kube-scheduler's `numFeasibleNodesToFind`
/// with the default adaptive `percentageOfNodesToScore`).
pub fn feasible_nodes_to_find(all_nodes: usize) -> usize {
    if all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return all_nodes;
    }
    let percentage = 50usize
        .saturating_sub(all_nodes / 125)
        .max(MIN_FEASIBLE_NODES_PERCENTAGE);
    (all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The scheduling algorithm with its reusable buffers.
pub struct Algorithm {
    profile: Profile,
    next_start: usize,
    rng: u64,
    feasible: Vec<usize>,
    totals: Vec<i64>,
    scores: Vec<i64>,
}

impl Algorithm {
    /// An algorithm running `profile`.
    pub fn new(profile: Profile) -> Algorithm {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64);
        Algorithm {
            profile,
            next_start: 0,
            rng: seed | 1,
            feasible: Vec::new(),
            totals: Vec::new(),
            scores: Vec::new(),
        }
    }

    /// The profile the cycles run.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The cache slot of the node `pod` should go to, or why it fits nowhere.
    pub fn schedule(&mut self, pod: &PodInfo, cache: &Cache) -> Result<usize, FitError> {
        let all = cache.node_count();
        if all == 0 {
            return Err(FitError::no_nodes());
        }
        let nodes = || (0..cache.slots()).filter_map(|i| cache.node_at(i));
        let state = CycleState::prepare(pod, nodes, cache.has_affinity_pods());
        self.find_feasible(pod, cache, &state)?;
        if self.feasible.len() == 1 {
            return Ok(self.feasible[0]);
        }
        self.score(pod, cache, &state);
        Ok(self.select())
    }

    fn find_feasible(
        &mut self,
        pod: &PodInfo,
        cache: &Cache,
        state: &CycleState,
    ) -> Result<(), FitError> {
        let all = cache.node_count();
        let slots = cache.slots();
        let want = feasible_nodes_to_find(all);
        let start = self.next_start % slots;
        let mut diagnosis = Diagnosis::default();
        self.feasible.clear();
        let mut visited = 0;
        while visited < slots {
            let mut i = start + visited;
            if i >= slots {
                i -= slots;
            }
            visited += 1;
            let Some(node) = cache.node_at(i) else {
                continue;
            };
            match self.profile.filter(pod, node, state) {
                Ok(()) => {
                    self.feasible.push(i);
                    if self.feasible.len() >= want {
                        break;
                    }
                }
                // The diagnosis only explains a cycle that found no node: once one fits,
                // tallying the rejections (a hash-map update each) would be thrown away.
                Err((status, requeue_on)) => {
                    if self.feasible.is_empty() {
                        diagnosis.add(status, requeue_on);
                    }
                }
            }
        }
        self.next_start = (start + visited) % slots;
        if self.feasible.is_empty() {
            return Err(FitError {
                num_all_nodes: all,
                diagnosis,
            });
        }
        Ok(())
    }

    fn score(&mut self, pod: &PodInfo, cache: &Cache, state: &CycleState) {
        self.totals.clear();
        self.totals.resize(self.feasible.len(), 0);
        for plugin in &self.profile.scorers {
            if plugin.skip_in(pod, state) {
                continue;
            }
            self.scores.clear();
            self.scores.extend(self.feasible.iter().map(|&i| {
                cache
                    .node_at(i)
                    .map_or(0, |n| plugin.score_in(pod, n, state))
            }));
            plugin.normalize(&mut self.scores);
            let weight = plugin.weight();
            for (total, score) in self.totals.iter_mut().zip(&self.scores) {
                *total += score * weight;
            }
        }
    }

    /// The highest total; among equals, each is equally likely (reservoir sampling).
    fn select(&mut self) -> usize {
        let mut best = 0;
        let mut best_total = i64::MIN;
        let mut ties = 0u64;
        for k in 0..self.totals.len() {
            let total = self.totals[k];
            if total > best_total {
                best = k;
                best_total = total;
                ties = 1;
            } else if total == best_total {
                ties += 1;
                if self.next_random() % ties == 0 {
                    best = k;
                }
            }
        }
        self.feasible[best]
    }

    /// xorshift64*: plenty for breaking ties.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::plugins::default_profile;
    use k8s_openapi::api::core::v1::Taint;

    fn cache_of(nodes: &[k8s_openapi::api::core::v1::Node]) -> Cache {
        let mut c = Cache::new();
        for n in nodes {
            c.apply_node(n);
        }
        c
    }

    #[test]
    fn adaptive_share_of_nodes() {
        assert_eq!(feasible_nodes_to_find(0), 0);
        assert_eq!(feasible_nodes_to_find(99), 99);
        assert_eq!(feasible_nodes_to_find(100), 100);
        assert_eq!(feasible_nodes_to_find(1000), 420);
        assert_eq!(feasible_nodes_to_find(5000), 500);
        assert_eq!(feasible_nodes_to_find(100_000), 5000);
    }

    #[test]
    fn no_nodes() {
        let mut a = Algorithm::new(default_profile());
        let p = info(&pod_requesting("p", &[]));
        let err = a.schedule(&p, &Cache::new()).err();
        assert_eq!(
            err.map(|e| e.message(false)).as_deref(),
            Some(crate::message::NO_NODES)
        );
    }

    #[test]
    fn picks_the_emptier_node() {
        let mut c = cache_of(&[big_node("busy"), big_node("idle")]);
        let hog = info(&pod_requesting("hog", &[("cpu", "3"), ("memory", "6Gi")]));
        let busy = (0..c.slots())
            .find(|&i| c.node_at(i).is_some_and(|n| &*n.name == "busy"))
            .unwrap_or(0);
        c.assume(&hog, busy);
        let mut a = Algorithm::new(default_profile());
        let p = info(&pod_requesting(
            "p",
            &[("cpu", "100m"), ("memory", "100Mi")],
        ));
        for _ in 0..10 {
            let slot = a.schedule(&p, &c).ok();
            let name = slot.and_then(|s| c.node_at(s)).map(|n| n.name.to_string());
            assert_eq!(name.as_deref(), Some("idle"));
        }
    }

    #[test]
    fn failure_message_counts_every_node() {
        let mut tainted = big_node("cp");
        if let Some(spec) = tainted.spec.as_mut() {
            spec.taints = Some(vec![Taint {
                key: "node-role.kubernetes.io/control-plane".to_string(),
                effect: "NoSchedule".to_string(),
                ..Taint::default()
            }]);
        }
        let c = cache_of(&[tainted, big_node("w1"), big_node("w2")]);
        let mut a = Algorithm::new(default_profile());
        let p = info(&pod_requesting("p", &[("cpu", "5")]));
        let err = a.schedule(&p, &c).err();
        assert_eq!(
            err.map(|e| e.message(false)).as_deref(),
            Some(
                "0/3 nodes are available: 1 node(s) had untolerated taint \
                 {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: \
                 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No \
                 preemption victims found for incoming pod."
            )
        );
    }

    #[test]
    fn assumed_pods_fill_nodes_in_turn() {
        let nodes: Vec<_> = (0..3)
            .map(|i| {
                node(
                    &format!("n{i}"),
                    &[("cpu", "1"), ("memory", "1Gi"), ("pods", "10")],
                )
            })
            .collect();
        let mut c = cache_of(&nodes);
        let mut a = Algorithm::new(default_profile());
        for i in 0..3 {
            let p = info(&pod_requesting(&format!("p{i}"), &[("cpu", "600m")]));
            let slot = a.schedule(&p, &c);
            assert!(slot.is_ok(), "pod {i} should fit");
            if let Ok(slot) = slot {
                c.assume(&p, slot);
            }
        }
        for i in 0..c.slots() {
            assert_eq!(c.node_at(i).map(|n| n.pod_count), Some(1));
        }
        let p = info(&pod_requesting("p3", &[("cpu", "600m")]));
        assert!(a.schedule(&p, &c).is_err());
    }

    #[test]
    fn large_cluster_spreads_and_stays_fast() {
        let nodes: Vec<_> = (0..5000)
            .map(|i| {
                node(
                    &format!("n{i}"),
                    &[("cpu", "8"), ("memory", "32Gi"), ("pods", "110")],
                )
            })
            .collect();
        let mut c = cache_of(&nodes);
        let mut a = Algorithm::new(default_profile());
        let start = std::time::Instant::now();
        for i in 0..2000 {
            let p = info(&pod_requesting(
                &format!("p{i}"),
                &[("cpu", "100m"), ("memory", "128Mi")],
            ));
            match a.schedule(&p, &c) {
                Ok(slot) => c.assume(&p, slot),
                Err(e) => panic!("{}", e.message(false)),
            }
        }
        let elapsed = start.elapsed();
        let max = (0..c.slots())
            .filter_map(|i| c.node_at(i).map(|n| n.pod_count))
            .max();
        // With one pod or none, nodes score the same (scores are integers); with two, lower.
        assert!(
            max <= Some(2),
            "pods should spread, found {max:?} on one node"
        );
        // Generous even for a debug build on a busy machine.
        assert!(elapsed.as_secs() < 60, "2000 cycles took {elapsed:?}");
    }
}
