//! A temporary study for run tests: a git repository with a `project.yaml`,
//! Python scripts as actions, and a private store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Study {
    pub dir: tempfile::TempDir,
    pub store: tempfile::TempDir,
}

/// What one `cairn` invocation did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The final status of each action, from `--format json` events.
    pub fn statuses(&self) -> BTreeMap<String, String> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "action")
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_string(),
                    e["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The messages of the `note` events (`--format json`), one a line.
    pub fn notes(&self) -> String {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "note")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Actions with the given status, sorted.
    pub fn with_status(&self, status: &str) -> Vec<String> {
        self.statuses()
            .into_iter()
            .filter(|(_, s)| s == status)
            .map(|(a, _)| a)
            .collect()
    }
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Study {
    /// An empty study in a fresh git repository.
    pub fn new() -> Study {
        let s = Study {
            dir: tempfile::tempdir().unwrap(),
            store: tempfile::tempdir().unwrap(),
        };
        s.git(&["init", "-q", "-b", "main"]);
        s.git(&["config", "user.email", "study@example.org"]);
        s.git(&["config", "user.name", "A Researcher"]);
        s.write(".gitignore", "output/\nlogs/\nmetadata/\n.cairn/\n");
        s
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) -> &Study {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.file(rel).exists()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// Runs `cairn ARGS` in this study with its private store.
    pub fn cairn(&self, args: &[&str]) -> Ran {
        let out = self.command(args).output().unwrap();
        ran(out)
    }

    /// The command for `cairn ARGS`, to run it in the background.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
        c.args(args)
            .arg("--project-dir")
            .arg(self.path())
            .env("CAIRN_STORE", self.store.path())
            .env_remove("XDG_CACHE_HOME");
        c
    }

    /// `cairn run ARGS --format json`.
    pub fn run(&self, args: &[&str]) -> Ran {
        let mut a = vec!["run"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--format", "json"]);
        self.cairn(&a)
    }
}

pub fn ran(out: Output) -> Ran {
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A three-action pipeline: `prepare` -> `analyse` -> `report`, plus an
/// independent `describe`, each declaring its one script as its inputs.
pub fn pipeline() -> Study {
    let s = Study::new();
    s.write(
        "project.yaml",
        r#"version: "4.0"
actions:
  prepare:
    run: python:v2 analysis/prepare.py
    outputs:
      highly_sensitive:
        data: output/data.csv
  analyse:
    run: python:v2 analysis/analyse.py
    needs: [prepare]
    outputs:
      moderately_sensitive:
        table: output/table.csv
  report:
    run: python:v2 analysis/report.py
    needs: [analyse]
    outputs:
      moderately_sensitive:
        report: output/report.txt
  describe:
    run: python:v2 analysis/describe.py
    outputs:
      moderately_sensitive:
        description: output/description.txt
"#,
    );
    s.write(
        "analysis/prepare.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/data.csv', 'w').write('id,value\\n1,10\\n2,20\\n3,30\\n')\n",
    );
    s.write(
        "analysis/analyse.py",
        "rows = open('output/data.csv').read().splitlines()[1:]\ntotal = sum(int(r.split(',')[1]) for r in rows)\nopen('output/table.csv', 'w').write(f'total\\n{total}\\n')\n",
    );
    s.write(
        "analysis/report.py",
        "total = open('output/table.csv').read().splitlines()[1]\nopen('output/report.txt', 'w').write(f'The total is {total}.\\n')\n",
    );
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('three rows\\n')\n",
    );
    s.write(
        "cairn.toml",
        r#"[actions.prepare]
inputs = ["analysis/prepare.py"]
[actions.analyse]
inputs = ["analysis/analyse.py"]
[actions.report]
inputs = ["analysis/report.py"]
[actions.describe]
inputs = ["analysis/describe.py"]
"#,
    );
    s.commit("a study");
    s
}

pub fn names(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Where `program` is on PATH.
pub fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}
