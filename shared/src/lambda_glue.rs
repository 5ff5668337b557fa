//! What the three step Lambdas share: their event goes to [`run_step`], a
//! [`StepError`] becomes Lambda's `errorType` / `errorMessage`, which the state
//! machine's Retry and Catch match on. Also the sweeper's and the webhook-sender's
//! loops, so each Lambda `main` is one call and tests run the same handlers.

use crate::callback::{deliver_batch, CallbackSender};
use crate::deadline::Deadline;
use crate::workflow::{run_step, StepDeps, StepError, StepFunction};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::Value;

/// Lambda's error shape: the pair Step Functions sees as `Error` and `Cause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaError {
    pub error_type: String,
    pub error_message: String,
}

impl From<StepError> for LambdaError {
    fn from(e: StepError) -> LambdaError {
        LambdaError {
            error_type: e.error_type().as_str().to_string(),
            error_message: e.payload(),
        }
    }
}

/// Handle one invocation of a step function, to be done by `deadline`.
pub async fn handle_step(
    deps: &StepDeps,
    function: StepFunction,
    payload: Value,
    deadline: Deadline,
) -> Result<Value, LambdaError> {
    run_step(deps, function, payload, deadline)
        .await
        .map_err(LambdaError::from)
}

/// The whole `main` of a step Lambda: that step's settings, JSON logs, dependencies
/// built once at init (a misconfiguration stops the runtime with the variable's name),
/// then each event to [`handle_step`], its error as the `errorType`/`errorMessage` Retry
/// and Catch match on.
#[cfg(feature = "lambda")]
pub async fn run_step_lambda(function: StepFunction) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
    let deps = crate::wiring::step_deps_from_env(function).await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The invocation's own deadline: in-process retries stop before Lambda would
        // kill the process (`Sandbox.Timedout`, which no Retry matches).
        let deadline = Deadline::at(event.context.deadline());
        handle_step(deps, function, event.payload, deadline)
            .await
            .map_err(|e| Diagnostic {
                error_type: e.error_type,
                error_message: e.error_message,
            })
    }))
    .await
}

/// The whole `main` of the sweeper Lambda: its dependencies built once at init, then
/// each scheduled event (its content does not matter) runs one [`sweep`] and returns
/// its report. Only a failure to list the jobs fails the invocation.
///
/// [`sweep`]: crate::workflow::sweep::sweep
#[cfg(feature = "lambda")]
pub async fn run_sweeper_lambda() -> Result<(), lambda_runtime::Error> {
    use crate::workflow::sweep::sweep;
    use lambda_runtime::{service_fn, LambdaEvent};
    let deps = crate::wiring::sweep_deps_from_env().await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let report = sweep(deps, chrono::Utc::now()).await?;
        Ok::<_, lambda_runtime::Error>(report)
    }))
    .await
}

/// The webhook-sender's handler: deliver every message of the SQS batch and answer the
/// ones to show again (`ReportBatchItemFailures`); after the queue's `maxReceiveCount`
/// SQS moves them to the dead-letter queue. A record without a message id cannot be
/// reported, so it is delivered once at most (SQS always sets one).
pub async fn handle_sqs_batch(sender: &CallbackSender, event: SqsEvent) -> SqsBatchResponse {
    let messages: Vec<(String, String)> = event
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
    response
}

/// The whole `main` of the webhook-sender Lambda: the signing secret read once at
/// init, then each SQS batch to [`handle_sqs_batch`].
#[cfg(feature = "lambda")]
pub async fn run_webhook_sender_lambda() -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{service_fn, LambdaEvent};
    let sender = crate::wiring::sender_from_env().await?;
    let sender = &sender;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handle_sqs_batch(sender, event.payload).await)
    }))
    .await
}

/// The whole `main` of the `$connect` authorizer: the verifier built once (its key cache
/// lives as long as the warm process), then each request to [`authorize`]. A refusal is
/// the error `Unauthorized`, which API Gateway answers with 401; why is logged, never the
/// token.
///
/// [`authorize`]: crate::events::ws::authorize
#[cfg(feature = "lambda")]
pub async fn run_ws_authorizer_lambda() -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest as Request;
    use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
    let verifier = crate::wiring::jwt_verifier_from_env()?;
    let verifier = &verifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Request>| async move {
        crate::events::ws::authorize(verifier, &event.payload, std::time::Instant::now())
            .await
            .map_err(|e| {
                tracing::info!(reason = %e, "WebSocket connect refused");
                Diagnostic {
                    error_type: "Unauthorized".into(),
                    error_message: "Unauthorized".into(),
                }
            })
    }))
    .await
}

/// The whole `main` of the WebSocket routes: each event to [`handle_route`], its answer
/// as the proxy response (`body` goes back to the client on two-way routes).
///
/// [`handle_route`]: crate::events::ws::handle_route
#[cfg(feature = "lambda")]
pub async fn run_ws_events_lambda() -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::event::apigw::{
        ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
    };
    use lambda_runtime::{service_fn, LambdaEvent};
    let connections = crate::wiring::ws_connections_from_env().await?;
    let connections = &connections;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            let answer =
                crate::events::ws::handle_route(connections, &event.payload, chrono::Utc::now())
                    .await?;
            let mut response = ApiGatewayProxyResponse::default();
            response.status_code = i64::from(answer.status);
            response.body = answer.body.map(aws_lambda_events::encodings::Body::Text);
            Ok::<_, lambda_runtime::Error>(response)
        },
    ))
    .await
}

/// The whole `main` of the notifier: each stream batch to [`notify_batch`], whose
/// failed records are the `batchItemFailures`.
///
/// [`notify_batch`]: crate::events::notifier::notify_batch
#[cfg(feature = "lambda")]
pub async fn run_ws_notifier_lambda() -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::event::dynamodb::Event;
    use lambda_runtime::{service_fn, LambdaEvent};
    let deps = crate::wiring::notifier_deps_from_env().await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, lambda_runtime::Error>(
            crate::events::notifier::notify_batch(deps, &event.payload).await,
        )
    }))
    .await
}
