//! `cairn store verify|gc|du` on a study's store.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::study::{Ran, Study, pipeline, ran};

/// `cairn store ARGS` on the study's private store.
fn store(s: &Study, args: &[&str]) -> Ran {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("store")
        .args(args)
        .env("CAIRN_STORE", s.store.path())
        .env_remove("XDG_CACHE_HOME")
        .output()
        .unwrap();
    ran(out)
}

/// Every object file of the study's store.
fn objects(store: &std::path::Path) -> Vec<PathBuf> {
    walkdir(&store.join("objects-v1"))
}

fn walkdir(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn verify_finds_a_corrupt_object_and_repair_moves_it_aside() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let clean = store(&s, &["verify"]);
    assert_eq!(clean.code, 0, "{clean:?}");

    // The object holding `prepare`'s output.
    let data = s.read("output/data.csv");
    let victim = objects(s.store.path())
        .into_iter()
        .find(|p| std::fs::read_to_string(p).ok().as_deref() == Some(data.as_str()))
        .expect("the run stored output/data.csv");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&victim, "not what was stored\n").unwrap();
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();

    let bad = store(&s, &["verify"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stdout.contains(&name) || bad.stderr.contains(&name),
        "verify names the corrupt object {name}: {bad:?}"
    );
    let repaired = store(&s, &["verify", "--repair"]);
    assert_eq!(repaired.code, 0, "{repaired:?}");
    assert!(!victim.exists(), "the corrupt object is moved aside");
    let after = store(&s, &["verify"]);
    assert_eq!(after.code, 0, "{after:?}");

    // With the project's copies gone too, the action that made the lost
    // object runs again (and, its output unchanged, only it) and
    // everything is whole.
    std::fs::remove_dir_all(s.file("output")).unwrap();
    let rerun = s.run(&["run_all"]);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert_eq!(rerun.with_status("ran"), vec!["prepare"], "{rerun:?}");
    assert_eq!(s.read("output/report.txt"), "The total is 60.\n");
    assert_eq!(store(&s, &["verify"]).code, 0);
}

#[test]
fn gc_keeps_what_the_project_uses_and_keep_days_keeps_recent_results() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('3 rows\\n')\n",
    );
    s.commit("reword");
    assert_eq!(s.run(&["run_all"]).with_status("ran"), vec!["describe"]);

    // The first `describe` result is reachable from no root, but recent.
    let kept = store(&s, &["gc", "--dry-run", "--keep-days", "1"]);
    assert_eq!(kept.code, 0, "{kept:?}");
    assert!(
        kept.stdout
            .contains("would remove 0 derivations, 0 realisations"),
        "{kept:?}"
    );
    // The edit changed what describe observed, not its derivation.
    let dry = store(&s, &["gc", "--dry-run"]);
    assert!(
        dry.stdout
            .contains("would remove 0 derivations, 1 realisations"),
        "{dry:?}"
    );
    let before = objects(s.store.path()).len();

    let gc = store(&s, &["gc"]);
    assert_eq!(gc.code, 0, "{gc:?}");
    assert!(gc.stdout.contains("1 realisations"), "{gc:?}");
    assert!(objects(s.store.path()).len() < before, "{gc:?}");

    // What the project uses survived: nothing reruns, the store is sound.
    assert!(s.run(&["run_all"]).with_status("ran").is_empty());
    assert_eq!(store(&s, &["verify"]).code, 0);
    assert_eq!(s.read("output/description.txt"), "3 rows\n");
}

#[test]
fn gc_max_size_must_be_a_size() {
    let s = pipeline();
    let bad = store(&s, &["gc", "--max-size", "lots"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("is not a size"), "{bad:?}");
}

#[test]
fn du_counts_what_a_run_stored() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let du = store(&s, &["du"]);
    assert_eq!(du.code, 0, "{du:?}");
    let line = du
        .stdout
        .lines()
        .find(|l| l.starts_with("objects"))
        .unwrap_or_else(|| panic!("{du:?}"));
    let count: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(count, objects(s.store.path()).len(), "{du:?}");
}
