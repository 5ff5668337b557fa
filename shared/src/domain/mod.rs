//! Plain domain code: no I/O, no clocks read implicitly (callers pass `now`).

pub mod error_code;
pub mod ids;
pub mod job;
pub mod model;
pub mod prompt;
pub mod status;
pub mod timings;
pub mod usage;

pub use error_code::ErrorCode;
pub use job::{Asset, AssetKind, Assets, Job, JobError, NewJob};
pub use model::{Model, ModelSpec, Pace, ProviderId, CATALOG};
pub use status::{Status, TransitionError};
pub use timings::Timings;
pub use usage::{Limits, Refusal, Usage};

/// The largest reference image (`input_reference`) accepted, in bytes.
pub const MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;
