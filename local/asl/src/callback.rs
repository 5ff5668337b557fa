//! Task tokens for `.waitForTaskToken` Tasks, and the SendTaskSuccess /
//! SendTaskFailure / SendTaskHeartbeat calls that reach a waiting Task from outside its
//! execution (the local engine's webhook route).
//!
//! One registry serves any number of concurrent executions: clone it into each
//! execution's `ExecutionOptions` and keep a clone where callbacks arrive.
//!
//! A token is `<sequence><tag>` in hex, the tag a keyed hash of the sequence number
//! under a key drawn when the registry is made. So the registry tells a token it issued
//! and has since closed (`TaskTimedOut`, as Step Functions answers a reused or expired
//! token) from one it never issued (`InvalidToken`) while remembering only the tokens
//! still open. The tag guards against typos and stale tokens from an earlier process,
//! not against an attacker: the webhook route authenticates its callers itself.

use crate::TaskFailure;
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;

/// SendTaskSuccess's largest `output`, in bytes of JSON.
pub const MAX_OUTPUT_BYTES: usize = 262_144;
/// SendTaskFailure's longest `error`, in characters.
pub const MAX_ERROR_CHARS: usize = 256;
/// SendTaskFailure's longest `cause`, in characters.
pub const MAX_CAUSE_CHARS: usize = 32_768;

/// Why a SendTask* call was refused; `code()` is Step Functions' error name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("InvalidToken: the task token was not issued by this engine")]
    InvalidToken,
    #[error("TaskTimedOut: the task token has expired or its task is already closed")]
    TaskTimedOut,
    #[error("InvalidOutput: {0}")]
    InvalidOutput(String),
    /// A parameter over its length limit (Step Functions' ValidationException).
    #[error("ValidationException: {0}")]
    Validation(String),
}

impl CallbackError {
    /// The error name Step Functions' API gives for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::InvalidToken => "InvalidToken",
            CallbackError::TaskTimedOut => "TaskTimedOut",
            CallbackError::InvalidOutput(_) => "InvalidOutput",
            CallbackError::Validation(_) => "ValidationException",
        }
    }
}

/// What a callback tells a waiting Task.
#[derive(Debug)]
pub(crate) enum Signal {
    Success(Value),
    Failure(TaskFailure),
    Heartbeat,
}

/// The task tokens of running callback Tasks. Cheap to clone; clones share the tokens.
#[derive(Clone, Default)]
pub struct CallbackRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    /// Keyed with fresh random keys per registry, so tags differ between registries.
    key: RandomState,
    open: Mutex<Open>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            key: RandomState::new(),
            open: Mutex::new(Open::default()),
        }
    }
}

#[derive(Default)]
struct Open {
    /// The next sequence number to issue; every smaller one was issued.
    next: u64,
    waiting: HashMap<u64, mpsc::UnboundedSender<Signal>>,
}

/// Two 64-bit numbers in hex.
const TOKEN_LEN: usize = 32;

