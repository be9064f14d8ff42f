//! What cairn hands back is what was built, from the tree that was asked
//! for: restores are verified, `--commit` builds read only that commit, GC
//! keeps what the work tree uses, and every command finds the same store.

use std::path::{Path, PathBuf};

use crate::study::{Study, names, pipeline};

/// The object in `store` whose content is `content`.
fn object_with(store: &Path, content: &[u8]) -> PathBuf {
    walkdir(&store.join("objects-v1"))
        .into_iter()
        .find(|p| std::fs::read(p).is_ok_and(|c| c == content))
        .unwrap_or_else(|| panic!("no object holds {:?}", String::from_utf8_lossy(content)))
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Flips one byte of a (read-only) store object in place.
fn corrupt(object: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(object, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(object).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(object, bytes).unwrap();
    std::fs::set_permissions(object, std::fs::Permissions::from_mode(0o444)).unwrap();
}

fn notes(r: &crate::study::Ran) -> String {
    r.events()
        .into_iter()
        .filter(|e| e["event"] == "note")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_corrupt_object_is_never_restored_and_its_action_reruns() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let object = object_with(s.store.path(), b"total\n60\n");
    corrupt(&object);
    std::fs::remove_file(s.file("output/table.csv")).unwrap();

    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s.read("output/table.csv"), "total\n60\n", "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["analyse"]), "{r:?}");
    let notes = notes(&r);
    assert!(
        notes.contains("output/table.csv") && notes.contains("corrupt"),
        "the user is told which file: {r:?}"
    );
    assert!(notes.contains("running analyse again"), "{r:?}");
    let quarantined: Vec<PathBuf> = walkdir(&s.store.path().join("quarantine"));
    assert!(!quarantined.is_empty(), "the corrupt object is moved aside");

    let verify = s.cairn(&["store", "verify"]);
    assert_eq!(verify.code, 0, "the store is whole again: {verify:?}");
    let again = s.run(&["run_all"]);
    assert!(again.with_status("ran").is_empty(), "{again:?}");
}

#[test]
fn an_edited_output_over_a_corrupt_object_is_rebuilt_not_restored() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    corrupt(&object_with(s.store.path(), b"The total is 60.\n"));
    s.write("output/report.txt", "edited by hand\n");
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["report"]), "{r:?}");
    assert_eq!(s.read("output/report.txt"), "The total is 60.\n");
}

#[test]
fn a_corrupt_input_of_a_stale_action_rebuilds_the_action_that_made_it() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    corrupt(&object_with(
        s.store.path(),
        b"id,value\n1,10\n2,20\n3,30\n",
    ));
    s.write(
        "analysis/analyse.py",
        "rows = open('output/data.csv').read().splitlines()[1:]\ntotal = 2 * sum(int(r.split(',')[1]) for r in rows)\nopen('output/table.csv', 'w').write(f'total\\n{total}\\n')\n",
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.with_status("ran"),
        names(&["analyse", "prepare", "report"]),
        "{r:?}"
    );
    assert_eq!(s.read("output/report.txt"), "The total is 120.\n");
    assert!(notes(&r).contains("output/data.csv"), "{r:?}");
}

#[test]
fn a_lost_object_is_rebuilt_too() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    std::fs::remove_file(object_with(s.store.path(), b"three rows\n")).unwrap();
    std::fs::remove_file(s.file("output/description.txt")).unwrap();
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["describe"]), "{r:?}");
    assert_eq!(s.read("output/description.txt"), "three rows\n");
}

/// `cairn ARGS` in `s` with no store named by flag or environment, and a
/// private `XDG_CACHE_HOME`, so only `cairn.toml` can name the store.
fn cairn_without_store_env(s: &Study, cache_home: &Path, args: &[&str]) -> crate::study::Ran {
    let mut c = s.command(args);
    c.env_remove("CAIRN_STORE")
        .env("XDG_CACHE_HOME", cache_home);
    crate::study::ran(c.output().unwrap())
}

