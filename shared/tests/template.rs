//! template.yaml against what the code needs and promises.
//!
//! CloudFormation's short-form functions (`!Ref`, `!Sub`, `!GetAtt`, …) are YAML tags;
//! the parser keeps them as tagged values, and [`text`] reads through them.

use serde_yaml_ng::Value;
use std::collections::BTreeMap;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let raw = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&raw).unwrap()
}

/// A plain string, or the string inside a `!Sub`/`!Ref`/`Fn::Sub` form.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Tagged(t) => text(&t.value),
        Value::Mapping(m) if m.len() == 1 => {
            m.get("Fn::Sub").or_else(|| m.get("Ref")).and_then(text)
        }
        _ => None,
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(s) => s.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Every S3 statement of a function's inline policies: resource → actions.
fn s3_statements(function: &str) -> BTreeMap<String, Vec<String>> {
    let t = template();
    let policies = &t["Resources"][function]["Properties"]["Policies"];
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for policy in list(policies) {
        for statement in list(&policy["Statement"]) {
            let actions: Vec<String> = list(&statement["Action"]).iter().filter_map(text).collect();
            if !actions.iter().any(|a| a.starts_with("s3:")) {
                continue;
            }
            assert_eq!(text(&statement["Effect"]).as_deref(), Some("Allow"));
            for resource in list(&statement["Resource"]) {
                let resource = text(&resource).expect("a resource we can read");
                out.entry(resource).or_default().extend(actions.clone());
            }
        }
    }
    out
}

#[test]
fn the_api_role_touches_only_uploads_and_videos_with_the_actions_each_needs() {
    let statements = s3_statements("ApiFunction");
    assert!(!statements.is_empty(), "the API needs S3 to sign links");
    // Presigned PUT and HEAD for uploads; presigned GET and DELETE for videos.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "${VideosBucket.Arn}/uploads/*",
            &["s3:PutObject", "s3:GetObject"][..],
        ),
        (
            "${VideosBucket.Arn}/videos/*",
            &["s3:GetObject", "s3:DeleteObject"][..],
        ),
    ]);
    for (resource, actions) in &statements {
        let Some(ok) = allowed.get(resource.as_str()) else {
            panic!("ApiFunction's S3 statement names {resource:?}; only uploads/* and videos/* are allowed");
        };
        for action in actions {
            assert!(ok.contains(&action.as_str()), "{action} on {resource}");
        }
    }
    // And each prefix gets what the code uses.
    let has = |r: &str, a: &str| statements.get(r).is_some_and(|v| v.iter().any(|x| x == a));
    assert!(has("${VideosBucket.Arn}/uploads/*", "s3:PutObject"));
    assert!(has("${VideosBucket.Arn}/uploads/*", "s3:GetObject"));
    assert!(has("${VideosBucket.Arn}/videos/*", "s3:GetObject"));
    assert!(has("${VideosBucket.Arn}/videos/*", "s3:DeleteObject"));
}

#[test]
fn url_ttl_seconds_is_capped_where_the_code_caps_it() {
    let t = template();
    let p = &t["Parameters"]["UrlTtlSeconds"];
    let max = p["MaxValue"]
        .as_u64()
        .expect("UrlTtlSeconds has a MaxValue");
    let default = p["Default"].as_u64().unwrap();
    let cap = vidgen_shared::api::MAX_URL_TTL_SECS;
    assert!(max <= cap, "MaxValue {max} > the code's cap {cap}");
    assert!(default <= max);
    // The code refuses what the template refuses, naming the variable.
    let ok = std::time::Duration::from_secs(max);
    assert_eq!(vidgen_shared::api::check_url_ttl(ok).unwrap(), ok);
    let e = vidgen_shared::api::check_url_ttl(std::time::Duration::from_secs(cap + 1)).unwrap_err();
    assert_eq!(e.var, "URL_TTL_SECS");
    assert!(e.message.contains(&cap.to_string()), "{}", e.message);
}

/// The edge throttles every route, each workflow step keeps capacity of its own so a
/// burst of API calls cannot starve running jobs, and the per-owner limits reach the api
/// function from parameters whose defaults are the code's.
#[test]
fn the_api_is_throttled_and_cannot_starve_the_steps() {
    let t = template();
    let params = &t["Parameters"];
    let number_param = |v: &Value| -> u64 {
        let name = text(v).expect("a !Ref to a parameter");
        let p = &params[name.as_str()];
        assert_eq!(p["Type"], "Number", "{name}");
        p["Default"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} has a default"))
    };
    let route = &t["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    let rate = number_param(&route["ThrottlingRateLimit"]);
    let burst = number_param(&route["ThrottlingBurstLimit"]);
    assert!(rate >= 1 && burst >= rate, "rate {rate}, burst {burst}");
    for step in [
        "SubmitFunction",
        "CheckStatusFunction",
        "DownloadToS3Function",
    ] {
        let reserved = &t["Resources"][step]["Properties"]["ReservedConcurrentExecutions"];
        let Value::Tagged(tagged) = reserved else {
            panic!("{step}: ReservedConcurrentExecutions is !If [ReservesStepConcurrency, …]");
        };
        let [cond, value, _] = list(&tagged.value).try_into().expect("three parts");
        assert_eq!(
            text(&cond).as_deref(),
            Some("ReservesStepConcurrency"),
            "{step}"
        );
        assert!(
            number_param(&value) >= 1,
            "{step} reserves some concurrency by default"
        );
    }
    let env = &t["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
    let default_of = |var: &str| {
        let name = text(&env[var]).unwrap_or_else(|| panic!("the api gets {var}"));
        let d = &params[name.as_str()]["Default"];
        d.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| d.as_u64().expect("a default").to_string())
    };
    for var in ["VIDGEN_MAX_ACTIVE_JOBS", "VIDGEN_DAILY_BUDGET_USD"] {
        assert_eq!(
            default_of(var),
            vidgen_shared::settings::variable(var).default,
            "{var}: the template's default is the code's"
        );
    }
}
