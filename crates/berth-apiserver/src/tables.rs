//! Server-side printing: `meta.k8s.io` Tables for `kubectl get` and `PartialObjectMetadata`
//! views, built from the column definitions in `berth_api::table`.

use axum::response::Response;
use serde_json::{json, Value};

use crate::codec::{self, Output};
use crate::context::Ctx;

fn partial(obj: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Rows of a Table for `objs` of the request's kind.
pub fn rows(ctx: &Ctx, objs: &[Value], version: &str) -> Vec<Value> {
    let now = jiff::Timestamp::now();
    objs.iter()
        .map(|obj| {
            let cells = berth_api::table::cells(ctx.info.group, ctx.info.kind, obj, now);
            let object = match ctx.query.include_object.as_deref() {
                Some("None") => Value::Null,
                Some("Object") => obj.clone(),
                _ => partial(obj, version),
            };
            let mut row = json!({"cells": cells});
            if !object.is_null() {
                row["object"] = object;
            }
            row
        })
        .collect()
}

pub fn table(
    ctx: &Ctx,
    objs: &[Value],
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
        "columnDefinitions": berth_api::table::columns(ctx.info.group, ctx.info.kind),
        "rows": rows(ctx, objs, version),
    })
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

/// A list in the negotiated non-JSON form.
pub fn list(ctx: &Ctx, objs: Vec<Value>, revision: i64, cont: Option<String>) -> Response {
    match ctx.out {
        Output::Table(v) => {
            codec::json(200, &table(ctx, &objs, v, Some(revision.to_string()), cont))
        }
        Output::Metadata(v) => {
            let mut metadata = json!({"resourceVersion": revision.to_string()});
            if let Some(c) = cont {
                metadata["continue"] = json!(c);
            }
            let items: Vec<Value> = objs.iter().map(|o| partial(o, v)).collect();
            codec::json(
                200,
                &json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": format!("meta.k8s.io/{v}"),
                    "metadata": metadata,
                    "items": items,
                }),
            )
        }
        Output::Json | Output::Yaml => {
            let list = json!({
                "kind": ctx.info.list_kind,
                "apiVersion": ctx.info.api_version(),
                "metadata": {"resourceVersion": revision.to_string()},
                "items": objs,
            });
            codec::respond(200, &list, ctx.out)
        }
    }
}
