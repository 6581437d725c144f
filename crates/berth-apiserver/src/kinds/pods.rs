//! Pods: the Priority and ServiceAccount admission plugins, which read PriorityClasses and
//! ServiceAccounts from the store, run on every new pod.

use async_trait::async_trait;
use serde_json::Value;

use super::KindHooks;
use crate::context::Ctx;
use crate::status::ApiResult;

/// The API server's hooks for Pods.
pub struct PodHooks;

#[async_trait]
impl KindHooks for PodHooks {
    async fn admit_create(&self, ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
        crate::priority::admit(ctx, obj).await?;
        crate::service_account::admit(ctx, obj).await
    }
}
