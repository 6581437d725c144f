//! The API server's part of a kind: admission and bookkeeping that need the store or the
//! server's state (a Pod's priority and service account, a Service's addresses and ports, a
//! Namespace's cleanup, the answers of the review kinds), beside the kind's pure strategy in
//! `berth_api::kinds`. Most kinds have none: they get [`NoHooks`].

pub mod namespaces;
pub mod pods;
pub mod reviews;
pub mod services;

use std::sync::Arc;

use async_trait::async_trait;
use berth_api::registry::KindInfo;
use berth_store::Store;
use serde_json::Value;

use crate::context::Ctx;
use crate::status::{ApiError, ApiResult};

/// What a kind does on writes beyond its strategy, with access to the store. Every method
/// defaults to doing nothing.
#[async_trait]
pub trait KindHooks: Send + Sync {
    /// Admission that reads the store, run on a new object before it is prepared and
    /// validated (a Pod's priority class and service account).
    async fn admit_create(&self, _ctx: &Ctx, _obj: &mut Value) -> ApiResult<()> {
        Ok(())
    }

    /// Reserve what `obj` (new, or the next version of `old`) needs before it is written,
    /// filling it in (a Service's ClusterIP and node ports). Not called on dry runs.
    async fn reserve(
        &self,
        _ctx: &Ctx,
        _obj: &mut Value,
        _old: Option<&Value>,
    ) -> ApiResult<Reserved> {
        Ok(Reserved::default())
    }

    /// Give back what `old` held and `new` (`None`: deleted) no longer does.
    async fn release(&self, _ctx: &Ctx, _old: &Value, _new: Option<&Value>) {}

    /// The object `name` was marked for deletion (a Namespace's contents start going).
    fn deletion_marked(&self, _ctx: &Ctx, _name: &str) {}

    /// The status a kind that is created and answered, never stored, answers `obj` with.
    async fn answer(&self, ctx: &Ctx, _obj: &Value) -> ApiResult<Value> {
        Err(ApiError::method_not_allowed(format!(
            "{} cannot be created",
            ctx.info.resource
        )))
    }
}

/// The hooks of a kind that needs none.
pub struct NoHooks;

impl KindHooks for NoHooks {}

/// Keys reserved in the store for an object about to be written; given back with
/// [`Reserved::release`] when the write fails.
#[derive(Debug, Default)]
pub struct Reserved {
    keys: Vec<String>,
}

impl Reserved {
    /// Note a key that was reserved, to give back on failure.
    pub fn push(&mut self, key: String) {
        self.keys.push(key);
    }

    /// Give back everything reserved.
    pub async fn release(self, store: &dyn Store) {
        for key in self.keys {
            if let Err(e) = store.delete_if(&key, None).await {
                tracing::warn!(%key, error = %e, "releasing a reservation");
            }
        }
    }
}

/// The hooks of the kinds that have some, by group and kind (any version). Few kinds have
/// any, so a list is searched: no key is built per request.
pub struct Hooks {
    by_kind: Vec<(String, String, Arc<dyn KindHooks>)>,
    none: Arc<dyn KindHooks>,
}

impl Hooks {
    /// The built-in kinds' hooks.
    pub fn builtin() -> Hooks {
        let entries: Vec<(&str, &str, Arc<dyn KindHooks>)> = vec![
            ("", "Pod", Arc::new(pods::PodHooks)),
            ("", "Service", Arc::new(services::ServiceHooks)),
            ("", "Namespace", Arc::new(namespaces::NamespaceHooks)),
            (
                "authentication.k8s.io",
                "SelfSubjectReview",
                Arc::new(reviews::SelfSubject),
            ),
            (
                "authentication.k8s.io",
                "TokenReview",
                Arc::new(reviews::Token),
            ),
            (
                "authorization.k8s.io",
                "SelfSubjectAccessReview",
                Arc::new(reviews::Access),
            ),
            (
                "authorization.k8s.io",
                "SubjectAccessReview",
                Arc::new(reviews::Access),
            ),
            (
                "authorization.k8s.io",
                "SelfSubjectRulesReview",
                Arc::new(reviews::Rules),
            ),
        ];
        Hooks {
            by_kind: entries
                .into_iter()
                .map(|(g, k, h)| (g.to_string(), k.to_string(), h))
                .collect(),
            none: Arc::new(NoHooks),
        }
    }

    /// The hooks of `info`'s kind.
    pub fn of(&self, info: &KindInfo) -> Arc<dyn KindHooks> {
        self.by_kind
            .iter()
            .find(|(g, k, _)| *g == info.group && *k == info.kind)
            .map_or(&self.none, |(_, _, h)| h)
            .clone()
    }
}
