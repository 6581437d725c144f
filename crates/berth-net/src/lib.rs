//! Service networking on a node: [`proxy`], which makes Service addresses and node ports
//! lead to ready endpoints (kube-proxy's job), programmed with nftables.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod proxy;
