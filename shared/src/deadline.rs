//! When a step must be done: the Lambda's deadline (`lambda_runtime::Context::deadline`),
//! or locally the function's `Timeout` from now. Work that waits (provider retries,
//! retried store writes) asks the deadline whether the wait still fits, and hands the
//! rest of the wait to Step Functions' Retry when it does not.
//!
//! Kept on tokio's clock, so tests can run it on paused time.

use std::time::{Duration, SystemTime};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now() + timeout)
    }

    /// A wall-clock deadline, such as the Lambda runtime's `Context::deadline()`; one
    /// already past is now.
    pub fn at(when: SystemTime) -> Deadline {
        let left = when
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Deadline::after(left)
    }

    /// This deadline moved `reserve` earlier: the time kept for what must follow.
    pub fn less(self, reserve: Duration) -> Deadline {
        // `checked_sub` fails only when the instant would fall before the clock's
        // origin; "already passed" is then the right answer.
        Deadline(self.0.checked_sub(reserve).unwrap_or_else(Instant::now))
    }

    /// Time left; zero once passed.
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn has_passed(self) -> bool {
        self.remaining().is_zero()
    }

    /// Whether a wait of `wait` followed by work that may take `work` ends in time.
    pub fn fits(self, wait: Duration, work: Duration) -> bool {
        wait.saturating_add(work) <= self.remaining()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_counts_down_and_answers_what_fits() {
        let d = Deadline::after(Duration::from_secs(75));
        assert!(d.fits(Duration::from_secs(10), Duration::from_secs(60)));
        assert!(!d.fits(Duration::from_secs(16), Duration::from_secs(60)));
        assert!(
            !d.fits(Duration::MAX, Duration::from_secs(1)),
            "no overflow"
        );
        tokio::time::advance(Duration::from_secs(70)).await;
        assert_eq!(d.remaining(), Duration::from_secs(5));
        assert!(d.less(Duration::from_secs(5)).has_passed());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(d.has_passed());
        assert!(Deadline::at(SystemTime::UNIX_EPOCH).has_passed());
    }
}
