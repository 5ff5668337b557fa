//! OpenAI Videos API adapter (placeholder: being written).
