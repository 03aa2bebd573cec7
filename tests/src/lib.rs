//! Harness for running real nats-server processes in tests.
