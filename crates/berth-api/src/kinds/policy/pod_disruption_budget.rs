//! PodDisruptionBudgets.

use jiff::Timestamp;
use serde_json::Value;

use crate::patch::strategy::ApiType;
use crate::strategy::Strategy;
use crate::table::{age, c, int, name, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of PodDisruptionBudgets.
pub struct PodDisruptionBudgetStrategy;

impl Strategy for PodDisruptionBudgetStrategy {
    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_pdb(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::ConditionedObject
    }
}

const PRINTER: Printer = Printer {
    columns: PDB_COLUMNS,
    cells: pdb_cells,
};

/// An IntOrString as Go's `IntOrString.String()` prints it.
fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const PDB_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    c(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    c(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

fn pdb_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let bound = |ptr: &str| match obj.pointer(ptr) {
        None | Some(Value::Null) => "N/A".to_string(),
        Some(v) => int_or_string(v),
    };
    vec![
        name(obj),
        bound("/spec/minAvailable").into(),
        bound("/spec/maxUnavailable").into(),
        int(obj, "/status/disruptionsAllowed").into(),
        age(obj, now),
    ]
}
