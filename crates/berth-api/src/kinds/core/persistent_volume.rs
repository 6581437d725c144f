//! PersistentVolumes.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::strategy::Strategy;
use crate::table::{
    access_modes, age, arr, c, name, present, quantity, s, storage_class_of, terminating_phase,
    unset_or, w, Column, Printer, AGE, NAME,
};

/// The strategy of PersistentVolumes.
pub struct PersistentVolumeStrategy;

impl Strategy for PersistentVolumeStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::persistent_volume);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: PV_COLUMNS,
    cells: pv_cells,
};

const PV_COLUMNS: &[Column] = &[
    NAME,
    c("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity."),
    c("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
    c("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
    c("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    c("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
    c("StorageClass", "string", "StorageClass of the pv"),
    c("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    c("Reason", "string", "reason is a brief CamelCase string that describes any failure."),
    AGE,
    w("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
];

fn pv_cells(pv: &Value, now: Timestamp) -> Vec<Value> {
    let claim = if present(pv, "/spec/claimRef") {
        format!(
            "{}/{}",
            s(pv, "/spec/claimRef/namespace"),
            s(pv, "/spec/claimRef/name")
        )
    } else {
        String::new()
    };
    vec![
        name(pv),
        quantity(pv.pointer("/spec/capacity/storage")).into(),
        access_modes(arr(pv, "/spec/accessModes")).into(),
        s(pv, "/spec/persistentVolumeReclaimPolicy").into(),
        terminating_phase(pv).into(),
        claim.into(),
        storage_class_of(pv).into(),
        unset_or(s(pv, "/spec/volumeAttributesClassName")).into(),
        s(pv, "/status/reason").into(),
        age(pv, now),
        unset_or(s(pv, "/spec/volumeMode")).into(),
    ]
}
