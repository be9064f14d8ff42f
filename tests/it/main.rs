//! cairn's integration tests: each drives the real binary in a fresh temp directory.

mod check;
mod conformance;
mod docker;
mod graph;
mod nasty;
mod observe;
mod random_studies;
mod run;
mod slurm;
mod slurm_cluster;
mod store_cmd;
mod study;
mod support;
mod trace;
mod trust;
mod yaml_diff;
