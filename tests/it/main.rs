//! cairn's integration tests: each drives the real binary in a fresh temp directory.

mod check;
mod cli;
mod conformance;
mod docker;
mod graph;
mod housekeeping;
mod library;
mod nasty;
mod run;
mod status;
mod store_cmd;
mod study;
mod summary;
mod support;
mod trace;
mod trust;
