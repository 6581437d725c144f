//! NodeName: a pod that names its node fits only there. Pods with `spec.nodeName` are never
//! queued (they are already bound), so this only matters to callers of the framework that
//! place such pods themselves; it costs one `Option` check per node.

use crate::framework::{ClusterEvents, FilterPlugin, NodeInfo, PodInfo, Status};

/// kube-scheduler's failure reason.
pub const REASON: &str = "node(s) didn't match the requested node name";

/// The NodeName filter.
pub struct NodeName;

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        match &pod.node_name {
            Some(wanted) if **wanted != *node.name => Status::unresolvable(REASON),
            _ => Status::success(),
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADDED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::*;
    use crate::framework::Code;

    #[test]
    fn only_the_named_node_fits() {
        let mut p = pod_requesting("p", &[]);
        let n1 = node_info(&big_node("n1"));
        let n2 = node_info(&big_node("n2"));
        assert!(NodeName.filter(&info(&p), &n1).is_success());
        if let Some(spec) = p.spec.as_mut() {
            spec.node_name = Some("n1".to_string());
        }
        assert!(NodeName.filter(&info(&p), &n1).is_success());
        let status = NodeName.filter(&info(&p), &n2);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, vec![REASON]);
    }
}
