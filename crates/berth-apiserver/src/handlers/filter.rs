//! The label and field selectors of a list, watch or collection delete.

use std::sync::Arc;

use berth_api::selector::{FieldSelector, LabelSelector};
use berth_api::strategy::Strategy;
use serde_json::Value;

use crate::context::Ctx;
use crate::status::{ApiError, ApiResult};

/// Label and field selectors of a request, parsed and checked against the kind.
pub struct Filter {
    label: Option<LabelSelector>,
    field: Option<FieldSelector>,
    strategy: Arc<dyn Strategy>,
}

impl Filter {
    /// The request's selectors; 400 BadRequest when one does not parse or selects a field the
    /// kind does not support.
    pub fn from_ctx(ctx: &Ctx) -> ApiResult<Filter> {
        let label =
            match ctx.query.label_selector.as_deref() {
                Some(s) if !s.trim().is_empty() => Some(LabelSelector::parse(s).map_err(|e| {
                    ApiError::bad_request(format!("unable to parse requirement: {e}"))
                })?),
                _ => None,
            };
        let field = match ctx.query.field_selector.as_deref() {
            Some(s) if !s.trim().is_empty() => {
                let f =
                    FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                f.validate_for(ctx.info.strategy.as_ref())
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                Some(f)
            }
            _ => None,
        };
        Ok(Filter {
            label,
            field,
            strategy: Arc::clone(&ctx.info.strategy),
        })
    }

    /// Whether no selector was given, so every object matches.
    pub fn is_everything(&self) -> bool {
        self.label.is_none() && self.field.is_none()
    }

    /// Whether `obj` matches both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        self.label.as_ref().is_none_or(|l| l.matches_object(obj))
            && self
                .field
                .as_ref()
                .is_none_or(|f| f.matches(self.strategy.as_ref(), obj))
    }
}
