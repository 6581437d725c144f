//! The generic verbs over any stored kind, one file per verb as kube-apiserver's handlers
//! are: get, list, create, update, patch, delete (and deletecollection) and watch, with
//! Kubernetes' semantics for resourceVersion preconditions, dry runs, generateName,
//! finalizers and graceful deletion. What differs between kinds comes from the kind's
//! strategy (`berth_api::strategy`) and its API-server hooks (`crate::kinds`); nothing here
//! names a kind.

pub mod create;
pub mod delete;
pub mod filter;
pub mod get;
pub mod list;
pub mod patch;
pub mod update;
pub mod watch;
pub mod write;

use axum::response::Response;
use serde_json::Value;

use crate::codec::{self, Output};
use crate::context::Ctx;
use crate::tables;

/// Attempts at a read-modify-write that loses a race before giving up with 409.
pub(crate) const RETRIES: usize = 8;

/// An object in the negotiated form.
pub fn respond_object(ctx: &Ctx, code: u16, obj: Value) -> Response {
    match ctx.out {
        Output::Json | Output::Yaml => codec::respond(code, &obj, ctx.out),
        _ => tables::single(ctx, obj, Some(code)),
    }
}
