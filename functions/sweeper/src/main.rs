//! The `sweeper` Lambda, run on a schedule: ends jobs that stay unfinished although no
//! execution runs for them (see `vidgen_shared::workflow::sweep`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidgen_shared::lambda_glue::run_sweeper_lambda().await
}
