//! Test support: temp projects and a runner for the real `cairn` binary.
