//! When to try a provider call again, and after how long.
//!
//! Mirrors the official SDKs (reference §8): the server's hint (`retry-after-ms`,
//! `retry-after`) wins when present and sane; otherwise exponential backoff from
//! `base_delay`, capped at `max_delay`, scaled by a random 0.75–1.0 so many clients
//! retrying together spread out. A hint above `max_retry_after` means "not soon":
//! we give up and let the workflow's own, longer retry take over.

use rand::Rng;
use std::time::Duration;

/// The longest wait a provider hint can ask for; larger (and infinite) hints are
/// clamped to it. A day is far beyond every wait this code honours (see
/// [`RetryPolicy::max_retry_after`] and the workflow's `max_wait`), so clamping never
/// shortens a wait that would have been kept.
pub const MAX_HINT: Duration = Duration::from_secs(24 * 3600);

/// A provider's wait hint in seconds (any float the header held) as a [`Duration`]:
/// `None` for NaN and negative values, clamped to [`MAX_HINT`]. Never panics, unlike
/// `Duration::from_secs_f64`, whatever bytes the provider sent.
pub fn hint_from_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    if secs >= MAX_HINT.as_secs_f64() {
        return Some(MAX_HINT);
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .map(|d| d.min(MAX_HINT))
}

/// A header value in (possibly fractional) seconds or milliseconds, read with
/// [`hint_from_secs`]; `None` when it is not a number.
pub fn parse_hint(raw: &str, unit_ms: bool) -> Option<Duration> {
    let value = raw.trim().parse::<f64>().ok()?;
    hint_from_secs(if unit_ms { value / 1000.0 } else { value })
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (the caller retries).
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `attempt` (0-based), or `None` to give up.
    pub fn delay(&self, attempt: u32, hint: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        if let Some(hint) = hint {
            return (hint <= self.max_retry_after).then_some(hint);
        }
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let capped = exp.min(self.max_delay);
        let jitter = rand::rng().random_range(0.75..=1.0);
        Some(capped.mul_f64(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let p = RetryPolicy {
            max_retries: 10,
            ..Default::default()
        };
        for attempt in 0..10 {
            let full = (Duration::from_millis(500) * 2u32.pow(attempt)).min(Duration::from_secs(8));
            for _ in 0..50 {
                let d = p.delay(attempt, None).unwrap();
                assert!(
                    d <= full && d >= full.mul_f64(0.75),
                    "attempt {attempt}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn hints_are_honoured_up_to_the_limit() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(121))), None);
    }

    #[test]
    fn odd_hints_never_panic_and_are_clamped() {
        // Each of these panicked in `Duration::from_secs_f64` or was read as-is.
        for (raw, ms, want) in [
            ("1e30", false, Some(MAX_HINT)),
            ("inf", false, Some(MAX_HINT)),
            ("+Infinity", true, Some(MAX_HINT)),
            ("1.8e19", false, Some(MAX_HINT)),
            ("1e308", true, Some(MAX_HINT)),
            ("NaN", false, None),
            ("-1", false, None),
            ("-inf", true, None),
            ("-0", false, Some(Duration::ZERO)),
            ("1e-300", true, Some(Duration::ZERO)),
            ("abc", false, None),
            ("", true, None),
            ("2.5", false, Some(Duration::from_millis(2500))),
            ("150", true, Some(Duration::from_millis(150))),
        ] {
            assert_eq!(parse_hint(raw, ms), want, "{raw:?} ms={ms}");
        }
        // A clamped hint is still "not soon": the call gives up rather than sleep a day.
        assert_eq!(
            RetryPolicy::default().delay(0, parse_hint("1e30", false)),
            None
        );
    }

    #[test]
    fn gives_up_after_max_retries() {
        let p = RetryPolicy::default();
        assert!(p.delay(3, None).is_some());
        assert!(p.delay(4, None).is_none());
        assert!(RetryPolicy::none().delay(0, None).is_none());
    }
}
