//! AWS SDK configuration (placeholder: being written).
