//! cairn's integration tests: each drives the real binary in a fresh temp directory.

mod cache;
mod check;
mod conformance;
mod docker;
mod graph;
mod hostile;
mod keys;
mod nasty;
mod nginx;
mod observe;
mod random_studies;
mod remote;
mod report;
mod run;
mod sharing;
mod show;
mod slurm;
mod slurm_cluster;
mod store_cmd;
mod study;
mod support;
mod trace;
mod trust;
mod verify;
mod yaml_diff;
