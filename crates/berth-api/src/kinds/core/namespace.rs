//! Namespaces: names are DNS labels, a new namespace is Active, and a deleted one turns Terminating until its contents are gone.

use jiff::Timestamp;
use serde_json::{json, Value};

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::selector::field::text;
use crate::strategy::Strategy;
use crate::table::{age, c, name, s, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError, NameRule};

/// The strategy of Namespaces.
pub struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::namespace);
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::core::validate_namespace(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::Namespace
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        (name == "status.phase").then(|| text(obj.pointer("/status/phase")))
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Active"});
    }

    /// A namespace is removed by its cleanup once its contents are gone, never by a write.
    fn deletion_finished_elsewhere(&self, _obj: &Value) -> bool {
        true
    }

    fn prepare_for_delete(&self, obj: &mut Value) {
        obj["status"]["phase"] = json!("Terminating");
    }
}

const PRINTER: Printer = Printer {
    columns: NAMESPACE_COLUMNS,
    cells: namespace_cells,
};

const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "The status of the namespace"),
    AGE,
];

fn namespace_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), s(obj, "/status/phase").into(), age(obj, now)]
}
