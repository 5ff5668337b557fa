//! The chaos soak (`benches/soak.sh`): JOBS jobs through `vidgen serve` while it is
//! killed, with faults injected into a third or more of them, then proof that nothing
//! was lost, doubled or mislabelled.
//!
//! Usage: `soak JOBS VIDGEN_BIN SORA_SIM_BIN MOTO_SCRIPT` (the script builds the two
//! binaries and passes `scripts/moto-serialized.py`).
//!
//! - The three provider simulators run as their own processes (`sora-sim --provider
//!   sora|runway|fal`), so they outlive every kill, and `vidgen serve` talks to them as to
//!   the real providers (keys, base URLs, a public URL for fal and Sora webhooks).
//! - Phase 1 (80% of the jobs) runs on the embedded store; `vidgen serve` is SIGKILLed
//!   three times (at 25%, 50% and 75% of the phase's submits, plus a random delay) and
//!   restarted on the same data dir and port. Phase 2 (the rest) runs with
//!   `VIDGEN_BACKEND=aws` against moto (DynamoDB) and s3s-fs (S3); half-way both
//!   stand-ins are killed and started again, and `vidgen serve` is killed once more.
//!   moto keeps its state in memory: it runs with its request recorder on, and the fresh
//!   moto is given the recording (replayed by this driver, request by request, before
//!   any other request reaches it: `vidgen serve` reaches moto through a small TCP relay
//!   here that refuses connections until the replay is done). s3s-fs keeps its files on
//!   disk.
//! - Every job has a unique tag in its prompt, from which the expected end is known.
//!   Creates carry `Idempotency-Key` (the tag) and are retried through connection
//!   errors, 5xx and 429 until answered.
//! - At the end: every accepted job exists and is terminal; its status and error code
//!   are the ones its fault calls for; a second create with each key returns the same
//!   job; the owner's list holds exactly the accepted jobs; every simulator made at most
//!   one render per tag (read from each simulator's test-only `GET /_sim/renders`); and
//!   every completed job's `video` bytes, downloaded through its content link, have the
//!   SHA-256 the simulator's render serves. Exit 1 on any loss, mismatch or duplicate.

use anyhow::{bail, Context};
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wall-clock budget of every job (`VIDGEN_BUDGET_SORA2_SECS`): never-finishing renders
/// end `timed_out` this long after submit.
const BUDGET_SECS: u64 = 40;
/// `vidgen serve --time-scale`: every Wait and Retry of the state machine at a fifth.
const TIME_SCALE: &str = "0.2";
/// Jobs not yet ended, at most (the submitter waits below it).
const WINDOW: usize = 120;
/// After its last submit, a phase's jobs must all end within this.
const SETTLE: Duration = Duration::from_secs(300);
const KEY: &str = "soak-provider-key";
const OPENAI_WEBHOOK_SECRET: &str = "whsec_c29hay13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Provider {
    Sora,
    Runway,
    Fal,
}

impl Provider {
    fn model(self) -> &'static str {
        match self {
            Provider::Sora => "sora-2",
            Provider::Runway => "runway/gen4.5",
            Provider::Fal => "fal/fal-ai/wan/v2.2-a14b/text-to-video",
        }
    }
    fn seconds(self) -> u32 {
        match self {
            Provider::Sora => 4,
            Provider::Runway => 5,
            Provider::Fal => 5,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Provider::Sora => "sora",
            Provider::Runway => "runway",
            Provider::Fal => "fal",
        }
    }
}

/// Every fault the simulators have, as a per-job marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fault {
    None,
    RateLimit,
    ServerError,
    SlowDownload,
    ResetDownload,
    ModerationCreate,
    ModerationInput,
    ModerationEnd,
    Fail,
    NeverFinish,
    Throttled,
    WebhookWithhold,
    WebhookDuplicate,
    WebhookForge,
    WebhookStale,
    WebhookDelay,
}

