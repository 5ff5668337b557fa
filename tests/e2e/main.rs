//! The end-to-end scenarios: HTTP request → the state machine (run by the local
//! interpreter) → the Sora simulator over HTTP → stored files → signed link.
//!
//! One module per feature; every scenario runs on both stores, so both honour the same
//! contract end to end: `embedded` (redb and local files behind signed links, what
//! `vidgen serve` runs by default) and `aws` (`VIDGEN_BACKEND=aws`: DynamoDB on moto, S3
//! on s3s-fs, which checks presigned signatures and expiry; started by scripts/test.sh).
//! Tests are named feature::scenario::store, e.g.
//! `create::a_job_runs_to_a_downloadable_video::aws`.

/// For each scenario `async fn name(store: Store)` of the calling module, a module `name`
/// holding two tests, `embedded` and `aws`. Without the AWS servers the `aws` test says it
/// is skipped and passes — or fails naming what is missing when
/// `VIDGEN_REQUIRE_AWS_TESTS=1` (scripts/test.sh, CI).
macro_rules! on_both_stores {
    ($($scenario:ident),+ $(,)?) => {$(
        scenario_tests!($scenario: embedded = Embedded, aws = Aws);
    )+};
}

/// [`on_both_stores!`], and each scenario again with Runway as the default model
/// (`runway_embedded`, `runway_aws`): a job that names no model runs through the Runway
/// adapter and the Runway simulator. For the scenarios that do not depend on what only
/// one provider does (Sora's thumbnails, Runway's THROTTLED).
macro_rules! on_both_stores_and_providers {
    ($($scenario:ident),+ $(,)?) => {$(
        scenario_tests!($scenario: embedded = Embedded, aws = Aws,
            runway_embedded = EmbeddedRunway, runway_aws = AwsRunway);
    )+};
}

/// A module `scenario` with one test per `name = Store variant`; a store whose servers
/// are not configured is skipped (or fails, under `VIDGEN_REQUIRE_AWS_TESTS=1`).
macro_rules! scenario_tests {
    ($scenario:ident: $($test:ident = $store:ident),+) => {
        mod $scenario {
            use vidgen_tests::Store;
            $(
                #[tokio::test]
                async fn $test() {
                    if Store::$store.available() {
                        super::$scenario(Store::$store).await;
                    }
                }
            )+
        }
    };
}

mod common;

mod cancel_delete;
mod create;
mod events;
mod fal;
mod faults;
mod idempotency;
mod isolation;
mod lambda_semantics;
mod limits;
mod metrics;
mod provider_webhooks;
mod remix;
mod restart;
mod runway;
mod uploads;
mod validation;
mod variants;
mod webhooks;
