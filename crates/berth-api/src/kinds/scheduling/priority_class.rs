//! PriorityClasses.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::strategy::Strategy;
use crate::table::{age, boolean, c, int, name, s, Column, Printer, AGE, NAME};

/// The strategy of PriorityClasss.
pub struct PriorityClassStrategy;

impl Strategy for PriorityClassStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::priority_class);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: PRIORITY_CLASS_COLUMNS,
    cells: priority_class_cells,
};

const PRIORITY_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c("Value", "integer", "value represents the integer value of this priority class."),
    c("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
    AGE,
    c("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with lower priority."),
];

fn priority_class_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        int(obj, "/value").into(),
        boolean(obj, "/globalDefault").into(),
        age(obj, now),
        s(obj, "/preemptionPolicy").into(),
    ]
}
