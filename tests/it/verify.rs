//! `cairn verify`: rebuilds from recorded inputs, compared output by output.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::study::{Ran, Study, pipeline};

/// `cairn verify ARGS --format json`, parsed.
fn verify(s: &Study, args: &[&str]) -> (Ran, Value) {
    let mut a = vec!["verify"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--format", "json"]);
    let r = s.cairn(&a);
    let doc = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    (r, doc)
}

/// Each action's verdict.
fn verdicts(doc: &Value) -> BTreeMap<String, String> {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn action<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == name)
        .unwrap_or_else(|| panic!("{name} not in {doc}"))
}

/// The outputs of `name` that do not compare `same`.
fn differing(doc: &Value, name: &str) -> Vec<String> {
    action(doc, name)["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] != "same")
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

fn file<'a>(doc: &'a Value, name: &str, path: &str) -> &'a Value {
    action(doc, name)["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in {doc}"))
}

/// A study whose actions each write one stable file and one that depends
/// on something they must not depend on.
fn unruly() -> Study {
    let s = Study::new();
    s.write(
        "project.yaml",
        r#"version: "4.0"
actions:
  clock:
    run: python:v2 analysis/clock.py
    outputs:
      moderately_sensitive:
        stable: out/clock_stable.txt
        when: out/when.txt
  noise:
    run: python:v2 analysis/noise.py
    outputs:
      moderately_sensitive:
        stable: out/noise_stable.txt
      highly_sensitive:
        noise: out/noise.bin
  cpus:
    run: python:v2 analysis/cpus.py
    outputs:
      moderately_sensitive:
        cpus: out/cpus.txt
  table:
    run: python:v2 analysis/table.py
    outputs:
      moderately_sensitive:
        table: out/table.csv
"#,
    );
    s.write(
        "analysis/clock.py",
        "import os, time\nos.makedirs('out', exist_ok=True)\nopen('out/clock_stable.txt', 'w').write('hello\\n')\nopen('out/when.txt', 'w').write(f'written at {time.time_ns()}\\n')\n",
    );
    s.write(
        "analysis/noise.py",
        "import os\nos.makedirs('out', exist_ok=True)\nopen('out/noise_stable.txt', 'w').write('hello\\n')\nopen('out/noise.bin', 'wb').write(b'\\0header' + os.urandom(32))\n",
    );
    s.write(
        "analysis/cpus.py",
        "import os\nos.makedirs('out', exist_ok=True)\nopen('out/cpus.txt', 'w').write(f'{len(os.sched_getaffinity(0))} cpus\\n')\n",
    );
    s.write(
        "analysis/table.py",
        "import os, time\nos.makedirs('out', exist_ok=True)\nopen('out/table.csv', 'w').write(f'id,value,note\\n1,10,a\\n2,{time.time_ns()},b\\n3,30,c\\n')\n",
    );
    s.commit("an unruly study");
    s
}

