//! The store's scenario suite: one test binary, each test on a fresh store.
//! Tests that need other processes re-invoke this binary in a child role
//! (see `support::child`).

mod archive;
mod concurrency;
mod crash;
mod hostile;
mod ingest;
mod layout;
mod records;
mod support;
mod verify_gc;
