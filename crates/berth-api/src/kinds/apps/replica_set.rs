//! ReplicaSets.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::selector::field::count;
use crate::strategy::Strategy;
use crate::table::{
    age, arr, c, containers_and_images, desired_replicas, format_label_selector, int, name, w,
    Column, Printer, AGE, CONTAINERS_DOC, IMAGES_DOC, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of ReplicaSets.
pub struct ReplicaSetStrategy;

impl Strategy for ReplicaSetStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::replica_set);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::apps::validate_replica_set(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::ReplicaSet
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        (name == "status.replicas").then(|| count(obj.pointer("/status/replicas")))
    }
}

const PRINTER: Printer = Printer {
    columns: REPLICA_SET_COLUMNS,
    cells: replica_set_cells,
};

const REPLICA_SET_COLUMNS: &[Column] = &[
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
        "The number of ready replicas for this replica set.",
    ),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count.",
    ),
];

fn replica_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    vec![
        name(obj),
        desired_replicas(obj).into(),
        int(obj, "/status/replicas").into(),
        int(obj, "/status/readyReplicas").into(),
        age(obj, now),
        names,
        images,
        format_label_selector(obj.pointer("/spec/selector")).into(),
    ]
}
