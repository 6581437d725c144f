//! Roles and ClusterRoles: names are path segments (RBAC names may contain `:`), and their
//! Table is Kubernetes' default "Created At" one.

use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{Printer, CREATED_AT_PRINTER};
use crate::validation::{self, FieldError, NameRule};

/// The strategy of namespaced Roles.
pub struct RoleStrategy;

impl Strategy for RoleStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_role(obj, true, errs);
    }

    fn printer(&self) -> &Printer {
        &CREATED_AT_PRINTER
    }
}

/// The strategy of ClusterRoles.
pub struct ClusterRoleStrategy;

impl Strategy for ClusterRoleStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_role(obj, false, errs);
    }

    fn printer(&self) -> &Printer {
        &CREATED_AT_PRINTER
    }
}
