use super::*;
use crate::domain::ProviderId;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

const STEPS_ALL: [StepFunction; 3] = [
    StepFunction::Submit,
    StepFunction::CheckStatus,
    StepFunction::Download,
];

/// What every function requires, and nothing else.
fn minimal() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("TABLE_NAME", "jobs"),
        ("BUCKET_NAME", "videos"),
        (
            "STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:1:stateMachine:jobs",
        ),
        (
            "OPENAI_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:openai",
        ),
        ("JWT_ISSUER", "https://issuer.example.com/pool"),
        ("JWT_AUDIENCE", "client-a"),
        ("CONNECTIONS_TABLE", "connections"),
    ])
}

/// Every variable set to a good value.
fn full() -> BTreeMap<&'static str, &'static str> {
    let mut map = minimal();
    map.extend([
        ("SORA_MODEL", "sora-2-pro"),
        ("URL_TTL_SECS", "600"),
        ("SSL_CERT_FILE", "/etc/vidgen/private-ca.pem"),
        (
            "WEBHOOK_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:hooks",
        ),
        (
            "WEBHOOK_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/vidgen-webhooks",
        ),
        ("OPENAI_BASE_URL", "http://127.0.0.1:9000/v1"),
        ("VIDGEN_DEFAULT_MODEL", "runway/gen4.5"),
        ("VIDGEN_PROVIDERS", "openai,runway"),
        (
            "RUNWAYML_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:runway",
        ),
        ("RUNWAYML_BASE_URL", "http://127.0.0.1:9002"),
        ("VIDGEN_BUDGET_SORA2_SECS", "60"),
        ("VIDGEN_BUDGET_SORA2_PRO_SECS", "120"),
        ("VIDGEN_MAX_POLLS", "7"),
        ("VIDGEN_MAX_ACTIVE_JOBS", "3"),
        ("VIDGEN_DAILY_BUDGET_USD", "12.5"),
        ("VIDGEN_MIN_WAIT_SECS", "2"),
        ("VIDGEN_MAX_WAIT_SECS", "9"),
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9001"),
        ("RUST_LOG", "vidgen_shared=debug,warn"),
        (
            "OPENAI_WEBHOOK_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:openai-hooks",
        ),
        ("OPENAI_WEBHOOKS", "1"),
        (
            "FAL_JWKS_URL",
            "http://127.0.0.1:9003/.well-known/jwks.json",
        ),
        ("VIDGEN_PUBLIC_URL", "https://vidgen.example.com/"),
        ("VIDGEN_METRICS_EMF", "0"),
        (
            "VIDGEN_EVENTS_URL",
            "wss://abc.execute-api.us-east-1.amazonaws.com/prod",
        ),
        ("JWT_AUDIENCE", "client-a, client-b"),
    ]);
    map
}

fn lookup<'a>(
    map: &'a BTreeMap<&'static str, &'static str>,
) -> impl Fn(&str) -> Option<String> + 'a {
    |name| map.get(name).map(|v| v.to_string())
}

/// Load `function`'s settings from `map`, returning the result and every name looked up.
fn load(
    function: Function,
    map: &BTreeMap<&'static str, &'static str>,
) -> (Result<(), ConfigError>, BTreeSet<String>) {
    let asked = RefCell::new(BTreeSet::new());
    let recording = |name: &str| {
        asked.borrow_mut().insert(name.to_string());
        map.get(name).map(|v| v.to_string())
    };
    let result = match function {
        Function::Api => ApiSettings::from_lookup(&recording).map(drop),
        Function::Submit => StepSettings::from_lookup(StepFunction::Submit, &recording).map(drop),
        Function::CheckStatus => {
            StepSettings::from_lookup(StepFunction::CheckStatus, &recording).map(drop)
        }
        Function::Sweeper => SweeperSettings::from_lookup(&recording).map(drop),
        Function::Download => {
            StepSettings::from_lookup(StepFunction::Download, &recording).map(drop)
        }
        Function::WebhookSender => SenderSettings::from_lookup(&recording).map(drop),
        Function::WsAuthorizer => AuthorizerSettings::from_lookup(&recording).map(drop),
        Function::WsEvents => WsEventsSettings::from_lookup(&recording).map(drop),
        Function::WsNotifier => NotifierSettings::from_lookup(&recording).map(drop),
    };
    (result, asked.into_inner())
}