const FAULTS: [Fault; 15] = [
    Fault::RateLimit,
    Fault::ServerError,
    Fault::SlowDownload,
    Fault::ResetDownload,
    Fault::ModerationCreate,
    Fault::ModerationInput,
    Fault::ModerationEnd,
    Fault::Fail,
    Fault::NeverFinish,
    Fault::Throttled,
    Fault::WebhookWithhold,
    Fault::WebhookDuplicate,
    Fault::WebhookForge,
    Fault::WebhookStale,
    Fault::WebhookDelay,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::RateLimit => "rate_limit=2 (429)",
            Fault::ServerError => "server_error=2 (5xx)",
            Fault::SlowDownload => "slow_download",
            Fault::ResetDownload => "reset_download",
            Fault::ModerationCreate => "moderation_create",
            Fault::ModerationInput => "moderation_input",
            Fault::ModerationEnd => "moderation_end",
            Fault::Fail => "fail",
            Fault::NeverFinish => "never_finish",
            Fault::Throttled => "throttled_ms (THROTTLED)",
            Fault::WebhookWithhold => "webhook_withhold",
            Fault::WebhookDuplicate => "webhook_duplicate",
            Fault::WebhookForge => "webhook_forge",
            Fault::WebhookStale => "webhook_stale",
            Fault::WebhookDelay => "webhook_delay_ms",
        }
    }

    fn marker(self) -> &'static str {
        match self {
            Fault::None => "",
            Fault::RateLimit => "[sim:rate_limit=2]",
            Fault::ServerError => "[sim:server_error=2]",
            Fault::SlowDownload => "[sim:slow_download=400000]",
            Fault::ResetDownload => "[sim:reset_download=1000]",
            Fault::ModerationCreate => "[sim:moderation_create]",
            Fault::ModerationInput => "[sim:moderation_input]",
            Fault::ModerationEnd => "[sim:moderation_end]",
            Fault::Fail => "[sim:fail]",
            Fault::NeverFinish => "[sim:never_finish]",
            Fault::Throttled => "[sim:throttled_ms=1500]",
            Fault::WebhookWithhold => "[sim:webhook_withhold]",
            Fault::WebhookDuplicate => "[sim:webhook_duplicate]",
            Fault::WebhookForge => "[sim:webhook_forge]",
            Fault::WebhookStale => "[sim:webhook_stale]",
            Fault::WebhookDelay => "[sim:webhook_delay_ms=1500]",
        }
    }

    /// Whether the fault exists for this provider: Runway alone has `THROTTLED` and
    /// input moderation as its own marker, and it pushes no webhooks.
    fn applies_to(self, p: Provider) -> bool {
        match self {
            Fault::ModerationInput | Fault::Throttled => p == Provider::Runway,
            Fault::WebhookWithhold
            | Fault::WebhookDuplicate
            | Fault::WebhookForge
            | Fault::WebhookStale
            | Fault::WebhookDelay => p != Provider::Runway,
            _ => true,
        }
    }

    /// The job's expected end on `provider`: status and error code.
    fn expected(self, provider: Provider) -> (&'static str, Option<&'static str>) {
        match self {
            // fal's 500 at submit may have queued the request, and fal cannot list its
            // queue: vidgen does not ask twice (it would risk paying twice) and says so.
            Fault::ServerError if provider == Provider::Fal => ("failed", Some("submit_uncertain")),
            Fault::ModerationCreate | Fault::ModerationInput | Fault::ModerationEnd => {
                ("failed", Some("moderation_blocked"))
            }
            Fault::Fail => ("failed", Some("video_generation_failed")),
            // Every try of the download is cut: the retries run out.
            Fault::ResetDownload => ("failed", Some("provider_unavailable")),
            Fault::NeverFinish => ("timed_out", Some("timed_out")),
            _ => ("completed", None),
        }
    }
}

#[derive(Debug, Clone)]
struct Planned {
    tag: String,
    provider: Provider,
    fault: Fault,
    body: Value,
    phase: usize,
}

#[derive(Debug, Clone, Default)]
struct Seen {
    id: Option<String>,
    status: String,
    code: Option<String>,
    /// The job's `error.message`, when it failed.
    message: Option<String>,
    /// A 404 for an accepted job.
    lost: bool,
}

/// Children, killed when dropped (on every exit path).
#[derive(Default)]
struct Procs {
    sims: Vec<Child>,
    vidgen: Option<Child>,
    moto: Option<Child>,
    s3s: Option<Child>,
}

impl Drop for Procs {
    fn drop(&mut self) {
        let all = self
            .sims
            .iter_mut()
            .chain(self.vidgen.as_mut())
            .chain(self.moto.as_mut())
            .chain(self.s3s.as_mut());
        for child in all {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn sigkill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        // std's kill is SIGKILL on Unix.
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<(Stdio, Stdio)> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))?;
    Ok((Stdio::from(f.try_clone()?), Stdio::from(f)))
}

async fn wait_http(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not come up")
}

struct Env {
    dir: PathBuf,
    vidgen_bin: PathBuf,
    vidgen_port: u16,
    sora: String,
    runway: String,
    fal: String,
    /// Phase 2: the AWS stand-ins' settings.
    aws: Option<Vec<(String, String)>>,
    data_dir: PathBuf,
}

impl Env {
    fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.vidgen_port)
    }

    async fn start_vidgen(&self, procs: &mut Procs) -> anyhow::Result<()> {
        let (out, err) = log_file(&self.dir, "vidgen")?;
        let mut cmd = Command::new(&self.vidgen_bin);
        cmd.args(["serve", "--addr"])
            .arg(format!("127.0.0.1:{}", self.vidgen_port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--time-scale", TIME_SCALE])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("OPENAI_API_KEY", KEY)
            .env("OPENAI_BASE_URL", format!("{}/v1", self.sora))
            .env("OPENAI_WEBHOOK_SECRET", OPENAI_WEBHOOK_SECRET)
            .env("RUNWAYML_API_SECRET", KEY)
            .env("RUNWAYML_BASE_URL", &self.runway)
            .env("FAL_KEY", KEY)
            .env("FAL_QUEUE_URL", &self.fal)
            .env(
                "FAL_JWKS_URL",
                format!("{}/.well-known/jwks.json", self.fal),
            )
            .env("VIDGEN_PUBLIC_URL", self.api())
            .env("VIDGEN_MAX_ACTIVE_JOBS", "100000")
            .env("VIDGEN_DAILY_BUDGET_USD", "1000000")
            .env("VIDGEN_BUDGET_SORA2_SECS", BUDGET_SECS.to_string())
            .env("VIDGEN_BUDGET_SORA2_PRO_SECS", BUDGET_SECS.to_string())
            .stdout(out)
            .stderr(err);
        for (k, v) in self.aws.iter().flatten() {
            cmd.env(k, v);
        }
        procs.vidgen = Some(cmd.spawn().context("starting vidgen serve")?);
        wait_http(&format!("{}/v1/models", self.api())).await
    }
}

/// What the driver saw, shared by its tasks.
#[derive(Default)]
struct Book {
    /// By tag.
    seen: Mutex<BTreeMap<String, Seen>>,
    /// Create answers other than 200/202 that ended a tag's submit (a refusal).
    refused: Mutex<Vec<(String, String)>>,
    create_retries: AtomicUsize,
    submitted: AtomicUsize,
}

impl Book {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn unfinished(&self) -> usize {
        self.lock()
            .values()
            .filter(|s| s.id.is_some() && !terminal(&s.status) && !s.lost)
            .count()
    }
    fn status_counts(&self, phase_tags: &[String]) -> BTreeMap<String, usize> {
        let seen = self.lock();
        let mut out = BTreeMap::new();
        for tag in phase_tags {
            if let Some(s) = seen.get(tag) {
                *out.entry(s.status.clone()).or_default() += 1;
            }
        }
        out
    }
}

fn terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "canceled" | "timed_out")
}

