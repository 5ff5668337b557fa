//! What an ended request answers: the result at its `response_url`, and the same outcome
//! as a webhook body and a status's `error`.

use super::state::{FalState, Outcome, Request};
use crate::content;
use serde_json::{json, Value};

/// The text a moderated request fails with: fal passes the model's own words on, and
/// this is the wording of its hosted video models' content checker.
pub const MODERATION_MESSAGE: &str =
    "The content could not be processed because it contained material flagged by a content checker.";

/// One ended request's result, as `GET {response_url}` answers it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    /// `error_type` for the status body and the `X-Fal-Error-Type` header.
    pub error_type: Option<&'static str>,
    /// The status's `error` text.
    pub error: Option<String>,
}

/// Bytes of a request's output video.
pub(crate) fn video_len(state: &FalState, req: &Request) -> u64 {
    req.markers
        .video_bytes
        .or(state.config.video_bytes)
        .unwrap_or(content::SAMPLE_MP4.len() as u64)
}

/// The output's CDN URL: served by the simulator, no auth, like `v3.fal.media`.
pub(crate) fn video_url(state: &FalState, req: &Request) -> String {
    format!(
        "http://{}/_sim/fal/files/{}/output.mp4",
        state.host(),
        req.id
    )
}

pub(crate) fn answer(state: &FalState, req: &Request, outcome: Outcome) -> Answer {
    match outcome {
        Outcome::Ok => Answer {
            status: 200,
            body: json!({"video": {
                "content_type": "video/mp4",
                "file_name": "output.mp4",
                "file_size": video_len(state, req),
                "url": video_url(state, req),
            }}),
            error_type: None,
            error: None,
        },
        // A model's refusal is a validation error on the input, as its app raises it.
        Outcome::Moderated => Answer {
            status: 422,
            body: json!({"detail": [{
                "input": req.prompt(),
                "loc": ["body", "prompt"],
                "msg": MODERATION_MESSAGE,
                "type": "content_policy_violation",
            }]}),
            error_type: Some("content_policy_violation"),
            error: Some(MODERATION_MESSAGE.into()),
        },
        Outcome::Failed => Answer {
            status: 500,
            body: json!({"detail": "Internal Server Error"}),
            error_type: Some("runner_server_error"),
            error: Some("Internal Server Error".into()),
        },
        Outcome::Cancelled => Answer {
            status: 400,
            body: json!({"detail": "Request was cancelled"}),
            error_type: Some("request_cancelled"),
            error: Some("Request was cancelled".into()),
        },
    }
}

/// The webhook body for an ended request: `status` `OK` with the result as `payload`,
/// or `ERROR` with `error` naming the model's status code and its body as `payload`.
pub(crate) fn webhook_body(state: &FalState, req: &Request, outcome: Outcome) -> Value {
    let a = answer(state, req, outcome);
    // Keys in sorted order, as fal (Python's json.dumps) sends them.
    let (status, error, payload) = match outcome {
        Outcome::Ok => ("OK", Value::Null, a.body),
        Outcome::Cancelled => ("ERROR", json!(a.error), Value::Null),
        _ => (
            "ERROR",
            json!(format!("Invalid status code: {}", a.status)),
            a.body,
        ),
    };
    json!({
        "error": error,
        "gateway_request_id": req.gateway_id,
        "payload": payload,
        "payload_error": Value::Null,
        "request_id": req.id,
        "status": status,
    })
}

/// `value` serialised as Python's `json.dumps` does by default (`", "` and `": "`
/// separators): the exact bytes a receiver must hash, not a re-serialisation of them.
pub(crate) fn python_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Serialising a `Value` into a Vec cannot fail: no I/O, and every key is a string.
    serde::Serialize::serialize(value, &mut ser).unwrap_or_default();
    out
}

struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_separators() {
        let v = json!({"a": [1, 2], "b": {"c": null}});
        assert_eq!(
            String::from_utf8(python_json(&v)).unwrap(),
            r#"{"a": [1, 2], "b": {"c": null}}"#
        );
    }
}
