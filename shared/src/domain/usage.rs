//! Per-owner spending limits: how many unfinished jobs an owner may have at once, and how
//! much estimated spend (`cost.rs`) it may start per rolling 24 h.
//!
//! Each store keeps one [`Usage`] per owner and changes it in the same transaction as the
//! job record: [`Usage::admit`] with the job's create (so two creates racing at a limit
//! cannot both pass), [`Usage::release`] with the write that ends the job. Plain code.

use super::Job;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The spend window.
pub const WINDOW_SECS: i64 = 24 * 3600;

/// Spend is summed per bucket of this many seconds (keyed by the bucket's start), so the
/// record stays small whatever the budget: at most 145 buckets. A bucket leaves the window
/// when all of it is older than 24 h, so spend counts for up to 10 min longer than a
/// strict rolling window would: the limit may refuse a little longer, never admit more.
pub const BUCKET_SECS: i64 = 600;

/// What an owner is told to wait when it has too many unfinished jobs: a render takes
/// minutes, and nothing says which job ends first.
pub const ACTIVE_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The limits of one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `VIDGEN_MAX_ACTIVE_JOBS`: jobs not yet ended.
    pub max_active_jobs: u32,
    /// `VIDGEN_DAILY_BUDGET_USD`, in cents: estimated spend of the jobs created in 24 h.
    pub daily_budget_cents: u64,
}

impl Limits {
    /// 10 unfinished jobs and $50 per 24 h.
    pub const DEFAULT: Limits = Limits {
        max_active_jobs: 10,
        daily_budget_cents: 5_000,
    };

    /// No limit (tests and tools that create many jobs).
    pub const UNLIMITED: Limits = Limits {
        max_active_jobs: u32::MAX,
        daily_budget_cents: u64::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A dollar amount (`50`, `12.5`) as whole cents, for `VIDGEN_DAILY_BUDGET_USD`.
pub fn parse_usd_cents(raw: &str) -> Result<u64, String> {
    let usd: f64 = raw
        .trim()
        .parse()
        .map_err(|e| format!("not a dollar amount: {e}"))?;
    if !usd.is_finite() || usd <= 0.0 || usd > 1e9 {
        return Err("must be a positive dollar amount of at most 1000000000".into());
    }
    Ok((usd * 100.0).round() as u64)
}

/// One owner's usage, as the stores keep it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Ids of the owner's jobs that have not ended.
    #[serde(default)]
    pub active: BTreeSet<String>,
    /// Estimated spend in cents of the jobs created in each bucket, by the bucket's start
    /// (epoch seconds, a multiple of [`BUCKET_SECS`]).
    #[serde(default)]
    pub spend: BTreeMap<i64, u64>,
}

/// Which limit a create met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitReached {
    ActiveJobs {
        max: u32,
    },
    DailyBudget {
        budget_cents: u64,
        spent_cents: u64,
        job_cents: u64,
    },
}

/// A create refused by a limit, and how long until it could pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub limit: LimitReached,
    pub retry_after: Duration,
}

fn usd(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

impl Refusal {
    /// The sentence the client reads.
    pub fn message(&self) -> String {
        match &self.limit {
            LimitReached::ActiveJobs { max } => format!(
                "you have {max} unfinished jobs, the most allowed at once; wait for one to end or cancel one"
            ),
            LimitReached::DailyBudget { budget_cents, job_cents, .. } if job_cents > budget_cents => format!(
                "this job's estimated cost ({}) is more than the daily budget of {}",
                usd(*job_cents),
                usd(*budget_cents)
            ),
            LimitReached::DailyBudget { budget_cents, spent_cents, job_cents } => format!(
                "this job's estimated cost ({}) would take your spend over the last 24 h ({}) past the daily budget of {}",
                usd(*job_cents),
                usd(*spent_cents),
                usd(*budget_cents)
            ),
        }
    }
}

/// The estimated cost of a job in cents.
pub fn job_cents(job: &Job) -> u64 {
    job.model.estimate_cents(&job.size, job.seconds)
}

fn bucket_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(BUCKET_SECS) * BUCKET_SECS
}

/// When a bucket's spend leaves the window (epoch seconds).
fn leaves_window(bucket: i64) -> i64 {
    bucket + BUCKET_SECS + WINDOW_SECS
}

impl Usage {
    /// Spend in the window at `now`, in cents.
    pub fn spent_cents(&self, now: DateTime<Utc>) -> u64 {
        let now = now.timestamp();
        self.spend
            .iter()
            .filter(|(b, _)| leaves_window(**b) > now)
            .map(|(_, c)| *c)
            .fold(0, u64::saturating_add)
    }

    /// Count `job` in: one more unfinished job, its estimated cost spent now. Refused,
    /// changing nothing, when that passes a limit. Buckets out of the window are dropped.
    pub fn admit(&mut self, job: &Job, limits: &Limits, now: DateTime<Utc>) -> Result<(), Refusal> {
        let now_secs = now.timestamp();
        self.spend.retain(|b, _| leaves_window(*b) > now_secs);
        if self.active.len() >= limits.max_active_jobs as usize {
            return Err(Refusal {
                limit: LimitReached::ActiveJobs {
                    max: limits.max_active_jobs,
                },
                retry_after: ACTIVE_RETRY_AFTER,
            });
        }
        let cents = job_cents(job);
        let spent = self.spent_cents(now);
        let budget = limits.daily_budget_cents;
        if spent.saturating_add(cents) > budget {
            return Err(Refusal {
                limit: LimitReached::DailyBudget {
                    budget_cents: budget,
                    spent_cents: spent,
                    job_cents: cents,
                },
                retry_after: self.budget_wait(cents, budget, now_secs),
            });
        }
        self.active.insert(job.id.to_string());
        *self.spend.entry(bucket_of(now)).or_default() += cents;
        Ok(())
    }