#[test]
fn every_command_finds_the_store_that_cairn_toml_names() {
    let s = pipeline();
    let named = tempfile::tempdir().unwrap();
    let cache_home = tempfile::tempdir().unwrap();
    let config = format!(
        "[store]\npath = \"{}\"\n{}",
        named.path().display(),
        s.read("cairn.toml")
    );
    s.write("cairn.toml", &config);
    let r = cairn_without_store_env(
        &s,
        cache_home.path(),
        &["run", "describe", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        named.path().join("VERSION").is_file(),
        "built into the named store"
    );

    let du = cairn_without_store_env(&s, cache_home.path(), &["store", "du"]);
    assert_eq!(du.code, 0, "{du:?}");
    assert!(
        du.stdout.contains(&named.path().display().to_string()),
        "{du:?}"
    );
    let gc = cairn_without_store_env(&s, cache_home.path(), &["store", "gc"]);
    assert_eq!(gc.code, 0, "{gc:?}");
    let verify = cairn_without_store_env(&s, cache_home.path(), &["store", "verify"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        !cache_home.path().join("cairn").exists(),
        "the default store is never created"
    );
    // GC in the project's store kept what its last run produced.
    std::fs::remove_file(s.file("output/description.txt")).unwrap();
    let r = cairn_without_store_env(
        &s,
        cache_home.path(),
        &["run", "describe", "--format", "json"],
    );
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    assert_eq!(s.read("output/description.txt"), "three rows\n");
}

#[test]
fn commands_that_only_look_create_nothing() {
    let s = pipeline();
    let cache_home = tempfile::tempdir().unwrap();
    for args in [
        &["status"][..],
        &["status", "--format", "json"],
        &["explain", "analyse"],
        &["show", "analyse"],
        &["graph"],
        &["store", "du"],
        &["store", "verify"],
    ] {
        let r = cairn_without_store_env(&s, cache_home.path(), args);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert!(!s.exists(".cairn"), "{args:?} created .cairn/");
        assert!(
            !cache_home.path().join("cairn").exists(),
            "{args:?} created a store"
        );
    }
    let status = cairn_without_store_env(&s, cache_home.path(), &["status"]);
    assert!(status.stdout.contains("never"), "{status:?}");
}

/// The pipeline, then a commit that adds an action and renames an output.
fn pipeline_with_a_later_commit() -> (Study, String) {
    let s = pipeline();
    let old = s.git(&["rev-parse", "HEAD"]).trim().to_string();
    s.write(
        "project.yaml",
        &(s.read("project.yaml").replace(
            "description: output/description.txt",
            "description: output/desc.txt",
        ) + "  extra:\n    run: python:v2 analysis/extra.py\n    outputs:\n      moderately_sensitive:\n        extra: output/extra.txt\n"),
    );
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/desc.txt', 'w').write('three rows, renamed\\n')\n",
    );
    s.write(
        "analysis/extra.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/extra.txt', 'w').write('extra\\n')\n",
    );
    s.write(
        "cairn.toml",
        &(s.read("cairn.toml") + "[actions.extra]\ninputs = [\"analysis/extra.py\"]\n"),
    );
    s.commit("extra action, renamed output");
    (s, old)
}

#[test]
fn commit_reads_project_yaml_and_cairn_toml_from_that_commit() {
    let (s, old) = pipeline_with_a_later_commit();
    let r = s.run(&["run_all", "--commit", &old]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.statuses().keys().cloned().collect::<Vec<_>>(),
        names(&["analyse", "describe", "prepare", "report"]),
        "the action added since is not planned: {r:?}"
    );
    assert_eq!(s.read("output/description.txt"), "three rows\n");
    assert!(!s.exists("output/desc.txt"));

    let now = s.run(&["run_all"]);
    assert_eq!(now.code, 0, "{now:?}");
    assert_eq!(
        now.with_status("ran"),
        names(&["describe", "extra"]),
        "{now:?}"
    );
    assert_eq!(s.read("output/desc.txt"), "three rows, renamed\n");
}

#[test]
fn commit_that_does_not_exist_says_so() {
    let s = pipeline();
    let r = s.run(&["run_all", "--commit", "nosuchrev"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("\"nosuchrev\" does not exist"), "{r:?}");
    assert!(!r.stderr.trim_end().ends_with(':'), "{r:?}");
}

#[test]
fn a_commit_build_never_costs_the_work_tree_its_cache() {
    let (s, old) = pipeline_with_a_later_commit();
    assert_eq!(s.run(&["run_all"]).code, 0);
    assert_eq!(s.run(&["run_all", "--commit", &old]).code, 0);
    let gc = s.cairn(&["store", "gc"]);
    assert_eq!(gc.code, 0, "{gc:?}");

    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.with_status("ran").is_empty(),
        "GC kept the work tree's cache: {r:?}"
    );
    let back = s.run(&["run_all", "--commit", &old]);
    assert!(
        back.with_status("ran").is_empty(),
        "and the commit build's: {back:?}"
    );
}

#[test]
fn commit_roots_are_bounded_oldest_dropped_first() {
    let s = pipeline();
    let mut commits = Vec::new();
    for i in 0..7 {
        s.write(
            "analysis/describe.py",
            &format!("import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('version {i}\\n')\n"),
        );
        commits.push(s.commit(&format!("version {i}")));
    }
    for c in &commits {
        let r = s.run(&["describe", "--commit", c]);
        assert_eq!(r.code, 0, "{r:?}");
    }
    let roots = std::fs::read_dir(s.store.path().join("roots-v1"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("-commit-")
        })
        .count();
    assert_eq!(roots, 5, "five most recent commit builds are rooted");
    assert_eq!(s.cairn(&["store", "gc"]).code, 0);
    let newest = s.run(&["describe", "--commit", &commits[6]]);
    assert!(newest.with_status("ran").is_empty(), "{newest:?}");
    let oldest = s.run(&["describe", "--commit", &commits[0]]);
    assert_eq!(
        oldest.with_status("ran"),
        names(&["describe"]),
        "{oldest:?}"
    );
}

#[test]
fn outputs_of_an_action_removed_from_project_yaml_are_removed() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    assert!(s.exists("output/description.txt") && s.exists("metadata/describe.log"));
    let yaml = s.read("project.yaml");
    let without = yaml[..yaml.find("  describe:").unwrap()].to_string();
    s.write("project.yaml", &without);
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!s.exists("output/description.txt"), "{r:?}");
    assert!(!s.exists("metadata/describe.log"), "{r:?}");
    assert!(
        notes(&r).contains("removed output/description.txt: no longer an output of describe"),
        "{r:?}"
    );
    // They stay in the store: putting the action back restores them.
    s.write("project.yaml", &yaml);
    let back = s.run(&["run_all"]);
    assert!(back.with_status("ran").is_empty(), "{back:?}");
    assert_eq!(s.read("output/description.txt"), "three rows\n");
}