impl CallbackRegistry {
    pub fn new() -> CallbackRegistry {
        CallbackRegistry::default()
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The lock guards plain map updates that cannot leave it half-changed, so a
        // poisoned lock is still consistent.
        self.inner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn tag(&self, seq: u64) -> u64 {
        self.inner.key.hash_one(seq)
    }

    /// Issue a fresh token for one attempt of a callback Task.
    pub(crate) fn open(&self) -> Waiter {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut open = self.lock();
        let seq = open.next;
        open.next += 1;
        open.waiting.insert(seq, tx);
        drop(open);
        Waiter {
            registry: self.clone(),
            seq,
            token: format!("{seq:016x}{:016x}", self.tag(seq)),
            rx,
        }
    }

    /// The sequence number of a token this registry issued, open or not.
    fn issued(&self, token: &str, open: &Open) -> Result<u64, CallbackError> {
        if token.len() != TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CallbackError::InvalidToken);
        }
        let (seq, tag) = token.split_at(TOKEN_LEN / 2);
        let parse = |hex| u64::from_str_radix(hex, 16).map_err(|_| CallbackError::InvalidToken);
        let (seq, tag) = (parse(seq)?, parse(tag)?);
        if seq >= open.next || tag != self.tag(seq) {
            return Err(CallbackError::InvalidToken);
        }
        Ok(seq)
    }

    /// Hand `signal` to the Task waiting on `token`; a final signal closes the token.
    fn deliver(&self, token: &str, signal: Signal) -> Result<(), CallbackError> {
        let mut open = self.lock();
        let seq = self.issued(token, &open)?;
        let sender = match signal {
            Signal::Heartbeat => open.waiting.get(&seq).cloned(),
            Signal::Success(_) | Signal::Failure(_) => open.waiting.remove(&seq),
        };
        let sender = sender.ok_or(CallbackError::TaskTimedOut)?;
        // Sent under the lock: the waiter removes its entry under the same lock before
        // dropping its receiver, so an entry still present has a live receiver and the
        // signal is never lost once the caller is told it arrived.
        sender.send(signal).map_err(|_| CallbackError::TaskTimedOut)
    }

    /// SendTaskSuccess: the Task succeeds with `output` as its result.
    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), CallbackError> {
        // `Value` is always valid JSON; only its size can be wrong.
        let size = serde_json::to_vec(&output)
            .map_err(|e| CallbackError::InvalidOutput(e.to_string()))?
            .len();
        if size > MAX_OUTPUT_BYTES {
            return Err(CallbackError::InvalidOutput(format!(
                "output is {size} bytes of JSON; the limit is {MAX_OUTPUT_BYTES}"
            )));
        }
        self.deliver(token, Signal::Success(output))
    }

    /// SendTaskFailure: the Task fails with `error` and `cause` as its Error and Cause,
    /// which its Retry and Catch match.
    pub fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), CallbackError> {
        let too_long = |field: &str, value: &str, max: usize| {
            let n = value.chars().count();
            (n > max).then(|| {
                CallbackError::Validation(format!("{field} is {n} characters; the limit is {max}"))
            })
        };
        if let Some(e) = too_long("error", error, MAX_ERROR_CHARS)
            .or_else(|| too_long("cause", cause, MAX_CAUSE_CHARS))
        {
            return Err(e);
        }
        self.deliver(
            token,
            Signal::Failure(TaskFailure {
                error: error.to_string(),
                cause: cause.to_string(),
            }),
        )
    }

    /// SendTaskHeartbeat: restarts the Task's HeartbeatSeconds clock (not its
    /// TimeoutSeconds).
    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), CallbackError> {
        self.deliver(token, Signal::Heartbeat)
    }

    /// How many tokens are open (Tasks waiting for a callback).
    pub fn open_tokens(&self) -> usize {
        self.lock().waiting.len()
    }
}

impl std::fmt::Debug for CallbackRegistry {
    // Tokens are credentials for a Task's outcome: show how many, never which.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackRegistry")
            .field("open_tokens", &self.open_tokens())
            .finish()
    }
}

/// One attempt's token, held by the waiting Task. Dropping it closes the token, so a
/// canceled or timed-out execution leaves none open.
pub(crate) struct Waiter {
    registry: CallbackRegistry,
    seq: u64,
    token: String,
    rx: mpsc::UnboundedReceiver<Signal>,
}

impl Waiter {
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The next signal for this token.
    pub(crate) async fn recv(&mut self) -> Signal {
        match self.rx.recv().await {
            Some(signal) => signal,
            // The sender lives in the registry until a final signal takes it out, and
            // that signal is buffered ahead of the channel's end; the caller stops at
            // the final signal, so the end is never reached. Wait forever rather than
            // invent an outcome.
            None => std::future::pending().await,
        }
    }