#[test]
fn a_deterministic_pipeline_verifies_as_reproducible() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let (r, doc) = verify(&s, &["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(doc["reproducible"], true);
    for (a, v) in verdicts(&doc) {
        assert_eq!(v, "reproducible", "{a}: {doc}");
        assert_eq!(action(&doc, &a)["compared_with"], "recorded");
    }
    let t = file(&doc, "analyse", "output/table.csv");
    assert_eq!(t["status"], "same");
    assert_eq!(t["reference"], t["rebuilt"]);
    assert_eq!(t["reference"]["size"], 9);
    assert_eq!(t["reference"]["hash"].as_str().unwrap().len(), 64);

    // The table says the same to people.
    let human = s.cairn(&["verify", "run_all"]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(
        human
            .stdout
            .contains("4 reproducible, 0 differ, 0 could not run"),
        "{human:?}"
    );
    for a in ["prepare", "analyse", "report", "describe"] {
        assert!(
            human
                .stdout
                .lines()
                .any(|l| l.starts_with(a) && l.ends_with("reproducible")),
            "{a}: {human:?}"
        );
    }
}

#[test]
fn nondeterministic_outputs_are_named_exactly() {
    let s = unruly();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let (r, doc) = verify(&s, &["run_all"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(doc["reproducible"], false);
    assert_eq!(
        verdicts(&doc),
        BTreeMap::from([
            ("clock".into(), "differs".into()),
            ("cpus".into(), "reproducible".into()),
            ("noise".into(), "differs".into()),
            ("table".into(), "differs".into()),
        ])
    );
    assert_eq!(differing(&doc, "clock"), ["out/when.txt"]);
    assert_eq!(differing(&doc, "noise"), ["out/noise.bin"]);
    let when = file(&doc, "clock", "out/when.txt");
    assert_eq!(when["first_difference"]["kind"], "line");
    assert_eq!(when["first_difference"]["line"], 1);
    assert_ne!(when["reference"]["hash"], when["rebuilt"]["hash"]);
    assert_eq!(when["variation"], "no variation");
    let noise = file(&doc, "noise", "out/noise.bin");
    assert_eq!(noise["first_difference"]["kind"], "byte");
    assert!(noise["first_difference"]["offset"].as_u64().unwrap() >= 7);
    assert_eq!(noise["reference"]["size"], 39);

    // The CSV that differs in one cell: its row and column, both values.
    let table = &file(&doc, "table", "out/table.csv")["first_difference"];
    assert_eq!(table["kind"], "csv", "{table}");
    assert_eq!(table["row"], 2);
    assert_eq!(table["line"], 3);
    assert_eq!(table["column"], 2);
    assert_eq!(table["header"], "value");
    assert_ne!(table["reference"], table["rebuilt"]);
    let human = s.cairn(&["verify", "table"]);
    assert_eq!(human.code, 1, "{human:?}");
    assert!(
        human
            .stdout
            .contains("first difference: row 2 (line 3), column 2 (value): \""),
        "{human:?}"
    );
}

#[test]
fn the_cpu_count_matters_only_under_vary() {
    let s = unruly();
    assert_eq!(s.run(&["cpus"]).code, 0);
    let (r, doc) = verify(&s, &["cpus"]);
    assert_eq!(r.code, 0, "{r:?}");
    let (r, doc_vary) = verify(&s, &["cpus", "--vary"]);
    let cpus = std::thread::available_parallelism().unwrap().get();
    if cpus == 1 {
        // One CPU cannot be given fewer: the variation is not in force.
        assert_eq!(r.code, 0, "{r:?}");
        return;
    }
    assert_eq!(r.code, 1, "{r:?}\n{doc}");
    assert_eq!(differing(&doc_vary, "cpus"), ["out/cpus.txt"]);
    let f = file(&doc_vary, "cpus", "out/cpus.txt");
    assert_eq!(f["build"], 2, "{f}");
    assert!(
        f["variation"].as_str().unwrap().starts_with("cpus 1 (of "),
        "{f}"
    );
    let caused_by = action(&doc_vary, "cpus")["caused_by"].as_array().unwrap();
    assert_eq!(caused_by.len(), 1, "{doc_vary}");
    assert_eq!(f["first_difference"]["rebuilt"], "1 cpus", "{f}");
    assert_eq!(action(&doc, "cpus")["builds"].as_array().unwrap().len(), 1);
    let builds = action(&doc_vary, "cpus")["builds"].as_array().unwrap();
    assert_eq!(builds[0]["description"], "no variation");
    let varied = &builds[1]["variation"];
    assert_eq!(varied["cpus"], 1);
    assert_eq!(varied["umask"], "0077");
    assert_eq!(varied["scratch_path"], true);
    assert_eq!(varied["entry_order"], true);
}

#[test]
fn the_hostname_and_umask_are_varied_for_the_action() {
    let s = Study::new();
    s.write(
        "project.yaml",
        "version: '4.0'\nactions:\n  host:\n    run: python:v2 host.py\n    outputs:\n      moderately_sensitive:\n        h: out/host.txt\n        u: out/umask.txt\n",
    );
    s.write(
        "host.py",
        "import os, socket\nos.makedirs('out', exist_ok=True)\nopen('out/host.txt', 'w').write(socket.gethostname())\nm = os.umask(0); os.umask(m)\nopen('out/umask.txt', 'w').write(oct(m))\n",
    );
    s.commit("host");
    assert_eq!(s.run(&["host"]).code, 0);
    let (r, doc) = verify(&s, &["host", "--vary"]);
    assert_eq!(r.code, 1, "{r:?}");
    let u = file(&doc, "host", "out/umask.txt");
    assert_eq!(u["first_difference"]["rebuilt"], "0o77", "{u}");
    let caused_by: Vec<&str> = action(&doc, "host")["caused_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // A hostname of its own needs CAP_SYS_ADMIN (a UTS namespace): where
    // cairn lacks it, the hostname is not varied, and not named.
    let varied = &action(&doc, "host")["builds"][1]["variation"];
    if varied.get("hostname").is_some() {
        assert_eq!(differing(&doc, "host"), ["out/host.txt", "out/umask.txt"]);
        let h = file(&doc, "host", "out/host.txt");
        assert_eq!(h["first_difference"]["rebuilt"], "cairn-verify-2", "{h}");
        assert_eq!(caused_by, ["hostname cairn-verify-2", "umask 0077"]);
    } else {
        assert_ne!(
            unsafe { libc_geteuid() },
            0,
            "root can always vary the hostname"
        );
        assert_eq!(differing(&doc, "host"), ["out/umask.txt"]);
        assert_eq!(caused_by, ["umask 0077"]);
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn without_a_record_builds_are_compared_with_each_other() {
    let s = unruly();
    // Nothing was run: `clock` has no realisation to compare with.
    let (r, doc) = verify(&s, &["clock", "cpus", "--rounds", "3"]);
    assert_eq!(r.code, 1, "{r:?}");
    let clock = action(&doc, "clock");
    assert_eq!(clock["compared_with"], "build 1");
    assert_eq!(clock["realisation"], Value::Null);
    assert_eq!(clock["builds"].as_array().unwrap().len(), 3);
    assert_eq!(differing(&doc, "clock"), ["out/when.txt"]);
    assert_eq!(file(&doc, "clock", "out/when.txt")["build"], 2);
    assert_eq!(action(&doc, "cpus")["status"], "reproducible");
    // And nothing was recorded: the actions are still never run.
    let status = s.cairn(&["status", "--format", "json"]);
    assert!(!status.stdout.contains("fresh"), "{status:?}");
}

#[test]
fn an_action_whose_needs_have_no_outputs_could_not_run() {
    let s = pipeline();
    let (r, doc) = verify(&s, &["analyse"]);
    assert_eq!(r.code, 1, "{r:?}");
    let a = action(&doc, "analyse");
    assert_eq!(a["status"], "could_not_run");
    let reason = a["reason"].as_str().unwrap();
    assert!(reason.contains("prepare"), "{reason}");
    assert!(reason.contains("cairn run prepare"), "{reason}");
    assert_eq!(a["compared_with"], Value::Null);
}

#[test]
fn a_withheld_input_is_named_and_a_withheld_output_compared_by_hash() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    // prepare's highly_sensitive output left out, as an archive exported
    // without --include-highly-sensitive would.
    let (_, doc) = verify(&s, &["prepare"]);
    let hash = file(&doc, "prepare", "output/data.csv")["reference"]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let object = s
        .store
        .path()
        .join("objects-v1")
        .join(&hash[..2])
        .join(&hash);
    std::fs::remove_file(&object).unwrap();

    let (r, doc) = verify(&s, &["prepare", "analyse"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(action(&doc, "prepare")["status"], "reproducible", "{doc}");
    let a = action(&doc, "analyse");
    assert_eq!(a["status"], "could_not_run");
    let reason = a["reason"].as_str().unwrap();
    assert!(
        reason.contains("input output/data.csv is withheld"),
        "{reason}"
    );
}

#[test]
fn a_tampered_store_object_is_caught_and_named() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let (_, before) = verify(&s, &["analyse"]);
    let hash = file(&before, "analyse", "output/table.csv")["reference"]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let object = s
        .store
        .path()
        .join("objects-v1")
        .join(&hash[..2])
        .join(&hash);
    assert!(object.is_file(), "{}", object.display());
    let mut perms = std::fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&object, perms).unwrap();
    std::fs::write(&object, "total\n61\n").unwrap();

    let (r, doc) = verify(&s, &["analyse"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(action(&doc, "analyse")["status"], "differs");
    let f = file(&doc, "analyse", "output/table.csv");
    assert_eq!(f["status"], "corrupt", "{f}");
    let note = f["note"].as_str().unwrap();
    assert!(note.contains(&hash), "{note}");
    assert!(note.contains("the rebuild matches the record"), "{note}");
    assert_eq!(f["rebuilt"]["hash"], hash.as_str());
    assert_eq!(f["first_difference"]["row"], 1, "{f}");
    let human = s.cairn(&["verify", "analyse"]);
    assert!(
        human
            .stdout
            .contains("output/table.csv [moderately_sensitive]: corrupt in the store"),
        "{human:?}"
    );
}

#[test]
fn commit_verifies_the_committed_tree_while_the_work_tree_is_dirty() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    // Uncommitted: analyse now writes the time.
    s.write(
        "analysis/analyse.py",
        "import time\nopen('output/table.csv', 'w').write(f'total\\n{time.time_ns()}\\n')\n",
    );
    let (r, doc) = verify(&s, &["analyse", "--commit", "HEAD"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(action(&doc, "analyse")["status"], "reproducible");
    assert_eq!(action(&doc, "analyse")["compared_with"], "recorded");

    let (r, doc) = verify(&s, &["analyse"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(action(&doc, "analyse")["compared_with"], "build 1");
    assert_eq!(differing(&doc, "analyse"), ["output/table.csv"]);
}

/// Every file under `root` (but `skip`) with its content and modification time.
fn snapshot(root: &Path, skip: &[&str]) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| !skip.iter().any(|s| e.file_name() == *s))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let m = e.metadata().unwrap().modified().unwrap();
            (rel, (std::fs::read(e.path()).unwrap(), m))
        })
        .collect()
}

#[test]
fn verify_leaves_the_project_and_the_records_untouched() {
    let s = unruly();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let project = snapshot(s.path(), &[".cairn", ".git"]);
    let records = snapshot(s.store.path(), &["tmp", "tools-v1", "lock"]);
    let statuses = s.cairn(&["status", "--format", "json"]).stdout;

    let (r, _) = verify(&s, &["run_all", "--vary", "--rounds", "2"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(snapshot(s.path(), &[".cairn", ".git"]), project);
    assert_eq!(
        snapshot(s.store.path(), &["tmp", "tools-v1", "lock"]),
        records
    );
    assert_eq!(s.cairn(&["status", "--format", "json"]).stdout, statuses);
    // No scratch workspace is left behind.
    let tmp = s.store.path().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // The results are kept for `cairn report`.
    let saved: Value = serde_json::from_str(&s.read(".cairn/verify.json")).unwrap();
    assert_eq!(saved["actions"]["clock"]["status"], "differs");
    assert_eq!(saved["actions"]["cpus"]["vary"], true);
}
