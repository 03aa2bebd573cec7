//! Placeholder: the pull consumer machine is being written.
