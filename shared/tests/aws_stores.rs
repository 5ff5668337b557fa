//! The AWS adapters against local servers that speak the real wire protocols:
//! moto (DynamoDB, S3, Step Functions) and s3s-fs (S3 that checks SigV4 and expiry).
//! `scripts/test.sh` starts both and sets MOTO_ENDPOINT / S3S_ENDPOINT; without them
//! these tests say so and pass, so `cargo test` works anywhere — unless
//! `VIDGEN_REQUIRE_AWS_TESTS=1` (scripts/test.sh, CI), when they fail naming the variable.

mod common {
    pub mod job_store_contract;
}

use bytes::Bytes;
use futures::{stream, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use vidgen_shared::aws::{aws_test_env, s3_client, static_sdk_config};
use vidgen_shared::engine::sfn::StepFunctionsEngine;
use vidgen_shared::engine::{ExecutionStatus, WorkflowEngine};
use vidgen_shared::store::dynamo::{create_table, DynamoJobStore};
use vidgen_shared::store::s3::S3ObjectStore;
use vidgen_shared::store::{ByteStream, ObjectStore, StoreError};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

fn dynamo(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&static_sdk_config(endpoint, "testing", "testing"))
}

fn s3(endpoint: &str, key: &str, secret: &str) -> aws_sdk_s3::Client {
    s3_client(&static_sdk_config(endpoint, key, secret), true)
}

fn sfn(endpoint: &str) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(&static_sdk_config(endpoint, "testing", "testing"))
}

/// A client of s3s-fs, the signature-checking S3, when scripts/test.sh started it.
fn s3s() -> Option<aws_sdk_s3::Client> {
    let [ep, key, secret] = aws_test_env(["S3S_ENDPOINT", "S3S_ACCESS_KEY", "S3S_SECRET_KEY"])?;
    Some(s3(&ep, &key, &secret))
}

async fn bucket(client: &aws_sdk_s3::Client) -> String {
    let name = unique("vidgen-test");
    client
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket created");
    name
}

fn chunks(total: usize, chunk: usize) -> (Vec<u8>, ByteStream) {
    let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
    let parts: Vec<Result<Bytes, StoreError>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    // An unfold, as the provider's body is: polling it after its end panics, so a
    // store that reads past the end fails here.
    let body = stream::unfold(parts.into_iter(), |mut rest| async move {
        rest.next().map(|part| (part, rest))
    });
    (data, body.boxed())
}

#[tokio::test]
async fn dynamodb_store_honours_the_job_store_contract() {
    let Some([ep]) = aws_test_env(["MOTO_ENDPOINT"]) else {
        return;
    };
    let client = dynamo(&ep);
    let table = unique("jobs");
    create_table(&client, &table).await.unwrap();
    create_table(&client, &table)
        .await
        .expect("creating twice is fine");
    common::job_store_contract::run_all(Arc::new(DynamoJobStore::new(client, table)), false).await;
}

/// Against s3s-fs: moto 5.2.1 answers CompleteMultipartUpload with a
/// `CompleteMultipartUploadResponse` root the SDK rightly refuses.
#[tokio::test]
async fn s3_put_stream_single_and_multipart_are_byte_exact() {
    let Some(client) = s3s() else {
        return;
    };
    let bucket = bucket(&client).await;
    let store = S3ObjectStore::new(client.clone(), &bucket).with_multipart(5 * 1024 * 1024, 2);
    for (key, size) in [
        ("videos/small.mp4", 1000usize),
        // Six parts with two in flight: later parts are filled in the buffers of
        // earlier ones (PartBuffers), so byte-exact here means none was reused early.
        ("videos/big.mp4", 27 * 1024 * 1024 + 17),
    ] {
        let (data, body) = chunks(size, 64 * 1024);
        assert_eq!(
            store.put_stream(key, "video/mp4", body).await.unwrap(),
            size as u64
        );
        let (got, meta) = store.get_bytes(key, u64::MAX).await.unwrap().unwrap();
        assert_eq!(got.len(), size);
        assert!(got.as_ref() == data.as_slice(), "{key} byte-exact");
        assert_eq!(meta.bytes, size as u64);
    }
    assert!(
        store.get_bytes("videos/big.mp4", 10).await.is_err(),
        "size limit"
    );
    assert_eq!(store.head("videos/none.mp4").await.unwrap(), None);
    store.delete("videos/small.mp4").await.unwrap();
    assert_eq!(store.head("videos/small.mp4").await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_multipart_upload_leaves_nothing_behind() {
    let Some([ep]) = aws_test_env(["MOTO_ENDPOINT"]) else {
        return;
    };
    let client = s3(&ep, "testing", "testing");
    let bucket = bucket(&client).await;
    let store = S3ObjectStore::new(client.clone(), &bucket).with_multipart(5 * 1024 * 1024, 2);
    // 11 MiB of good data (two parts uploaded), then the source fails.
    let good: Vec<Result<Bytes, StoreError>> = (0..11)
        .map(|_| Ok(Bytes::from(vec![7u8; 1024 * 1024])))
        .collect();
    let body = stream::iter(good)
        .chain(stream::iter(vec![Err(StoreError::Source(
            "provider reset".into(),
        ))]))
        .boxed();
    let err = store
        .put_stream("videos/cut.mp4", "video/mp4", body)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Source(_)), "{err}");
    assert_eq!(
        store.head("videos/cut.mp4").await.unwrap(),
        None,
        "no partial object"
    );
    let uploads = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "the multipart upload was aborted"
    );
}

