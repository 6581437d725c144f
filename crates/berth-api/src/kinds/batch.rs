//! The `batch` kinds.

pub mod cron_job;
pub mod job;
