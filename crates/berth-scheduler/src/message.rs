//! The failure message of a pod that fits nowhere, worded as kube-scheduler's `FitError`,
//! since users (and scripts) read it from `kubectl describe` and from the PodScheduled
//! condition:
//!
//! `0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.`
//!
//! Each reason is counted over the nodes that gave it; the "count reason" entries are sorted
//! as strings (so by count first, as kube-scheduler does) and joined with ", ". Berth does
//! not preempt, so the preemption part says what kube-scheduler says when it finds no
//! victims: nodes rejected for good are "not helpful", the others have "no victims".

use std::borrow::Cow;
use std::collections::HashMap;

use crate::framework::{ClusterEvents, Code, Status};

/// The message when the cluster has no nodes at all.
pub const NO_NODES: &str = "0/0 nodes are available: no nodes available to schedule pods.";

/// Why the filters rejected every node.
#[derive(Debug, Default, Clone)]
pub struct Diagnosis {
    /// How many nodes gave each reason.
    pub reasons: HashMap<Cow<'static, str>, usize>,
    /// Nodes rejected with `UnschedulableAndUnresolvable`.
    pub unresolvable_nodes: usize,
    /// Nodes rejected with `Unschedulable` (preemption could have helped).
    pub resolvable_nodes: usize,
    /// The cluster events that may undo some rejection.
    pub requeue_on: ClusterEvents,
}

impl Diagnosis {
    /// Record one node's rejection.
    pub fn add(&mut self, status: Status, requeue_on: ClusterEvents) {
        match status.code {
            Code::UnschedulableAndUnresolvable => self.unresolvable_nodes += 1,
            Code::Unschedulable => self.resolvable_nodes += 1,
            Code::Success => return,
        }
        self.requeue_on |= requeue_on;
        for reason in status.reasons {
            *self.reasons.entry(reason).or_insert(0) += 1;
        }
    }
}

/// A pod fits on none of the `num_all_nodes` nodes.
#[derive(Debug, Clone)]
pub struct FitError {
    /// Nodes in the cluster.
    pub num_all_nodes: usize,
    /// What the filters said.
    pub diagnosis: Diagnosis,
}

impl FitError {
    /// The cluster has no nodes.
    pub fn no_nodes() -> FitError {
        FitError {
            num_all_nodes: 0,
            diagnosis: Diagnosis {
                requeue_on: ClusterEvents::NODE_ADDED,
                ..Diagnosis::default()
            },
        }
    }

    /// What the filters said, without the preemption part: the whole message when
    /// preemption found victims (kube-scheduler reports no preemption failure then).
    pub fn summary(&self) -> String {
        if self.num_all_nodes == 0 {
            return NO_NODES.to_string();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        let histogram = sorted_histogram(
            self.diagnosis
                .reasons
                .iter()
                .map(|(reason, count)| (reason.as_ref(), *count)),
        );
        if !histogram.is_empty() {
            msg.push(' ');
            msg.push_str(&histogram);
            msg.push('.');
        }
        msg
    }

    /// The user-facing message; `preemption_never` is the pod's `preemptionPolicy: Never`.
    pub fn message(&self, preemption_never: bool) -> String {
        if self.num_all_nodes == 0 {
            return NO_NODES.to_string();
        }
        let mut msg = self.summary();
        msg.push(' ');
        if preemption_never {
            msg.push_str("preemption: not eligible due to preemptionPolicy=Never.");
        } else {
            let d = &self.diagnosis;
            let preemption = sorted_histogram(
                [
                    (
                        "Preemption is not helpful for scheduling",
                        d.unresolvable_nodes,
                    ),
                    (
                        "No preemption victims found for incoming pod",
                        d.resolvable_nodes,
                    ),
                ]
                .into_iter(),
            );
            msg.push_str(&format!(
                "preemption: 0/{} nodes are available: {preemption}.",
                self.num_all_nodes
            ));
        }
        msg
    }
}

/// `"N reason"` entries with a non-zero count, sorted as strings, joined with ", ".
fn sorted_histogram<'a>(counts: impl Iterator<Item = (&'a str, usize)>) -> String {
    let mut entries: Vec<String> = counts
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    entries.sort();
    entries.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit_error(nodes: usize, statuses: Vec<Status>) -> FitError {
        let mut diagnosis = Diagnosis::default();
        for s in statuses {
            diagnosis.add(s, ClusterEvents::NODE_CHANGED);
        }
        FitError {
            num_all_nodes: nodes,
            diagnosis,
        }
    }

    #[test]
    fn reasons_grouped_counted_and_sorted() {
        let e = fit_error(
            3,
            vec![
                Status::unschedulable("Insufficient cpu"),
                Status::unresolvable(
                    "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
                ),
                Status::unschedulable("Insufficient cpu"),
            ],
        );
        assert_eq!(
            e.message(false),
            "0/3 nodes are available: 1 node(s) had untolerated taint \
             {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 \
             nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption \
             victims found for incoming pod."
        );
    }

    #[test]
    fn one_node_can_give_several_reasons() {
        let e = fit_error(
            2,
            vec![
                Status {
                    code: Code::Unschedulable,
                    reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()],
                },
                Status::unschedulable("Insufficient memory"),
            ],
        );
        assert_eq!(
            e.message(false),
            "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory. preemption: \
             0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn all_unresolvable() {
        let e = fit_error(
            3,
            vec![Status::unresolvable("node(s) didn't match Pod's node affinity/selector",); 3],
        );
        assert_eq!(
            e.message(false),
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        assert_eq!(e.diagnosis.requeue_on, ClusterEvents::NODE_CHANGED);
    }

    #[test]
    fn preemption_policy_never() {
        let e = fit_error(1, vec![Status::unschedulable("Too many pods")]);
        assert_eq!(
            e.message(true),
            "0/1 nodes are available: 1 Too many pods. preemption: not eligible due to \
             preemptionPolicy=Never."
        );
    }

    #[test]
    fn no_nodes() {
        let e = FitError::no_nodes();
        assert_eq!(
            e.message(false),
            "0/0 nodes are available: no nodes available to schedule pods."
        );
        assert_eq!(e.diagnosis.requeue_on, ClusterEvents::NODE_ADDED);
    }
}
