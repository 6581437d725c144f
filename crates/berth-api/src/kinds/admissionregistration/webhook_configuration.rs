//! Mutating and validating webhook configurations: the printer, for when the kinds are served.

use jiff::Timestamp;
use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{age, c, len_of, name, Column, Printer, AGE, NAME};

/// The strategy of WebhookConfigurations.
pub struct WebhookConfigurationStrategy;

impl Strategy for WebhookConfigurationStrategy {
    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: WEBHOOK_CONFIG_COLUMNS,
    cells: webhook_config_cells,
};

const WEBHOOK_CONFIG_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

fn webhook_config_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), len_of(obj, "/webhooks").into(), age(obj, now)]
}
