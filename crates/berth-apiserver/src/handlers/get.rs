//! `get`: one object, as stored bytes for JSON or in the negotiated form.

use axum::response::Response;

use crate::codec::{self, Output};
use crate::context::Ctx;
use crate::objects;
use crate::status::ApiResult;
use crate::tables;

/// `GET` of one object.
pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let kv = ctx.get_kv(ctx.name()?).await?;
    match ctx.out {
        Output::Json => Ok(codec::raw_json(200, objects::wire_bytes(&kv))),
        _ => {
            let obj = objects::decode_stored(&kv)?;
            Ok(tables::single(ctx, obj, None))
        }
    }
}
