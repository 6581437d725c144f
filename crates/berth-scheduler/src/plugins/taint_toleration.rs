//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints keep off every pod that
//! does not tolerate them; among feasible nodes, fewer untolerated `PreferNoSchedule` taints
//! score higher. Which toleration tolerates which taint is `berth_api::matching::taints`,
//! shared with the DaemonSet and node lifecycle controllers.

use berth_api::matching::taints::{self, PREFER_NO_SCHEDULE};

use crate::framework::{
    default_normalize, ClusterEvents, FilterPlugin, NodeInfo, PodInfo, ScorePlugin, Status,
};

/// The TaintToleration filter and score.
pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        match taints::first_untolerated(&node.taints, &pod.tolerations, taints::keeps_off) {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADDED | ClusterEvents::NODE_CHANGED
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn weight(&self) -> i64 {
        3
    }

    /// The number of `PreferNoSchedule` taints the pod does not tolerate; only tolerations
    /// for that effect (or for every effect) count.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let count = node
            .taints
            .iter()
            .filter(|t| t.effect == PREFER_NO_SCHEDULE)
            .filter(|t| {
                !pod.tolerations.iter().any(|tol| {
                    matches!(tol.effect.as_deref(), None | Some("" | PREFER_NO_SCHEDULE))
                        && taints::tolerates(tol, t)
                })
            })
            .count();
        i64::try_from(count).unwrap_or(i64::MAX)
    }

    /// Fewer untolerated taints is better.
    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::framework::Code;
    use k8s_openapi::api::core::v1::{PodSpec, Taint as ApiTaint, Toleration as ApiToleration};

    fn tainted(name: &str, taints: &[(&str, &str, &str)]) -> NodeInfo {
        let mut n = big_node(name);
        if let Some(spec) = n.spec.as_mut() {
            spec.taints = Some(
                taints
                    .iter()
                    .map(|(k, v, e)| ApiTaint {
                        key: k.to_string(),
                        value: (!v.is_empty()).then(|| v.to_string()),
                        effect: e.to_string(),
                        time_added: None,
                    })
                    .collect(),
            );
        }
        node_info(&n)
    }

    fn tolerating(tols: &[(&str, &str, &str, &str)]) -> PodInfo {
        let p = pod(
            "p",
            PodSpec {
                tolerations: Some(
                    tols.iter()
                        .map(|(k, op, v, e)| ApiToleration {
                            key: (!k.is_empty()).then(|| k.to_string()),
                            operator: (!op.is_empty()).then(|| op.to_string()),
                            value: (!v.is_empty()).then(|| v.to_string()),
                            effect: (!e.is_empty()).then(|| e.to_string()),
                            toleration_seconds: None,
                        })
                        .collect(),
                ),
                ..PodSpec::default()
            },
        );
        info(&p)
    }

    #[test]
    fn untolerated_hard_taint_rejects_with_kube_wording() {
        let n = tainted(
            "n",
            &[("node-role.kubernetes.io/control-plane", "", "NoSchedule")],
        );
        let status = TaintToleration.filter(&tolerating(&[]), &n);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            status.reasons,
            vec!["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]
        );
        let n = tainted("n", &[("dedicated", "gpu", "NoExecute")]);
        let status = TaintToleration.filter(&tolerating(&[]), &n);
        assert_eq!(
            status.reasons,
            vec!["node(s) had untolerated taint {dedicated: gpu}"]
        );
    }

    #[test]
    fn prefer_no_schedule_does_not_filter() {
        let n = tainted("n", &[("soft", "x", "PreferNoSchedule")]);
        assert!(TaintToleration.filter(&tolerating(&[]), &n).is_success());
    }

    #[test]
    fn tolerated_hard_taints_admit() {
        let n = tainted("n", &[("dedicated", "gpu", "NoSchedule")]);
        let fits = |tols: &[(&str, &str, &str, &str)]| {
            TaintToleration.filter(&tolerating(tols), &n).is_success()
        };
        assert!(fits(&[("dedicated", "Equal", "gpu", "NoSchedule")]));
        assert!(fits(&[("", "Exists", "", "")]));
        assert!(!fits(&[("dedicated", "Equal", "cpu", "NoSchedule")]));
    }

    #[test]
    fn every_hard_taint_must_be_tolerated() {
        let n = tainted("n", &[("a", "", "NoSchedule"), ("b", "1", "NoExecute")]);
        let status = TaintToleration.filter(&tolerating(&[("a", "Exists", "", "")]), &n);
        assert_eq!(status.reasons, vec!["node(s) had untolerated taint {b: 1}"]);
    }

    #[test]
    fn score_prefers_fewer_untolerated_soft_taints() {
        let clean = tainted("clean", &[]);
        let one = tainted("one", &[("a", "", "PreferNoSchedule")]);
        let two = tainted(
            "two",
            &[("a", "", "PreferNoSchedule"), ("b", "", "PreferNoSchedule")],
        );
        let pod = tolerating(&[("b", "Exists", "", "NoSchedule")]);
        let mut scores: Vec<i64> = [&clean, &one, &two]
            .iter()
            .map(|n| ScorePlugin::score(&TaintToleration, &pod, n))
            .collect();
        // The NoSchedule toleration does not count for a PreferNoSchedule taint.
        assert_eq!(scores, vec![0, 1, 2]);
        TaintToleration.normalize(&mut scores);
        assert_eq!(scores, vec![100, 50, 0]);

        let pod = tolerating(&[("b", "Exists", "", "")]);
        assert_eq!(ScorePlugin::score(&TaintToleration, &pod, &two), 1);
    }
}