    /// Count every job of one create in, or none: refused, changing nothing, when the
    /// jobs together pass a limit.
    pub fn admit_all(
        &mut self,
        jobs: &[Job],
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let mut next = self.clone();
        for job in jobs {
            next.admit(job, limits, now)?;
        }
        *self = next;
        Ok(())
    }

    /// How long until enough spend has left the window for `cents` more; a whole window
    /// when the job alone is over the budget (it never fits).
    fn budget_wait(&self, cents: u64, budget: u64, now: i64) -> Duration {
        if cents > budget {
            return Duration::from_secs(WINDOW_SECS as u64);
        }
        let mut left: u64 = self.spend.values().fold(0, |a, c| a.saturating_add(*c));
        for (bucket, c) in &self.spend {
            left = left.saturating_sub(*c);
            if left.saturating_add(cents) <= budget {
                return Duration::from_secs((leaves_window(*bucket) - now).max(1) as u64);
            }
        }
        Duration::from_secs(WINDOW_SECS as u64)
    }

    /// The job ended (or is gone): it no longer counts as unfinished. Its spend stays.
    /// Releasing twice is harmless.
    pub fn release(&mut self, job_id: &str) {
        self.active.remove(job_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::Owner;
    use crate::domain::{Model, NewJob};

    fn job(model: Model, size: &str, seconds: u32) -> Job {
        Job::new(
            NewJob::new(&Owner::new("alice"), model, seconds, size, "x"),
            Utc::now(),
        )
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("a valid time")
    }

    #[test]
    fn unfinished_jobs_are_capped_until_one_is_released() {
        let limits = Limits {
            max_active_jobs: 2,
            daily_budget_cents: 10_000,
        };
        let mut u = Usage::default();
        let (a, b, c) = (
            job(Model::SORA_2, "720x1280", 4),
            job(Model::SORA_2, "720x1280", 4),
            job(Model::SORA_2, "720x1280", 4),
        );
        u.admit(&a, &limits, at(0)).unwrap();
        u.admit(&b, &limits, at(0)).unwrap();
        let before = u.clone();
        let refusal = u.admit(&c, &limits, at(0)).unwrap_err();
        assert_eq!(refusal.limit, LimitReached::ActiveJobs { max: 2 });
        assert_eq!(refusal.retry_after, ACTIVE_RETRY_AFTER);
        assert_eq!(u, before, "a refusal changes nothing");
        u.release(a.id.as_str());
        u.release(a.id.as_str());
        u.admit(&c, &limits, at(0)).unwrap();
        assert_eq!(u.active.len(), 2);
    }

    #[test]
    fn spend_is_capped_over_a_rolling_day() {
        let limits = Limits {
            max_active_jobs: 100,
            daily_budget_cents: 500,
        };
        let mut u = Usage::default();
        // $2.40 at t=0, $2.40 at t=1 h: $4.80 spent; another $0.40 fits, $1.20 does not.
        for t in [0, 3600] {
            let j = job(Model::SORA_2_PRO, "720x1280", 8);
            u.admit(&j, &limits, at(t)).unwrap();
            u.release(j.id.as_str());
        }
        assert_eq!(u.spent_cents(at(3600)), 480);
        let big = job(Model::SORA_2, "720x1280", 12);
        let refusal = u.admit(&big, &limits, at(7200)).unwrap_err();
        assert_eq!(
            refusal.limit,
            LimitReached::DailyBudget {
                budget_cents: 500,
                spent_cents: 480,
                job_cents: 120
            }
        );
        // The first $2.40 leaves the window 24 h (and its bucket's 10 min) after t=0.
        assert_eq!(
            refusal.retry_after,
            Duration::from_secs((WINDOW_SECS + BUCKET_SECS - 7200) as u64)
        );
        assert!(refusal.message().contains("$4.80") && refusal.message().contains("$5.00"));
        assert!(
            u.admit(&big, &limits, at(WINDOW_SECS)).is_err(),
            "still in the window"
        );
        u.admit(&big, &limits, at(WINDOW_SECS + BUCKET_SECS))
            .unwrap();
        assert!(
            !u.spend.contains_key(&bucket_of(at(0))),
            "old buckets are dropped"
        );
    }

    #[test]
    fn a_job_over_the_whole_budget_never_fits() {
        let limits = Limits {
            max_active_jobs: 10,
            daily_budget_cents: 100,
        };
        let refusal = Usage::default()
            .admit(&job(Model::SORA_2_PRO, "1024x1792", 12), &limits, at(0))
            .unwrap_err();
        assert_eq!(refusal.retry_after, Duration::from_secs(WINDOW_SECS as u64));
        assert!(
            refusal.message().contains("more than the daily budget"),
            "{}",
            refusal.message()
        );
    }

    #[test]
    fn budgets_parse_as_cents() {
        assert_eq!(parse_usd_cents("50"), Ok(5_000));
        assert_eq!(parse_usd_cents(" 12.345 "), Ok(1_235));
        for bad in ["0", "-1", "abc", "inf", "NaN", "1e12"] {
            assert!(parse_usd_cents(bad).is_err(), "{bad}");
        }
    }
}
