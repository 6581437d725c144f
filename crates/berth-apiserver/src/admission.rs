//! The write pipeline shared by create, update, patch and the status subresource: checks that
//! the body is the kind the URL names, decodes it through the typed model (strict field
//! validation), sets system metadata, and runs the kind's strategy: its preparation for
//! create or update, defaults and validation.

use berth_api::registry::{KindInfo, Subresource};
use serde_json::{json, Value};

use crate::objects::{meta, meta_mut, new_uid, now};
use crate::query::{FieldValidation, Query};
use crate::status::{ApiError, ApiResult};

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The main resource: everything but status (for kinds with a status subresource).
    Main,
    /// The status subresource: only status.
    Status,
}

/// The outcome of admission: the object to store and the warnings for the client.
pub struct Admitted {
    /// The object as it is to be stored: typed, defaulted, with system metadata set.
    pub object: Value,
    /// Warnings for the client's `Warning` headers (unknown or duplicate fields under `Warn`).
    pub warnings: Vec<String>,
}

fn kind_label(info: &KindInfo) -> String {
    info.kind.to_string()
}

/// Check `apiVersion`/`kind` of a body against the URL's kind, filling them when absent.
pub fn check_type(info: &KindInfo, obj: &mut Value) -> ApiResult<()> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    };
    let want_av = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::String(want_av.clone()));
        }
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )))
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), Value::String(info.kind.clone()));
        }
        Some(k) if k == info.kind.as_str() => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({}) for this URL",
                info.kind
            )))
        }
    }
    Ok(())
}

/// Decode through the typed model; report unknown and duplicate fields per `fieldValidation`.
pub fn normalize(
    info: &KindInfo,
    obj: Value,
    duplicates: &[String],
    query: &Query,
    warnings: &mut Vec<String>,
) -> ApiResult<Value> {
    let typed = info.normalize(obj.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            info.kind, info.version, info.kind
        ))
    })?;
    let mut problems: Vec<String> = crate::objects::unknown_fields(&obj, &typed)
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    problems.extend(
        duplicates
            .iter()
            .map(|f| format!("duplicate field \"{f}\"")),
    );
    if !problems.is_empty() {
        match query.field_validation {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                    info.kind,
                    info.version,
                    kind_label(info),
                    problems.join(", ")
                )))
            }
            FieldValidation::Warn => warnings.extend(problems),
            FieldValidation::Ignore => {}
        }
    }
    Ok(typed)
}

/// Fill system metadata of a new object.
pub fn prepare_create(info: &KindInfo, obj: &mut Value, namespace: Option<&str>) {
    let m = meta_mut(obj);
    m.insert("uid".into(), Value::String(new_uid()));
    m.insert("creationTimestamp".into(), Value::String(now()));
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        m.remove(f);
    }
    match namespace {
        Some(ns) if info.namespaced => {
            m.insert("namespace".into(), Value::String(ns.to_string()));
        }
        _ => {
            m.remove("namespace");
        }
    }
    let has_spec = obj.get("spec").is_some();
    if has_spec {
        meta_mut(obj).insert("generation".into(), json!(1));
    }
    if info.has(Subresource::Status) && !info.strategy.keeps_status_on_create() {
        if let Some(map) = obj.as_object_mut() {
            map.remove("status");
        }
    }
    info.strategy.prepare_for_create(obj);
}

/// Carry system metadata and the parts this write may not change over from `old`.
pub fn prepare_update(info: &KindInfo, new: &mut Value, old: &Value, scope: Scope) {
    if scope == Scope::Status {
        let status = new.get("status").cloned();
        *new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        return;
    }
    if let Some(old_meta) = meta(old).cloned() {
        let m = meta_mut(new);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
        ] {
            match old_meta.get(f) {
                Some(v) => m.insert(f.to_string(), v.clone()),
                None => m.remove(f),
            };
        }
    }
    if info.has(Subresource::Status) {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    info.strategy.prepare_for_update(new, old);
    let old_gen = meta(old)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64);
    if new.get("spec").is_some() || old_gen.is_some() {
        let gen = old_gen.unwrap_or(0);
        let changed = new.get("spec") != old.get("spec");
        meta_mut(new).insert(
            "generation".into(),
            json!(if changed { gen + 1 } else { gen.max(1) }),
        );
    }
}

/// Defaults, validation and the canonical form: the last steps of every write.
pub fn finish(info: &KindInfo, mut obj: Value, old: Option<&Value>) -> ApiResult<Value> {
    info.strategy.defaults(&mut obj);
    // Re-encode through the typed model: defaults may add fields out of canonical order.
    let obj = info
        .normalize(obj)
        .map_err(|e| ApiError::internal(format!("defaulted object does not decode: {e}")))?;
    let errors =
        berth_api::validation::validate(info.strategy.as_ref(), info.namespaced, &obj, old);
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            info,
            crate::objects::name_of(&obj),
            &errors,
        ));
    }
    Ok(obj)
}
