use super::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn apply(pairs: &[(&str, &str)]) -> anyhow::Result<StackConfig> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    StackConfig::local("127.0.0.1:0".parse().unwrap(), ".vidgen".into())
        .apply_settings(&|name| map.get(name).cloned())
}

#[test]
fn defaults_when_nothing_is_set() {
    let config = apply(&[("VIDGEN_BACKEND", " "), ("OPENAI_API_KEY", "")]).unwrap();
    assert!(matches!(config.backend, Backend::Embedded));
    assert!(matches!(config.provider, ProviderChoice::Simulator(_)));
    assert_eq!(config.api.policy.default_model, Model::SORA_2);
    assert!(config.tokens.is_empty());
    assert!(config.webhook_secret.is_none());
    assert_eq!(log_filter(&|_| None, true).unwrap(), "info");
    assert_eq!(log_filter(&|_| None, false).unwrap(), "warn");
}

#[test]
fn set_values_are_read() {
    let config = apply(&[
        ("OPENAI_API_KEY", "sk-test"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:9000/v1"),
        ("SORA_MODEL", "sora-2-pro"),
        ("VIDGEN_LOCAL_TOKENS", "alice:tok1"),
        ("VIDGEN_WEBHOOK_SECRET", "whsec_c2VjcmV0"),
        ("VIDGEN_BACKEND", "aws"),
        ("TABLE_NAME", "jobs"),
        ("BUCKET_NAME", "videos"),
        ("VIDGEN_AWS_CREATE_MISSING", "true"),
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9001"),
    ])
    .unwrap();
    match &config.provider {
        ProviderChoice::OpenAi { base_url, api_key } => {
            assert_eq!(base_url, "http://127.0.0.1:9000/v1");
            assert_eq!(api_key.expose(), "sk-test");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(config.api.policy.default_model, Model::SORA_2_PRO);
    assert_eq!(
        config.tokens,
        vec![("tok1".to_string(), "alice".to_string())]
    );
    assert_eq!(
        config.webhook_secret.as_ref().map(Secret::expose),
        Some("whsec_c2VjcmV0")
    );
    match &config.backend {
        Backend::Aws(aws) => {
            assert_eq!(
                (aws.table.as_str(), aws.bucket.as_str()),
                ("jobs", "videos")
            );
            assert!(aws.create_missing && aws.s3_force_path_style && aws.clients.is_none());
        }
        other => panic!("{other:?}"),
    }
    let key_only = apply(&[("OPENAI_API_KEY", "sk-test")]).unwrap();
    assert!(matches!(
        &key_only.provider,
        ProviderChoice::OpenAi { base_url, .. } if base_url == DEFAULT_OPENAI_BASE_URL
    ));
    assert_eq!(
        log_filter(&|_| Some("debug".into()), false).unwrap(),
        "debug"
    );
}

#[test]
fn job_budgets_are_read_in_whole_seconds() {
    let config = apply(&[]).unwrap();
    assert_eq!(config.workflow.budget_standard, Duration::from_secs(1200));
    assert_eq!(config.workflow.budget_slow, Duration::from_secs(2700));
    let config = apply(&[
        ("VIDGEN_BUDGET_SORA2_SECS", "20"),
        ("VIDGEN_BUDGET_SORA2_PRO_SECS", " 30 "),
    ])
    .unwrap();
    assert_eq!(config.workflow.budget_standard, Duration::from_secs(20));
    assert_eq!(config.workflow.budget_slow, Duration::from_secs(30));
    for bad in ["0", "-1", "1.5", "soon"] {
        let e = apply(&[("VIDGEN_BUDGET_SORA2_SECS", bad)]).unwrap_err();
        assert!(
            e.to_string().contains("VIDGEN_BUDGET_SORA2_SECS"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn the_aws_backend_needs_its_table_and_bucket() {
    let e = apply(&[("VIDGEN_BACKEND", "aws"), ("BUCKET_NAME", "videos")]).unwrap_err();
    assert_eq!(e.to_string(), "configuration: TABLE_NAME is required");
    let e = apply(&[("VIDGEN_BACKEND", "aws"), ("TABLE_NAME", "jobs")]).unwrap_err();
    assert_eq!(e.to_string(), "configuration: BUCKET_NAME is required");
}

#[test]
fn each_bad_value_is_one_error_naming_the_variable() {
    let aws = [
        ("VIDGEN_BACKEND", "aws"),
        ("TABLE_NAME", "t"),
        ("BUCKET_NAME", "b"),
    ];
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case; 6] = [
        ("VIDGEN_BACKEND", "cloud", &[]),
        ("VIDGEN_AWS_CREATE_MISSING", "yes", &aws),
        ("SORA_MODEL", "sora-3", &[]),
        ("OPENAI_BASE_URL", "not a url", &[("OPENAI_API_KEY", "sk")]),
        ("VIDGEN_LOCAL_TOKENS", "alice", &[]),
        ("VIDGEN_LOCAL_TOKENS", "alice:", &[]),
    ];
    for (name, raw, others) in cases {
        let mut pairs = others.to_vec();
        pairs.push((name, raw));
        let e = apply(&pairs).unwrap_err().to_string();
        assert!(e.contains(&format!("{name}: ")), "{e}");
        if name == "VIDGEN_LOCAL_TOKENS" {
            // An entry may hold a token: it is named by position, never echoed.
            assert!(!e.contains(raw) && e.contains("entry 1"), "{e}");
        } else {
            assert!(e.contains(&format!("{raw:?}")), "{e}");
        }
    }
    let e = log_filter(&|_| Some("vidgen=loud".into()), true).unwrap_err();
    assert_eq!(e.var, "RUST_LOG");
}

#[test]
fn switches_are_strict() {
    let on = |raw: &'static str| switch(&move |_| Some(raw.to_string()), "X");
    assert!(!switch(&|_| None, "VIDGEN_AWS_CREATE_MISSING").unwrap());
    assert!(!on("0").unwrap());
    assert!(!on("false").unwrap());
    assert!(on("true").unwrap());
    assert!(on(" 1 ").unwrap());
    let e = switch(&|_| Some("yes".into()), "VIDGEN_AWS_CREATE_MISSING").unwrap_err();
    assert_eq!(
        e.to_string(),
        "configuration: VIDGEN_AWS_CREATE_MISSING: \"yes\" is not valid: not one of 1, true, 0, false"
    );
}

/// The rows of the README's local configuration table, backticks removed.
fn readme_rows() -> Vec<Vec<String>> {
    let readme = include_str!("../../../../README.md");
    vidgen_shared::settings::readme_table_rows(readme, "### Locally")
        .into_iter()
        .map(|row| row.iter().map(|c| c.replace('`', "")).collect())
        .collect()
}

#[test]
fn the_readme_table_is_this_table() {
    let mut seen = Vec::new();
    for row in readme_rows() {
        let [name, default, _meaning] = row.as_slice() else {
            panic!("README row {row:?} is not variable | default | meaning");
        };
        assert_eq!(default, default_of(name), "default, {name}");
        seen.push(name.clone());
    }
    let listed: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
    assert_eq!(
        seen, listed,
        "the README lists the same variables in the same order"
    );
}

/// The CLI's `env = …` arguments are in the table, with clap's defaults.
#[test]
fn clap_environment_arguments_are_in_the_table() {
    use clap::CommandFactory;
    let cli = crate::cli::Cli::command();
    let mut found = 0;
    for command in cli.get_subcommands() {
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let name = env.to_str().unwrap();
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_else(|| UNSET.to_string());
            // `generate --api` has no default: unset means run in-process.
            if !(name == "VIDGEN_API" && default == UNSET) {
                assert_eq!(
                    default,
                    default_of(name),
                    "{name} of {}",
                    command.get_name()
                );
            }
            found += 1;
        }
    }
    assert!(found >= 3);
}

#[test]
fn provider_webhook_settings_are_read_and_checked() {
    let config = apply(&[]).unwrap();
    assert_eq!(config.workflow.public_url, None);
    assert!(config.openai_webhook_secret.is_none());
    let config = apply(&[
        ("VIDGEN_PUBLIC_URL", "http://127.0.0.1:8080/"),
        ("OPENAI_WEBHOOK_SECRET", "whsec_KioqKg=="),
    ])
    .unwrap();
    assert_eq!(
        config.workflow.public_url.as_deref(),
        Some("http://127.0.0.1:8080")
    );
    assert_eq!(
        config.openai_webhook_secret.as_ref().map(Secret::expose),
        Some("whsec_KioqKg==")
    );
    let https = apply(&[("VIDGEN_PUBLIC_URL", "https://vidgen.example.com")]).unwrap();
    assert_eq!(
        https.workflow.public_url.as_deref(),
        Some("https://vidgen.example.com")
    );

    for (name, raw, says) in [
        (
            "VIDGEN_PUBLIC_URL",
            "http://vidgen.example.com",
            "only to 127.0.0.1",
        ),
        ("VIDGEN_PUBLIC_URL", "ftp://127.0.0.1", "not an https URL"),
        ("VIDGEN_PUBLIC_URL", "https://h/?x=1", "query"),
    ] {
        let e = apply(&[(name, raw)]).unwrap_err().to_string();
        assert!(e.contains(&format!("{name}: ")) && e.contains(says), "{e}");
    }
    // A bad secret is named, never echoed.
    let e = apply(&[("OPENAI_WEBHOOK_SECRET", "whsec_not*base64")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("OPENAI_WEBHOOK_SECRET: ") && e.contains("base64"),
        "{e}"
    );
    assert!(!e.contains("not*base64"), "{e}");
}
