//! The `webhook-sender` function: deliver the `callback_url` webhooks the API and the
//! workflow steps queue on SQS. Failed deliveries that may work later are reported as
//! batch item failures; SQS shows them again and, after `maxReceiveCount`, moves them
//! to the dead-letter queue. All of it lives in `vidgen_shared` (`lambda_glue`,
//! `callback`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidgen_shared::lambda_glue::run_webhook_sender_lambda().await
}
