//! How pods and their containers are named and labelled in the engine, so that the agent can
//! find them again after a restart with nothing but the engine's own records.

use std::collections::BTreeMap;

use berth_runtime::container::ContainerInfo;

/// Label with the pod's `metadata.uid` (the same key the kubelet gives its containers).
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// Label with the pod's name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// Label with the pod's namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Label with the container's name in the pod spec.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Label with the attempt number, which is the container's `restartCount` while it runs.
pub const RESTART_COUNT: &str = "io.kubernetes.container.restartCount";

/// Identity of a pod as the engine records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodKey {
    /// The pod's `metadata.uid`.
    pub uid: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
}

/// Engine name of attempt `attempt` of container `container`: unique per pod and attempt,
/// and within the engine's 128-character limit (a uid is 36, a container name at most 63).
pub fn container_name(pod_uid: &str, container: &str, attempt: u32) -> String {
    format!("{pod_uid}_{container}_{attempt}")
}

/// Labels the agent puts on every container of a pod.
pub fn labels(pod: &PodKey, container: &str, attempt: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        (POD_UID.to_string(), pod.uid.clone()),
        (POD_NAME.to_string(), pod.name.clone()),
        (POD_NAMESPACE.to_string(), pod.namespace.clone()),
        (CONTAINER_NAME.to_string(), container.to_string()),
        (RESTART_COUNT.to_string(), attempt.to_string()),
    ])
}

/// The pod a container belongs to, if the agent created it.
pub fn pod_uid_of(info: &ContainerInfo) -> Option<&str> {
    info.record.config.labels.get(POD_UID).map(String::as_str)
}

/// The Kubernetes container name and attempt number of an engine container.
pub fn container_of(info: &ContainerInfo) -> Option<(&str, u32)> {
    let labels = &info.record.config.labels;
    let name = labels.get(CONTAINER_NAME)?;
    let attempt = labels.get(RESTART_COUNT)?.parse().ok()?;
    Some((name.as_str(), attempt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_names_fit_the_engine_limit() {
        let uid = "0b6f3f1e-8a3b-4c1d-9e2f-1234567890ab";
        let name = container_name(uid, &"c".repeat(63), 99_999);
        assert!(name.len() <= 128, "{}", name.len());
    }
}
