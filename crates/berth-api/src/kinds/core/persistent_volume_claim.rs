//! PersistentVolumeClaims.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::strategy::Strategy;
use crate::table::{
    access_modes, age, arr, c, name, quantity, s, storage_class_of, terminating_phase, unset_or, w,
    Column, Printer, AGE, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of PersistentVolumeClaims.
pub struct PersistentVolumeClaimStrategy;

impl Strategy for PersistentVolumeClaimStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::persistent_volume_claim);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::core::validate_pvc(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::PersistentVolumeClaim
    }
}

const PRINTER: Printer = Printer {
    columns: PVC_COLUMNS,
    cells: pvc_cells,
};

const PVC_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Status",
        "string",
        "phase represents the current phase of PersistentVolumeClaim.",
    ),
    c(
        "Volume",
        "string",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    c(
        "Capacity",
        "string",
        "capacity represents the actual resources of the underlying volume.",
    ),
    c(
        "Access Modes",
        "string",
        "accessModes contains the actual access modes the volume backing the PVC has.",
    ),
    c("StorageClass", "string", "StorageClass of the pvc"),
    c(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    w(
        "VolumeMode",
        "string",
        "volumeMode defines what type of volume is required by the claim.",
    ),
];

fn pvc_cells(pvc: &Value, now: Timestamp) -> Vec<Value> {
    let volume = s(pvc, "/spec/volumeName");
    // Capacity and modes are only meaningful once bound to a volume.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(pvc.pointer("/status/capacity/storage")),
            access_modes(arr(pvc, "/status/accessModes")),
        )
    };
    vec![
        name(pvc),
        terminating_phase(pvc).into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class_of(pvc).into(),
        unset_or(s(pvc, "/spec/volumeAttributesClassName")).into(),
        age(pvc, now),
        unset_or(s(pvc, "/spec/volumeMode")).into(),
    ]
}
