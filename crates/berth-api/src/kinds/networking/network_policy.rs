//! NetworkPolicies.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::strategy::Strategy;
use crate::table::{age, c, format_label_selector, name, Column, Printer, AGE, NAME};

/// The strategy of NetworkPolicys.
pub struct NetworkPolicyStrategy;

impl Strategy for NetworkPolicyStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::network_policy);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: NETWORK_POLICY_COLUMNS,
    cells: network_policy_cells,
};

const NETWORK_POLICY_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Pod-Selector",
        "string",
        "podSelector selects the pods to which this NetworkPolicy object applies.",
    ),
    AGE,
];

fn network_policy_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    // podSelector is a struct, not a pointer, in Kubernetes: unset means "all pods", "<none>".
    let selector = match obj.pointer("/spec/podSelector") {
        None | Some(Value::Null) => "<none>".to_string(),
        some => format_label_selector(some),
    };
    vec![name(obj), selector.into(), age(obj, now)]
}
