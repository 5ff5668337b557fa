//! The `webhook-sender` function: deliver the `callback_url` webhooks the API and the
//! workflow steps queue on SQS. Failed deliveries that may work later are reported as
//! batch item failures; SQS shows them again and, after `maxReceiveCount`, moves them
//! to the dead-letter queue. All of it lives in `vidgen_shared::callback`.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use vidgen_shared::callback::{deliver_batch, CallbackSender};

async fn handle(
    sender: &CallbackSender,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let messages: Vec<(String, String)> = event
        .payload
        .records
        .into_iter()
        .filter_map(|r| Some((r.message_id?, r.body.unwrap_or_default())))
        .collect();
    let failed = deliver_batch(sender, &messages).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|item_identifier| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = item_identifier;
            failure
        })
        .collect();
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let sender = std::sync::Arc::new(vidgen_shared::wiring::sender_from_env().await?);
    lambda_runtime::run(service_fn(move |event| {
        let sender = sender.clone();
        async move { handle(&sender, event).await }
    }))
    .await
}
