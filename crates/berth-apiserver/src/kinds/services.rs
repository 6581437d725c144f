//! Services: ClusterIPs and node ports reserved in the store before a Service is written
//! and given back when it no longer holds them (`crate::service_alloc`).

use async_trait::async_trait;
use serde_json::Value;

use super::{KindHooks, Reserved};
use crate::context::Ctx;
use crate::service_alloc;
use crate::status::ApiResult;

/// The API server's hooks for Services.
pub struct ServiceHooks;

#[async_trait]
impl KindHooks for ServiceHooks {
    async fn reserve(
        &self,
        ctx: &Ctx,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> ApiResult<Reserved> {
        service_alloc::allocate(ctx.store(), &ctx.state.service_ranges, obj, old).await
    }

    async fn release(&self, ctx: &Ctx, old: &Value, new: Option<&Value>) {
        service_alloc::release_unused(ctx.store(), old, new).await;
    }
}
