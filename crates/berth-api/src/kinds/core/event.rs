//! core/v1 Events (the printer is shared with events.k8s.io Events, which are the same objects).

use jiff::Timestamp;
use serde_json::Value;

use crate::selector::field::text;
use crate::strategy::Strategy;
use crate::table::{c, int, name, present, s, since, timestamp, w, Column, Printer, NAME_DOC};
use crate::validation::{self, FieldError};

/// The strategy of Events.
pub struct EventStrategy;

impl Strategy for EventStrategy {
    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::core::validate_event(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        let supported = matches!(name, "reason" | "reportingComponent" | "source" | "type")
            || name
                .strip_prefix("involvedObject.")
                .is_some_and(|f| REFERENCE_FIELDS.contains(&f));
        supported.then(|| event_field(obj, name))
    }
}

pub(crate) const PRINTER: Printer = Printer {
    columns: EVENT_COLUMNS,
    cells: event_cells,
};

/// Read an Event field by its `core/v1` name, falling back to its `events.k8s.io/v1` name, so
/// one printer serves both APIs (Kubernetes converts both to one internal type to print).
fn event_str<'a>(ev: &'a Value, core: &str, events: &str) -> &'a str {
    match s(ev, core) {
        "" => s(ev, events),
        v => v,
    }
}

const EVENT_COLUMNS: &[Column] = &[
    c("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    c("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    c("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    c("Object", "string", "The object that this event is about."),
    w("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
    w("Source", "string", "The component reporting this event."),
    c("Message", "string", "A human-readable description of the status of this operation."),
    w("First Seen", "string", "The time at which the event was first recorded."),
    w("Count", "string", "The number of times this event has occurred."),
    Column {
        name: "Name",
        ty: "string",
        format: "name",
        priority: 1,
        description: NAME_DOC,
    },
];

fn event_cells(ev: &Value, now: Timestamp) -> Vec<Value> {
    let stamp = |core: &str, events: &str| timestamp(ev, core).or_else(|| timestamp(ev, events));
    let first_seen = match stamp("/firstTimestamp", "/deprecatedFirstTimestamp") {
        Some(t) => since(Some(t), now),
        None => since(timestamp(ev, "/eventTime"), now),
    };
    let mut last_seen = match stamp("/lastTimestamp", "/deprecatedLastTimestamp") {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = match int(ev, "/count") {
        0 => int(ev, "/deprecatedCount"),
        n => n,
    };
    if present(ev, "/series") {
        last_seen = since(timestamp(ev, "/series/lastObservedTime"), now);
        count = int(ev, "/series/count");
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }
    let kind = event_str(ev, "/involvedObject/kind", "/regarding/kind").to_lowercase();
    let object_name = event_str(ev, "/involvedObject/name", "/regarding/name");
    let target = if object_name.is_empty() {
        kind
    } else {
        format!("{kind}/{object_name}")
    };
    let component = [
        s(ev, "/source/component"),
        s(ev, "/deprecatedSource/component"),
        s(ev, "/reportingComponent"),
        s(ev, "/reportingController"),
    ]
    .into_iter()
    .find(|v| !v.is_empty())
    .unwrap_or("");
    let host = [
        s(ev, "/source/host"),
        s(ev, "/deprecatedSource/host"),
        s(ev, "/reportingInstance"),
    ]
    .into_iter()
    .find(|v| !v.is_empty())
    .unwrap_or("");
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        last_seen.into(),
        s(ev, "/type").into(),
        s(ev, "/reason").into(),
        target.into(),
        event_str(ev, "/involvedObject/fieldPath", "/regarding/fieldPath").into(),
        source.into(),
        event_str(ev, "/message", "/note").trim().into(),
        first_seen.into(),
        count.into(),
        name(ev),
    ]
}

/// Both Event APIs select over the same stored events, so each reads its own field names
/// first and falls back to the other API's names for objects stored in the other shape.
pub(crate) fn event_field(obj: &Value, field: &str) -> String {
    let first = |ptrs: &[&str]| {
        ptrs.iter()
            .map(|p| text(obj.pointer(p)))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    };
    let reference = field
        .strip_prefix("involvedObject.")
        .or_else(|| field.strip_prefix("regarding."));
    if let Some(sub) = reference {
        let a = format!("/involvedObject/{sub}");
        let b = format!("/regarding/{sub}");
        return first(&[&a, &b]);
    }
    match field {
        "reason" => first(&["/reason"]),
        "type" => first(&["/type"]),
        "reportingComponent" | "reportingController" => {
            first(&["/reportingComponent", "/reportingController"])
        }
        // The legacy source component, or the reporting controller for new-style events.
        "source" => first(&[
            "/source/component",
            "/deprecatedSource/component",
            "/reportingComponent",
            "/reportingController",
        ]),
        _ => String::new(),
    }
}

/// Fields of a `core/v1` Event's involved object, selectable as `involvedObject.X` and, on
/// `events.k8s.io` Events, as `regarding.X`.
pub(crate) const REFERENCE_FIELDS: [&str; 7] = [
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
];