/// Create with the tag as Idempotency-Key, retried until the server answers.
async fn create(http: &reqwest::Client, api: &str, job: &Planned, book: &Book) -> Option<String> {
    let mut tries = 0u32;
    loop {
        tries += 1;
        if tries > 1 {
            book.create_retries.fetch_add(1, Ordering::Relaxed);
        }
        let sent = http
            .post(format!("{api}/v1/videos"))
            .header("Idempotency-Key", &job.tag)
            .json(&job.body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().as_u16() == 202 || r.status().as_u16() == 200 => {
                // An unreadable body means the connection died mid-answer: ask again.
                if let Ok(v) = r.json::<Value>().await {
                    return v["id"].as_str().map(str::to_string);
                }
            }
            Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {}
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                book.refused
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((job.tag.clone(), format!("{status}: {body}")));
                return None;
            }
            Err(_) => {} // connection refused or reset: the server is being restarted
        }
        if tries > 2000 {
            book.refused
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((job.tag.clone(), "no answer after 2000 tries".into()));
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Read every unfinished job of the phase once; a 404 marks it lost.
async fn sweep(http: &reqwest::Client, api: &str, book: &Book, tags: &[String]) {
    let ids: Vec<(String, String)> = {
        let seen = book.lock();
        tags.iter()
            .filter_map(|t| {
                let s = seen.get(t)?;
                (!terminal(&s.status) && !s.lost)
                    .then(|| Some((t.clone(), s.id.clone()?)))
                    .flatten()
            })
            .collect()
    };
    let reads = ids.into_iter().map(|(tag, id)| async move {
        let r = http.get(format!("{api}/v1/videos/{id}")).send().await;
        let answer = match r {
            Ok(r) if r.status().as_u16() == 404 => Some(None),
            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok().map(Some),
            _ => None, // down: next sweep
        };
        (tag, answer)
    });
    let answers = futures::future::join_all(reads).await;
    let mut seen = book.lock();
    for (tag, answer) in answers {
        let Some(s) = seen.get_mut(&tag) else {
            continue;
        };
        match answer {
            Some(Some(job)) => {
                s.status = job["status"].as_str().unwrap_or("?").to_string();
                s.code = job["error"]["code"].as_str().map(str::to_string);
                s.message = job["error"]["message"].as_str().map(str::to_string);
            }
            Some(None) => s.lost = true,
            None => {}
        }
    }
}

/// Whether a recorded request can have changed moto's state. Reads (most of the
/// recording: every job read is a GetItem) are not replayed, which keeps the outage
/// short: about 70% of the requests, and moto answers one at a time.
fn changes_state(entry: &Value) -> bool {
    const READS: [&str; 4] = [".GetItem", ".BatchGetItem", ".Query", ".Scan"];
    if entry["method"].as_str() == Some("GET") {
        return false;
    }
    let target = entry["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default();
    !(READS.iter().any(|r| target.ends_with(r))
        || target.contains(".Describe")
        || target.contains(".List"))
}

/// moto's recording (its writes), replayed into a fresh moto before anything else
/// reaches it.
async fn replay_recording(recording: &Path, moto: &str) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(recording).context("reading moto's recording")?;
    let http = reqwest::Client::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).context("a recorded request")?;
        if !changes_state(&entry) {
            continue;
        }
        let url = url::Url::parse(entry["url"].as_str().unwrap_or_default())?;
        let target = format!(
            "{moto}{}{}",
            url.path(),
            url.query().map(|q| format!("?{q}")).unwrap_or_default()
        );
        let body = match (entry["body"].as_str(), entry["body_encoded"].as_bool()) {
            (Some(b), Some(true)) => base64::engine::general_purpose::STANDARD.decode(b)?,
            (Some(b), _) => b.as_bytes().to_vec(),
            (None, _) => Vec::new(),
        };
        let method =
            reqwest::Method::from_bytes(entry["method"].as_str().unwrap_or("GET").as_bytes())?;
        let mut req = http.request(method, target).body(body);
        for (k, v) in entry["headers"].as_object().into_iter().flatten() {
            let skip = ["host", "content-length", "transfer-encoding", "connection"];
            if skip.contains(&k.to_ascii_lowercase().as_str()) {
                continue;
            }
            if let Some(v) = v.as_str() {
                req = req.header(k, v);
            }
        }
        req.send().await.context("replaying a request into moto")?;
        n += 1;
    }
    Ok(n)
}

