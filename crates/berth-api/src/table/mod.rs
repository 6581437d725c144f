//! Server-side printing for `kubectl get`: the parts every kind's printer is built from (the
//! [`Column`] definitions of the `meta.k8s.io/v1` Table, Kubernetes' duration and label
//! formatting, lenient field access) and the printers of kinds without one of their own.
//! Each kind's columns and cells sit side by side in its module under [`crate::kinds`].
//!
//! Columns and cell formatting follow Kubernetes' `pkg/printers/internalversion/printers.go`
//! so output looks exactly like a real cluster's. As the Kubernetes apiserver does, rows are
//! always generated "wide": every cell is present and kubectl hides the `priority: 1` columns
//! unless `-o wide` is given. Kinds without a dedicated printer get Name and Age.
//!
//! Objects are read leniently (missing fields print as Kubernetes prints zero values) because
//! a printer must never fail a list request.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use crate::quantity::Quantity;
use crate::selector::LabelSelector;

/// A succinct, human-readable duration with about two significant figures, exactly as
/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration` renders it ("5s", "3m2s", "10m",
/// "5h", "2d3h", "300d", "2y10d", "10y"). Up to one second into the future counts as now
/// (clock skew); further ahead is "<invalid>".
pub fn human_duration(d: SignedDuration) -> String {
    const SECOND: i128 = 1_000_000_000;
    let nanos = d.as_nanos();
    // Integer division truncates toward zero, like Go's int(d.Seconds()) and d / time.Minute.
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / (60 * SECOND);
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / (3600 * SECOND);
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// One column definition of a Table (`{name, type, format, description, priority}`);
/// priority 1 marks columns shown only with `-o wide`.
pub struct Column {
    /// The column's header (`Name`, `Ready`).
    pub name: &'static str,
    /// The OpenAPI type of the cells (`string`, `integer`, `boolean`).
    pub ty: &'static str,
    /// An OpenAPI format hint for the cells (`name` for the Name column); usually empty.
    pub format: &'static str,
    /// 0 for columns kubectl always shows, 1 for those shown only with `-o wide`.
    pub priority: u8,
    /// What the column shows, usually the documentation of the field it comes from.
    pub description: &'static str,
}

impl Column {
    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.into());
        m.insert("type".into(), self.ty.into());
        m.insert("format".into(), self.format.into());
        m.insert("description".into(), self.description.into());
        m.insert("priority".into(), self.priority.into());
        Value::Object(m)
    }
}

pub(crate) const fn c(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        priority: 0,
        description,
    }
}

/// A column kubectl shows only with `-o wide`.
pub(crate) const fn w(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        priority: 1,
        description,
    }
}

// The ObjectMeta field documentation Kubernetes uses for these two columns of every kind.
pub(crate) const NAME_DOC: &str =
    "Name must be unique within a namespace. Is required when creating \
resources, although some resources may allow a client to request the generation of an \
appropriate name automatically. Name is primarily intended for creation idempotence and \
configuration definition. Cannot be updated. More info: \
https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

pub(crate) const CREATED_DOC: &str =
    "CreationTimestamp is a timestamp representing the server time when \
this object was created. It is not guaranteed to be set in happens-before order across \
separate operations. Clients may not set this value. It is represented in RFC3339 form and is \
in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: \
https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

pub(crate) const CONTAINERS_DOC: &str = "Names of each container in the template.";

pub(crate) const IMAGES_DOC: &str = "Images referenced by each container in the template.";

pub(crate) const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    priority: 0,
    description: NAME_DOC,
};

pub(crate) const AGE: Column = c("Age", "string", CREATED_DOC);

/// A kind's Table: its columns and the function that fills one row, side by side.
pub struct Printer {
    /// The columns, in the order kubectl prints them.
    pub columns: &'static [Column],
    /// The cells of one object, in column order, as JSON strings, integers or booleans the
    /// way Kubernetes prints them; ages relative to the given time.
    pub cells: fn(&Value, Timestamp) -> Vec<Value>,
}

impl Printer {
    /// The column definitions as a Table's `columnDefinitions`.
    pub fn column_definitions(&self) -> Vec<Value> {
        self.columns.iter().map(Column::to_json).collect()
    }
}

/// Name and Age: the Table of kinds without a printer of their own.
pub const DEFAULT_PRINTER: Printer = Printer {
    columns: DEFAULT_COLUMNS,
    cells: default_cells,
};

/// Name and "Created At": Kubernetes' default table convertor, which some kinds (Roles,
/// ClusterRoles) use instead of a printer.
pub const CREATED_AT_PRINTER: Printer = Printer {
    columns: CREATED_AT_COLUMNS,
    cells: created_at_cells,
};

pub(crate) const DEFAULT_COLUMNS: &[Column] = &[NAME, AGE];

pub(crate) const CREATED_AT_COLUMNS: &[Column] = &[
    NAME,
    Column {
        name: "Created At",
        ty: "date",
        format: "",
        priority: 0,
        description: CREATED_DOC,
    },
];

pub(crate) fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

pub(crate) fn boolean(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub(crate) fn map<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

/// Whether a pointer field is set, i.e. present and not `null` (Go's `!= nil`).
pub(crate) fn present(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).is_some_and(|x| !x.is_null())
}

pub(crate) fn timestamp(v: &Value, ptr: &str) -> Option<Timestamp> {
    s(v, ptr).parse().ok()
}

/// `translateTimestampSince`: the age of a timestamp, "<unknown>" when unset.
pub(crate) fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

pub(crate) fn name(obj: &Value) -> Value {
    s(obj, "/metadata/name").into()
}

pub(crate) fn age(obj: &Value, now: Timestamp) -> Value {
    since(timestamp(obj, "/metadata/creationTimestamp"), now).into()
}

pub(crate) fn or_none(v: &str) -> String {
    if v.is_empty() {
        "<none>".to_string()
    } else {
        v.to_string()
    }
}

/// `labels.FormatLabels`: sorted `k=v` pairs, "<none>" when empty.
pub(crate) fn format_labels(labels: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    or_none(&pairs.join(","))
}

/// `metav1.FormatLabelSelector`: canonical selector string, "<none>" when empty or unset.
pub(crate) fn format_label_selector(selector: Option<&Value>) -> String {
    match selector {
        None | Some(Value::Null) => "<none>".to_string(),
        Some(sel) => match LabelSelector::from_json(sel) {
            Ok(sel) => or_none(&sel.to_string()),
            Err(_) => "<error>".to_string(),
        },
    }
}

/// `layoutContainerCells`: container names and images, comma-joined.
pub(crate) fn containers_and_images(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(",").into(), images.join(",").into())
}

/// `Quantity.String()` of a possibly-unset non-pointer quantity (unset prints as "0").
pub(crate) fn quantity(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "0".to_string(),
        Some(v) => quantity_text(v),
    }
}

pub(crate) fn quantity_text(v: &Value) -> String {
    match Quantity::from_json(v) {
        Ok(q) => q.to_string(),
        // A stored value that is not a quantity is shown as written rather than hidden.
        Err(_) => v.as_str().map_or_else(|| v.to_string(), str::to_string),
    }
}

/// "+ N more..." truncation shared by several list-valued cells.
pub(crate) fn list_with_more(
    list: &[String],
    more: bool,
    count: usize,
    max: usize,
    empty: &str,
) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count.saturating_sub(max));
    }
    if ret.is_empty() {
        empty.to_string()
    } else {
        ret
    }
}

/// Load-balancer ingress points (IP, else hostname), sorted and deduplicated.
pub(crate) fn load_balancer_ingress(obj: &Value, ptr: &str) -> String {
    let mut points: Vec<&str> = arr(obj, ptr)
        .iter()
        .filter_map(|i| {
            let ip = s(i, "/ip");
            let host = s(i, "/hostname");
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    points.sort_unstable();
    points.dedup();
    points.join(",")
}

pub(crate) fn default_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), age(obj, now)]
}

/// The default table convertor's "Created At": RFC 3339 in UTC, Go's zero time when unset.
pub(crate) fn created_at_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let created = timestamp(obj, "/metadata/creationTimestamp")
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![name(obj), created.into()]
}

pub(crate) fn len_of(obj: &Value, ptr: &str) -> i64 {
    match obj.pointer(ptr) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

/// `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that fixed order.
pub(crate) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The beta annotation still overrides the field, as in Kubernetes' storage class helpers.
pub(crate) fn storage_class_of(obj: &Value) -> &str {
    let beta = map(obj, "/metadata/annotations")
        .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"))
        .and_then(Value::as_str);
    match beta {
        Some(class) => class,
        None => s(obj, "/spec/storageClassName"),
    }
}

pub(crate) fn terminating_phase(obj: &Value) -> &str {
    if present(obj, "/metadata/deletionTimestamp") {
        "Terminating"
    } else {
        s(obj, "/status/phase")
    }
}

pub(crate) fn unset_or(v: &str) -> String {
    if v.is_empty() {
        "<unset>".to_string()
    } else {
        v.to_string()
    }
}

/// Workload replica counts default to 1 when unset, as API defaulting would have set them.
pub(crate) fn desired_replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests;
