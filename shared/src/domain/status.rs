//! The job status machine.
//!
//! ```text
//! queued ──► in_progress ──► downloading ──► completed
//!    │            │               │
//!    └────────────┴───────────────┴──► failed | canceled | timed_out   (terminal)
//! ```
//! A status never goes backwards and a terminal status never changes. Staying in
//! `in_progress` or `downloading` is allowed (progress updates).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    InProgress,
    Downloading,
    Completed,
    Failed,
    Canceled,
    TimedOut,
}

/// A transition the status machine forbids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a job cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: Status,
    pub to: Status,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Queued,
        Status::InProgress,
        Status::Downloading,
        Status::Completed,
        Status::Failed,
        Status::Canceled,
        Status::TimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::InProgress => "in_progress",
            Status::Downloading => "downloading",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
            Status::TimedOut => "timed_out",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Failed | Status::Canceled | Status::TimedOut
        )
    }

    /// Whether a job in `self` may move to `next`.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        match (self, next) {
            (from, _) if from.is_terminal() => false,
            (_, Failed | Canceled | TimedOut) => true,
            (Queued, InProgress) => true,
            (InProgress, InProgress | Downloading) => true,
            (Downloading, Downloading | Completed) => true,
            _ => false,
        }
    }

    pub fn check(self, next: Status) -> Result<(), TransitionError> {
        if self.can_become(next) {
            Ok(())
        } else {
            Err(TransitionError {
                from: self,
                to: next,
            })
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
                format!("must be one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        assert!(Queued.can_become(InProgress));
        assert!(InProgress.can_become(InProgress));
        assert!(InProgress.can_become(Downloading));
        assert!(Downloading.can_become(Completed));
    }

    #[test]
    fn never_backwards_and_terminal_is_final() {
        for from in Status::ALL {
            for to in Status::ALL {
                let allowed = from.can_become(to);
                if from.is_terminal() {
                    assert!(!allowed, "{from} -> {to} must be refused");
                }
                let rank = |s: Status| match s {
                    Queued => 0,
                    InProgress => 1,
                    Downloading => 2,
                    _ => 3,
                };
                if rank(to) < rank(from) {
                    assert!(!allowed, "{from} -> {to} goes backwards");
                }
            }
        }
    }

    #[test]
    fn every_running_status_can_end_badly() {
        for from in [Queued, InProgress, Downloading] {
            for to in [Failed, Canceled, TimedOut] {
                assert!(from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn completion_needs_the_download() {
        assert!(!Queued.can_become(Completed));
        assert!(!InProgress.can_become(Completed));
        assert!(!Queued.can_become(Downloading));
        assert_eq!(
            Queued.check(Completed),
            Err(TransitionError {
                from: Queued,
                to: Completed
            })
        );
    }

    #[test]
    fn parses_and_prints_the_wire_names() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("done"
            .parse::<Status>()
            .unwrap_err()
            .contains("in_progress"));
    }
}
