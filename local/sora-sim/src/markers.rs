//! Per-job fault markers: tokens inside the prompt text, read by every simulator.
//!
//! | marker | Sora effect | Runway effect |
//! | --- | --- | --- |
//! | `[sim:moderation_create]` | create answers 400, code `moderation_blocked` | as `moderation_input` (Runway moderates after accepting) |
//! | `[sim:moderation_input]` | — | the task ends `FAILED`, `SAFETY.INPUT.TEXT`, once past `PENDING` |
//! | `[sim:moderation_end]` | the job runs, then ends `failed` with `moderation_blocked` | the task runs, then ends `FAILED`, `SAFETY.OUTPUT.VIDEO` |
//! | `[sim:fail]` | the job ends `failed` with `video_generation_failed` | ends `FAILED`, `INTERNAL.BAD_OUTPUT.CODE01` |
//! | `[sim:never_finish]` | the job stays `in_progress`, progress stalls below 100 | stays `RUNNING`, progress stalls below 1 |
//! | `[sim:throttled_ms=N]` | — | `THROTTLED` for N ms between `PENDING` and `RUNNING` |
//! | `[sim:rate_limit=N]` | the first N requests about this job (create, then retrieves) answer 429 | likewise, without `Retry-After` |
//! | `[sim:server_error=N]` | likewise 500 | likewise 502, 503, 504 in turn |
//!
//! Both:
//!
//! | marker | effect |
//! | --- | --- |
//! | `[sim:slow_download=BYTES_PER_SEC]` | throttle this job's content downloads |
//! | `[sim:reset_download=BYTES]` | drop the connection after BYTES of a content download |
//! | `[sim:video_bytes=N]` | the `video` variant is N bytes of generated content |
//! | `[sim:render_ms=N]` | this job's render time |
//!
//! fal and Sora webhooks (see [`crate::fal`] and [`crate::webhook`]; Sora pushes only
//! when a webhook endpoint is configured):
//!
//! | marker | effect |
//! | --- | --- |
//! | `[sim:webhook_withhold]` | never send this job's webhook |
//! | `[sim:webhook_duplicate]` | send each delivery of this job's webhook twice |
//! | `[sim:webhook_forge]` | sign this job's webhook with a key the receiver does not hold (fal: not in the JWKS; Sora: another secret) |
//! | `[sim:webhook_stale]` | stamp and sign this job's webhook 10 minutes in the past |
//! | `[sim:webhook_delay_ms=N]` | send this job's webhook N ms after it ends |

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    pub moderation_create: bool,
    pub moderation_input: bool,
    pub moderation_end: bool,
    pub fail: bool,
    pub never_finish: bool,
    pub throttled_ms: Option<u64>,
    pub rate_limit: u32,
    pub server_error: u32,
    pub slow_download: Option<u64>,
    pub reset_download: Option<u64>,
    pub video_bytes: Option<u64>,
    pub render_ms: Option<u64>,
    pub webhook_withhold: bool,
    pub webhook_duplicate: bool,
    pub webhook_forge: bool,
    pub webhook_stale: bool,
    pub webhook_delay_ms: Option<u64>,
}

/// Read every `[sim:…]` marker in a prompt; unknown or malformed ones are ignored.
pub fn parse(prompt: &str) -> Markers {
    let mut m = Markers::default();
    let mut rest = prompt;
    while let Some(start) = rest.find("[sim:") {
        let after = &rest[start + 5..];
        let Some(end) = after.find(']') else { break };
        let token = &after[..end];
        rest = &after[end + 1..];
        let (name, value) = match token.split_once('=') {
            Some((n, v)) => (n, v.trim().parse::<u64>().ok()),
            None => (token, None),
        };
        match (name.trim(), value) {
            ("moderation_create", _) => m.moderation_create = true,
            ("moderation_input", _) => m.moderation_input = true,
            ("throttled_ms", Some(n)) => m.throttled_ms = Some(n),
            ("moderation_end", _) => m.moderation_end = true,
            ("fail", _) => m.fail = true,
            ("never_finish", _) => m.never_finish = true,
            ("rate_limit", Some(n)) => m.rate_limit = n.min(u64::from(u32::MAX)) as u32,
            ("server_error", Some(n)) => m.server_error = n.min(u64::from(u32::MAX)) as u32,
            ("slow_download", Some(n)) => m.slow_download = Some(n.max(1)),
            ("reset_download", Some(n)) => m.reset_download = Some(n),
            ("video_bytes", Some(n)) => m.video_bytes = Some(n),
            ("render_ms", Some(n)) => m.render_ms = Some(n),
            ("webhook_withhold", _) => m.webhook_withhold = true,
            ("webhook_duplicate", _) => m.webhook_duplicate = true,
            ("webhook_forge", _) => m.webhook_forge = true,
            ("webhook_stale", _) => m.webhook_stale = true,
            ("webhook_delay_ms", Some(n)) => m.webhook_delay_ms = Some(n),
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_markers_anywhere_in_the_prompt() {
        let m = parse("A fox [sim:rate_limit=2] runs [sim:never_finish][sim:video_bytes=1024] [sim:bogus=1] [sim:render_ms=x]");
        assert_eq!(m.rate_limit, 2);
        assert!(m.never_finish);
        assert_eq!(m.video_bytes, Some(1024));
        assert_eq!(m.render_ms, None);
        let m = parse("[sim:moderation_input] [sim:throttled_ms=1500]");
        assert!(m.moderation_input);
        assert_eq!(m.throttled_ms, Some(1500));
        let m = parse("[sim:webhook_withhold][sim:webhook_duplicate] [sim:webhook_forge] [sim:webhook_stale] [sim:webhook_delay_ms=250]");
        assert!(m.webhook_withhold && m.webhook_duplicate && m.webhook_forge && m.webhook_stale);
        assert_eq!(m.webhook_delay_ms, Some(250));
        assert_eq!(parse("plain prompt"), Markers::default());
        assert_eq!(parse("[sim:fail"), Markers::default());
    }
}