/// A TCP relay to moto's current port; port 0 refuses (closes) every connection.
async fn relay(listener: tokio::net::TcpListener, target: Arc<AtomicU16>) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let port = target.load(Ordering::SeqCst);
        if port == 0 {
            drop(inbound);
            continue;
        }
        tokio::spawn(async move {
            if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
            }
        });
    }
}

struct Aws {
    moto_port: u16,
    s3s_port: u16,
    relay_target: Arc<AtomicU16>,
    recording: PathBuf,
    s3s_dir: PathBuf,
    s3s_secret: String,
    moto_script: PathBuf,
}

impl Aws {
    fn start_moto(&self, dir: &Path, procs: &mut Procs, record: bool) -> anyhow::Result<()> {
        let (out, err) = log_file(dir, "moto")?;
        let mut cmd = Command::new("python3");
        cmd.arg(&self.moto_script)
            .args(["-H", "127.0.0.1", "-p"])
            .arg(self.moto_port.to_string())
            .env("MOTO_RECORDER_FILEPATH", &self.recording)
            .stdout(out)
            .stderr(err);
        if record {
            cmd.env("MOTO_ENABLE_RECORDING", "True");
        }
        procs.moto = Some(
            cmd.spawn()
                .context("starting moto (pip install moto[server])")?,
        );
        Ok(())
    }

    fn start_s3s(&self, dir: &Path, procs: &mut Procs) -> anyhow::Result<()> {
        let (out, err) = log_file(dir, "s3s")?;
        procs.s3s = Some(
            Command::new("s3s-fs")
                .args(["--host", "127.0.0.1", "--port"])
                .arg(self.s3s_port.to_string())
                .args(["--access-key", "soak-access", "--secret-key"])
                .arg(&self.s3s_secret)
                .arg(&self.s3s_dir)
                .stdout(out)
                .stderr(err)
                .spawn()
                .context("starting s3s-fs (cargo install s3s-fs)")?,
        );
        Ok(())
    }
}

struct Phase {
    jobs: Vec<Planned>,
    /// Kill `vidgen serve` when this many of the phase's jobs were submitted.
    kills_at: Vec<usize>,
    /// Restart the AWS stand-ins at this many submits.
    aws_restart_at: Option<usize>,
}

#[derive(Default)]
struct Events {
    lines: Vec<String>,
    /// Jobs not yet past submit when `vidgen serve` was killed.
    queued_at_kill: std::collections::HashSet<String>,
    /// Jobs accepted and not yet ended when the AWS stand-ins were killed.
    running_at_outage: std::collections::HashSet<String>,
    vidgen_kills: usize,
    aws_restarts: usize,
}

