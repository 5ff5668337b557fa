//! vidgen on one machine.
//!
//! - [`engine`]: runs `infra/state-machine.asl.json` with the `asl` interpreter,
//!   calling the same workflow steps the Lambdas run, with Lambda's semantics.
//! - [`deployment`]: what the engine takes from `template.yaml` (function timeouts,
//!   the execution-ended rule).
//! - [`stack`]: wires stores, provider (OpenAI or the built-in simulator) and engine.
//! - [`settings`]: the environment, read here only, into the stack's configuration.
//! - [`server`]: the HTTP API of the contract plus signed file links.
//! - [`events`]: `GET /v1/events`, live job events over a WebSocket.
//! - [`prometheus`]: `GET /metrics`, the generation metrics in Prometheus text.
//! - [`client`] and [`cli`]: the `vidgen` command.

pub mod cli;
pub mod client;
pub mod deployment;
pub mod engine;
pub mod events;
pub mod prometheus;
pub mod server;
pub mod settings;
pub mod stack;
