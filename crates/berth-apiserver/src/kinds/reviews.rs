//! The review kinds, created and answered from the request, never stored: SelfSubjectReview
//! (`kubectl auth whoami`), TokenReview, and the access reviews. Authorization is not
//! enforced yet, so the access reviews answer what is true today: the caller may do
//! everything.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::KindHooks;
use crate::context::Ctx;
use crate::status::ApiResult;

/// SelfSubjectReview: who the caller is.
pub struct SelfSubject;

#[async_trait]
impl KindHooks for SelfSubject {
    async fn answer(&self, ctx: &Ctx, _obj: &Value) -> ApiResult<Value> {
        Ok(json!({
            "userInfo": ctx.user.as_ref().map(crate::authn::User::to_json).unwrap_or(json!({})),
        }))
    }
}

/// TokenReview: whether a token is one this server issued and still honours.
pub struct Token;

#[async_trait]
impl KindHooks for Token {
    async fn answer(&self, ctx: &Ctx, obj: &Value) -> ApiResult<Value> {
        Ok(crate::authn::review_token(&ctx.state, &obj["spec"]).await)
    }
}

/// SubjectAccessReview and SelfSubjectAccessReview.
pub struct Access;

#[async_trait]
impl KindHooks for Access {
    async fn answer(&self, _ctx: &Ctx, _obj: &Value) -> ApiResult<Value> {
        Ok(
            json!({"allowed": true, "reason": "berth: the admin user may do everything (RBAC is not enforced yet)"}),
        )
    }
}

/// SelfSubjectRulesReview.
pub struct Rules;

#[async_trait]
impl KindHooks for Rules {
    async fn answer(&self, _ctx: &Ctx, _obj: &Value) -> ApiResult<Value> {
        Ok(json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }))
    }
}
