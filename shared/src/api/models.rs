//! `GET /v1/models`: the catalog, and which models this deployment can render.

use super::{json, ApiDeps};
use crate::domain::Model;
use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{json, Value};

/// One catalog entry as the contract shows it.
pub fn model_json(model: Model, available: bool) -> Value {
    let spec = model.spec();
    json!({
        "id": spec.id,
        "provider": spec.provider,
        "available": available,
        "seconds": spec.seconds,
        "sizes": spec.sizes.iter().map(|s| s.name).collect::<Vec<_>>(),
        "default_seconds": spec.default_seconds,
        "default_size": spec.default_size,
        "negative_prompt": spec.negative_prompt,
        "input_reference": spec.input_reference,
        "remix": spec.remix,
        "usd_per_second": spec.usd_per_second(),
    })
}

pub fn list(deps: &ApiDeps) -> Response<Bytes> {
    let policy = &deps.config.policy;
    let data: Vec<Value> = Model::all()
        .map(|m| model_json(m, policy.is_available(m)))
        .collect();
    json(StatusCode::OK, &json!({ "data": data }))
}