#[test]
fn defaults_apply_when_unset_or_blank() {
    let mut map = minimal();
    map.insert("URL_TTL_SECS", "  ");
    map.insert("WEBHOOK_QUEUE_URL", "");
    let api = ApiSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(
        api,
        ApiSettings {
            common: Common {
                table: "jobs".into(),
                bucket: "videos".into(),
                s3_force_path_style: false,
                log_filter: "info".into(),
                cert_file: None,
            },
            state_machine_arn: "arn:aws:states:us-east-1:1:stateMachine:jobs".into(),
            default_model: Model::SORA_2,
            providers: vec![crate::domain::ProviderId::OpenAi],
            url_ttl: Duration::from_secs(3600),
            webhook_queue_url: None,
            limits: crate::domain::Limits::DEFAULT,
            openai_webhook_secret_arn: None,
            fal_jwks_url: crate::webhooks_in::jwks::DEFAULT_FAL_JWKS_URL.into(),
            metrics_emf: true,
            events_url: None,
        }
    );
    let d = WorkflowConfig::default();
    for function in STEPS_ALL {
        let step = StepSettings::from_lookup(function, &lookup(&map)).unwrap();
        assert_eq!(step.openai_base_url, "https://api.openai.com/v1");
        assert_eq!(step.runway_base_url, "https://api.dev.runwayml.com");
        assert_eq!(step.runway_secret_arn, None);
        assert_eq!(step.fal_queue_url, "https://queue.fal.run");
        assert_eq!(step.fal_secret_arn, None);
        assert_eq!(step.webhook_queue_url, None);
        assert_eq!(step.common, api.common);
        let w = &step.workflow;
        assert_eq!(
            (
                w.budget_standard,
                w.budget_slow,
                w.max_polls,
                w.min_wait,
                w.max_wait
            ),
            (
                d.budget_standard,
                d.budget_slow,
                d.max_polls,
                d.min_wait,
                d.max_wait
            ),
            "{function:?}"
        );
        assert!(w.callbacks.is_none());
    }
}

#[test]
fn the_table_defaults_are_the_code_defaults() {
    let d = WorkflowConfig::default();
    for (name, secs) in [
        ("VIDGEN_BUDGET_SORA2_SECS", d.budget_standard.as_secs()),
        ("VIDGEN_BUDGET_SORA2_PRO_SECS", d.budget_slow.as_secs()),
        ("VIDGEN_MAX_POLLS", u64::from(d.max_polls)),
        ("VIDGEN_MIN_WAIT_SECS", d.min_wait.as_secs()),
        ("VIDGEN_MAX_WAIT_SECS", d.max_wait.as_secs()),
        (
            "URL_TTL_SECS",
            crate::api::ApiConfig::default().url_ttl.as_secs(),
        ),
    ] {
        assert_eq!(variable(name).default, secs.to_string(), "{name}");
    }
    assert_eq!(
        variable("SORA_MODEL").default,
        crate::api::ValidationPolicy::default()
            .default_model
            .as_str()
    );
}

