//! `patch`: JSON patch, merge patch, strategic merge patch (with the kind's merge keys) and
//! server-side apply, retried against a newer version when the object changed meanwhile
//! unless the patch carries a resourceVersion.

use axum::response::Response;
use serde_json::{json, Value};

use super::write::{check_namespace, commit_update, manager, reserve, store_new, track_update};
use super::{respond_object, RETRIES};
use crate::admission::{self, Scope};
use crate::codec;
use crate::context::{with_warnings, Ctx};
use crate::objects::{self, meta_mut, meta_str};
use crate::query::parse_rv;
use crate::status::{ApiError, ApiResult};

/// The kinds of patch bodies, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json`: an RFC 6902 list of operations.
    Json,
    /// `application/merge-patch+json`: an RFC 7386 merge patch (lists are replaced).
    Merge,
    /// `application/strategic-merge-patch+json`: lists merge by the kind's merge keys.
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply, with field ownership.
    Apply,
}

/// The patch kind the Content-Type names; 415 UnsupportedMediaType for any other.
pub fn patch_kind(ctx: &Ctx) -> ApiResult<PatchKind> {
    let ct = codec::media_type(&ctx.headers);
    match ct.as_str() {
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Decode a patch body: JSON, or YAML for apply; a JSON patch must be an array, any other
/// kind an object.
pub fn parse_patch(kind: PatchKind, body: &[u8]) -> ApiResult<Value> {
    let v: Value = if kind == PatchKind::Apply {
        serde_yaml::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("error decoding YAML apply configuration: {e}"))
        })?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    match (kind, &v) {
        (PatchKind::Json, Value::Array(_)) => Ok(v),
        (PatchKind::Json, _) => Err(ApiError::bad_request(
            "a JSON patch must be a JSON array of operations",
        )),
        (_, Value::Object(_)) => Ok(v),
        _ => Err(ApiError::bad_request("a merge patch must be a JSON object")),
    }
}

/// Server-side apply: merge the configuration with field ownership, or report conflicts.
fn server_side_apply(ctx: &Ctx, live: Option<&Value>, config: &Value) -> ApiResult<Value> {
    use berth_api::patch::apply::{self, ApplyError};
    apply::server_side_apply(
        live,
        config,
        &manager(ctx),
        ctx.query.force,
        ctx.info.strategy.merge_root(),
        &ctx.info.kind,
        &ctx.info.api_version(),
        &objects::now(),
    )
    .map_err(|e| match e {
        ApplyError::Conflicts(conflicts) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\"", c.manager), "field": c.field}))
                .collect();
            ApiError {
                details: Some(json!({"causes": causes})),
                ..ApiError::new(409, "Conflict", ApplyError::Conflicts(conflicts).to_string())
            }
        }
        ApplyError::Invalid(msg) => ApiError::bad_request(msg),
    })
}

/// Apply a patch document to `target` (any JSON: an object or a Scale view).
pub fn apply_patch(ctx: &Ctx, kind: PatchKind, target: &Value, patch: &Value) -> ApiResult<Value> {
    use berth_api::patch;
    let unprocessable = |e: patch::PatchError| ApiError::new(422, "Invalid", e.to_string());
    match kind {
        PatchKind::Json => patch::json_patch(target, patch).map_err(unprocessable),
        PatchKind::Merge => Ok(patch::json_merge(target, patch)),
        PatchKind::Strategic | PatchKind::Apply => {
            patch::strategic_merge(target, patch, ctx.info.strategy.merge_root())
                .map_err(unprocessable)
        }
    }
}

/// `PATCH` of one object (or, with `scope`, its status).
pub async fn patch(ctx: &Ctx, body: &[u8], scope: Scope) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let kind = patch_kind(ctx)?;
    let doc = parse_patch(kind, body)?;
    if kind == PatchKind::Apply && ctx.query.field_manager.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    for _ in 0..RETRIES {
        let old_kv = match ctx
            .store()
            .get(&ctx.key(&name))
            .await
            .map_err(ApiError::store)?
        {
            Some(kv) => kv,
            None if kind == PatchKind::Apply && scope == Scope::Main => {
                return apply_create(ctx, &name, doc).await;
            }
            None => return Err(ApiError::not_found(&ctx.info, &name)),
        };
        let old = objects::decode_stored(&old_kv)?;
        let mut patched = if kind == PatchKind::Apply && scope == Scope::Main {
            server_side_apply(ctx, Some(&old), &doc)?
        } else {
            apply_patch(ctx, kind, &old, &doc)?
        };
        admission::check_type(&ctx.info, &mut patched)?;
        let precondition = meta_str(&patched, "resourceVersion")
            .map(parse_rv)
            .transpose()?;
        if precondition.is_some_and(|rv| rv != old_kv.mod_revision) {
            return Err(ApiError::modified(&ctx.info, &name));
        }
        if meta_str(&patched, "name") != Some(name.as_str()) {
            return Err(ApiError::bad_request(
                "the patch may not change metadata.name",
            ));
        }
        let mut warnings = Vec::new();
        let mut typed = admission::normalize(&ctx.info, patched, &[], &ctx.query, &mut warnings)?;
        admission::prepare_update(&ctx.info, &mut typed, &old, scope);
        let mut new = admission::finish(&ctx.info, typed, Some(&old))?;
        if kind != PatchKind::Apply && scope == Scope::Main {
            track_update(ctx, Some(&old), &mut new);
        }
        match commit_update(ctx, &old_kv, &old, new).await {
            Ok((code, obj)) => return Ok(with_warnings(respond_object(ctx, code, obj), &warnings)),
            Err(e) if e.code == 409 && e.reason == "Conflict" && precondition.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::modified(&ctx.info, &name))
}

/// Server-side apply of an object that does not exist yet: create it from the configuration.
async fn apply_create(ctx: &Ctx, name: &str, mut doc: Value) -> ApiResult<Response> {
    admission::check_type(&ctx.info, &mut doc)?;
    if meta_str(&doc, "name").is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            objects::name_of(&doc)
        )));
    }
    meta_mut(&mut doc).insert("name".into(), json!(name));
    if let Some(ns) = ctx.namespace() {
        check_namespace(ctx, ns).await?;
    }
    let applied = server_side_apply(ctx, None, &doc)?;
    let mut warnings = Vec::new();
    let mut obj = admission::normalize(&ctx.info, applied, &[], &ctx.query, &mut warnings)?;
    admission::prepare_create(&ctx.info, &mut obj, ctx.namespace());
    let mut obj = admission::finish(&ctx.info, obj, None)?;
    let reserved = reserve(ctx, &mut obj, None).await?;
    let obj = match store_new(ctx, name, obj).await {
        Ok(obj) => obj,
        Err(e) => {
            reserved.release(ctx.store()).await;
            return Err(e);
        }
    };
    Ok(with_warnings(respond_object(ctx, 201, obj), &warnings))
}