#[tokio::test]
async fn presigned_links_are_checked_by_a_signature_verifying_server() {
    let Some(client) = s3s() else {
        return;
    };
    let bucket = bucket(&client).await;
    let store = S3ObjectStore::new(client, &bucket);
    let (data, body) = chunks(4096, 1000);
    store
        .put_stream("videos/o/v/video.mp4", "video/mp4", body)
        .await
        .unwrap();
    let http = reqwest::Client::new();

    let link = store
        .presign_get("videos/o/v/video.mp4", Duration::from_secs(60))
        .await
        .unwrap();
    let r = http.get(&link.url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());

    let other_key = link.url.replace("video.mp4", "thumb.mp4");
    assert_eq!(
        http.get(&other_key).send().await.unwrap().status(),
        403,
        "a changed key is refused"
    );
    let sig_at = link.url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = link.url.clone();
    let flipped = if &tampered[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(sig_at..sig_at + 1, flipped);
    assert_eq!(
        http.get(&tampered).send().await.unwrap().status(),
        403,
        "a changed signature is refused"
    );

    let short = store
        .presign_get("videos/o/v/video.mp4", Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        http.get(&short.url).send().await.unwrap().status(),
        403,
        "an expired link is refused"
    );

    let put = store
        .presign_put("uploads/o/up_1", "image/png", 5, Duration::from_secs(60))
        .await
        .unwrap();
    let wrong = http
        .put(&put.url)
        .header("content-type", "image/jpeg")
        .body(vec![1u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403, "the signed content type is enforced");
    let ok = http
        .put(&put.url)
        .header("content-type", "image/png")
        .body(vec![1u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap_or_default());
    assert_eq!(
        store.head("uploads/o/up_1").await.unwrap().map(|m| m.bytes),
        Some(5)
    );
}

#[tokio::test]
async fn step_functions_executions_are_named_after_the_job() {
    let Some([ep]) = aws_test_env(["MOTO_ENDPOINT"]) else {
        return;
    };
    let client = sfn(&ep);
    let definition =
        r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}}"#;
    let created = client
        .create_state_machine()
        .name(unique("vidgen"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/vidgen-test")
        .send()
        .await
        .unwrap();
    let engine = StepFunctionsEngine::new(client.clone(), created.state_machine_arn());
    let job = unique("vid");
    assert_eq!(
        engine.status(&job).await.unwrap(),
        ExecutionStatus::Missing,
        "an execution never started is missing, not an error"
    );
    engine
        .start(&job, &serde_json::json!({"job_id": job}))
        .await
        .unwrap();
    assert_eq!(engine.status(&job).await.unwrap(), ExecutionStatus::Running);
    // moto does not enforce unique execution names (AWS answers ExecutionAlreadyExists
    // for a closed execution or different input), so that mapping is not exercised here.
    let arn = engine.execution_arn(&job);
    let described = client
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.name(), Some(job.as_str()));
    assert_eq!(
        described.input(),
        Some(serde_json::json!({"job_id": job}).to_string().as_str())
    );
    engine.stop(&job, "canceled by its owner").await.unwrap();
    let described = client
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status().as_str(), "ABORTED");
    assert_eq!(engine.status(&job).await.unwrap(), ExecutionStatus::Aborted);
    engine
        .stop("vid-never-started", "x")
        .await
        .expect("stopping an unknown execution is fine");
}