#[test]
fn set_values_are_read() {
    let map = full();
    let api = ApiSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(api.default_model, Model::RUNWAY_GEN45);
    assert_eq!(api.providers, [ProviderId::OpenAi, ProviderId::Runway]);
    assert_eq!(api.url_ttl, Duration::from_secs(600));
    assert_eq!(
        api.webhook_queue_url.as_deref(),
        Some(map["WEBHOOK_QUEUE_URL"])
    );
    assert!(api.common.s3_force_path_style);
    assert_eq!(api.common.log_filter, "vidgen_shared=debug,warn");
    assert_eq!(
        api.common.cert_file.as_deref(),
        Some(std::path::Path::new("/etc/vidgen/private-ca.pem"))
    );
    assert_eq!(
        api.events_url.as_deref(),
        Some("wss://abc.execute-api.us-east-1.amazonaws.com/prod")
    );
    assert_eq!(
        api.limits,
        crate::domain::Limits {
            max_active_jobs: 3,
            daily_budget_cents: 1250
        }
    );

    let submit = StepSettings::from_lookup(StepFunction::Submit, &lookup(&map)).unwrap();
    assert_eq!(submit.workflow.budget_standard, Duration::from_secs(60));
    assert_eq!(submit.workflow.budget_slow, Duration::from_secs(120));
    assert_eq!(submit.workflow.min_wait, Duration::from_secs(2));
    assert_eq!(submit.workflow.max_wait, Duration::from_secs(9));
    assert_eq!(submit.openai_base_url, "http://127.0.0.1:9000/v1");
    assert_eq!(
        submit.openai_secret_arn.as_deref(),
        Some(map["OPENAI_SECRET_ARN"])
    );
    assert_eq!(
        submit.runway_secret_arn.as_deref(),
        Some(map["RUNWAYML_SECRET_ARN"])
    );
    assert_eq!(submit.runway_base_url, "http://127.0.0.1:9002");

    // Callback mode: the public URL without its trailing slash, and the OpenAI flag.
    assert_eq!(
        submit.workflow.public_url.as_deref(),
        Some("https://vidgen.example.com")
    );
    assert!(submit.openai_webhooks);
    assert_eq!(
        api.openai_webhook_secret_arn.as_deref(),
        Some(map["OPENAI_WEBHOOK_SECRET_ARN"])
    );
    assert_eq!(api.fal_jwks_url, map["FAL_JWKS_URL"]);

    let check = StepSettings::from_lookup(StepFunction::CheckStatus, &lookup(&map)).unwrap();
    assert_eq!(check.workflow.public_url, None, "only submit decides");
    assert!(!check.openai_webhooks);
    assert_eq!(check.workflow.max_polls, 7);
    assert_eq!(check.workflow.max_wait, Duration::from_secs(9));

    let mut only_all = minimal();
    only_all.insert("AWS_ENDPOINT_URL", "http://127.0.0.1:5000");
    assert!(
        StepSettings::from_lookup(StepFunction::Download, &lookup(&only_all))
            .unwrap()
            .common
            .s3_force_path_style
    );
}

#[test]
fn only_the_sender_reads_the_webhook_secret_and_submit_queues_nothing() {
    let map = full();
    for function in Function::ALL {
        let (result, asked) = load(function, &map);
        result.unwrap();
        assert_eq!(
            asked.contains("WEBHOOK_SECRET_ARN"),
            function == Function::WebhookSender,
            "{function:?}: {asked:?}"
        );
    }
    let sender = SenderSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(sender.webhook_secret_arn, map["WEBHOOK_SECRET_ARN"]);
    let (_, asked) = load(Function::Submit, &map);
    assert!(!asked.contains("WEBHOOK_QUEUE_URL"), "{asked:?}");
    let submit = StepSettings::from_lookup(StepFunction::Submit, &lookup(&map)).unwrap();
    assert_eq!(submit.webhook_queue_url, None);
    // The steps that end jobs do read it.
    for function in [StepFunction::CheckStatus, StepFunction::Download] {
        let step = StepSettings::from_lookup(function, &lookup(&map)).unwrap();
        assert_eq!(
            step.webhook_queue_url.as_deref(),
            Some(map["WEBHOOK_QUEUE_URL"]),
            "{function:?}"
        );
    }
}

#[test]
fn the_functions_that_end_jobs_print_metric_lines_unless_switched_off() {
    let on = minimal();
    let mut off = minimal();
    off.insert("VIDGEN_METRICS_EMF", "0");
    for (map, want) in [(&on, true), (&off, false)] {
        let api = ApiSettings::from_lookup(&lookup(map)).unwrap();
        let sweeper = SweeperSettings::from_lookup(&lookup(map)).unwrap();
        assert_eq!((api.metrics_emf, sweeper.metrics_emf), (want, want));
        for function in [StepFunction::CheckStatus, StepFunction::Download] {
            let step = StepSettings::from_lookup(function, &lookup(map)).unwrap();
            assert_eq!(step.metrics_emf, want, "{function:?}");
        }
    }
    // Submit ends no job: it never prints one.
    let submit = StepSettings::from_lookup(StepFunction::Submit, &lookup(&on)).unwrap();
    assert!(!submit.metrics_emf);
}

