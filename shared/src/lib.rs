//! The library every vidgen function uses.
//!
//! - [`domain`]: plain, synchronous rules — the job record and its status machine,
//!   request validation, prompt composition, cost. No I/O, fully unit-tested.
//! - Ports, one trait per outside system, so a handler never names a vendor:
//!   [`provider::VideoProvider`] (Sora or a compatible API), [`store::JobStore`],
//!   [`store::ObjectStore`], [`engine::WorkflowEngine`].
//! - Adapters behind those ports: OpenAI over reqwest, DynamoDB, S3, Step Functions.
//! - [`workflow`]: the three workflow steps (and failure recording) as plain async
//!   functions over the ports; the Lambdas and the local interpreter call the same code.
//! - [`api`]: the public HTTP contract, transport-neutral; lambda_http and the local
//!   server both call [`api::handle`].

pub mod api;
pub mod aws;
pub mod callback;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod engine;
pub mod events;
#[cfg(test)]
mod fuzz_targets;
pub mod lambda_glue;
pub mod mp4_duration;
pub mod private_address;
pub mod provider;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod webhooks_in;
pub mod wiring;
pub mod workflow;
