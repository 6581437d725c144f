//! `create`: admission, a generated name when asked, the kind's reservations, and the write.

use axum::response::Response;
use serde_json::json;

use super::respond_object;
use super::write::{check_namespace, decode_for_write, reserve, store_new, track_update};
use crate::admission;
use crate::context::{with_warnings, Ctx};
use crate::objects::{self, meta_mut, meta_str};
use crate::status::{ApiError, ApiResult};

/// `POST` to a collection: create the object in the body (201), generating its name from
/// `generateName` when asked.
pub async fn create(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    if ctx.ri.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "POST is not supported on a named object; use PUT to replace it",
        ));
    }
    if ctx.info.namespaced && ctx.ri.namespace.is_none() {
        return Err(ApiError::bad_request(format!(
            "{} is namespaced: create it under /namespaces/NAMESPACE/{}",
            ctx.info.resource, ctx.info.resource
        )));
    }
    let decoded = decode_for_write(ctx, body)?;
    let mut warnings = Vec::new();
    let mut typed = admission::normalize(
        &ctx.info,
        decoded.value,
        &decoded.duplicates,
        &ctx.query,
        &mut warnings,
    )?;
    if let Some(ns) = ctx.namespace() {
        check_namespace(ctx, ns).await?;
    }
    ctx.hooks.admit_create(ctx, &mut typed).await?;
    let generate = meta_str(&typed, "generateName").map(str::to_string);
    let fixed_name = meta_str(&typed, "name")
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let attempts = if fixed_name.is_none() && generate.is_some() {
        5
    } else {
        1
    };
    let mut last_err = None;
    for _ in 0..attempts {
        let mut obj = typed.clone();
        if fixed_name.is_none() {
            if let Some(prefix) = &generate {
                let name = format!("{prefix}{}", objects::random_suffix());
                meta_mut(&mut obj).insert("name".into(), json!(name));
            }
        }
        admission::prepare_create(&ctx.info, &mut obj, ctx.namespace());
        let mut obj = admission::finish(&ctx.info, obj, None)?;
        track_update(ctx, None, &mut obj);
        let name = objects::name_of(&obj).to_string();
        let reserved = reserve(ctx, &mut obj, None).await?;
        match store_new(ctx, &name, obj).await {
            Ok(obj) => return Ok(with_warnings(respond_object(ctx, 201, obj), &warnings)),
            Err(e) => {
                reserved.release(ctx.store()).await;
                // A generated name that happens to exist already: try another.
                if e.reason == "AlreadyExists" && attempts > 1 {
                    last_err = Some(e);
                } else {
                    return Err(e);
                }
            }
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::internal("create failed")))
}
