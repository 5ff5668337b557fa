//! Plain domain code: no I/O, no clocks read implicitly (callers pass `now`).

pub mod cost;
pub mod ids;
pub mod job;
pub mod prompt;
pub mod status;
pub mod validation;

pub use job::{Asset, AssetKind, Assets, Job, JobError, Model, NewJob, Size};
pub use status::{Status, TransitionError};
