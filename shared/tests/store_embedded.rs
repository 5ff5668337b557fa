//! The embedded (redb) job store against the JobStore contract, plus persistence.

mod common {
    pub mod job_store_contract;
}

use common::job_store_contract::{job, run_all};
use std::sync::Arc;
use vidgen_shared::store::embedded::EmbeddedJobStore;
use vidgen_shared::store::JobStore;

#[tokio::test]
async fn honours_the_job_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedJobStore::open(&dir.path().join("jobs.redb")).unwrap();
    run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn jobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.redb");
    let j = job("alice", None, 0);
    {
        let store = EmbeddedJobStore::open(&path).unwrap();
        store.create(&j, None).await.unwrap();
    }
    let store = EmbeddedJobStore::open(&path).unwrap();
    assert_eq!(store.get(&j.id).await.unwrap(), Some(j.clone()));
    let unfinished = store.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].id, j.id);
}
