//! The JobStore contract, run against every backend (embedded, DynamoDB on moto).

use chrono::{Duration as ChronoDuration, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use vidgen_shared::domain::ids::{new_job_id, new_upload_id, JobId, Owner};
use vidgen_shared::domain::usage::LimitReached;
use vidgen_shared::domain::{Job, Limits, Model, NewJob, ProviderId, Status};
use vidgen_shared::store::{
    update_job, CreateOutcome, IdempotencyRecord, JobStore, StoreError, Upload, LIST_PAGES_PER_CALL,
};

pub fn job(owner: &str, key: Option<&str>, offset_ms: i64) -> Job {
    Job::new(
        NewJob {
            script: Some("a fox".into()),
            keywords: vec!["snow".into()],
            metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
            idempotency_key: key.map(str::to_string),
            ..NewJob::new(&Owner::new(owner), Model::SORA_2, 4, "720x1280", "a fox")
        },
        Utc::now() + ChronoDuration::milliseconds(offset_ms),
    )
}

fn claim(job: &Job, key: &str, hash: &str, ttl_secs: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        owner: job.owner.clone(),
        key: key.into(),
        request_hash: hash.into(),
        job_id: job.id.clone(),
        expires_at: Utc::now() + ChronoDuration::seconds(ttl_secs),
        job_deleted: false,
    }
}

/// Run every check; each uses fresh owners so backends may be shared.
///
/// `isolated`: the backend runs concurrent transactions in isolation, as redb and real
/// DynamoDB do, so the racing checks apply. moto does not: its TransactWriteItems checks
/// and writes in each request's thread without a lock, and on a failed condition restores
/// a snapshot taken before it, so truly concurrent transactions there can both pass or
/// undo each other. On moto the limits and replays are checked one request at a time.
pub async fn run_all(store: Arc<dyn JobStore>, isolated: bool) {
    round_trip(store.as_ref()).await;
    conditional_create(store.as_ref()).await;
    idempotency_claims(store.as_ref()).await;
    versions_and_races(store.clone()).await;
    listing(store.as_ref()).await;
    bounded_status_listing(store.as_ref()).await;
    deletion(store.as_ref()).await;
    uploads(store.as_ref()).await;
    unfinished(store.as_ref()).await;
    active_job_limit(store.as_ref()).await;
    spend_limit(store.as_ref()).await;
    webhook_waits(store.as_ref()).await;
    provider_refs(store.as_ref()).await;
    if isolated {
        concurrent_same_key_creates(store.clone()).await;
        creates_racing_at_the_limit(store.clone()).await;
    }
}

