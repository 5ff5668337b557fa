//! Generation metrics: `GET /metrics` (Prometheus text, `vidgen serve` only) shows
//! per-model render-time histograms and job counts by outcome after a few jobs, and the
//! job object shows `timings`.
//!
//! The metrics recorder is global to the test process, and the scenario runs once per
//! store: the runs take turns ([`TURN`]) and compare counts before and after, on models
//! no other scenario uses (`sora-2-pro`, fal's Kling).

use crate::common::*;
use std::collections::BTreeMap;

on_both_stores!(metrics_show_render_time_histograms_per_model_and_jobs_show_timings);

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PRO: &str = "sora-2-pro";
const KLING: &str = "fal/fal-ai/kling-video/v2.1/master/text-to-video";

/// `GET /metrics` without a token: its status, content type and samples by series.
async fn scrape(h: &Harness) -> (StatusCode, String, BTreeMap<String, f64>) {
    let response = reqwest::get(format!("{}/metrics", h.stack.base_url))
        .await
        .expect("GET /metrics");
    let status = response.status();
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    let text = response.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("`series value`");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect();
    (status, content_type, samples)
}

/// How much `series` grew between two scrapes (absent = 0).
fn grew(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

fn stage(job: &Value, name: &str) -> f64 {
    job["timings"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("timings.{name} is not a number: {job}"))
}

async fn metrics_show_render_time_histograms_per_model_and_jobs_show_timings(store: Store) {
    let _turn = TURN.lock().await;
    let h = Harness::start(store).await;
    let (status, content_type, before) = scrape(&h).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );

    let body = |prompt: &str, model: &str| json!({"prompt": prompt, "model": model});
    let mut ids = Vec::new();
    for (prompt, model) in [
        ("a fox", PRO),
        ("a cat", PRO),
        ("a crane", KLING),
        ("bad later [sim:moderation_end]", PRO),
    ] {
        let job = create(&h, ALICE, &body(prompt, model)).await;
        assert!(job["timings"].is_null(), "queued: no timings yet: {job}");
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    // One that never finishes, canceled once the provider has it.
    let forever = create(&h, ALICE, &body("forever [sim:never_finish]", PRO)).await;
    let forever_id = forever["id"].as_str().unwrap();
    let mut ended = Vec::new();
    for id in &ids {
        ended.push(h.wait_for_end(id, ALICE).await);
    }
    for _ in 0..200 {
        let (_, _, job) = h
            .call(
                Method::GET,
                &format!("/v1/videos/{forever_id}"),
                Some(ALICE),
                None,
            )
            .await;
        if job["status"] == "in_progress" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _, canceled) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{forever_id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (StatusCode::OK, Some("canceled"))
    );

    // Completed jobs: every stage known, none negative, together within the job's life.
    for done in &ended[..3] {
        assert_eq!(done["status"], "completed", "{done}");
        let (queue, render, download) = (
            stage(done, "queue_seconds"),
            stage(done, "render_seconds"),
            stage(done, "download_seconds"),
        );
        assert!(queue >= 0.0 && render > 0.0 && download >= 0.0, "{done}");
        let life = chrono::DateTime::parse_from_rfc3339(done["completed_at"].as_str().unwrap())
            .unwrap()
            - chrono::DateTime::parse_from_rfc3339(done["created_at"].as_str().unwrap()).unwrap();
        let total = queue + render + download;
        assert!(
            (total - life.num_milliseconds() as f64 / 1000.0).abs() < 0.005,
            "the stages add up to the job's life (each to the millisecond): {done}"
        );
    }
    // The failed render keeps its queue time; the render never finished.
    let failed = &ended[3];
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(stage(failed, "queue_seconds") >= 0.0);
    assert!(failed["timings"]["render_seconds"].is_null(), "{failed}");
    assert!(failed["timings"]["download_seconds"].is_null(), "{failed}");
    assert!(
        canceled["timings"]["render_seconds"].is_null(),
        "{canceled}"
    );
    assert!(
        canceled["timings"]["queue_seconds"].is_number(),
        "{canceled}"
    );

    let (_, _, after) = scrape(&h).await;
    let render =
        |model: &str, part: &str| format!("vidgen_render_seconds_{part}{{model=\"{model}\"}}");
    assert_eq!(
        grew(&before, &after, &render(PRO, "count")),
        2.0,
        "{after:#?}"
    );
    assert_eq!(
        grew(&before, &after, &render(KLING, "count")),
        1.0,
        "{after:#?}"
    );
    // The histogram's sum is the completed jobs' render_seconds.
    let pro_renders: f64 = ended[..2].iter().map(|j| stage(j, "render_seconds")).sum();
    assert!((grew(&before, &after, &render(PRO, "sum")) - pro_renders).abs() < 1e-6);
    // Buckets from 5 s to 30 min; the simulator renders in well under 5 s.
    let bucket = |le: &str| format!("vidgen_render_seconds_bucket{{model=\"{PRO}\",le=\"{le}\"}}");
    assert_eq!(grew(&before, &after, &bucket("5")), 2.0, "{after:#?}");
    assert!(after.contains_key(&bucket("1800")), "{after:#?}");
    assert!(after.contains_key(&bucket("+Inf")), "{after:#?}");
    let ended_series = |model: &str, status: &str, code: &str| {
        format!("vidgen_jobs_ended_total{{model=\"{model}\",status=\"{status}\",error_code=\"{code}\"}}")
    };
    for (model, status, code, n) in [
        (PRO, "completed", "none", 2.0),
        (KLING, "completed", "none", 1.0),
        (PRO, "failed", "moderation_blocked", 1.0),
        (PRO, "canceled", "none", 1.0),
    ] {
        let series = ended_series(model, status, code);
        assert_eq!(grew(&before, &after, &series), n, "{series}: {after:#?}");
    }
    let bytes = format!("vidgen_download_bytes_total{{model=\"{KLING}\"}}");
    let stored = ended[2]["assets"]["video"]["bytes"].as_f64().unwrap();
    assert_eq!(grew(&before, &after, &bytes), stored, "{after:#?}");
}
