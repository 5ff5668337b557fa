//! DynamoDB job store (placeholder: being written).
