//! The `policy` kinds.

pub mod pod_disruption_budget;
