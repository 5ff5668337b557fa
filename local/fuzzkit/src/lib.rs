//! A small mutational fuzzer on stable Rust, for the tests: cargo-fuzz needs a nightly
//! toolchain, which our machines may not have.
//!
//! [`fuzz`] feeds a target seed inputs, then mutations of them (bit flips, boundary
//! bytes, inserted, deleted, duplicated and spliced ranges, numbers swapped for extreme
//! ones) and fresh random bytes, until its time budget is spent. Every input must return
//! without panicking, within [`MAX_INPUT_TIME`], and — when the test binary installs
//! [`CountingAllocator`] as its global allocator — without holding more than
//! [`MAX_INPUT_BYTES`] of heap at once. A failure prints the input and the seed that
//! reproduces the run (`VIDGEN_FUZZ_SEED`).
//!
//! The budget per target is `VIDGEN_FUZZ_SECS` (default 1 s, so the test suite runs
//! every target briefly); `benches/fuzz.sh` sets it higher and prints inputs per target.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest one input may take before it counts as a hang.
pub const MAX_INPUT_TIME: Duration = Duration::from_secs(2);
/// The most heap one input may hold at once (with [`CountingAllocator`] installed).
pub const MAX_INPUT_BYTES: usize = 256 << 20;
/// The longest generated input.
const MAX_LEN: usize = 64 * 1024;

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: String,
    pub inputs: u64,
    pub elapsed: Duration,
    /// The most heap any one input held (0 without [`CountingAllocator`]).
    pub peak_bytes: usize,
}

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A global allocator that counts live heap bytes, so a run can see what one input
/// held at its peak. Install it in a test binary:
/// `#[global_allocator] static A: fuzzkit::CountingAllocator = fuzzkit::CountingAllocator;`
pub struct CountingAllocator;

// SAFETY: every method forwards to `System` unchanged; the counters are plain atomics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grown = new_size - layout.size();
                let now = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// The time budget per target: `VIDGEN_FUZZ_SECS`, default 1 s.
pub fn budget() -> Duration {
    std::env::var("VIDGEN_FUZZ_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}

fn run_seed() -> u64 {
    std::env::var("VIDGEN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| rand::rng().next_u64())
}

/// Bytes parsers trip over.
const BOUNDARY: &[u8] = b"\x00\xff\x7f\x80\"{}[],:\\/-+.0123456789eE \n\t%&=?#";
/// Numbers that overflow, underflow or mean nothing.
const NUMBERS: &[&str] = &[
    "-1",
    "0",
    "18446744073709551616",
    "-9223372036854775809",
    "1e309",
    "-0",
    "NaN",
    "4294967296",
    "99999999999999999999999",
    "0.0000000001",
];

fn mutate(rng: &mut StdRng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        match rng.random_range(0..9) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = BOUNDARY[rng.random_range(0..BOUNDARY.len())];
            }
            2 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..=16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                out.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..=len);
                out.drain(a..b);
            }
            4 if len > 0 => {
                // Duplicate a range: nesting, repeated keys, long runs.
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..=len.min(a + 256));
                let copy = out[a..b].to_vec();
                let times = rng.random_range(1..=8);
                for _ in 0..times {
                    out.splice(b..b, copy.iter().copied());
                }
            }
            5 if !pool.is_empty() => {
                let other = &pool[rng.random_range(0..pool.len())];
                let cut = rng.random_range(0..=len);
                let from = rng.random_range(0..=other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            6 => {
                // Replace a run of digits with an extreme number.
                if let Some(start) =
                    (0..len).find(|&i| out[i].is_ascii_digit() && rng.random_bool(0.3))
                {
                    let end = (start..len)
                        .find(|&i| !out[i].is_ascii_digit())
                        .unwrap_or(len);
                    let n = NUMBERS[rng.random_range(0..NUMBERS.len())];
                    out.splice(start..end, n.bytes());
                }
            }
            7 if len > 0 => out.truncate(rng.random_range(0..len)),
            _ => {
                let i = rng.random_range(0..=len);
                out.insert(i, BOUNDARY[rng.random_range(0..BOUNDARY.len())]);
            }
        }
        out.truncate(MAX_LEN);
    }
    out
}

