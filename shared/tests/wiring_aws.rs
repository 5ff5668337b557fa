//! The Lambdas' init as it runs in AWS: settings (from a map, as the template sets
//! them) through `wiring`, secrets read from Secrets Manager on moto. Each function
//! reads only its own secrets: the steps only queue webhooks and start without the
//! webhook secret (their roles may not read it); the webhook sender reads it. Skipped
//! without MOTO_ENDPOINT (scripts/test.sh starts moto).

use std::collections::BTreeMap;
use vidgen_shared::aws::static_sdk_config;
use vidgen_shared::settings::{SenderSettings, StepSettings};
use vidgen_shared::wiring::{sender, step_deps, AwsClients};
use vidgen_shared::workflow::StepFunction;

/// moto's endpoint; without it the test is skipped, or fails under
/// `VIDGEN_REQUIRE_AWS_TESTS` (as scripts/test.sh runs it).
fn moto() -> Option<String> {
    let [endpoint] = vidgen_shared::aws::aws_test_env(["MOTO_ENDPOINT"])?;
    Some(endpoint)
}

async fn secret(clients: &AwsClients, name: &str, value: &str) -> String {
    let name = format!("{name}-{}", ulid::Ulid::new().to_string().to_lowercase());
    let created = clients
        .secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret");
    created.arn().expect("an ARN").to_string()
}

fn settings(function: StepFunction, variables: &BTreeMap<&str, String>) -> StepSettings {
    StepSettings::from_lookup(function, &|name| variables.get(name).cloned()).expect("settings")
}

#[tokio::test]
async fn only_the_sender_reads_the_webhook_secret() {
    let Some(endpoint) = moto() else { return };
    let clients = AwsClients::new(&static_sdk_config(&endpoint, "testing", "testing"), true);
    let openai = secret(
        &clients,
        "vidgen-openai",
        r#"{"OPENAI_API_KEY": "sk-test"}"#,
    )
    .await;
    // A secret the role cannot read; here, one that does not exist.
    let unreadable = "arn:aws:secretsmanager:us-east-1:123456789012:secret:vidgen-hooks-AbCdEf";
    let variables = BTreeMap::from([
        ("TABLE_NAME", "jobs".to_string()),
        ("BUCKET_NAME", "videos".to_string()),
        ("OPENAI_SECRET_ARN", openai),
        ("WEBHOOK_SECRET_ARN", unreadable.to_string()),
        (
            "WEBHOOK_QUEUE_URL",
            format!("{endpoint}/123456789012/vidgen-webhooks"),
        ),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
    ]);

    let submit = step_deps(&settings(StepFunction::Submit, &variables), &clients)
        .await
        .expect("submit starts");
    assert!(submit.config.callbacks.is_none(), "submit queues nothing");
    // The steps that end jobs only queue: they start without the secret.
    for function in [StepFunction::CheckStatus, StepFunction::Download] {
        let deps = step_deps(&settings(function, &variables), &clients)
            .await
            .expect("starts without the webhook secret");
        assert!(deps.config.callbacks.is_some(), "{function:?}");
    }
    // The sender reads it, and cannot start without it.
    let lookup = |name: &str| variables.get(name).cloned();
    let sender_settings = SenderSettings::from_lookup(&lookup).expect("sender settings");
    let e = sender(&sender_settings, &clients).await.unwrap_err();
    assert_eq!(e.var, unreadable, "{e}");
    let hooks = secret(&clients, "vidgen-hooks", "whsec_c2VjcmV0LWtleQ==").await;
    let readable = SenderSettings {
        webhook_secret_arn: hooks,
        ..sender_settings
    };
    sender(&readable, &clients)
        .await
        .expect("the sender starts");
}
