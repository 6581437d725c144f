//! The NamespaceLifecycle admission plugin's check on creates: new objects go only into a
//! namespace that exists and is not being terminated.

use berth_api::registry::builtin;

use crate::context::Ctx;
use crate::objects::{self, meta};
use crate::status::{ApiError, ApiResult};

/// Refuse a create in `ns` unless it exists and is active.
pub async fn check(ctx: &Ctx, ns: &str) -> ApiResult<()> {
    let Some(ns_info) = builtin().by_kind("", "v1", "Namespace") else {
        return Ok(());
    };
    let kv = ctx
        .store()
        .get(&ns_info.key(None, ns))
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(ns_info, ns))?;
    let obj = objects::decode_stored(&kv)?;
    if meta(&obj).is_some_and(|m| m.contains_key("deletionTimestamp"))
        || obj["status"]["phase"] == "Terminating"
    {
        return Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        )));
    }
    Ok(())
}
