//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that tolerate
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint, as DaemonSet pods do.

use berth_api::matching::taints::{tolerated, NO_SCHEDULE};
use k8s_openapi::api::core::v1::Taint;

use crate::framework::{ClusterEvents, FilterPlugin, NodeInfo, PodInfo, Status};

/// kube-scheduler's failure reason.
pub const REASON: &str = "node(s) were unschedulable";

/// The taint a cordoned node is treated as having.
pub const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

/// The NodeUnschedulable filter.
pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        let tolerates_cordon = || {
            let taint = Taint {
                key: TAINT_KEY.to_string(),
                effect: NO_SCHEDULE.to_string(),
                ..Taint::default()
            };
            tolerated(&pod.tolerations, &taint)
        };
        if !node.unschedulable || tolerates_cordon() {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADDED | ClusterEvents::NODE_CHANGED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::framework::Code;
    use k8s_openapi::api::core::v1::{PodSpec, Toleration};

    fn cordoned() -> NodeInfo {
        let mut n = big_node("n");
        if let Some(spec) = n.spec.as_mut() {
            spec.unschedulable = Some(true);
        }
        node_info(&n)
    }

    #[test]
    fn cordoned_node_rejects() {
        let p = info(&pod_requesting("p", &[]));
        let status = NodeUnschedulable.filter(&p, &cordoned());
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, vec![REASON]);
        assert!(NodeUnschedulable
            .filter(&p, &node_info(&big_node("m")))
            .is_success());
    }

    #[test]
    fn toleration_lets_pod_in() {
        let tolerate = |key: Option<&str>, effect: Option<&str>| {
            info(&pod(
                "p",
                PodSpec {
                    tolerations: Some(vec![Toleration {
                        key: key.map(str::to_string),
                        operator: Some("Exists".to_string()),
                        effect: effect.map(str::to_string),
                        ..Toleration::default()
                    }]),
                    ..PodSpec::default()
                },
            ))
        };
        let n = cordoned();
        assert!(NodeUnschedulable
            .filter(&tolerate(Some(TAINT_KEY), Some("NoSchedule")), &n)
            .is_success());
        assert!(NodeUnschedulable
            .filter(&tolerate(None, None), &n)
            .is_success());
        assert!(!NodeUnschedulable
            .filter(&tolerate(Some(TAINT_KEY), Some("NoExecute")), &n)
            .is_success());
    }
}
