//! StatefulSets.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::strategy::Strategy;
use crate::table::{
    age, arr, c, containers_and_images, desired_replicas, int, name, w, Column, Printer, AGE,
    CONTAINERS_DOC, IMAGES_DOC, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of StatefulSets.
pub struct StatefulSetStrategy;

impl Strategy for StatefulSetStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::stateful_set);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::apps::validate_stateful_set(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::StatefulSet
    }
}

const PRINTER: Printer = Printer {
    columns: STATEFUL_SET_COLUMNS,
    cells: stateful_set_cells,
};

const STATEFUL_SET_COLUMNS: &[Column] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
];

fn stateful_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    vec![
        name(obj),
        format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired_replicas(obj)
        )
        .into(),
        age(obj, now),
        names,
        images,
    ]
}
