//! Server-side printing: `meta.k8s.io` Tables for `kubectl get` (columns and cells from the
//! kind's strategy) and `PartialObjectMetadata` views.

use axum::response::Response;
use berth_store::KeyValue;
use serde_json::{json, Value};

use crate::codec::{self, Output};
use crate::context::Ctx;
use crate::objects;
use crate::status::ApiResult;

fn partial(obj: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// One Table row; takes the object so its metadata moves into the row instead of being copied.
fn row(ctx: &Ctx, obj: Value, version: &str, now: jiff::Timestamp) -> Value {
    let cells = ctx.info.strategy.table_cells(&obj, now);
    let mut row = json!({"cells": cells});
    match ctx.query.include_object.as_deref() {
        Some("None") => {}
        Some("Object") => row["object"] = obj,
        _ => row["object"] = partial_owned(obj, version),
    }
    row
}

fn partial_owned(mut obj: Value, version: &str) -> Value {
    let metadata = obj
        .get_mut("metadata")
        .map(Value::take)
        .unwrap_or_else(|| json!({}));
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": metadata,
    })
}

fn table_of(
    ctx: &Ctx,
    rows: Vec<Value>,
    version: &str,
    rv: Option<String>,
    cont: Option<String>,
) -> Value {
    let mut metadata = json!({});
    if let Some(rv) = rv {
        metadata["resourceVersion"] = json!(rv);
    }
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": metadata,
        "columnDefinitions": ctx.info.strategy.table_columns(),
        "rows": rows,
    })
}

/// A Table of the given objects.
pub fn table(
    ctx: &Ctx,
    objs: &[Value],
    version: &str,
    rv: Option<String>,
    cont: Option<String>,
) -> Value {
    let now = jiff::Timestamp::now();
    let rows = objs
        .iter()
        .map(|o| row(ctx, o.clone(), version, now))
        .collect();
    table_of(ctx, rows, version, rv, cont)
}

/// One object in the negotiated non-JSON form.
pub fn single(ctx: &Ctx, obj: Value, code: Option<u16>) -> Response {
    let code = code.unwrap_or(200);
    match ctx.out {
        Output::Table(v) => {
            codec::json(code, &table(ctx, std::slice::from_ref(&obj), v, None, None))
        }
        Output::Metadata(v) => codec::json(code, &partial(&obj, v)),
        Output::Json | Output::Yaml => codec::respond(code, &obj, ctx.out),
    }
}

/// A list in the negotiated non-JSON form, decoding one stored object at a time so a large
/// list never holds every parsed object at once.
pub fn list(
    ctx: &Ctx,
    items: &[KeyValue],
    revision: i64,
    cont: Option<String>,
) -> ApiResult<Response> {
    let now = jiff::Timestamp::now();
    match ctx.out {
        Output::Table(v) => {
            let mut rows = Vec::with_capacity(items.len());
            for kv in items {
                rows.push(row(ctx, objects::decode_stored_light(kv)?, v, now));
            }
            Ok(codec::json(
                200,
                &table_of(ctx, rows, v, Some(revision.to_string()), cont),
            ))
        }
        Output::Metadata(v) => {
            let mut metadata = json!({"resourceVersion": revision.to_string()});
            if let Some(c) = cont {
                metadata["continue"] = json!(c);
            }
            let mut out = Vec::with_capacity(items.len());
            for kv in items {
                out.push(partial_owned(objects::decode_stored_light(kv)?, v));
            }
            Ok(codec::json(
                200,
                &json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": format!("meta.k8s.io/{v}"),
                    "metadata": metadata,
                    "items": out,
                }),
            ))
        }
        Output::Json | Output::Yaml => {
            let objs = items
                .iter()
                .map(objects::decode_stored)
                .collect::<ApiResult<Vec<_>>>()?;
            let list = json!({
                "kind": ctx.info.list_kind,
                "apiVersion": ctx.info.api_version(),
                "metadata": {"resourceVersion": revision.to_string()},
                "items": objs,
            });
            Ok(codec::respond(200, &list, ctx.out))
        }
    }
}
