//! The differential YAML test: cairn's YAML layer (`cairn yaml-json`, hidden) against
//! the reference's loader, `ruamel.yaml.YAML(typ="safe", pure=False)` (libyaml), on
//! seeded mutations of the conformance corpus (`tests/yaml_diff/generate.py`) and on
//! every document that once disagreed (`tests/yaml_regressions/`). Both must accept
//! the same documents and read the same data.
//!
//! `CAIRN_YAML_DIFF_CASES` (default 2000) and `CAIRN_YAML_DIFF_SEED` choose the
//! generated documents; `CAIRN_TEST_PYTHON` the Python with `ruamel.yaml` (default the
//! venv that `.ci/install-deps` makes in `target/pyvenv/`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DEFAULT_CASES: usize = 2000;
const DEFAULT_SEED: u64 = 20_261_129;

fn python() -> PathBuf {
    let path = std::env::var_os("CAIRN_TEST_PYTHON").map_or_else(
        || Path::new(ROOT).join("target/pyvenv/bin/python"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} is missing: the differential YAML test needs Python with ruamel.yaml; \
         run .ci/install-deps (or set CAIRN_TEST_PYTHON)",
        path.display()
    );
    path
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number"))
        })
        .unwrap_or(default)
}

/// Runs `program args` with `input` on stdin; its stdout, one JSON value per line.
fn json_lines(mut command: Command, input: &Path) -> Vec<Value> {
    let out = command
        .stdin(std::fs::File::open(input).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The documents: generated ones, then the regression files, each with a name.
fn documents(python: &Path, seed: u64, cases: usize) -> Vec<(String, String)> {
    let out = Command::new(python)
        .arg(format!("{ROOT}/tests/yaml_diff/generate.py"))
        .args(["--seed", &seed.to_string(), "--cases", &cases.to_string()])
        .arg(format!("{ROOT}/tests/conformance/cases"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "generate.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut docs: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            (
                format!("seed {seed}, case {i}"),
                serde_json::from_str(l).unwrap(),
            )
        })
        .collect();
    assert_eq!(docs.len(), cases);
    let mut regressions: Vec<PathBuf> = std::fs::read_dir(format!("{ROOT}/tests/yaml_regressions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    regressions.sort();
    for path in regressions {
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        docs.push((format!("{}", path.display()), text));
    }
    docs
}

/// Why a pair of readings is acceptable, or `None` when they disagree.
fn agreement(reference: &Value, cairn: &Value) -> Option<&'static str> {
    let cairn_error = cairn["error"].as_str().unwrap_or_default();
    match (reference.get("ok"), cairn.get("ok")) {
        (Some(r), Some(c)) => (r == c).then_some("same data"),
        // DESIGN §1, deliberate difference 4: ruamel skips its duplicate-key check in a
        // mapping that has a merge key; cairn reports every duplicate key.
        (Some(_), None) => (reference["duplicate_key"] == true
            && cairn_error.contains("found duplicate key"))
        .then_some("duplicate key (DESIGN §1)"),
        (None, Some(_)) => None,
        // ruamel builds a structure that contains itself (`&a [*a]`), which no JSON
        // (and no project file) can hold; cairn refuses it by name.
        (None, None) if reference["recursive"] == true => cairn_error
            .contains("recursive structure")
            .then_some("recursive structure"),
        (None, None) => Some("both reject"),
    }
}

#[test]
fn yaml_reads_as_the_reference_loader() {
    let python = python();
    let seed = env_number("CAIRN_YAML_DIFF_SEED", DEFAULT_SEED);
    let cases = env_number("CAIRN_YAML_DIFF_CASES", DEFAULT_CASES);
    let docs = documents(&python, seed, cases);

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("documents.jsonl");
    let lines: Vec<String> = docs
        .iter()
        .map(|(_, d)| serde_json::to_string(d).unwrap())
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let mut reference = Command::new(&python);
    reference.arg(format!("{ROOT}/tests/yaml_diff/ruamel_load.py"));
    let reference = json_lines(reference, &input);
    let mut cairn = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cairn.arg("yaml-json");
    let cairn = json_lines(cairn, &input);
    assert_eq!(reference.len(), docs.len());
    assert_eq!(cairn.len(), docs.len());

    // Keep the disagreeing documents where a person can copy them into the regressions.
    let keep = Path::new(ROOT).join("target/yaml-diff-disagreements");
    let _ = std::fs::remove_dir_all(&keep);
    let mut disagreements = Vec::new();
    let mut accepted = 0;
    for (i, ((name, doc), (r, c))) in docs.iter().zip(reference.iter().zip(&cairn)).enumerate() {
        match agreement(r, c) {
            Some(_) => accepted += usize::from(r.get("ok").is_some()),
            None => {
                std::fs::create_dir_all(&keep).unwrap();
                std::fs::write(keep.join(format!("{i:05}.yaml")), doc).unwrap();
                disagreements.push(format!(
                    "{name} ({}/{i:05}.yaml):\n  {doc:?}\n  reference: {r}\n  cairn:     {c}",
                    keep.display()
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} documents read differently (copy each into tests/yaml_regressions/ \
         once fixed):\n{}",
        disagreements.len(),
        docs.len(),
        disagreements
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The generator must keep producing documents that both accept, not only errors.
    assert!(
        accepted * 2 > docs.len(),
        "only {accepted} of {} documents were valid YAML",
        docs.len()
    );
}

#[test]
fn the_comparison_is_strict() {
    let ok = |v: Value| serde_json::json!({ "ok": v });
    let err = |m: &str| serde_json::json!({ "error": m });
    assert!(agreement(&ok(1.into()), &ok(1.into())).is_some());
    assert!(agreement(&ok(1.into()), &ok(2.into())).is_none());
    assert!(agreement(&ok(Value::Null), &err("x")).is_none());
    assert!(agreement(&err("x"), &ok(Value::Null)).is_none());
    assert!(agreement(&err("x"), &err("y")).is_some());
    // The duplicate-key exception needs both the reference's flag and cairn's reason.
    let dup = serde_json::json!({ "ok": 1, "duplicate_key": true });
    assert!(agreement(&dup, &err("found duplicate key \"a\" on line 2")).is_some());
    assert!(agreement(&dup, &err("invalid YAML")).is_none());
    assert!(agreement(&ok(1.into()), &err("found duplicate key \"a\"")).is_none());
    let recursive = serde_json::json!({ "error": "recursive", "recursive": true });
    assert!(agreement(&recursive, &err("refers to ... a recursive structure")).is_some());
    assert!(agreement(&recursive, &err("invalid YAML")).is_none());
}
