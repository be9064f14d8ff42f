//! Test support: temp projects and a runner for the real `cairn` binary.

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

/// What a run of `cairn` did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The stdout as JSON (for `--format json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The exit was an orderly one: no panic, no signal.
    pub fn assert_no_crash(&self) {
        assert!(
            (0..=2).contains(&self.code) && !self.stderr.contains("panicked"),
            "cairn crashed (exit {}):\n{}",
            self.code,
            self.stderr
        );
    }
}

/// A fresh project directory whose `project.yaml` holds `yaml` (any bytes).
pub fn project(yaml: impl AsRef<[u8]>) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("project.yaml"), yaml).expect("write project.yaml");
    dir
}

/// Runs `cairn ARGS` in `dir`.
pub fn cairn(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run cairn");
    Output {
        // A signal has no code: report it as -1, which no check accepts.
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `cairn check --format json` on `yaml`.
pub fn check_json(yaml: impl AsRef<[u8]>) -> Output {
    let dir = project(yaml);
    cairn(dir.path(), &["check", "--format", "json"])
}

/// `cairn check` (for people) on `yaml`.
pub fn check_human(yaml: impl AsRef<[u8]>) -> Output {
    let dir = project(yaml);
    cairn(dir.path(), &["check"])
}
