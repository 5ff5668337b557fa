//! The HTTP contract (placeholder: being written).
