//! ResourceQuotas.

use jiff::Timestamp;
use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{age, c, map, name, quantity, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of ResourceQuotas.
pub struct ResourceQuotaStrategy;

impl Strategy for ResourceQuotaStrategy {
    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::core::validate_resource_quota(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: RESOURCE_QUOTA_COLUMNS,
    cells: resource_quota_cells,
};

const RESOURCE_QUOTA_COLUMNS: &[Column] = &[
    NAME,
    c("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
    c("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
    AGE,
];

fn resource_quota_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let mut resources: Vec<&String> = map(obj, "/status/hard")
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for resource in resources {
        let used = quantity(
            obj.pointer("/status/used")
                .and_then(|u| u.get(resource.as_str())),
        );
        let hard = quantity(
            obj.pointer("/status/hard")
                .and_then(|h| h.get(resource.as_str())),
        );
        let entry = format!("{resource}: {used}/{hard}");
        let mut pieces = resource.split('.');
        if pieces.next() == Some("limits") && pieces.next().is_some() {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![
        name(obj),
        requests.join(", ").into(),
        limits.join(", ").into(),
        age(obj, now),
    ]
}
