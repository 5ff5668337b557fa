//! The router and `openapi.json` against each other: the same routes, every documented
//! route served, and what the router answers matches what the document says.

use super::{handle, ApiConfig, ApiDeps, OPENAPI_JSON, ROUTES};
use crate::domain::ids::new_job_id;
use crate::engine::{EngineError, ExecutionStatus, WorkflowEngine};
use crate::store::embedded::EmbeddedJobStore;
use crate::store::local_files::LocalObjectStore;
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

/// Follow a local `$ref` (`#/...`), once.
fn deref<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.strip_prefix('#').expect("local $ref"))
            .unwrap_or_else(|| panic!("{r} resolves")),
        None => node,
    }
}

/// (METHOD, path template) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (key, _) in item.as_object().expect("path item") {
            if HTTP_METHODS.contains(&key.as_str()) {
                out.insert((key.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    &doc["paths"][path][method.to_lowercase()]
}

/// A validator for a schema of the document, its `$ref`s resolved inside the document.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let wrapper = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&wrapper)
        .unwrap_or_else(|e| panic!("schema {schema} compiles: {e}"))
}

fn assert_valid(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let v = validator(doc, schema);
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: {instance} does not match the document: {errors:#?}"
    );
}

/// Every node under `key` anywhere in `node`, with its JSON pointer.
fn walk<'a>(node: &'a Value, at: String, visit: &mut impl FnMut(&str, &'a Value)) {
    visit(&at, node);
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                walk(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    visit,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, format!("{at}/{i}"), visit);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_whose_refs_resolve_and_schemas_compile() {
    let doc = doc();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "openapi: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let description = doc["info"]["description"].as_str().expect("description");
    assert!(
        description.contains("GET /v1/events"),
        "says which routes are not built yet"
    );

    // Every $ref resolves; every schema (named or inline) compiles.
    let mut refs = 0;
    let mut schemas = Vec::new();
    walk(&doc, String::new(), &mut |at, node| {
        if let Some(r) = node.get("$ref") {
            let r = r
                .as_str()
                .unwrap_or_else(|| panic!("{at}: $ref is a string"));
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{at}: {r} is local"));
            assert!(doc.pointer(pointer).is_some(), "{at}: {r} resolves");
            refs += 1;
        }
        if at.ends_with("/schema")
            || at
                .rsplit_once('/')
                .is_some_and(|(p, _)| p == "/components/schemas")
        {
            schemas.push((at.to_string(), node));
        }
    });
    assert!(refs > 20, "the document shares its parts ({refs} refs)");
    assert!(schemas.len() > 20, "{} schemas", schemas.len());
    for (at, schema) in &schemas {
        let v = validator(&doc, schema);
        if let Some(example) = schema.get("example") {
            assert!(v.is_valid(example), "{at}: its example matches");
        }
    }

    // Every operation has responses, each described; path parameters are declared.
    let mut operation_ids = BTreeSet::new();
    for (method, path) in documented(&doc) {
        let op = operation(&doc, &method, &path);
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has responses");
        for (status, response) in responses {
            assert!(
                deref(&doc, response)["description"].is_string(),
                "{method} {path} {status} is described"
            );
        }
        let id = op["operationId"].as_str().expect("operationId");
        assert!(operation_ids.insert(id.to_string()), "{id} is unique");
        let declared: BTreeSet<String> = doc["paths"][&path]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| deref(&doc, p))
            .filter(|p| p["in"] == "path")
            .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: {p}"))
            .map(|p| p["name"].as_str().expect("name").to_string())
            .collect();
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        assert_eq!(declared, in_template, "{method} {path}: path parameters");
    }

    // The schemas hold what the router and validation hold.
    let job = &doc["components"]["schemas"]["Job"];
    let required: BTreeSet<&str> = job["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for returned in ["provider", "variant_of", "variants", "cost_usd", "timings"] {
        assert!(required.contains(returned), "{returned} is returned");
    }
    // The documented model ids are the catalog's.
    let documented: Vec<&str> = doc["components"]["schemas"]["Model"]["enum"]
        .as_array()
        .expect("Model is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let catalog: Vec<&str> = crate::domain::Model::all().map(|m| m.id()).collect();
    assert_eq!(documented, catalog);
    // `Seconds` and `Size` list every value some model takes: a schema-valid request
    // then fails only on the model's own choice (which the 400 names), never on a
    // value no model offers.
    let listed = |name: &str| -> BTreeSet<String> {
        doc["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is an enum"))
            .iter()
            .map(|v| v.to_string().trim_matches('"').to_string())
            .collect()
    };
    let seconds: BTreeSet<String> = crate::domain::Model::all()
        .flat_map(|m| m.spec().seconds.iter().map(u32::to_string))
        .collect();
    assert_eq!(listed("Seconds"), seconds);
    let sizes: BTreeSet<String> = crate::domain::Model::all()
        .flat_map(|m| m.spec().sizes.iter().map(|s| s.name.to_string()))
        .collect();
    assert_eq!(listed("Size"), sizes);
}

#[test]
fn the_router_table_and_the_document_name_the_same_routes() {
    let doc = doc();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(table.len(), ROUTES.len(), "no route is listed twice");
    assert_eq!(table, documented(&doc));
    for route in ROUTES {
        let op = operation(&doc, route.method, route.path);
        let public = op["security"] == json!([]);
        assert_eq!(
            public,
            !route.needs_owner(),
            "{} {}: `security: []` exactly on the routes that need no owner",
            route.method,
            route.path
        );
        if route.needs_owner() {
            assert!(
                op["responses"]["401"].is_object(),
                "{} {} documents 401",
                route.method,
                route.path
            );
        }
    }
}

/// An engine that starts and stops nothing: enough for the API's own answers.
struct NoEngine;

#[async_trait::async_trait]
impl WorkflowEngine for NoEngine {
    async fn start(&self, _job_id: &str, _input: &Value) -> Result<(), EngineError> {
        Ok(())
    }
    async fn stop(&self, _job_id: &str, _cause: &str) -> Result<(), EngineError> {
        Ok(())
    }
    async fn status(&self, _job_id: &str) -> Result<ExecutionStatus, EngineError> {
        Ok(ExecutionStatus::Missing)
    }

    async fn send_task_success(
        &self,
        _token: &str,
        _output: &serde_json::Value,
    ) -> Result<crate::engine::CallbackAnswer, EngineError> {
        Ok(crate::engine::CallbackAnswer::Closed)
    }
    async fn send_task_failure(
        &self,
        _token: &str,
        _error: &str,
        _cause: &str,
    ) -> Result<crate::engine::CallbackAnswer, EngineError> {
        Ok(crate::engine::CallbackAnswer::Closed)
    }
}

fn deps(dir: &std::path::Path) -> ApiDeps {
    ApiDeps {
        jobs: Arc::new(EmbeddedJobStore::open(&dir.join("jobs.redb")).expect("store opens")),
        objects: Arc::new(LocalObjectStore::new(
            dir.join("files"),
            "http://127.0.0.1:9".into(),
            b"k".to_vec(),
        )),
        engine: Arc::new(NoEngine),
        config: ApiConfig::default(),
        webhooks: Arc::new(crate::webhooks_in::receiver::ProviderWebhooks::none()),
    }
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(
    deps: &ApiDeps,
    owner: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = http::Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let response = handle(deps, owner, request.body(body).expect("request")).await;
    assert!(response.headers().contains_key("x-request-id"));
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// The answer is one the document lists for the operation, and its body (if JSON)
/// matches that response's schema.
fn assert_documented(doc: &Value, method: &str, template: &str, answer: &Answer) {
    let op = operation(doc, method, template);
    let status = answer.status.to_string();
    let Some(response) = op["responses"].get(&status) else {
        panic!(
            "{method} {template} answered {status}, which the document does not list: {}",
            String::from_utf8_lossy(&answer.body)
        );
    };
    let response = deref(doc, response);
    match response.pointer("/content/application~1json/schema") {
        Some(schema) => {
            assert_eq!(
                answer.headers["content-type"], "application/json; charset=utf-8",
                "{method} {template} {status}"
            );
            assert_valid(
                doc,
                schema,
                &answer.json(),
                &format!("{method} {template} {status}"),
            );
        }
        // The console: a page, not JSON.
        None if response.pointer("/content/text~1html").is_some() => {
            assert_eq!(
                answer.headers["content-type"], "text/html; charset=utf-8",
                "{method} {template} {status}"
            );
            assert!(
                String::from_utf8_lossy(&answer.body).starts_with("<!doctype html>"),
                "{method} {template} {status} is a page"
            );
        }
        None => assert!(
            answer.body.is_empty(),
            "{method} {template} {status} has no body"
        ),
    }
    for (name, header) in response["headers"].as_object().into_iter().flatten() {
        if deref(doc, header)["required"] == true {
            assert!(
                answer.headers.contains_key(name.as_str()),
                "{method} {template} {status} has {name}"
            );
        }
    }
}

#[tokio::test]
async fn every_documented_route_is_served_and_answers_as_documented() {
    let doc = doc();
    let dir = tempfile::tempdir().expect("temp dir");
    let deps = deps(dir.path());
    for (method, template) in documented(&doc) {
        let uri = template.replace("{id}", &new_job_id());
        let body = (method == "POST").then(|| json!({}));
        let answer = call(&deps, Some("alice"), &method, &uri, body.clone()).await;
        let error = answer.json();
        assert_ne!(answer.status, 405, "{method} {template}: {error}");
        assert!(
            !(answer.status == 404 && error["error"]["message"] == "no such route"),
            "{method} {template} is routed"
        );
        assert_documented(&doc, &method, &template, &answer);

        let anonymous = call(&deps, None, &method, &uri, body).await;
        assert_documented(&doc, &method, &template, &anonymous);
        let public = operation(&doc, &method, &template)["security"] == json!([]);
        assert_eq!(
            anonymous.status == 401,
            !public,
            "{method} {template} without a caller"
        );
    }
}

#[tokio::test]
async fn jobs_the_api_returns_match_the_document() {
    let doc = doc();
    let dir = tempfile::tempdir().expect("temp dir");
    let deps = deps(dir.path());
    let alice = Some("alice");
    let create = json!({"script": "A fox in the snow", "style": "cinematic", "keywords": ["snow"], "metadata": {"k": "v"}});
    let created = call(&deps, alice, "POST", "/v1/videos", Some(create)).await;
    assert_eq!(created.status, 202);
    assert_documented(&doc, "POST", "/v1/videos", &created);
    let id = created.json()["id"].as_str().expect("id").to_string();
    let path = format!("/v1/videos/{id}");

    let read = call(&deps, alice, "GET", &path, None).await;
    assert_documented(&doc, "GET", "/v1/videos/{id}", &read);
    let list = call(
        &deps,
        alice,
        "GET",
        "/v1/videos?limit=1&status=queued",
        None,
    )
    .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["data"][0]["id"], id.as_str());
    assert_documented(&doc, "GET", "/v1/videos", &list);
    let bad_query = call(&deps, alice, "GET", "/v1/videos?limit=0", None).await;
    assert_eq!(bad_query.status, 400);
    assert_documented(&doc, "GET", "/v1/videos", &bad_query);

    let remix_queued = call(
        &deps,
        alice,
        "POST",
        &format!("{path}/remix"),
        Some(json!({"prompt": "at night"})),
    )
    .await;
    assert_eq!(remix_queued.status, 409);
    assert_documented(&doc, "POST", "/v1/videos/{id}/remix", &remix_queued);

    let canceled = call(&deps, alice, "POST", &format!("{path}/cancel"), None).await;
    assert_eq!(
        (canceled.status, &canceled.json()["status"]),
        (200, &json!("canceled"))
    );
    assert_documented(&doc, "POST", "/v1/videos/{id}/cancel", &canceled);
    let again = call(&deps, alice, "POST", &format!("{path}/cancel"), None).await;
    assert_eq!(again.status, 409);
    assert_documented(&doc, "POST", "/v1/videos/{id}/cancel", &again);

    let upload = json!({"content_type": "image/png", "bytes": 1024});
    let slot = call(&deps, alice, "POST", "/v1/uploads", Some(upload)).await;
    assert_eq!(slot.status, 201);
    assert_documented(&doc, "POST", "/v1/uploads", &slot);

    let models = call(&deps, alice, "GET", "/v1/models", None).await;
    assert_eq!(models.status, 200);
    assert_documented(&doc, "GET", "/v1/models", &models);
    let variant = call(
        &deps,
        alice,
        "POST",
        &format!("{path}/variants"),
        Some(json!({"size": "1280x720"})),
    )
    .await;
    assert_eq!(variant.status, 202, "{:?}", variant.body);
    assert_documented(&doc, "POST", "/v1/videos/{id}/variants", &variant);

    let deleted = call(&deps, alice, "DELETE", &path, None).await;
    assert_eq!(deleted.status, 204);
    assert_documented(&doc, "DELETE", "/v1/videos/{id}", &deleted);

    // What the schemas refuse, the API refuses too (spot checks on request bodies).
    let request = &doc["components"]["schemas"]["CreateVideoRequest"];
    for bad in [
        json!({}),
        json!({"script": "x", "seconds": 0}),
        json!({"script": "x", "size": "big"}),
        json!({"script": "x", "variants": [{"model": "sora-2"}]}),
        json!({"script": "x", "variants": [{"size": "720x1280"}, {"size": "720x1280"}, {"size": "720x1280"}, {"size": "720x1280"}]}),
        json!({"script": "x", "colour": "red"}),
        json!({"script": " "}),
        json!({"prompt": "x", "keywords": vec!["k"; 21]}),
    ] {
        assert!(
            !validator(&doc, request).is_valid(&bad),
            "the schema refuses {bad}"
        );
        let answer = call(&deps, alice, "POST", "/v1/videos", Some(bad.clone())).await;
        assert_eq!(answer.status, 400, "the API refuses {bad}");
    }
}

#[tokio::test]
async fn the_document_is_served_as_is_without_a_caller() {
    let dir = tempfile::tempdir().expect("temp dir");
    let deps = deps(dir.path());
    let served = call(&deps, None, "GET", "/v1/openapi.json", None).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(served.body, OPENAPI_JSON.as_bytes());

    let posted = call(&deps, None, "POST", "/v1/openapi.json", None).await;
    assert_eq!(posted.status, 405);
    assert_eq!(posted.headers["allow"], "GET");
    assert_eq!(posted.json()["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn the_router_answers_404_405_and_401_from_its_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let deps = deps(dir.path());
    let id = new_job_id();
    for (method, uri, allow) in [
        ("PUT", "/v1/videos".to_string(), "GET, POST"),
        ("POST", format!("/v1/videos/{id}"), "GET, DELETE"),
        ("GET", format!("/v1/videos/{id}/remix"), "POST"),
        ("DELETE", format!("/v1/videos/{id}/content"), "GET"),
        ("GET", "/v1/uploads".to_string(), "POST"),
        ("DELETE", "/v1/health".to_string(), "GET"),
    ] {
        let answer = call(&deps, Some("alice"), method, &uri, None).await;
        assert_eq!(answer.status, 405, "{method} {uri}");
        assert_eq!(answer.headers["allow"], allow, "{method} {uri}");
        assert_eq!(
            answer.json()["error"]["message"],
            format!("this route accepts {allow}")
        );
    }
    for uri in [
        "/v1/nope",
        "/v1/videos/x/y/z",
        "/v2/videos",
        "/index.html",
        "/v1",
    ] {
        let answer = call(&deps, Some("alice"), "GET", uri, None).await;
        assert_eq!(answer.status, 404, "{uri}");
        assert_eq!(answer.json()["error"]["message"], "no such route");
    }
    // `/` is the console, for anyone; only GET.
    let answer = call(&deps, None, "GET", "/", None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["cache-control"], "no-cache");
    assert!(answer.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    let answer = call(&deps, None, "POST", "/", None).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.headers["allow"], "GET");
    // A known path that needs a caller says 401 before 405; a trailing slash is the same path.
    let answer = call(&deps, None, "PUT", "/v1/videos", None).await;
    assert_eq!(answer.status, 401);
    let answer = call(&deps, None, "GET", "/v1/health/", None).await;
    assert_eq!(answer.status, 200);
}

/// The document's error codes are `ErrorCode`'s: API answers carry the API-scoped
/// ones, job records the job-scoped ones.
#[test]
fn the_documented_error_codes_are_the_error_code_enum() {
    use crate::domain::error_code::{ErrorCode, Scope};
    let doc = doc();
    let listed = |pointer: &str| -> BTreeSet<String> {
        doc.pointer(pointer)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{pointer} is an enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let codes = |keep: fn(Scope) -> bool| -> BTreeSet<String> {
        ErrorCode::ALL
            .iter()
            .filter(|c| keep(c.scope()))
            .map(|c| c.as_str().to_string())
            .collect()
    };
    assert_eq!(
        listed("/components/schemas/Error/properties/error/properties/code/enum"),
        codes(|s| matches!(s, Scope::Api | Scope::Both))
    );
    assert_eq!(
        listed("/components/schemas/JobError/properties/code/enum"),
        codes(|s| matches!(s, Scope::Job | Scope::Both))
    );
}

/// Every "not blank" text in the document uses one pattern, and it says exactly what the
/// server does: a text is blank when every character is Unicode White_Space
/// (`str::trim`), which is not ECMAScript's `\s` (that lacks U+0085 and adds U+FEFF).
#[test]
fn the_documented_not_blank_pattern_is_the_servers() {
    let doc = doc();
    let mut patterns = BTreeSet::new();
    fn walk(node: &Value, out: &mut BTreeSet<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(p)) = map.get("pattern") {
                    if p.starts_with("[^") {
                        out.insert(p.clone());
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&doc, &mut patterns);
    assert_eq!(patterns.len(), 1, "one not-blank pattern: {patterns:?}");
    let pattern = patterns.pop_first().expect("checked: one");
    let v = validator(&doc, &json!({"type": "string", "pattern": pattern}));
    // Every White_Space character is in the Basic Multilingual Plane.
    for c in (0..=0xFFFFu32).filter_map(char::from_u32) {
        let text = format!("{c}{c}");
        assert_eq!(
            v.is_valid(&json!(text)),
            !text.trim().is_empty(),
            "U+{:04X}: the document and the server disagree on whether it is blank",
            c as u32
        );
    }
}
