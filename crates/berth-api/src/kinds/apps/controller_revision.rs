//! ControllerRevisions.

use jiff::Timestamp;
use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{age, arr, boolean, c, int, name, s, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of ControllerRevisions.
pub struct ControllerRevisionStrategy;

impl Strategy for ControllerRevisionStrategy {
    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::apps::validate_controller_revision(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: CONTROLLER_REVISION_COLUMNS,
    cells: controller_revision_cells,
};

const CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    NAME,
    c("Controller", "string", "Controller of the object"),
    c(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
    ),
    AGE,
];

fn controller_revision_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let owner = arr(obj, "/metadata/ownerReferences")
        .iter()
        .find(|r| boolean(r, "/controller"));
    let controller = match owner {
        None => "<none>".to_string(),
        Some(r) => {
            // "statefulset.apps/web": lower-cased Kind.group, the group taken from apiVersion.
            let api_version = s(r, "/apiVersion");
            let group = match api_version.split_once('/') {
                Some((group, _)) => group,
                None => "",
            };
            let kind = s(r, "/kind");
            let resource_name = s(r, "/name");
            let group_kind = if group.is_empty() {
                kind.to_string()
            } else {
                format!("{kind}.{group}")
            };
            if group_kind.is_empty() {
                resource_name.to_string()
            } else {
                format!("{}/{resource_name}", group_kind.to_lowercase())
            }
        }
    };
    vec![
        name(obj),
        controller.into(),
        int(obj, "/revision").into(),
        age(obj, now),
    ]
}
