//! Step Functions engine (placeholder: being written).
