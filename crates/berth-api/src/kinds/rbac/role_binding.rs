//! RoleBindings and ClusterRoleBindings.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::strategy::Strategy;
use crate::table::{age, arr, c, name, s, w, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError, NameRule};

/// The strategy of namespaced RoleBindings.
pub struct RoleBindingStrategy;

impl Strategy for RoleBindingStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::role_binding);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_role_binding(obj, old, true, errs);
    }

    fn printer(&self) -> &Printer {
        &ROLE_BINDING_PRINTER
    }
}

/// The strategy of ClusterRoleBindings.
pub struct ClusterRoleBindingStrategy;

impl Strategy for ClusterRoleBindingStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::role_binding);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_role_binding(obj, old, false, errs);
    }

    fn printer(&self) -> &Printer {
        &CLUSTER_ROLE_BINDING_PRINTER
    }
}

const ROLE_BINDING_PRINTER: Printer = Printer {
    columns: ROLE_BINDING_COLUMNS,
    cells: role_binding_cells,
};

const CLUSTER_ROLE_BINDING_PRINTER: Printer = Printer {
    columns: CLUSTER_ROLE_BINDING_COLUMNS,
    cells: role_binding_cells,
};

const ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    c("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
    AGE,
    w("Users", "string", "Users in the roleBinding"),
    w("Groups", "string", "Groups in the roleBinding"),
    w("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
];

fn role_binding_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let role = format!("{}/{}", s(obj, "/roleRef/kind"), s(obj, "/roleRef/name"));
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(obj, "/subjects") {
        match s(subject, "/kind") {
            "User" => users.push(s(subject, "/name").to_string()),
            "Group" => groups.push(s(subject, "/name").to_string()),
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                s(subject, "/namespace"),
                s(subject, "/name")
            )),
            _ => {}
        }
    }
    vec![
        name(obj),
        role.into(),
        age(obj, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        sas.join(", ").into(),
    ]
}

const CLUSTER_ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Role",
        "string",
        "RoleRef can only reference a ClusterRole in the global namespace.",
    ),
    AGE,
    w("Users", "string", "Users in the clusterRoleBinding"),
    w("Groups", "string", "Groups in the clusterRoleBinding"),
    w(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    ),
];
