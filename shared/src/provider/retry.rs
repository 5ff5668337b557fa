//! Retry policy (placeholder: being written).
