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
        mod $scenario {
            use vidgen_tests::Store;

            #[tokio::test]
            async fn embedded() {
                super::$scenario(Store::Embedded).await;
            }

            #[tokio::test]
            async fn aws() {
                if Store::Aws.available() {
                    super::$scenario(Store::Aws).await;
                }
            }
        }
    )+};
}

/// [`on_both_stores!`], and each scenario again with Runway as the default model
/// (`runway_embedded`, `runway_aws`): a job that names no model runs through the Runway
/// adapter and the Runway simulator. For the scenarios that do not depend on what only
/// one provider does (Sora's thumbnails, Runway's THROTTLED).
macro_rules! on_both_stores_and_providers {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use vidgen_tests::Store;

            #[tokio::test]
            async fn embedded() {
                super::$scenario(Store::Embedded).await;
            }

            #[tokio::test]
            async fn aws() {
                if Store::Aws.available() {
                    super::$scenario(Store::Aws).await;
                }
            }

            #[tokio::test]
            async fn runway_embedded() {
                super::$scenario(Store::EmbeddedRunway).await;
            }

            #[tokio::test]
            async fn runway_aws() {
                if Store::AwsRunway.available() {
                    super::$scenario(Store::AwsRunway).await;
                }
            }
        }
    )+};
}

mod common;

mod cancel_delete;
mod create;
mod faults;
mod idempotency;
mod isolation;
mod lambda_semantics;
mod limits;
mod remix;
mod restart;
mod runway;
mod uploads;
mod validation;
mod variants;
mod webhooks;