fn show(input: &[u8]) -> String {
    let shown = &input[..input.len().min(512)];
    format!(
        "{} bytes: {:?}",
        input.len(),
        String::from_utf8_lossy(shown)
    )
}

/// Run `target` on `seeds` and their mutations for [`budget`]. Panics (failing the
/// test) on the first input that panics, hangs or holds too much heap, naming it.
pub fn fuzz(name: &str, seeds: &[&[u8]], target: impl Fn(&[u8])) -> Report {
    fuzz_for(name, seeds, budget(), target)
}

/// [`fuzz`] with an explicit budget.
pub fn fuzz_for(name: &str, seeds: &[&[u8]], budget: Duration, target: impl Fn(&[u8])) -> Report {
    let seed = run_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pool: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
    let started = Instant::now();
    let mut inputs = 0u64;
    let mut peak_bytes = 0usize;
    let mut queue: Vec<Vec<u8>> = pool.clone();
    queue.push(Vec::new());
    loop {
        let input = match queue.pop() {
            Some(input) => input,
            None if started.elapsed() >= budget => break,
            None if pool.is_empty() || rng.random_bool(0.1) => {
                let n = rng.random_range(0..256);
                (0..n).map(|_| rng.random()).collect()
            }
            None => {
                let base = pool[rng.random_range(0..pool.len())].clone();
                mutate(&mut rng, &base, &pool)
            }
        };
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
        let took = t.elapsed();
        let held = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        peak_bytes = peak_bytes.max(held);
        inputs += 1;
        let problem = if outcome.is_err() {
            Some("panicked".to_string())
        } else if took > MAX_INPUT_TIME {
            Some(format!(
                "took {took:?} (a hang: more than {MAX_INPUT_TIME:?})"
            ))
        } else if held > MAX_INPUT_BYTES {
            Some(format!(
                "held {held} bytes of heap (more than {MAX_INPUT_BYTES})"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            panic!(
                "fuzz target {name} {problem} on input {} (reproduce with VIDGEN_FUZZ_SEED={seed})",
                show(&input)
            );
        }
        // Keep some mutants as bases: mutations of mutations reach deeper.
        if pool.len() < 256 && rng.random_bool(0.05) {
            pool.push(input);
        }
    }
    let report = Report {
        target: name.to_string(),
        inputs,
        elapsed: started.elapsed(),
        peak_bytes,
    };
    println!(
        "fuzz {:<32} {:>9} inputs in {:.1} s, peak {} KiB per input",
        report.target,
        report.inputs,
        report.elapsed.as_secs_f64(),
        report.peak_bytes / 1024
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_target_is_caught_and_named() {
        let result = catch_unwind(|| {
            fuzz_for("boom", &[b"ok"], Duration::from_millis(200), |input| {
                assert!(!input.contains(&b'!'), "found a bang");
            })
        });
        let message = result.unwrap_err();
        let text = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(text.contains("fuzz target boom panicked"), "{text}");
        assert!(text.contains("VIDGEN_FUZZ_SEED="), "{text}");
    }

    #[test]
    fn a_quiet_target_runs_for_its_budget_and_counts_inputs() {
        let report = fuzz_for(
            "quiet",
            &[b"{\"a\": 1}"],
            Duration::from_millis(200),
            |input| {
                let _ = std::str::from_utf8(input);
            },
        );
        assert!(report.inputs > 100, "{report:?}");
        assert!(report.elapsed >= Duration::from_millis(200));
    }

    #[test]
    fn mutations_stay_bounded_in_length() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut input = vec![b'7'; 1000];
        for _ in 0..2000 {
            input = mutate(&mut rng, &input, &[]);
            assert!(input.len() <= MAX_LEN);
        }
    }
}