#[test]
fn callback_settings_default_to_polling() {
    let map = minimal();
    let submit = StepSettings::from_lookup(StepFunction::Submit, &lookup(&map)).unwrap();
    assert_eq!(submit.workflow.public_url, None);
    assert!(!submit.openai_webhooks);
    let api = ApiSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(api.openai_webhook_secret_arn, None);
    assert_eq!(
        api.fal_jwks_url,
        crate::webhooks_in::jwks::DEFAULT_FAL_JWKS_URL
    );
}

#[test]
fn public_urls_are_https_or_local_http() {
    for (raw, local, want) in [
        (
            "https://api.example.com",
            false,
            Some("https://api.example.com"),
        ),
        (
            "https://api.example.com/prod/",
            false,
            Some("https://api.example.com/prod"),
        ),
        (
            "http://127.0.0.1:8080/",
            true,
            Some("http://127.0.0.1:8080"),
        ),
        ("http://localhost:8080", true, Some("http://localhost:8080")),
        ("http://[::1]:8080", true, Some("http://[::1]:8080")),
        ("http://127.0.0.1:8080", false, None),
        ("http://10.0.0.5:8080", true, None),
        ("http://api.example.com", true, None),
        ("file:///tmp", true, None),
    ] {
        let got = public_url("VIDGEN_PUBLIC_URL", raw, local);
        assert_eq!(got.as_ref().ok().map(String::as_str), want, "{raw} {got:?}");
    }
}

#[test]
fn each_function_reads_exactly_what_the_table_says() {
    for function in Function::ALL {
        let (result, asked) = load(function, &full());
        result.unwrap();
        let listed: BTreeSet<String> = VARIABLES
            .iter()
            .filter(|v| v.read_by.contains(&function))
            .map(|v| v.name.to_string())
            .collect();
        assert_eq!(asked, listed, "{}", function.name());
    }
}

#[test]
fn a_missing_required_variable_is_named() {
    for v in VARIABLES.iter().filter(|v| v.default == REQUIRED) {
        for &function in v.read_by {
            let mut map = full();
            map.remove(v.name);
            let e = load(function, &map).0.unwrap_err();
            assert_eq!(e.var, v.name);
            assert_eq!(
                e.to_string(),
                format!("configuration: {} is required", v.name)
            );
        }
    }
}

#[test]
fn each_bad_value_is_one_error_naming_the_variable() {
    let bad = [
        ("SORA_MODEL", "sora-3"),
        ("URL_TTL_SECS", "abc"),
        ("URL_TTL_SECS", "-1"),
        ("OPENAI_BASE_URL", "api.openai.com"),
        ("OPENAI_BASE_URL", "ftp://example.com/v1"),
        ("VIDGEN_BUDGET_SORA2_SECS", "20m"),
        ("VIDGEN_BUDGET_SORA2_PRO_SECS", "1.5"),
        ("VIDGEN_MAX_POLLS", "lots"),
        ("VIDGEN_MIN_WAIT_SECS", "x"),
        ("VIDGEN_MAX_WAIT_SECS", "99999999999999999999999"),
        ("RUST_LOG", "vidgen=loud"),
        ("VIDGEN_MAX_ACTIVE_JOBS", "0"),
        ("VIDGEN_MAX_ACTIVE_JOBS", "many"),
        ("VIDGEN_DAILY_BUDGET_USD", "-5"),
        ("VIDGEN_DAILY_BUDGET_USD", "fifty"),
        ("WEBHOOK_QUEUE_URL", "not a url"),
        ("VIDGEN_DEFAULT_MODEL", "runway/gen9"),
        ("VIDGEN_DEFAULT_MODEL", "sora-3"),
        ("VIDGEN_PROVIDERS", "azure"),
        ("VIDGEN_PROVIDERS", "openai,azure"),
        ("VIDGEN_PROVIDERS", " , "),
        ("RUNWAYML_BASE_URL", "api.dev.runwayml.com"),
        ("RUNWAYML_BASE_URL", "ftp://api.dev.runwayml.com"),
        ("FAL_QUEUE_URL", "queue.fal.run"),
        ("FAL_JWKS_URL", "ftp://rest.fal.ai/jwks"),
        ("OPENAI_WEBHOOKS", "yes"),
        ("VIDGEN_METRICS_EMF", "on"),
        ("FAL_JWKS_URL", "rest.fal.ai/jwks"),
        ("VIDGEN_PUBLIC_URL", "api.example.com"),
        // AWS: https only, even to a loopback host.
        ("VIDGEN_PUBLIC_URL", "http://127.0.0.1:8080"),
        ("VIDGEN_PUBLIC_URL", "https://api.example.com/?x=1"),
        ("VIDGEN_PUBLIC_URL", "https://api.example.com/#top"),
        ("VIDGEN_PUBLIC_URL", "https://user:pw@api.example.com"),
        // The console's socket: wss only (a page over https may not open ws://).
        (
            "VIDGEN_EVENTS_URL",
            "abc.execute-api.us-east-1.amazonaws.com/prod",
        ),
        (
            "VIDGEN_EVENTS_URL",
            "ws://abc.execute-api.us-east-1.amazonaws.com/prod",
        ),
        (
            "VIDGEN_EVENTS_URL",
            "https://abc.execute-api.us-east-1.amazonaws.com/prod",
        ),
        ("VIDGEN_EVENTS_URL", "wss://abc.example/prod?x=1"),
        ("JWT_ISSUER", "issuer.example.com"),
        ("JWT_AUDIENCE", " , "),
    ];
    for (name, raw) in bad {
        for &function in variable(name).read_by {
            let mut map = full();
            map.insert(name, raw);
            let e = load(function, &map).0.unwrap_err();
            assert_eq!(e.var, name, "{e}");
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("configuration: {name}: {raw:?} is not valid: ")),
                "{text}"
            );
        }
    }
}

