//! cairn's integration tests: each drives the real binary in a fresh temp directory.

mod check;
mod conformance;
mod docker;
mod graph;
mod nasty;
mod run;
mod slurm;
mod slurm_cluster;
mod store_cmd;
mod study;
mod support;
