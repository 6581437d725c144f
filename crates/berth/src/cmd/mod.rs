//! One module per `berth` subcommand.

pub mod container;
pub mod image;
pub mod pull_progress;
pub mod reset;
pub mod server;
