//! ConfigMaps.

use jiff::Timestamp;
use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{age, c, len_of, name, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of ConfigMaps.
pub struct ConfigMapStrategy;

impl Strategy for ConfigMapStrategy {
    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::core::validate_config_map(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: CONFIG_MAP_COLUMNS,
    cells: config_map_cells,
};

const CONFIG_MAP_COLUMNS: &[Column] = &[
    NAME,
    c("Data", "string", "Data contains the configuration data."),
    AGE,
];

fn config_map_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let data = len_of(obj, "/data") + len_of(obj, "/binaryData");
    vec![name(obj), data.into(), age(obj, now)]
}
