//! The embedded (redb) job store against the JobStore contract, plus persistence.

mod common {
    pub mod job_store_contract;
}

use common::job_store_contract::{job, run_all};
use std::sync::Arc;
use vidgen_shared::domain::Limits;
use vidgen_shared::store::embedded::EmbeddedJobStore;
use vidgen_shared::store::JobStore;

#[tokio::test]
async fn honours_the_job_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedJobStore::open(&dir.path().join("jobs.redb")).unwrap();
    run_all(Arc::new(store), true).await;
}

#[tokio::test]
async fn jobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.redb");
    let j = job("alice", None, 0);
    {
        let store = EmbeddedJobStore::open(&path).unwrap();
        store.create(&j, None, &Limits::UNLIMITED).await.unwrap();
    }
    let store = EmbeddedJobStore::open(&path).unwrap();
    assert_eq!(store.get(&j.id).await.unwrap(), Some(j.clone()));
    let unfinished = store.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].id, j.id);
}

/// Cursors that decode but were not made by the store: refused as invalid (a 400),
/// never used as a scan bound.
#[tokio::test]
async fn forged_cursors_are_refused() {
    use vidgen_shared::store::StoreError;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedJobStore::open(&dir.path().join("jobs.redb")).unwrap();
    for i in 0..3 {
        store
            .create(&job("carol", None, i * 10), None, &Limits::UNLIMITED)
            .await
            .unwrap();
    }
    let carol = vidgen_shared::domain::ids::Owner::new("carol");
    let page = store.list(&carol, None, 1, None).await.unwrap();
    let real = page.next_cursor.unwrap();
    assert!(store.list(&carol, None, 1, Some(&real)).await.is_ok());
    let key = String::from_utf8(hex::decode(&real).unwrap()).unwrap();
    let prefix = format!("{}/", hex::encode("carol"));
    for forged in [
        prefix.clone(),
        format!("{prefix}~"),
        format!("{prefix}zzzz/vid_x"),
        format!("{key}/extra"),
        key.replace("vid_", "up_"),
        format!("{}/{}", hex::encode("dave"), &key[prefix.len()..]),
    ] {
        assert!(
            matches!(
                store
                    .list(&carol, None, 1, Some(&hex::encode(&forged)))
                    .await,
                Err(StoreError::InvalidCursor)
            ),
            "{forged:?}"
        );
    }
}