fn unquote(cell: &str) -> String {
    cell.replace('`', "")
}

#[test]
fn the_readme_table_is_this_table() {
    let rows = super::readme_table_rows(include_str!("../../../README.md"), "### In AWS");
    let mut seen = Vec::new();
    for row in &rows {
        let [name, read_by, default, _meaning] = row.as_slice() else {
            panic!("README row {row:?} is not variable | read by | default | meaning");
        };
        let name = unquote(name);
        let v = VARIABLES
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("README lists {name}, settings::VARIABLES does not"));
        let functions: Vec<&str> = v.read_by.iter().map(|f| f.name()).collect();
        let expected = if v.read_by == ALL {
            "all".to_string()
        } else {
            functions.join(", ")
        };
        assert_eq!(read_by, &expected, "read by, {name}");
        assert_eq!(unquote(default), v.default, "default, {name}");
        seen.push(name);
    }
    let listed: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
    assert_eq!(
        seen, listed,
        "the README lists the same variables in the same order"
    );
}

#[test]
fn the_default_model_is_vidgen_default_model_then_sora_model_then_sora_2() {
    let model = |set: &[(&'static str, &'static str)]| {
        let mut map = minimal();
        map.insert("VIDGEN_PROVIDERS", "openai,runway");
        map.extend(set.iter().copied());
        let loaded = ApiSettings::from_lookup(&lookup(&map)).map(|a| a.default_model);
        loaded
    };
    assert_eq!(model(&[]).unwrap(), Model::SORA_2);
    assert_eq!(
        model(&[("SORA_MODEL", "sora-2-pro")]).unwrap(),
        Model::SORA_2_PRO
    );
    assert_eq!(
        model(&[
            ("SORA_MODEL", "sora-2-pro"),
            ("VIDGEN_DEFAULT_MODEL", "runway/gen4.5")
        ])
        .unwrap(),
        Model::RUNWAY_GEN45
    );
    assert_eq!(
        model(&[
            ("VIDGEN_DEFAULT_MODEL", "runway/gen4.5"),
            ("SORA_MODEL", " ")
        ])
        .unwrap(),
        Model::RUNWAY_GEN45
    );
    // The template sets both: a bad SORA_MODEL is named even when the other wins.
    let e = model(&[
        ("SORA_MODEL", "sora-3"),
        ("VIDGEN_DEFAULT_MODEL", "runway/gen4.5"),
    ])
    .unwrap_err();
    assert_eq!(e.var, "SORA_MODEL", "{e}");
}

