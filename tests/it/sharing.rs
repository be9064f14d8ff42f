//! Support for the sharing tests: a `Machine` is one user's world (a home
//! directory, a project, a store) in a temp directory, and runs the real
//! `cairn` there with an environment that reads nothing of the real user's.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::support::Output;

pub struct Machine {
    dir: TempDir,
}

impl Machine {
    pub fn new() -> Machine {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "project"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Machine { dir }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Writes the project's `cairn.toml`.
    pub fn cairn_toml(&self, text: &str) {
        std::fs::write(self.project().join("cairn.toml"), text).unwrap();
    }

    /// Writes a file under the machine's directory; returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Runs `cairn ARGS` in the project with extra environment variables.
    pub fn cairn(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        self.cairn_stdin(args, envs, b"")
    }

    /// As [`Machine::cairn`], with `stdin` as standard input.
    pub fn cairn_stdin(&self, args: &[&str], envs: &[(&str, &str)], stdin: &[u8]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.args(args)
            .current_dir(self.project())
            .env("NO_COLOR", "1")
            .env("HOME", self.home())
            .env("CAIRN_STORE", self.store());
        // Nothing of the real user's, and no proxy between cairn and loopback.
        for var in [
            "XDG_CONFIG_HOME",
            "XDG_CACHE_HOME",
            "CAIRN_REMOTE",
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(envs.iter().copied());
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cairn");
        // A command that does not read its input (or has already failed)
        // closes the pipe; what it printed tells the test what happened.
        match child.stdin.take().unwrap().write_all(stdin) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.unwrap(),
        }
        let out = child.wait_with_output().unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs an internal command that must succeed; its JSON.
    pub fn json(&self, args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
        let out = self.cairn(args, envs);
        assert_eq!(out.code, 0, "cairn {args:?}:\n{}", out.stderr);
        out.assert_no_crash();
        out.json()
    }

    /// Copies files into the store; their digests (hex).
    pub fn ingest(&self, contents: &[&[u8]]) -> Vec<String> {
        let mut args = vec!["internal".to_string(), "ingest".into()];
        for (i, c) in contents.iter().enumerate() {
            args.push(self.file(&format!("in/{i}"), c).display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = self.json(&args, &[]);
        v["digests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    }

    /// Where object `hex` lives in this machine's store.
    pub fn object_path(&self, hex: &str) -> PathBuf {
        self.store().join("objects-v1").join(&hex[..2]).join(hex)
    }
}
