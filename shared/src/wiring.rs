//! Building deps from the environment (placeholder: being written).
