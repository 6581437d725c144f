//! What a kind of object does on the API side, declared in one place per kind: the
//! equivalent of the `strategy.go` each Kubernetes registry has (`pkg/registry/apps/deployment`)
//! beside its generic store. The API server's generic verbs call a kind's [`Strategy`] and
//! never name a kind themselves.
//!
//! Every method has the behaviour of a kind that declares nothing: no defaults, metadata
//! validation only, the Name/Age table, `metadata.name`/`metadata.namespace` as the only
//! selectable fields, merge patches that replace lists, and deletion at once. Strategies are
//! pure; what needs the store (allocating a Service's addresses, resolving a Pod's priority)
//! is the API server's per-kind admission.

use jiff::Timestamp;
use serde_json::Value;

use crate::patch::strategy::ApiType;
use crate::table::{self, Printer};
use crate::validation::{FieldError, NameRule};

/// A kind's API-side behaviour. Implementations are unit structs for built-in kinds; the
/// registry holds them as trait objects so kinds can be added while the server runs.
pub trait Strategy: Send + Sync {
    /// Fill the values Kubernetes defaults on every write (the `SetDefaults_*` functions).
    fn defaults(&self, _obj: &mut Value) {}

    /// The rule `metadata.name` follows.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    /// Whether the kind is one of Kubernetes' own (these also get the legacy finalizer-name
    /// check); custom resources are not.
    fn is_builtin(&self) -> bool {
        true
    }

    /// Kind-specific validation of a new object (`old` is `None`) or of an update against the
    /// stored object, after defaulting; metadata is checked by the caller with
    /// [`Strategy::name_rule`].
    fn validate(&self, _obj: &Value, _old: Option<&Value>, _errs: &mut Vec<FieldError>) {}

    /// The printer behind [`Strategy::table_columns`] and [`Strategy::table_cells`].
    fn printer(&self) -> &Printer {
        &table::DEFAULT_PRINTER
    }

    /// The `meta.k8s.io` Table column definitions for `kubectl get`.
    fn table_columns(&self) -> Vec<Value> {
        self.printer().column_definitions()
    }

    /// One Table row's cells, in column order; ages relative to `now`.
    fn table_cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        (self.printer().cells)(obj, now)
    }

    /// The value of selectable field `name` of `obj` as a field selector compares it (`""` when
    /// the object lacks it), or `None` when the kind does not support selecting on `name`.
    /// `metadata.name` and `metadata.namespace` are selectable on every kind and never reach
    /// here. Must answer `Some` for a supported field whatever the object (also `Value::Null`):
    /// that is how a selector is checked before any object is read.
    fn field(&self, _obj: &Value, _name: &str) -> Option<String> {
        None
    }

    /// The type of a whole object in the strategic-merge type graph (its merge keys).
    fn merge_root(&self) -> ApiType {
        ApiType::OtherObject
    }

    /// Whether a create may set `status` (for kinds with a status subresource, which
    /// otherwise start with the status [`Strategy::prepare_for_create`] gives them).
    fn keeps_status_on_create(&self) -> bool {
        false
    }

    /// State every new object starts with (a Pod's phase and QoS class), set after system
    /// metadata and before defaults.
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Adjust an update of the main resource given the stored object (a Service dropping the
    /// fields of the type it leaves), after system metadata and status are carried over.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Seconds of grace a deletion of `obj` gets (0: removed at once, unless finalizers hold
    /// it); `requested` is the client's `gracePeriodSeconds`.
    fn graceful_deletion(&self, _obj: &Value, _requested: Option<i64>) -> i64 {
        0
    }

    /// Whether removing `obj`, once marked for deletion, is left to another party (a node
    /// agent confirming a pod has stopped, a namespace's cleanup) rather than done by the
    /// write that removes its last finalizer.
    fn deletion_finished_elsewhere(&self, _obj: &Value) -> bool {
        false
    }

    /// Adjust an object being marked for deletion (a Namespace becomes `Terminating`).
    fn prepare_for_delete(&self, _obj: &mut Value) {}
}

/// The strategy of a built-in kind with no behaviour of its own.
pub struct Plain;

impl Strategy for Plain {}

/// The strategy of a kind Kubernetes does not define (a custom resource without a schema of
/// its own): names only need to be usable as a URL path segment, as for custom resources.
pub struct Custom;

impl Strategy for Custom {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn is_builtin(&self) -> bool {
        false
    }
}