#[allow(clippy::too_many_arguments)]
async fn run_phase(
    env: &Env,
    procs: &mut Procs,
    aws: Option<&Aws>,
    phase: Phase,
    book: Arc<Book>,
    events: &mut Events,
    started: Instant,
) -> anyhow::Result<()> {
    let api = env.api();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let tags: Vec<String> = phase.jobs.iter().map(|j| j.tag.clone()).collect();
    let submitted = Arc::new(AtomicUsize::new(0));
    let submitter = {
        let (http, api, book, submitted) =
            (http.clone(), api.clone(), book.clone(), submitted.clone());
        let jobs = phase.jobs.clone();
        tokio::spawn(async move {
            let mut inflight = futures::stream::FuturesUnordered::new();
            for job in jobs {
                while book.unfinished() + inflight.len() >= WINDOW {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let (http, api, book, submitted) =
                    (http.clone(), api.clone(), book.clone(), submitted.clone());
                inflight.push(tokio::spawn(async move {
                    // Seen (with no status yet) before it is sent, so a kill while the
                    // create is in the air counts it as caught in its submit.
                    book.lock().entry(job.tag.clone()).or_default();
                    let id = create(&http, &api, &job, &book).await;
                    let mut seen = book.lock();
                    let s = seen.entry(job.tag.clone()).or_default();
                    s.status = if id.is_some() { "queued" } else { "refused" }.into();
                    s.id = id;
                    drop(seen);
                    book.submitted.fetch_add(1, Ordering::Relaxed);
                    submitted.fetch_add(1, Ordering::Relaxed);
                }));
                // Keep a few creates in the air at once, as many clients would.
                while inflight.len() >= 8 {
                    use futures::StreamExt;
                    let _ = inflight.next().await;
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            use futures::StreamExt;
            while inflight.next().await.is_some() {}
        })
    };
    let mut kills = phase.kills_at.clone();
    let mut aws_restart = phase.aws_restart_at;
    let mut last_submit: Option<Instant> = None;
    loop {
        sweep(&http, &api, &book, &tags).await;
        let n = submitted.load(Ordering::Relaxed);
        if kills.first().is_some_and(|&at| n >= at) {
            kills.remove(0);
            let pause = rand::rng().random_range(0..2000);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            sweep(&http, &api, &book, &tags).await;
            let counts = book.status_counts(&tags);
            // Every job a create answered but no read has seen past `queued` yet.
            events.queued_at_kill.extend(
                book.lock()
                    .iter()
                    .filter(|(_, s)| s.status == "queued" || s.status.is_empty())
                    .map(|(t, _)| t.clone()),
            );
            sigkill(&mut procs.vidgen);
            events.vidgen_kills += 1;
            let t = started.elapsed().as_secs_f64();
            let down = Instant::now();
            env.start_vidgen(procs).await?;
            events.lines.push(format!(
                "t={t:.1}s SIGKILL vidgen serve #{} after {n} submits of this phase; jobs then {counts:?}; back after {:.2}s",
                events.vidgen_kills,
                down.elapsed().as_secs_f64()
            ));
        }
        if let (Some(at), Some(aws)) = (aws_restart, aws) {
            if n >= at {
                aws_restart = None;
                let counts = book.status_counts(&tags);
                events.running_at_outage.extend(
                    book.lock()
                        .iter()
                        .filter(|(t, s)| tags.contains(t) && s.id.is_some() && !terminal(&s.status))
                        .map(|(t, _)| t.clone()),
                );
                let t = started.elapsed().as_secs_f64();
                aws.relay_target.store(0, Ordering::SeqCst);
                sigkill(&mut procs.moto);
                sigkill(&mut procs.s3s);
                let down = Instant::now();
                tokio::time::sleep(Duration::from_secs(2)).await;
                aws.start_s3s(&env.dir, procs)?;
                aws.start_moto(&env.dir, procs, false)?;
                let moto = format!("http://127.0.0.1:{}", aws.moto_port);
                wait_http(&format!("{moto}/moto-api/")).await?;
                wait_http(&format!("http://127.0.0.1:{}/", aws.s3s_port)).await?;
                let replayed = replay_recording(&aws.recording, &moto).await?;
                aws.relay_target.store(aws.moto_port, Ordering::SeqCst);
                events.aws_restarts += 1;
                events.lines.push(format!(
                    "t={t:.1}s killed and restarted moto + s3s-fs after {n} submits of this phase; jobs then {counts:?}; moto given {replayed} recorded requests; down {:.2}s",
                    down.elapsed().as_secs_f64()
                ));
            }
        }
        if submitter.is_finished() && last_submit.is_none() {
            last_submit = Some(Instant::now());
        }
        if let Some(at) = last_submit {
            let open = {
                let seen = book.lock();
                tags.iter()
                    .filter(|t| {
                        seen.get(*t)
                            .is_some_and(|s| s.id.is_some() && !terminal(&s.status) && !s.lost)
                    })
                    .count()
            };
            if open == 0 || at.elapsed() > SETTLE {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    submitter.await?;
    Ok(())
}

/// Per tag: (job id, completed job's video SHA-256) after the end checks of one phase.
struct Verified {
    digests: HashMap<String, String>,
    idempotency_mismatches: Vec<String>,
    listed: usize,
    listed_unknown: Vec<String>,
}

async fn verify_phase(env: &Env, jobs: &[Planned], book: &Book) -> anyhow::Result<Verified> {
    let api = env.api();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut digests = HashMap::new();
    let mut idempotency_mismatches = Vec::new();
    for job in jobs {
        let Some(id) = book.lock().get(&job.tag).and_then(|s| s.id.clone()) else {
            continue;
        };
        // The same create again: the same job, nothing new.
        let again = http
            .post(format!("{api}/v1/videos"))
            .header("Idempotency-Key", &job.tag)
            .json(&job.body)
            .send()
            .await?;
        let code = again.status().as_u16();
        let again: Value = again.json().await.unwrap_or(Value::Null);
        if code != 200 || again["id"].as_str() != Some(id.as_str()) {
            idempotency_mismatches.push(format!("{} {id}: {code} {}", job.tag, again["id"]));
        }
        let r = http.get(format!("{api}/v1/videos/{id}")).send().await?;
        if r.status().as_u16() == 404 {
            book.lock().entry(job.tag.clone()).or_default().lost = true;
            continue;
        }
        let v: Value = r.json().await?;
        let status = v["status"].as_str().unwrap_or("?").to_string();
        {
            let mut seen = book.lock();
            let s = seen.entry(job.tag.clone()).or_default();
            s.status = status.clone();
            s.code = v["error"]["code"].as_str().map(str::to_string);
        }
        if status == "completed" {
            let r = http
                .get(format!("{api}/v1/videos/{id}/content?variant=video"))
                .send()
                .await?;
            if r.status().is_success() {
                let bytes = r.bytes().await?;
                digests.insert(job.tag.clone(), hex::encode(Sha256::digest(&bytes)));
            } else {
                digests.insert(job.tag.clone(), format!("download answered {}", r.status()));
            }
        }
    }
    // The owner's list: exactly the accepted jobs, none twice.
    let mut listed = 0;
    let mut listed_unknown = Vec::new();
    let ids: std::collections::HashSet<String> =
        book.lock().values().filter_map(|s| s.id.clone()).collect();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = http
            .get(format!("{api}/v1/videos"))
            .query(&[("limit", "100")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c.as_str())]);
        }
        let page: Value = req.send().await?.json().await?;
        for job in page["data"].as_array().into_iter().flatten() {
            listed += 1;
            let id = job["id"].as_str().unwrap_or_default();
            if !ids.contains(id) {
                listed_unknown.push(id.to_string());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    Ok(Verified {
        digests,
        idempotency_mismatches,
        listed,
        listed_unknown,
    })
}

fn plan(jobs: usize, run: &str) -> Vec<Planned> {
    let mut rng = rand::rng();
    let providers = [Provider::Sora, Provider::Runway, Provider::Fal];
    let mut next_fault: HashMap<Provider, usize> = HashMap::new();
    let phase2_from = jobs - jobs / 5;
    (0..jobs)
        .map(|i| {
            let provider = providers[i % 3];
            // 40 in every 100 jobs carry a fault, each provider cycling through all of its own.
            let fault = if (i / 3) % 5 < 2 {
                let own: Vec<Fault> = FAULTS
                    .iter()
                    .copied()
                    .filter(|f| f.applies_to(provider))
                    .collect();
                let k = next_fault.entry(provider).or_default();
                *k += 1;
                own[(*k - 1) % own.len()]
            } else {
                Fault::None
            };
            let tag = format!("soak-{run}-{i:05}");
            let render = rng.random_range(300..1500);
            // Three jobs in four get generated content of their own size; the rest the
            // sample MP4 (retimed by the Sora simulator).
            let size = if i % 4 == 3 {
                String::new()
            } else {
                format!(" [sim:video_bytes={}]", rng.random_range(20_000..300_000))
            };
            let prompt = format!(
                "{tag}: a lighthouse in a storm, waves breaking{size} [sim:render_ms={render}] {}",
                fault.marker()
            );
            Planned {
                tag,
                provider,
                fault,
                body: json!({
                    "prompt": prompt.trim(),
                    "model": provider.model(),
                    "seconds": provider.seconds(),
                }),
                phase: usize::from(i >= phase2_from),
            }
        })
        .collect()
}

/// The tag a prompt carries.
fn tag_of(prompt: &str, run: &str) -> Option<String> {
    let start = prompt.find(&format!("soak-{run}-"))?;
    let rest = &prompt[start..];
    let end = rest.find(':').unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [jobs, vidgen_bin, sim_bin, moto_script] = args.as_slice() else {
        bail!("usage: soak JOBS VIDGEN_BIN SORA_SIM_BIN MOTO_SCRIPT");
    };
    let jobs: usize = jobs.parse().context("JOBS")?;
    if jobs < 10 {
        bail!("JOBS must be at least 10");
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_path_buf();
    let run = format!("{:06x}", rand::rng().random_range(0..0xff_ffffu32));
    let mut procs = Procs::default();

    // The providers, each its own process.
    let vidgen_port = free_port()?;
    let mut urls = HashMap::new();
    for provider in [Provider::Sora, Provider::Runway, Provider::Fal] {
        let port = free_port()?;
        let (out, err) = log_file(&dir, &format!("sim-{}", provider.name()))?;
        let mut cmd = Command::new(sim_bin);
        cmd.args(["--provider", provider.name(), "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--render-ms", "1000", "--api-key", KEY])
            .args(["--webhook-retry-ms", "500"])
            .env("RUST_LOG", "warn")
            .stdout(out)
            .stderr(err);
        match provider {
            Provider::Sora => {
                cmd.arg("--webhook-url")
                    .arg(format!(
                        "http://127.0.0.1:{vidgen_port}/v1/provider-webhooks/openai"
                    ))
                    .args(["--webhook-secret", OPENAI_WEBHOOK_SECRET]);
            }
            Provider::Runway => {
                cmd.args(["--pending-ms", "200"]);
            }
            Provider::Fal => {
                cmd.args(["--queue-ms", "200"]);
            }
        }
        procs.sims.push(cmd.spawn().context("starting sora-sim")?);
        let url = format!("http://127.0.0.1:{port}");
        wait_http(&format!("{url}/_sim/renders")).await?;
        urls.insert(provider, url);
    }
    let mut env = Env {
        dir: dir.clone(),
        vidgen_bin: vidgen_bin.into(),
        vidgen_port,
        sora: urls[&Provider::Sora].clone(),
        runway: urls[&Provider::Runway].clone(),
        fal: urls[&Provider::Fal].clone(),
        aws: None,
        data_dir: dir.join("data"),
    };
    let planned = plan(jobs, &run);
    let faulted = planned.iter().filter(|j| j.fault != Fault::None).count();
    println!(
        "soak run {run}: {jobs} jobs ({faulted} with a fault, {:.0}%), budget {BUDGET_SECS}s, time scale {TIME_SCALE}, window {WINDOW}; logs in {}",
        100.0 * faulted as f64 / jobs as f64,
        dir.display()
    );
    let book = Arc::new(Book::default());
    let mut events = Events::default();

    // Phase 1: the embedded store, three kills.
    let p1: Vec<Planned> = planned.iter().filter(|j| j.phase == 0).cloned().collect();
    let n1 = p1.len();
    env.start_vidgen(&mut procs).await?;
    run_phase(
        &env,
        &mut procs,
        None,
        Phase {
            jobs: p1.clone(),
            kills_at: vec![n1 / 4, n1 / 2, n1 * 3 / 4],
            aws_restart_at: None,
        },
        book.clone(),
        &mut events,
        started,
    )
    .await?;
    let v1 = verify_phase(&env, &p1, &book).await?;
    println!(
        "phase 1 (embedded store): {n1} jobs, ended by {:.1}s",
        started.elapsed().as_secs_f64()
    );
    sigkill(&mut procs.vidgen);

    // Phase 2: the AWS stores on moto + s3s-fs, restarted once; one more kill of vidgen.
    let relay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let relay_port = relay_listener.local_addr()?.port();
    let aws = Aws {
        moto_port: free_port()?,
        s3s_port: free_port()?,
        relay_target: Arc::new(AtomicU16::new(0)),
        recording: dir.join("moto-recording.jsonl"),
        s3s_dir: dir.join("s3s"),
        s3s_secret: format!("soak-secret-{run}"),
        moto_script: moto_script.into(),
    };
    std::fs::create_dir_all(&aws.s3s_dir)?;
    let relay_task = tokio::spawn(relay(relay_listener, aws.relay_target.clone()));
    aws.start_moto(&dir, &mut procs, true)?;
    aws.start_s3s(&dir, &mut procs)?;
    wait_http(&format!("http://127.0.0.1:{}/moto-api/", aws.moto_port)).await?;
    wait_http(&format!("http://127.0.0.1:{}/", aws.s3s_port)).await?;
    aws.relay_target.store(aws.moto_port, Ordering::SeqCst);
    env.aws = Some(
        [
            ("VIDGEN_BACKEND", "aws".to_string()),
            ("VIDGEN_AWS_CREATE_MISSING", "1".into()),
            ("TABLE_NAME", "soak-jobs".into()),
            ("BUCKET_NAME", "soak-videos".into()),
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{relay_port}")),
            (
                "AWS_ENDPOINT_URL_S3",
                format!("http://127.0.0.1:{}", aws.s3s_port),
            ),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "soak-access".into()),
            ("AWS_SECRET_ACCESS_KEY", aws.s3s_secret.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    env.data_dir = dir.join("data-aws");
    let p2: Vec<Planned> = planned.iter().filter(|j| j.phase == 1).cloned().collect();
    let n2 = p2.len();
    env.start_vidgen(&mut procs).await?;
    run_phase(
        &env,
        &mut procs,
        Some(&aws),
        Phase {
            jobs: p2.clone(),
            kills_at: vec![n2 * 3 / 4],
            aws_restart_at: Some(n2 / 3),
        },
        book.clone(),
        &mut events,
        started,
    )
    .await?;
    let v2 = verify_phase(&env, &p2, &book).await?;
    println!(
        "phase 2 (AWS stores: moto + s3s-fs): {n2} jobs, ended by {:.1}s",
        started.elapsed().as_secs_f64()
    );
    relay_task.abort();

    // What the providers made, per tag.
    let http = reqwest::Client::new();
    let mut renders: HashMap<String, Vec<(Provider, Value)>> = HashMap::new();
    for (provider, url) in &urls {
        let list: Value = http
            .get(format!("{url}/_sim/renders"))
            .send()
            .await?
            .json()
            .await?;
        for r in list["data"].as_array().into_iter().flatten() {
            if let Some(tag) = tag_of(r["prompt"].as_str().unwrap_or_default(), &run) {
                renders.entry(tag).or_default().push((*provider, r.clone()));
            }
        }
    }
    let elapsed = started.elapsed();
    drop(procs);

    // The report.
    let seen = book.lock().clone();
    let accepted = seen.values().filter(|s| s.id.is_some()).count();
    let refused = book
        .refused
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut by_end: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut lost = Vec::new();
    let mut not_terminal = Vec::new();
    let mut mismatches = Vec::new();
    let mut duplicates = Vec::new();
    let mut byte_mismatches = Vec::new();
    let mut table: BTreeMap<(Fault, Provider), (usize, usize, usize)> = BTreeMap::new();
    let mut kill_uncertain = Vec::new();
    let mut outage_ends = Vec::new();
    let mut completed_checked = 0;
    let digests: HashMap<String, String> = v1.digests.into_iter().chain(v2.digests).collect();
    for job in &planned {
        let Some(s) = seen.get(&job.tag) else {
            lost.push(format!("{}: never answered", job.tag));
            continue;
        };
        let Some(id) = &s.id else { continue };
        if s.lost {
            lost.push(format!("{} {id}: 404 after 202", job.tag));
            continue;
        }
        if !terminal(&s.status) {
            not_terminal.push(format!("{} {id}: {}", job.tag, s.status));
        }
        *by_end
            .entry((s.status.clone(), s.code.clone().unwrap_or("-".into())))
            .or_default() += 1;
        let (want_status, want_code) = job.fault.expected(job.provider);
        let entry = table.entry((job.fault, job.provider)).or_default();
        entry.0 += 1;
        if s.status == want_status && s.code.as_deref() == want_code {
            entry.1 += 1;
        } else if job.provider != Provider::Sora
            && s.status == "failed"
            && s.code.as_deref() == Some("submit_uncertain")
            && events.queued_at_kill.contains(&job.tag)
            && renders.get(&job.tag).map_or(0, Vec::len) <= 1
        {
            // vidgen was killed while this job's submit was under way: Runway and fal
            // cannot be searched for the render, so it is not asked for again.
            entry.2 += 1;
            kill_uncertain.push(format!("{} {id} ({})", job.tag, job.provider.name()));
        } else if events.running_at_outage.contains(&job.tag)
            && ((s.status == "failed"
                && s.code.as_deref() == Some("internal")
                && s.message
                    .as_deref()
                    .is_some_and(|m| m.contains("job store")))
                || s.status == "timed_out")
        {
            // The job was running when the job store went away for longer than its
            // step's retries last at this time scale (an outage of N s here is N / scale
            // s of the workflow's time): it ends saying the store could not be reached,
            // or, waiting on the store, by its budget. Either is the record saying why.
            outage_ends.push(format!(
                "{} {id} ({}, {}): {}/{}",
                job.tag,
                job.provider.name(),
                job.fault.name(),
                s.status,
                s.code.as_deref().unwrap_or("-"),
            ));
        } else {
            mismatches.push(format!(
                "{} {id} ({}, {}): {}/{} (want {want_status}/{})",
                job.tag,
                job.provider.name(),
                job.fault.name(),
                s.status,
                s.code.as_deref().unwrap_or("-"),
                want_code.unwrap_or("-")
            ));
        }
        let made = renders.get(&job.tag).map(Vec::as_slice).unwrap_or_default();
        if made.len() > 1 {
            duplicates.push(format!("{} {id}: {} renders", job.tag, made.len()));
        }
        if s.status == "completed" {
            completed_checked += 1;
            let want = made.first().and_then(|(_, r)| r["video_sha256"].as_str());
            let got = digests.get(&job.tag).map(String::as_str);
            if want.is_none() || want != got {
                byte_mismatches.push(format!(
                    "{} {id}: served {} vs provider {}",
                    job.tag,
                    got.unwrap_or("nothing"),
                    want.unwrap_or("nothing")
                ));
            }
        }
    }
    let renders_total: usize = renders.values().map(Vec::len).sum();
    println!();
    for line in &events.lines {
        println!("{line}");
    }
    println!();
    println!("| expected fault | provider | jobs | expected end | matched | submit_uncertain after a kill |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for ((fault, provider), (n, ok, killed)) in &table {
        let (st, code) = fault.expected(*provider);
        println!(
            "| {} | {} | {n} | {st}/{} | {ok} | {killed} |",
            fault.name(),
            provider.name(),
            code.unwrap_or("-")
        );
    }
    println!();
    println!("| status / error code | jobs |");
    println!("| --- | --- |");
    for ((status, code), n) in &by_end {
        println!("| {status} / {code} | {n} |");
    }
    println!();
    let listed = v1.listed + v2.listed;
    let idem: Vec<String> = v1
        .idempotency_mismatches
        .into_iter()
        .chain(v2.idempotency_mismatches)
        .collect();
    let listed_unknown: Vec<String> = v1
        .listed_unknown
        .into_iter()
        .chain(v2.listed_unknown)
        .collect();
    let checks: [(&str, usize, &[String]); 8] = [
        ("refused creates", refused.len(), &[]),
        ("lost jobs", lost.len(), &lost),
        ("jobs not terminal", not_terminal.len(), &not_terminal),
        ("ends not matching the fault", mismatches.len(), &mismatches),
        ("duplicate provider creates", duplicates.len(), &duplicates),
        (
            "completed jobs whose bytes differ",
            byte_mismatches.len(),
            &byte_mismatches,
        ),
        (
            "idempotent re-creates not answering the same job",
            idem.len(),
            &idem,
        ),
        (
            "listed jobs not accepted by this run",
            listed_unknown.len(),
            &listed_unknown,
        ),
    ];
    for (what, _, items) in &checks {
        for item in items.iter().take(20) {
            println!("  {what}: {item}");
        }
    }
    for (tag, why) in refused.iter().take(20) {
        println!("  refused: {tag}: {why}");
    }
    for item in &kill_uncertain {
        println!("  submit_uncertain after a kill during its submit (allowed): {item}");
    }
    for item in &outage_ends {
        println!("  ended by the AWS stand-ins' outage (allowed, the store named): {item}");
    }
    println!(
        "create retries (connection errors, 5xx, 429 while vidgen was down): {}",
        book.create_retries.load(Ordering::Relaxed)
    );
    println!(
        "vidgen serve SIGKILLs: {}; AWS stand-in restarts: {}",
        events.vidgen_kills, events.aws_restarts
    );
    println!(
        "provider renders made for this run: {renders_total} (sora {}, runway {}, fal {})",
        renders
            .values()
            .flatten()
            .filter(|(p, _)| *p == Provider::Sora)
            .count(),
        renders
            .values()
            .flatten()
            .filter(|(p, _)| *p == Provider::Runway)
            .count(),
        renders
            .values()
            .flatten()
            .filter(|(p, _)| *p == Provider::Fal)
            .count(),
    );
    println!(
        "SUMMARY jobs={jobs} submitted={} accepted={accepted} listed={listed} faulted={faulted} terminal={} lost={} not_terminal={} reason_mismatches={} kill_submit_uncertain={} outage_ends={} duplicate_creates={} completed={} bytes_checked={completed_checked} byte_mismatches={} kills={} aws_restarts={} elapsed={:.1}s",
        book.submitted.load(Ordering::Relaxed),
        accepted - not_terminal.len() - lost.len(),
        lost.len(),
        not_terminal.len(),
        mismatches.len(),
        kill_uncertain.len(),
        outage_ends.len(),
        duplicates.len(),
        seen.values().filter(|s| s.status == "completed").count(),
        byte_mismatches.len(),
        events.vidgen_kills,
        events.aws_restarts,
        elapsed.as_secs_f64()
    );
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, n, _)| *n > 0)
        .map(|(what, _, _)| *what)
        .collect();
    let short = if listed != accepted {
        format!(" the lists hold {listed} jobs, {accepted} were accepted;")
    } else {
        String::new()
    };
    if !failed.is_empty() || listed != accepted || events.vidgen_kills < 3 {
        // Keep the logs for a look.
        let kept = tmp.keep();
        bail!(
            "soak FAILED:{short} {} (logs kept in {})",
            failed.join(", "),
            kept.display()
        );
    }
    println!("soak PASSED");
    Ok(())
}
