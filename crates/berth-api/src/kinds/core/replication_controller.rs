//! ReplicationControllers.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::selector::field::count;
use crate::strategy::Strategy;
use crate::table::{
    age, arr, c, containers_and_images, desired_replicas, format_labels, int, map, name, w, Column,
    Printer, AGE, CONTAINERS_DOC, IMAGES_DOC, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of ReplicationControllers.
pub struct ReplicationControllerStrategy;

impl Strategy for ReplicationControllerStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::replication_controller);
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::apps::validate_replication_controller(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::ReplicationController
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        (name == "status.replicas").then(|| count(obj.pointer("/status/replicas")))
    }
}

const PRINTER: Printer = Printer {
    columns: REPLICATION_CONTROLLER_COLUMNS,
    cells: rc_cells,
};

const REPLICATION_CONTROLLER_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    c(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    c(
        "Ready",
        "integer",
        "The number of ready replicas for this replication controller.",
    ),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the Replicas count.",
    ),
];

fn rc_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    vec![
        name(obj),
        desired_replicas(obj).into(),
        int(obj, "/status/replicas").into(),
        int(obj, "/status/readyReplicas").into(),
        age(obj, now),
        names,
        images,
        format_labels(map(obj, "/spec/selector")).into(),
    ]
}
