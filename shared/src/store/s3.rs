//! S3 object store (placeholder: being written).