    /// Close the token because the Task stops waiting (its timeout). If a success or
    /// failure closed it first, that is the Task's outcome and is returned.
    pub(crate) fn close(&mut self) -> Option<Result<Value, TaskFailure>> {
        if self.registry.lock().waiting.remove(&self.seq).is_some() {
            return None;
        }
        while let Ok(signal) = self.rx.try_recv() {
            match signal {
                Signal::Success(v) => return Some(Ok(v)),
                Signal::Failure(f) => return Some(Err(f)),
                Signal::Heartbeat => {}
            }
        }
        None
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.registry.lock().waiting.remove(&self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn tokens_are_single_use_and_checked() {
        let registry = CallbackRegistry::new();
        let mut waiter = registry.open();
        let token = waiter.token().to_string();
        assert_eq!(registry.open_tokens(), 1);
        registry.send_task_heartbeat(&token).unwrap();
        registry
            .send_task_success(&token, json!({"ok": 1}))
            .unwrap();
        assert!(matches!(waiter.recv().await, Signal::Heartbeat));
        assert!(matches!(waiter.recv().await, Signal::Success(v) if v == json!({"ok": 1})));
        assert_eq!(
            registry.send_task_success(&token, json!({})),
            Err(CallbackError::TaskTimedOut),
            "a token is single-use"
        );
        assert_eq!(
            registry.send_task_heartbeat(&token),
            Err(CallbackError::TaskTimedOut)
        );
        // Same sequence number, wrong tag; a sequence never issued; not a token at all.
        let forged = format!("{}{:016x}", &token[..16], registry.tag(0) ^ 1);
        let unissued = format!("{:016x}{:016x}", 7, registry.tag(7));
        for bad in [forged.as_str(), unissued.as_str(), "", "nope", &token[..31]] {
            assert_eq!(
                registry.send_task_failure(bad, "E", "c"),
                Err(CallbackError::InvalidToken),
                "{bad:?}"
            );
        }
        let other = CallbackRegistry::new();
        assert_eq!(
            other.send_task_heartbeat(&token),
            Err(CallbackError::InvalidToken),
            "another registry's token"
        );
    }

    #[test]
    fn limits_on_output_error_and_cause() {
        let registry = CallbackRegistry::new();
        let waiter = registry.open();
        let token = waiter.token().to_string();
        let big = json!("x".repeat(MAX_OUTPUT_BYTES));
        let e = registry.send_task_success(&token, big).unwrap_err();
        assert_eq!(e.code(), "InvalidOutput");
        let e = registry
            .send_task_failure(&token, &"e".repeat(MAX_ERROR_CHARS + 1), "")
            .unwrap_err();
        assert!(e.to_string().contains("error is 257 characters"), "{e}");
        let e = registry
            .send_task_failure(&token, "E", &"c".repeat(MAX_CAUSE_CHARS + 1))
            .unwrap_err();
        assert!(e.to_string().contains("cause is 32769"), "{e}");
        // Refusals leave the token open; the limits themselves are allowed.
        registry
            .send_task_failure(
                &token,
                &"é".repeat(MAX_ERROR_CHARS),
                &"c".repeat(MAX_CAUSE_CHARS),
            )
            .unwrap();
        drop(waiter);
        assert_eq!(registry.open_tokens(), 0);
    }

    #[test]
    fn dropping_the_waiter_closes_its_token_and_close_keeps_a_result_that_came_first() {
        let registry = CallbackRegistry::new();
        let waiter = registry.open();
        let token = waiter.token().to_string();
        drop(waiter);
        assert_eq!(
            registry.send_task_heartbeat(&token),
            Err(CallbackError::TaskTimedOut)
        );
        let mut waiter = registry.open();
        assert_ne!(waiter.token(), token, "each attempt gets a new token");
        let token = waiter.token().to_string();
        registry.send_task_success(&token, json!(1)).unwrap();
        assert_eq!(waiter.close(), Some(Ok(json!(1))));
        let mut waiter = registry.open();
        assert_eq!(waiter.close(), None);
        assert_eq!(
            registry.send_task_success(waiter.token(), json!(1)),
            Err(CallbackError::TaskTimedOut)
        );
    }
}
