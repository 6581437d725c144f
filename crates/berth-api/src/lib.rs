//! The resource model of Berth: which kinds exist (the registry) and what each does on the API
//! side (its strategy: defaults, validation, Table printing, selectable fields, merge keys),
//! label and field selectors, quantities, the patch engines, decoding of Kubernetes protobuf
//! bodies, cron schedules ([`cron`]), and the matching rules placement shares ([`matching`]:
//! typed label selectors, taints and tolerations, node affinity).
//!
//! Everything here is a pure function: no I/O, no async. Objects are `serde_json::Value`,
//! except in [`matching`], whose callers hold typed k8s-openapi objects.

pub mod cron;
pub mod defaults;
pub mod kinds;
pub mod matching;
pub mod patch;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod selector;
pub mod strategy;
pub mod table;
pub mod validation;
