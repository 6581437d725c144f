//! The `autoscaling` kinds.

pub mod horizontal_pod_autoscaler;
