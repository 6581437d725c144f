//! The `certificates.k8s.io` kinds (not served yet).

pub mod certificate_signing_request;
