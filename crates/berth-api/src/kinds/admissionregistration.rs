//! The `admissionregistration.k8s.io` kinds (not served yet).

pub mod webhook_configuration;
