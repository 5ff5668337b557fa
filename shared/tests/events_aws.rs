//! The AWS side of live job events against real servers:
//! - the connections table on moto (DynamoDB over a real socket);
//! - the WebSocket routes over that table, from route events in the documented shape;
//! - the notifier end to end: jobs written to moto through `DynamoJobStore`, their items
//!   read back into DynamoDB Stream records (JSON in the shape Lambda delivers), frames
//!   posted through the real Management API SDK client to a stand-in of that API (an
//!   HTTP server on 127.0.0.1 that records each post and answers 410 for unknown ids,
//!   which moto does not: aws-semantics §6).
//!
//! Skipped without MOTO_ENDPOINT unless VIDGEN_REQUIRE_AWS_TESTS=1 (then they fail).

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use vidgen_shared::aws::{aws_test_env, static_sdk_config};
use vidgen_shared::domain::ids::{JobId, Owner};
use vidgen_shared::domain::{Job, Limits, Model, NewJob, Status};
use vidgen_shared::events::connections::{
    create_table as create_connections_table, Connection, Connections, DynamoConnections,
    CONNECTION_TTL_SECS,
};
use vidgen_shared::events::notifier::{notify_batch, NotifierDeps};
use vidgen_shared::events::ws::handle_route;
use vidgen_shared::settings::NotifierSettings;
use vidgen_shared::store::dynamo::{create_table, DynamoJobStore};
use vidgen_shared::store::{CreateOutcome, JobStore};
use vidgen_shared::wiring::{notifier_deps, AwsClients};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

fn dynamo(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&static_sdk_config(endpoint, "testing", "testing"))
}

fn connection(owner: &Owner, id: &str, endpoint: &str) -> Connection {
    Connection {
        owner: owner.clone(),
        connection_id: id.into(),
        endpoint: endpoint.into(),
        job_ids: None,
    }
}

#[tokio::test]
async fn the_connections_table_puts_narrows_lists_and_deletes() {
    let Some([ep]) = aws_test_env(["MOTO_ENDPOINT"]) else {
        return;
    };
    let client = dynamo(&ep);
    let table = unique("connections");
    create_connections_table(&client, &table).await.unwrap();
    create_connections_table(&client, &table)
        .await
        .expect("twice is fine");
    let store = DynamoConnections::new(client.clone(), &table);
    let alice = Owner::new(unique("alice"));
    let bob = Owner::new(unique("bob"));
    let at = Utc::now();
    let ep1 = "https://abc.execute-api.us-east-1.amazonaws.com/v1";
    store
        .put(&connection(&alice, "A1=", ep1), at)
        .await
        .unwrap();
    store
        .put(&connection(&alice, "A2=", ep1), at)
        .await
        .unwrap();
    store.put(&connection(&bob, "B1=", ep1), at).await.unwrap();

    let mut listed = store.list(&alice).await.unwrap();
    listed.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
    assert_eq!(
        listed,
        vec![
            connection(&alice, "A1=", ep1),
            connection(&alice, "A2=", ep1)
        ]
    );
    // The ttl is connect time + 2 h 10 min, as a number DynamoDB's TTL reads.
    let item = client
        .get_item()
        .table_name(&table)
        .key("owner", AttributeValue::S(alice.as_str().into()))
        .key("connection_id", AttributeValue::S("A1=".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["ttl"],
        AttributeValue::N((at.timestamp() + CONNECTION_TTL_SECS).to_string())
    );
    assert_eq!(CONNECTION_TTL_SECS, 7800);

    let ids: BTreeSet<JobId> = [JobId::new(), JobId::new()].into();
    assert!(store.set_job_ids(&alice, "A1=", &ids).await.unwrap());
    let a1 = store
        .list(&alice)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.connection_id == "A1=")
        .unwrap();
    assert_eq!(a1.job_ids.as_ref(), Some(&ids));
    // Narrowing a connection that is not stored writes nothing.
    assert!(!store.set_job_ids(&alice, "nope=", &ids).await.unwrap());
    assert!(!store.set_job_ids(&bob, "A1=", &ids).await.unwrap());
    assert_eq!(store.list(&alice).await.unwrap().len(), 2);
    assert_eq!(store.list(&bob).await.unwrap().len(), 1);

    store.delete(&alice, "A1=").await.unwrap();
    store
        .delete(&alice, "A1=")
        .await
        .expect("deleting twice is fine");
    let left: Vec<String> = store
        .list(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.connection_id)
        .collect();
    assert_eq!(left, ["A2="]);
    assert!(store
        .list(&Owner::new(unique("nobody")))
        .await
        .unwrap()
        .is_empty());
}

