//! cairn runs OpenSAFELY `project.yaml` pipelines with content-addressed
//! caching. The `cairn` binary is a thin shell over this library: [`app`]
//! parses the command line and calls the commands; the run engine
//! ([`run`], [`exec`], [`session`]) takes its own options and reports through
//! an [`run::EventSink`], so it can be driven without the CLI (see
//! `tests/it/library.rs`).

pub mod app;
pub mod cache;
pub mod check;
pub mod clean;
pub mod cli;
pub mod config;
pub mod derivation;
pub mod exec;
pub mod explain;
pub mod git;
pub mod graph;
pub mod metalog;
pub mod observe;
pub mod outputs;
pub mod plan;
pub mod project;
pub mod provenance;
pub mod report;
pub mod run;
pub mod session;
pub mod show;
pub mod sources;
pub mod statcache;
pub mod state;
pub mod status;
pub mod store_cmd;
pub mod suggest;
pub mod timestamp;
pub mod trace;
pub mod ui;
pub mod verify;
pub mod yaml_json;
