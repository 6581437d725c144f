//! StorageClasses.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::strategy::Strategy;
use crate::table::{age, boolean, c, map, s, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of StorageClasss.
pub struct StorageClassStrategy;

impl Strategy for StorageClassStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::storage_class);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_storage_class(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: STORAGE_CLASS_COLUMNS,
    cells: storage_class_cells,
};

const STORAGE_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c("Provisioner", "string", "provisioner indicates the type of the provisioner."),
    c("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
    c("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
    c("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
];

fn storage_class_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let annotation = |key: &str| {
        map(obj, "/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            == Some("true")
    };
    let mut display_name = s(obj, "/metadata/name").to_string();
    if annotation("storageclass.kubernetes.io/is-default-class")
        || annotation("storageclass.beta.kubernetes.io/is-default-class")
    {
        display_name.push_str(" (default)");
    }
    let reclaim = match s(obj, "/reclaimPolicy") {
        "" => "Delete",
        p => p,
    };
    let binding = match s(obj, "/volumeBindingMode") {
        "" => "Immediate",
        m => m,
    };
    vec![
        display_name.into(),
        s(obj, "/provisioner").into(),
        reclaim.into(),
        binding.into(),
        boolean(obj, "/allowVolumeExpansion").into(),
        age(obj, now),
    ]
}
