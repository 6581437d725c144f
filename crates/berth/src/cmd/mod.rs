//! One module per `berth` subcommand.

pub mod agent;
pub mod container;
pub mod image;
pub mod node;
pub mod pull_progress;
pub mod reset;
pub mod server;
