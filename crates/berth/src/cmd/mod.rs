//! One module per `berth` subcommand.

pub mod image;
pub mod server;
