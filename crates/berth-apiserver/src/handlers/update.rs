//! `update` (PUT) of the main resource or its status.

use axum::response::Response;
use serde_json::json;

use super::respond_object;
use super::write::{commit_update, decode_for_write, track_update};
use crate::admission::{self, Scope};
use crate::context::{with_warnings, Ctx};
use crate::objects::{self, meta_mut, meta_str};
use crate::query::parse_rv;
use crate::status::{ApiError, ApiResult};

/// `PUT` of one object (or, with `scope`, its status): replace it; 404 NotFound when it does
/// not exist, 409 Conflict when the body's `resourceVersion` is not the stored one.
pub async fn update(ctx: &Ctx, body: &[u8], scope: Scope) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let decoded = decode_for_write(ctx, body)?;
    let mut new = decoded.value;
    match meta_str(&new, "name") {
        None | Some("") => {
            meta_mut(&mut new).insert("name".into(), json!(name));
        }
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
    }
    let precondition = meta_str(&new, "resourceVersion")
        .map(parse_rv)
        .transpose()?;
    let old_kv = ctx.get_kv(&name).await?;
    if precondition.is_some_and(|rv| rv != old_kv.mod_revision) {
        return Err(ApiError::modified(&ctx.info, &name));
    }
    let old = objects::decode_stored(&old_kv)?;
    let mut warnings = Vec::new();
    let mut typed = admission::normalize(
        &ctx.info,
        new,
        &decoded.duplicates,
        &ctx.query,
        &mut warnings,
    )?;
    admission::prepare_update(&ctx.info, &mut typed, &old, scope);
    let mut new = admission::finish(&ctx.info, typed, Some(&old))?;
    if scope == Scope::Main {
        track_update(ctx, Some(&old), &mut new);
    }
    let (code, obj) = commit_update(ctx, &old_kv, &old, new).await?;
    Ok(with_warnings(respond_object(ctx, code, obj), &warnings))
}
