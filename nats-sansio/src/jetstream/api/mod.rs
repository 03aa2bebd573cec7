//! Placeholder: the API types are being written.