#[test]
fn large_outputs_are_restored_in_parallel_and_verified() {
    // Several outputs over the size at which the kernel copies them while
    // another thread hashes the object: restored at once, from rayon's pool.
    let s = Study::new();
    s.write(
        "project.yaml",
        "version: \"4.0\"\nactions:\n  big:\n    run: python:v2 analysis/big.py\n    outputs:\n      highly_sensitive:\n        data: output/*.bin\n",
    );
    s.write(
        "analysis/big.py",
        "import os\nos.makedirs('output', exist_ok=True)\nfor i in range(4):\n    open(f'output/{i}.bin', 'wb').write(bytes([i]) * (5 << 20))\n",
    );
    s.commit("big outputs");
    assert_eq!(s.run(&["run_all"]).code, 0);
    std::fs::remove_dir_all(s.file("output")).unwrap();
    // A restore that hangs fails the test instead of hanging it.
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_cairn"))
        .args(["run", "run_all", "--format", "json", "--project-dir"])
        .arg(s.path())
        .env("CAIRN_STORE", s.store.path())
        .output()
        .unwrap();
    let r = crate::study::ran(out);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    for i in 0..4u8 {
        let data = std::fs::read(s.file(&format!("output/{i}.bin"))).unwrap();
        assert!(data.len() == 5 << 20 && data.iter().all(|b| *b == i));
    }
    // And a corrupt large object is caught on the way out.
    corrupt(&object_with(s.store.path(), &[2u8; 5 << 20]));
    std::fs::remove_file(s.file("output/2.bin")).unwrap();
    let r = s.run(&["run_all"]);
    assert_eq!(r.with_status("ran"), names(&["big"]), "{r:?}");
    assert!(notes(&r).contains("output/2.bin"), "{r:?}");
}
