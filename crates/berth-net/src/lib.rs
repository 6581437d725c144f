//! Service networking on a node: [`proxy`], which makes Service addresses and node ports
//! lead to ready endpoints (kube-proxy's job), programmed with nftables; [`dns`], the
//! cluster's DNS (kube-dns's job); [`router`], the Ingress controller; all follow the node's
//! one [`cache::ServiceCache`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cache;
pub mod dns;
pub mod proxy;
pub mod router;