#[test]
fn the_provider_list_is_parsed_trimmed_and_deduplicated() {
    let parse = |raw: &str| provider_list("VIDGEN_PROVIDERS", raw);
    assert_eq!(parse("openai").unwrap(), [ProviderId::OpenAi]);
    assert_eq!(parse("runway").unwrap(), [ProviderId::Runway]);
    assert_eq!(
        parse(" openai , runway,openai,").unwrap(),
        [ProviderId::OpenAi, ProviderId::Runway]
    );
    let e = parse(",").unwrap_err();
    assert_eq!(e.var, "VIDGEN_PROVIDERS");
    assert!(e.message.contains("names no provider"), "{e}");
    let e = parse("openai,Runway").unwrap_err();
    assert!(
        e.message.contains("\"Runway\"") && e.message.contains("known: openai, runway"),
        "{e}"
    );
    // Unset or blank: the table's default.
    let mut map = minimal();
    map.insert("VIDGEN_PROVIDERS", "  ");
    let api = ApiSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(api.providers, [ProviderId::OpenAi]);
}

#[test]
fn the_api_refuses_a_default_model_whose_provider_has_no_key() {
    // VIDGEN_DEFAULT_MODEL names a Runway model; only OpenAI has a key.
    let mut map = minimal();
    map.insert("VIDGEN_DEFAULT_MODEL", "runway/gen4.5");
    let e = ApiSettings::from_lookup(&lookup(&map)).unwrap_err();
    assert_eq!(e.var, "VIDGEN_DEFAULT_MODEL");
    assert!(
        e.message.contains("runway/gen4.5") && e.message.contains("runway key"),
        "{e}"
    );
    // Only Runway has a key, and the default falls back to SORA_MODEL (sora-2).
    let mut map = minimal();
    map.insert("VIDGEN_PROVIDERS", "runway");
    let e = ApiSettings::from_lookup(&lookup(&map)).unwrap_err();
    assert_eq!(e.var, "SORA_MODEL");
    assert!(
        e.message.contains("sora-2") && e.message.contains("openai key"),
        "{e}"
    );
    // With its provider's key it starts.
    map.insert("VIDGEN_DEFAULT_MODEL", "runway/veo3.1");
    let api = ApiSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(api.providers, [ProviderId::Runway]);
    assert_eq!(api.default_model.as_str(), "runway/veo3.1");
}

#[test]
fn the_steps_need_no_openai_key_and_read_each_key_that_is_set() {
    let mut runway_only = minimal();
    runway_only.remove("OPENAI_SECRET_ARN");
    runway_only.insert(
        "RUNWAYML_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:1:secret:runway",
    );
    let mut neither = minimal();
    neither.remove("OPENAI_SECRET_ARN");
    neither.insert("OPENAI_SECRET_ARN", " ");
    for function in STEPS_ALL {
        let step = StepSettings::from_lookup(function, &lookup(&runway_only)).unwrap();
        assert_eq!(step.openai_secret_arn, None, "{function:?}");
        assert_eq!(
            step.runway_secret_arn.as_deref(),
            Some("arn:aws:secretsmanager:us-east-1:1:secret:runway"),
            "{function:?}"
        );
        let step = StepSettings::from_lookup(function, &lookup(&minimal())).unwrap();
        assert_eq!(
            step.openai_secret_arn.as_deref(),
            Some("arn:aws:secretsmanager:us-east-1:1:secret:openai")
        );
        assert_eq!(step.runway_secret_arn, None);
        // Blank is unset: the step loads and wiring builds no provider for it.
        let step = StepSettings::from_lookup(function, &lookup(&neither)).unwrap();
        assert_eq!(
            (step.openai_secret_arn, step.runway_secret_arn),
            (None, None)
        );
    }
}

#[test]
fn the_websocket_functions_read_their_tables_issuer_and_audiences() {
    let map = full();
    let auth = AuthorizerSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(auth.issuer, "https://issuer.example.com/pool");
    assert_eq!(auth.audiences, ["client-a", "client-b"]);
    let routes = WsEventsSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(routes.connections_table, "connections");
    let notifier = NotifierSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(notifier.connections_table, "connections");
    assert_eq!(notifier.url_ttl, std::time::Duration::from_secs(600));
    assert_eq!(notifier.common.bucket, "videos");
    let api = ApiSettings::from_lookup(&lookup(&map)).unwrap();
    assert_eq!(
        api.events_url.as_deref(),
        Some("wss://abc.execute-api.us-east-1.amazonaws.com/prod")
    );
    let api = ApiSettings::from_lookup(&lookup(&minimal())).unwrap();
    assert_eq!(api.events_url, None);
}