/// Two creates with one key at the same time: one job, and the other answer is its claim.
async fn concurrent_same_key_creates(store: Arc<dyn JobStore>) {
    let o = owner("race-key");
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            let j = job(&o, Some("same"), i);
            tokio::spawn(async move {
                let c = claim(&j, "same", "h", 3600);
                let outcome = store.create(&j, Some(&c), &Limits::UNLIMITED).await;
                (j.id, outcome)
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut replays = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (id, Ok(CreateOutcome::Created)) => created.push(id),
            (_, Ok(CreateOutcome::KeyExists(c))) => replays.push(c.job_id),
            (_, other) => panic!("a same-key create answered {other:?}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one create wins: {created:?}");
    assert!(
        replays.iter().all(|id| id == &created[0]),
        "the others see its job"
    );
    let listed = store.list(&o, None, 10, None).await.unwrap();
    assert_eq!(listed.jobs.len(), 1);
}

fn refused_by(outcome: CreateOutcome) -> LimitReached {
    match outcome {
        CreateOutcome::LimitReached(r) => {
            assert!(r.retry_after.as_secs() >= 1, "{r:?}");
            r.limit
        }
        other => panic!("expected a limit, got {other:?}"),
    }
}

/// At most `max_active_jobs` unfinished jobs; ending or deleting one makes room; over
/// the limit nothing is written; a replay of a live key still answers its job.
async fn active_job_limit(store: &dyn JobStore) {
    let limits = Limits {
        max_active_jobs: 2,
        daily_budget_cents: 1_000_000,
    };
    let o = owner("active");
    let a = job(&o, Some("ka"), 0);
    let b = job(&o, None, 1);
    let c = job(&o, None, 2);
    let ca = claim(&a, "ka", "h", 3600);
    assert_eq!(
        store.create(&a, Some(&ca), &limits).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        store.create(&b, None, &limits).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        refused_by(store.create(&c, None, &limits).await.unwrap()),
        LimitReached::ActiveJobs { max: 2 }
    );
    assert_eq!(store.get(&c.id).await.unwrap(), None, "nothing written");
    // A replay of a's key at the limit is a replay, not a refusal.
    let replay = job(&o, Some("ka"), 3);
    match store
        .create(&replay, Some(&claim(&replay, "ka", "h", 3600)), &limits)
        .await
        .unwrap()
    {
        CreateOutcome::KeyExists(first) => assert_eq!(first.job_id, a.id),
        other => panic!("expected the claim, got {other:?}"),
    }
    // Ending a job makes room.
    update_job(store, &a.id, |j| j.mark_canceled(Utc::now()))
        .await
        .unwrap();
    assert_eq!(
        store.create(&c, None, &limits).await.unwrap(),
        CreateOutcome::Created
    );
    let d = job(&o, None, 4);
    assert!(matches!(
        store.create(&d, None, &limits).await.unwrap(),
        CreateOutcome::LimitReached(_)
    ));
    // So does deleting one that has not ended.
    store.delete(&b.id).await.unwrap();
    assert_eq!(
        store.create(&d, None, &limits).await.unwrap(),
        CreateOutcome::Created
    );
    // Writes to a job after it ended release nothing twice.
    update_job::<std::convert::Infallible, _>(store, &a.id, |j| {
        j.metadata.insert("late".into(), "write".into());
        Ok(())
    })
    .await
    .unwrap();
    let e = job(&o, None, 5);
    assert!(matches!(
        store.create(&e, None, &limits).await.unwrap(),
        CreateOutcome::LimitReached(_)
    ));
}

/// Estimated spend per 24 h: jobs that ended still count.
async fn spend_limit(store: &dyn JobStore) {
    let limits = Limits {
        max_active_jobs: 100,
        daily_budget_cents: 100,
    };
    let o = owner("spend");
    let first = job(&o, None, 0);
    assert_eq!(
        store.create(&first, None, &limits).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        store
            .create(&job(&o, None, 1), None, &limits)
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    update_job(store, &first.id, |j| j.mark_canceled(Utc::now()))
        .await
        .unwrap();
    let third = job(&o, None, 2);
    assert_eq!(
        refused_by(store.create(&third, None, &limits).await.unwrap()),
        LimitReached::DailyBudget {
            budget_cents: 100,
            spent_cents: 80,
            job_cents: 40
        }
    );
    assert_eq!(store.get(&third.id).await.unwrap(), None, "nothing written");
}

/// Creates racing at the limit: exactly as many pass as the limit allows.
async fn creates_racing_at_the_limit(store: Arc<dyn JobStore>) {
    let limits = Limits {
        max_active_jobs: 2,
        daily_budget_cents: 1_000_000,
    };
    let o = owner("race-limit");
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            let j = job(&o, None, i);
            tokio::spawn(async move { store.create(&j, None, &limits).await })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            CreateOutcome::Created => created += 1,
            CreateOutcome::LimitReached(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 2, "two of six racing creates pass a limit of two");
    let listed = store.list(&o, None, 10, None).await.unwrap();
    assert_eq!(listed.jobs.len(), 2, "and only they are written");
}

fn owner(tag: &str) -> Owner {
    Owner::new(format!("{tag}-{}", new_job_id()))
}

/// A well-formed job id that no store holds.
fn missing_id() -> JobId {
    JobId::new()
}

async fn round_trip(store: &dyn JobStore) {
    let j = job(&owner("rt"), None, 0);
    assert_eq!(
        store.create(&j, None, &Limits::UNLIMITED).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        store.get(&j.id).await.unwrap(),
        Some(j.clone()),
        "a record reads back exactly"
    );
    assert_eq!(store.get(&missing_id()).await.unwrap(), None);
}

async fn conditional_create(store: &dyn JobStore) {
    let j = job(&owner("cc"), None, 0);
    store.create(&j, None, &Limits::UNLIMITED).await.unwrap();
    assert!(
        matches!(
            store.create(&j, None, &Limits::UNLIMITED).await,
            Err(StoreError::Conflict(_))
        ),
        "same id twice"
    );
}

async fn idempotency_claims(store: &dyn JobStore) {
    let o = owner("idem");
    let first = job(&o, Some("key-1"), 0);
    assert_eq!(
        store
            .create(
                &first,
                Some(&claim(&first, "key-1", "h1", 3600)),
                &Limits::UNLIMITED
            )
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    let second = job(&o, Some("key-1"), 1);
    match store
        .create(
            &second,
            Some(&claim(&second, "key-1", "h2", 3600)),
            &Limits::UNLIMITED,
        )
        .await
        .unwrap()
    {
        CreateOutcome::KeyExists(c) => {
            assert_eq!(c.job_id, first.id);
            assert_eq!(c.request_hash, "h1");
        }
        other => panic!("expected the existing claim, got {other:?}"),
    }
    assert_eq!(
        store.get(&second.id).await.unwrap(),
        None,
        "a lost claim writes no job"
    );
    // The same key from another owner is another claim.
    let other = job(&owner("idem2"), Some("key-1"), 0);
    assert_eq!(
        store
            .create(
                &other,
                Some(&claim(&other, "key-1", "h1", 3600)),
                &Limits::UNLIMITED
            )
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    // An expired claim may be replaced.
    let o3 = owner("idem3");
    let old = job(&o3, Some("k"), 0);
    store
        .create(&old, Some(&claim(&old, "k", "h", -10)), &Limits::UNLIMITED)
        .await
        .unwrap();
    let new = job(&o3, Some("k"), 1);
    assert_eq!(
        store
            .create(&new, Some(&claim(&new, "k", "h", 3600)), &Limits::UNLIMITED)
            .await
            .unwrap(),
        CreateOutcome::Created
    );
}

async fn versions_and_races(store: Arc<dyn JobStore>) {
    let j = job(&owner("ver"), None, 0);
    store.create(&j, None, &Limits::UNLIMITED).await.unwrap();
    let mut stale = j.clone();
    stale.version = 5;
    assert!(matches!(
        store.put_if_version(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    // Two writers race; optimistic concurrency makes both land, one after the other.
    let (a, b) = (store.clone(), store.clone());
    let (id_a, id_b) = (j.id.clone(), j.id.clone());
    let ta = tokio::spawn(async move {
        update_job::<std::convert::Infallible, _>(a.as_ref(), &id_a, |job| {
            job.metadata.insert("a".into(), "1".into());
            Ok(())
        })
        .await
        .map(|_| ())
    });
    let tb = tokio::spawn(async move {
        update_job::<std::convert::Infallible, _>(b.as_ref(), &id_b, |job| {
            job.metadata.insert("b".into(), "1".into());
            Ok(())
        })
        .await
        .map(|_| ())
    });
    ta.await.unwrap().unwrap();
    tb.await.unwrap().unwrap();
    let now = store.get(&j.id).await.unwrap().unwrap();
    assert_eq!(now.version, 2);
    assert!(
        now.metadata.contains_key("a") && now.metadata.contains_key("b"),
        "no lost update"
    );
    // The domain refuses backwards moves through the same path.
    let refused = update_job(store.as_ref(), &j.id, |job| {
        job.mark_downloading(Utc::now())
    })
    .await;
    assert!(refused.is_err());
}

async fn listing(store: &dyn JobStore) {
    let o = owner("list");
    let mut ids = Vec::new();
    for i in 0..5 {
        let j = job(&o, None, i * 10);
        store.create(&j, None, &Limits::UNLIMITED).await.unwrap();
        ids.push(j.id);
    }
    // Someone else's job never shows.
    store
        .create(
            &job(&owner("list-other"), None, 100),
            None,
            &Limits::UNLIMITED,
        )
        .await
        .unwrap();
    update_job(store, &ids[1], |j| j.mark_canceled(Utc::now()))
        .await
        .unwrap();
    let first = store.list(&o, None, 2, None).await.unwrap();
    let got: Vec<_> = first.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(got, vec![ids[4].clone(), ids[3].clone()], "newest first");
    let cursor = first.next_cursor.expect("more pages");
    let second = store.list(&o, None, 2, Some(&cursor)).await.unwrap();
    let got: Vec<_> = second.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(got, vec![ids[2].clone(), ids[1].clone()]);
    let third = store
        .list(&o, None, 2, second.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(third.jobs.len(), 1);
    assert_eq!(third.next_cursor, None, "no cursor on the last page");
    let canceled = store
        .list(&o, Some(Status::Canceled), 10, None)
        .await
        .unwrap();
    assert_eq!(canceled.jobs.len(), 1);
    assert_eq!(canceled.jobs[0].id, ids[1]);
    assert!(matches!(
        store.list(&o, None, 2, Some("not-a-cursor")).await,
        Err(StoreError::InvalidCursor)
    ));
    // A cursor is refused for any other owner, and mangled ones never reach the backend.
    let mut mangled = cursor.clone();
    mangled.pop();
    for bad in [
        String::new(),
        "x".repeat(10_000),
        format!("{cursor}{cursor}"),
        mangled,
    ] {
        assert!(
            matches!(
                store.list(&o, None, 2, Some(&bad)).await,
                Err(StoreError::InvalidCursor)
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        store
            .list(&owner("list-other"), None, 2, Some(&cursor))
            .await,
        Err(StoreError::InvalidCursor)
    ));
}

/// A status filter over many non-matching jobs: each call reads a bounded part of the
/// owner's history (so the first page comes back empty, with a cursor), and following
/// the cursors yields every match exactly once, newest first.
async fn bounded_status_listing(store: &dyn JobStore) {
    let o = owner("bounded");
    let limit = 2;
    let per_call = LIST_PAGES_PER_CALL * limit as usize;
    let gap = per_call + 2;
    let mut matching = Vec::new();
    let mut offset = 0;
    for _ in 0..3 {
        let m = job(&o, None, offset);
        offset += 10;
        store.create(&m, None, &Limits::UNLIMITED).await.unwrap();
        update_job(store, &m.id, |j| j.mark_canceled(Utc::now()))
            .await
            .unwrap();
        matching.push(m.id);
        for _ in 0..gap {
            store
                .create(&job(&o, None, offset), None, &Limits::UNLIMITED)
                .await
                .unwrap();
            offset += 10;
        }
    }
    matching.reverse();
    let total = 3 * (gap + 1);
    let first = store
        .list(&o, Some(Status::Canceled), limit, None)
        .await
        .unwrap();
    assert!(
        first.jobs.is_empty(),
        "the newest {gap} jobs do not match and one call reads at most {per_call}"
    );
    let mut cursor = Some(first.next_cursor.expect("a cursor to go on from"));
    let mut seen = Vec::new();
    let mut calls = 1;
    while let Some(c) = cursor {
        let page = store
            .list(&o, Some(Status::Canceled), limit, Some(&c))
            .await
            .unwrap();
        assert!(page.jobs.len() <= limit as usize);
        assert!(page.jobs.iter().all(|j| j.status == Status::Canceled));
        seen.extend(page.jobs.into_iter().map(|j| j.id));
        cursor = page.next_cursor;
        calls += 1;
        assert!(calls <= total, "the cursors go round in circles");
    }
    assert_eq!(seen, matching, "every match once, newest first");
    assert!(
        calls >= total.div_ceil(per_call),
        "{calls} calls read {total} jobs, at most {per_call} each"
    );
}

async fn deletion(store: &dyn JobStore) {
    let o = owner("del");
    let j = job(&o, Some("dk"), 0);
    store
        .create(&j, Some(&claim(&j, "dk", "h", 3600)), &Limits::UNLIMITED)
        .await
        .unwrap();
    store.delete(&j.id).await.unwrap();
    assert_eq!(store.get(&j.id).await.unwrap(), None);
    assert!(store
        .list(&o, None, 10, None)
        .await
        .unwrap()
        .jobs
        .is_empty());
    // The claim stays, marked, until it expires: a replay is not a new job.
    let again = job(&o, Some("dk"), 1);
    match store
        .create(
            &again,
            Some(&claim(&again, "dk", "h", 3600)),
            &Limits::UNLIMITED,
        )
        .await
        .unwrap()
    {
        CreateOutcome::KeyExists(c) => {
            assert_eq!(c.job_id, j.id);
            assert!(c.job_deleted, "the claim says its job was deleted");
        }
        other => panic!("a replay after delete made {other:?}"),
    }
    assert_eq!(store.get(&again.id).await.unwrap(), None);
    store.delete(&missing_id()).await.unwrap();
}

async fn uploads(store: &dyn JobStore) {
    let up = Upload {
        id: new_upload_id(),
        owner: owner("up"),
        content_type: "image/png".into(),
        bytes: 10,
        key: "uploads/x/y".into(),
        created_at: Utc::now(),
        expires_at: Utc::now() + ChronoDuration::hours(1),
    };
    store.put_upload(&up).await.unwrap();
    assert_eq!(store.get_upload(&up.id).await.unwrap(), Some(up));
    assert_eq!(store.get_upload("up_missing").await.unwrap(), None);
}

/// Jobs that have not ended are found (for resuming); ended ones are not.
async fn unfinished(store: &dyn JobStore) {
    let who = owner("unfinished");
    let queued = job(&who, None, 0);
    let running = job(&who, None, 1);
    let ended = job(&who, None, 2);
    for j in [&queued, &running, &ended] {
        store
            .create(j, None, &Limits::UNLIMITED)
            .await
            .expect("created");
    }
    update_job(store, &running.id, |j| {
        j.mark_submitted("video_1", Utc::now())
    })
    .await
    .expect("started");
    update_job(store, &ended.id, |j| j.mark_canceled(Utc::now()))
        .await
        .expect("canceled");
    let found: Vec<JobId> = store
        .unfinished()
        .await
        .expect("listed")
        .into_iter()
        .filter(|j| j.owner == who)
        .map(|j| j.id)
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&queued.id) && found.contains(&running.id));
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

/// WaitForWebhook's write: the token on an existing job with no webhook yet, version
/// bumped so puts from earlier reads fail; the token then rides along with later puts.
async fn webhook_waits(store: &dyn JobStore) {
    let missing = missing_id();
    assert!(
        conflict(store.arm_webhook_wait(&missing, "tok-0").await),
        "arming a missing job"
    );
    assert_eq!(
        store.get(&missing).await.unwrap(),
        None,
        "arming a missing job creates nothing"
    );

    let j = job(&owner("arm"), None, 0);
    store.create(&j, None, &Limits::UNLIMITED).await.unwrap();
    let before = store.get(&j.id).await.unwrap().unwrap();
    assert_eq!(before.task_token, None);
    store.arm_webhook_wait(&j.id, "tok-1").await.unwrap();
    let armed = store.get(&j.id).await.unwrap().unwrap();
    assert_eq!(
        armed.version,
        before.version + 1,
        "arming bumps the version"
    );
    assert_eq!(armed.task_token.as_deref(), Some("tok-1"));
    assert_eq!(
        Job {
            task_token: None,
            version: before.version,
            ..armed.clone()
        },
        before,
        "and changes nothing else"
    );

    // A step that read the job before the wait was armed must not write the token away.
    let mut stale = before.clone();
    stale.metadata.insert("stale".into(), "1".into());
    stale.version += 1;
    assert!(
        conflict(store.put_if_version(&stale).await),
        "a put from a read before arming"
    );
    assert_eq!(store.get(&j.id).await.unwrap().unwrap(), armed);

    // One from a read after arming keeps it: it is a field of the job.
    let updated = update_job::<std::convert::Infallible, _>(store, &j.id, |job| {
        job.metadata.insert("after".into(), "1".into());
        Ok(())
    })
    .await
    .unwrap();
    let now = store.get(&j.id).await.unwrap().unwrap();
    assert_eq!(now, updated);
    assert_eq!(
        now.task_token.as_deref(),
        Some("tok-1"),
        "the token survives"
    );
    assert_eq!(now.version, armed.version + 1);

    // A later attempt (a new token after a timeout) replaces it.
    store.arm_webhook_wait(&j.id, "tok-2").await.unwrap();
    let rearmed = store.get(&j.id).await.unwrap().unwrap();
    assert_eq!(rearmed.task_token.as_deref(), Some("tok-2"));
    assert_eq!(rearmed.version, now.version + 1);

    // Once a webhook came, no wait is armed and nothing changes.
    let pushed = update_job::<std::convert::Infallible, _>(store, &j.id, |job| {
        job.push_received_at = Some(Utc::now());
        Ok(())
    })
    .await
    .unwrap();
    assert!(
        conflict(store.arm_webhook_wait(&j.id, "tok-3").await),
        "arming after the webhook came"
    );
    assert_eq!(store.get(&j.id).await.unwrap().unwrap(), pushed);
}

/// Which job a provider's video is: round trip, per provider, never another job's.
async fn provider_refs(store: &dyn JobStore) {
    let (a, b) = (JobId::new(), JobId::new());
    let video = format!("video_{}", new_job_id());
    assert_eq!(
        store
            .find_by_provider(ProviderId::OpenAi, &video)
            .await
            .unwrap(),
        None
    );
    store
        .put_provider_ref(ProviderId::OpenAi, &video, &a)
        .await
        .unwrap();
    store
        .put_provider_ref(ProviderId::OpenAi, &video, &a)
        .await
        .expect("recording the same ref again is fine");
    assert_eq!(
        store
            .find_by_provider(ProviderId::OpenAi, &video)
            .await
            .unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store
            .find_by_provider(ProviderId::Runway, &video)
            .await
            .unwrap(),
        None,
        "refs are per provider"
    );
    store
        .put_provider_ref(ProviderId::Runway, &video, &b)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_by_provider(ProviderId::Runway, &video)
            .await
            .unwrap(),
        Some(b.clone())
    );
    assert!(
        conflict(store.put_provider_ref(ProviderId::OpenAi, &video, &b).await),
        "a live ref is never moved to another job"
    );
    assert_eq!(
        store
            .find_by_provider(ProviderId::OpenAi, &video)
            .await
            .unwrap(),
        Some(a.clone())
    );

    // A fal-style id, a path with slashes.
    let path = format!("fal-ai/veo3.1/requests/{}", new_job_id());
    store
        .put_provider_ref(ProviderId::OpenAi, &path, &b)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_by_provider(ProviderId::OpenAi, &path)
            .await
            .unwrap(),
        Some(b.clone())
    );

    // Ids no ref can have: refused when written, found nowhere when read.
    let long = "v".repeat(vidgen_shared::store::MAX_PROVIDER_VIDEO_ID_BYTES + 1);
    for bad in ["", long.as_str()] {
        match store.put_provider_ref(ProviderId::OpenAi, bad, &a).await {
            Err(StoreError::Backend(m)) => assert!(m.contains("provider video id"), "{m}"),
            other => panic!("a ref for {} bytes of id: {other:?}", bad.len()),
        }
        assert_eq!(
            store
                .find_by_provider(ProviderId::OpenAi, bad)
                .await
                .unwrap(),
            None
        );
    }
}