/// A route event as API Gateway sends it to a WebSocket Lambda proxy integration.
fn route_event(
    route: &str,
    connection_id: &str,
    owner: &str,
    body: Option<&str>,
) -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_value(json!({
        "requestContext": {
            "routeKey": route, "eventType": "MESSAGE", "messageDirection": "IN",
            "connectionId": connection_id, "stage": "v1", "apiId": "abc",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "connectedAt": 1707502303419_i64, "requestTimeEpoch": 1707502303420_i64,
            "requestId": "r", "extendedRequestId": "r",
            "authorizer": {"principalId": owner, "owner": owner, "integrationLatency": 12},
            "identity": {"sourceIp": "203.0.113.1"}
        },
        "body": body,
        "isBase64Encoded": false
    }))
    .expect("a route event")
}

#[tokio::test]
async fn the_routes_store_narrow_answer_and_forget_connections() {
    let Some([ep]) = aws_test_env(["MOTO_ENDPOINT"]) else {
        return;
    };
    let client = dynamo(&ep);
    let table = unique("connections");
    create_connections_table(&client, &table).await.unwrap();
    let store = DynamoConnections::new(client, &table);
    let alice = unique("alice");
    let owner = Owner::new(&alice);
    let now = Utc::now();

    let a = handle_route(&store, &route_event("$connect", "C1=", &alice, None), now)
        .await
        .unwrap();
    assert_eq!((a.status, a.body), (200, None));
    assert_eq!(
        store.list(&owner).await.unwrap(),
        vec![connection(
            &owner,
            "C1=",
            "https://abc.execute-api.us-east-1.amazonaws.com/v1"
        )]
    );

    let id = JobId::new();
    let body = json!({"action": "subscribe", "job_ids": [id.as_str()]}).to_string();
    let a = handle_route(
        &store,
        &route_event("subscribe", "C1=", &alice, Some(&body)),
        now,
    )
    .await
    .unwrap();
    let frame: Value = serde_json::from_str(&a.body.unwrap()).unwrap();
    assert_eq!(
        frame,
        json!({"type": "subscribed", "job_ids": [id.as_str()]})
    );
    assert_eq!(
        store.list(&owner).await.unwrap()[0].job_ids,
        Some(BTreeSet::from([id.clone()]))
    );

    let a = handle_route(
        &store,
        &route_event(
            "subscribe",
            "C1=",
            &alice,
            Some(r#"{"action":"subscribe","job_ids":["x"]}"#),
        ),
        now,
    )
    .await
    .unwrap();
    let frame: Value = serde_json::from_str(&a.body.unwrap()).unwrap();
    assert_eq!(frame["type"], "error");
    assert!(
        frame["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("job_ids[0]"),
        "{frame}"
    );
    // Unchanged by the bad message.
    assert_eq!(
        store.list(&owner).await.unwrap()[0].job_ids,
        Some(BTreeSet::from([id.clone()]))
    );

    let a = handle_route(
        &store,
        &route_event("$default", "C1=", &alice, Some("hello")),
        now,
    )
    .await
    .unwrap();
    let frame: Value = serde_json::from_str(&a.body.unwrap()).unwrap();
    assert_eq!(frame["type"], "error");

    let a = handle_route(
        &store,
        &route_event("$disconnect", "C1=", &alice, None),
        now,
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200);
    assert!(store.list(&owner).await.unwrap().is_empty());

    // A route without the authorizer's owner is refused, never stored under "".
    let mut anonymous = route_event("$connect", "C2=", "", None);
    anonymous.request_context.authorizer.fields.clear();
    assert!(handle_route(&store, &anonymous, now).await.is_err());
}

/// The Management API stand-in: `POST /{stage}/@connections/{id}` records the body for
/// a known id and answers 410 GoneException otherwise.
#[derive(Clone, Default)]
struct Gateway {
    live: Arc<Mutex<HashSet<String>>>,
    posts: Arc<Mutex<Vec<(String, String, Value)>>>,
}

async fn post_to_connection(
    State(g): State<Gateway>,
    Path((stage, id)): Path<(String, String)>,
    body: String,
) -> axum::response::Response {
    if !g.live.lock().unwrap().contains(&id) {
        return (
            StatusCode::GONE,
            [("x-amzn-errortype", "GoneException")],
            r#"{"message":"Gone"}"#,
        )
            .into_response();
    }
    let frame = serde_json::from_str(&body).unwrap_or(Value::String(body));
    g.posts.lock().unwrap().push((stage, id, frame));
    StatusCode::OK.into_response()
}

async fn gateway() -> (Gateway, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1", listener.local_addr().unwrap());
    let g = Gateway::default();
    let app = Router::new()
        .route("/{stage}/@connections/{id}", post(post_to_connection))
        .with_state(g.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (g, endpoint)
}

fn new_job(owner: &Owner) -> Job {
    Job::new(
        NewJob::new(owner, Model::SORA_2, 4, "720x1280", "a fox in the snow"),
        Utc::now(),
    )
}

/// The stored item of `job`, in the JSON Lambda delivers in `NewImage`/`OldImage`.
async fn image(client: &aws_sdk_dynamodb::Client, table: &str, job: &Job) -> Value {
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("job#{}", job.id.as_str())))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    serde_json::to_value(serde_dynamo::Item::from(item)).unwrap()
}

/// A stream record as Lambda delivers it (aws-semantics §7).
fn record(name: &str, seq: u64, job: &Job, old: Option<Value>, new: Option<Value>) -> Value {
    let mut change = json!({
        "ApproximateCreationDateTime": 1707502303.0,
        "Keys": {"pk": {"S": format!("job#{}", job.id.as_str())}},
        "SequenceNumber": seq.to_string(),
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(old) = old {
        change["OldImage"] = old;
    }
    if let Some(new) = new {
        change["NewImage"] = new;
    }
    json!({
        "eventID": format!("e{seq}"), "eventName": name, "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/jobs/stream/2024-01-01T00:00:00.000",
        "dynamodb": change
    })
}

fn event(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).expect("a stream event")
}

/// Write `job` changed by `f` (version bumped), returning (old image, new image).
async fn change(
    store: &DynamoJobStore,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    job: &mut Job,
    f: impl FnOnce(&mut Job),
) -> (Value, Value) {
    let old = image(client, table, job).await;
    f(job);
    job.version += 1;
    store.put_if_version(job).await.unwrap();
    (old, image(client, table, job).await)
}

#[tokio::test]
async fn the_notifier_posts_each_notable_change_to_the_owners_wanting_connections() {
    let Some([ep]) = aws_test_env(["MOTO_ENDPOINT"]) else {
        return;
    };
    let sdk = static_sdk_config(&ep, "testing", "testing");
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let jobs_table = unique("jobs");
    let connections_table = unique("connections");
    create_table(&client, &jobs_table).await.unwrap();
    create_connections_table(&client, &connections_table)
        .await
        .unwrap();
    let settings = NotifierSettings::from_lookup(&|name: &str| {
        BTreeMap::from([
            ("TABLE_NAME", jobs_table.as_str()),
            ("BUCKET_NAME", "videos"),
            ("CONNECTIONS_TABLE", connections_table.as_str()),
        ])
        .get(name)
        .map(|v| v.to_string())
    })
    .unwrap();
    // The Lambda's own wiring, with clients of the local servers.
    let deps: NotifierDeps = notifier_deps(&settings, &AwsClients::new(&sdk, true), &sdk);
    let store = DynamoJobStore::new(client.clone(), &jobs_table);
    let connections = DynamoConnections::new(client.clone(), &connections_table);
    let (gw, endpoint) = gateway().await;

    let alice = Owner::new(unique("alice"));
    let bob = Owner::new(unique("bob"));
    let mut a_job = new_job(&alice);
    let mut b_job = new_job(&bob);
    let mut other_a_job = new_job(&alice);
    for job in [&a_job, &b_job, &other_a_job] {
        let created = store.create(job, None, &Limits::DEFAULT).await.unwrap();
        assert!(matches!(created, CreateOutcome::Created));
    }
    let now = Utc::now();
    // alice: an open connection, one narrowed to her other job, one gone; bob: one.
    gw.live
        .lock()
        .unwrap()
        .extend(["a-all=".to_string(), "a-narrow=".into(), "b=".into()]);
    connections
        .put(&connection(&alice, "a-all=", &endpoint), now)
        .await
        .unwrap();
    let mut narrow = connection(&alice, "a-narrow=", &endpoint);
    narrow.job_ids = Some(BTreeSet::from([other_a_job.id.clone()]));
    connections.put(&narrow, now).await.unwrap();
    connections
        .put(&connection(&alice, "a-gone=", &endpoint), now)
        .await
        .unwrap();
    connections
        .put(&connection(&bob, "b=", &endpoint), now)
        .await
        .unwrap();

    // INSERT of alice's job, then status and progress changes; bob's job moves too.
    let inserted = image(&client, &jobs_table, &a_job).await;
    let (o1, n1) = change(&store, &client, &jobs_table, &mut a_job, |j| {
        j.status = Status::InProgress;
        j.progress = 10;
    })
    .await;
    let (o2, n2) = change(&store, &client, &jobs_table, &mut a_job, |j| {
        j.progress = 55
    })
    .await;
    // Not notable: neither status nor progress moves.
    let (o3, n3) = change(&store, &client, &jobs_table, &mut a_job, |j| {
        j.provider_video_id = Some("video_123".into())
    })
    .await;
    let (ob, nb) = change(&store, &client, &jobs_table, &mut b_job, |j| {
        j.status = Status::InProgress
    })
    .await;
    let batch = event(vec![
        record("INSERT", 100, &a_job, None, Some(inserted)),
        record("MODIFY", 101, &a_job, Some(o1), Some(n1)),
        record("MODIFY", 102, &a_job, Some(o2), Some(n2.clone())),
        record("MODIFY", 103, &a_job, Some(o3), Some(n3)),
        record("MODIFY", 104, &b_job, Some(ob), Some(nb)),
        record("REMOVE", 105, &a_job, Some(n2), None),
    ]);
    let response = notify_batch(&deps, &batch).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    let posts = gw.posts.lock().unwrap().clone();
    let to = |id: &str| -> Vec<Value> {
        posts
            .iter()
            .filter(|(_, c, _)| c == id)
            .map(|(_, _, f)| f.clone())
            .collect()
    };
    assert!(posts.iter().all(|(stage, _, _)| stage == "v1"));
    // alice's open connection: three frames (new, in_progress 10, 55), in order.
    let frames = to("a-all=");
    assert_eq!(frames.len(), 3, "{posts:?}");
    for f in &frames {
        assert_eq!(f["type"], "job.updated");
        assert_eq!(f["job"]["id"], a_job.id.as_str());
        assert!(
            f["job"].get("owner").is_none(),
            "the public job object: {f}"
        );
    }
    let statuses: Vec<(&str, u64)> = frames
        .iter()
        .map(|f| {
            (
                f["job"]["status"].as_str().unwrap(),
                f["job"]["progress"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("queued", 0), ("in_progress", 10), ("in_progress", 55)]
    );
    // Narrowed to another job: nothing about this one. bob: only his own job.
    assert!(to("a-narrow=").is_empty());
    let bobs = to("b=");
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["job"]["id"], b_job.id.as_str());
    // The gone connection was forgotten after its first 410.
    let left: BTreeSet<String> = connections
        .list(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.connection_id)
        .collect();
    assert_eq!(
        left,
        BTreeSet::from(["a-all=".to_string(), "a-narrow=".into()])
    );

    // The narrowed connection hears about its job.
    let (o, n) = change(&store, &client, &jobs_table, &mut other_a_job, |j| {
        j.status = Status::InProgress
    })
    .await;
    gw.posts.lock().unwrap().clear();
    let response = notify_batch(
        &deps,
        &event(vec![record("MODIFY", 200, &other_a_job, Some(o), Some(n))]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let mut got: Vec<String> = gw
        .posts
        .lock()
        .unwrap()
        .iter()
        .map(|(_, c, _)| c.clone())
        .collect();
    got.sort();
    assert_eq!(got, ["a-all=", "a-narrow="]);

    // A client that fails otherwise (the stand-in is down) never fails the batch.
    gw.posts.lock().unwrap().clear();
    let dead = "http://127.0.0.1:9/v1";
    let carol = Owner::new(unique("carol"));
    let mut c_job = new_job(&carol);
    store.create(&c_job, None, &Limits::DEFAULT).await.unwrap();
    connections
        .put(&connection(&carol, "c=", dead), now)
        .await
        .unwrap();
    let (o, n) = change(&store, &client, &jobs_table, &mut c_job, |j| j.progress = 5).await;
    let response = notify_batch(
        &deps,
        &event(vec![record("MODIFY", 300, &c_job, Some(o), Some(n))]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        connections.list(&carol).await.unwrap().len(),
        1,
        "kept: not a 410"
    );
}

#[tokio::test]
async fn a_record_whose_connections_cannot_be_read_is_reported_by_sequence_number() {
    let Some([ep]) = aws_test_env(["MOTO_ENDPOINT"]) else {
        return;
    };
    let sdk = static_sdk_config(&ep, "testing", "testing");
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let jobs_table = unique("jobs");
    create_table(&client, &jobs_table).await.unwrap();
    // The connections table does not exist: every Query fails.
    let settings = NotifierSettings::from_lookup(&|name: &str| match name {
        "TABLE_NAME" => Some(jobs_table.clone()),
        "BUCKET_NAME" => Some("videos".into()),
        "CONNECTIONS_TABLE" => Some(unique("missing")),
        _ => None,
    })
    .unwrap();
    let deps = notifier_deps(&settings, &AwsClients::new(&sdk, true), &sdk);
    let store = DynamoJobStore::new(client.clone(), &jobs_table);
    let mut a = new_job(&Owner::new(unique("alice")));
    let mut b = new_job(&Owner::new(unique("bob")));
    store.create(&a, None, &Limits::DEFAULT).await.unwrap();
    store.create(&b, None, &Limits::DEFAULT).await.unwrap();
    let (oa, na) = change(&store, &client, &jobs_table, &mut a, |j| j.progress = 1).await;
    let (ob, nb) = change(&store, &client, &jobs_table, &mut b, |j| j.progress = 1).await;
    let (oc, nc) = change(&store, &client, &jobs_table, &mut b, |j| {
        j.provider_video_id = Some("v".into())
    })
    .await;
    let response = notify_batch(
        &deps,
        &event(vec![
            record("MODIFY", 7, &a, Some(oa), Some(na)),
            record("MODIFY", 8, &b, Some(ob), Some(nb)),
            // Not notable, so it needs no connections: it does not fail.
            record("MODIFY", 9, &b, Some(oc), Some(nc)),
        ]),
    )
    .await;
    let failed: Vec<Option<String>> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    // 9 is a later change of 8's item: reported too, so the retry keeps the item's order.
    assert_eq!(
        failed,
        [Some("7".into()), Some("8".into()), Some("9".into())]
    );
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(wire["batchItemFailures"][0]["itemIdentifier"], "7");
}
