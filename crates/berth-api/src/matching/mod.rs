//! The matching rules that decide where pods may run and which objects a selector picks,
//! once for every component: the scheduler's plugins, the DaemonSet, node lifecycle and
//! workload controllers.
//!
//! Unlike the rest of this crate these work on typed k8s-openapi objects (`LabelSelector`,
//! `Toleration`, `Taint`, `NodeSelector`, `PodSpec`), because their callers hold typed
//! objects from their watches. Label sets are `BTreeMap<String, String>`, as in
//! `ObjectMeta`.
//!
//! Malformed input (an unknown operator, `In` without values) is not an error here: it
//! matches nothing, as Kubernetes' lazily-checked selectors do, since admission has already
//! refused what it can and a controller must not stop on what slipped through.

pub mod labels;
pub mod node_affinity;
pub mod taints;
