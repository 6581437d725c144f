//! One module per `berth` subcommand.

pub mod container;
pub mod image;
pub mod server;
