//! PodTemplates.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::strategy::Strategy;
use crate::table::{
    arr, c, containers_and_images, format_labels, map, name, Column, Printer, CONTAINERS_DOC,
    IMAGES_DOC, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of PodTemplates.
pub struct PodTemplateStrategy;

impl Strategy for PodTemplateStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::pod_template_kind);
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::pod::validate_pod_template_kind(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::PodTemplate
    }
}

const PRINTER: Printer = Printer {
    columns: POD_TEMPLATE_COLUMNS,
    cells: pod_template_cells,
};

const POD_TEMPLATE_COLUMNS: &[Column] = &[
    NAME,
    c("Containers", "string", CONTAINERS_DOC),
    c("Images", "string", IMAGES_DOC),
    c("Pod Labels", "string", "The labels for the pod template."),
];

fn pod_template_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/template/spec/containers"));
    vec![
        name(obj),
        names,
        images,
        format_labels(map(obj, "/template/metadata/labels")).into(),
    ]
}
