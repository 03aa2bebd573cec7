//! Placeholder: the ack module is being written.
