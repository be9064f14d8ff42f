//! The command line as a user meets it: help on every flag, usage errors,
//! global options anywhere, the project found from a subdirectory, shell
//! completions, and "did you mean".

use clap::CommandFactory;

use crate::study::pipeline;
use crate::support::{cairn, check_human};

#[test]
fn every_flag_and_argument_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(format!("{path} {} (no about)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&cairn::cli::Cli::command(), "cairn", &mut missing);
    assert!(missing.is_empty(), "without help: {missing:?}");
}

#[test]
fn zero_jobs_is_a_usage_error() {
    let s = pipeline();
    let r = s.cairn(&["run", "-j", "0", "run_all"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("must be at least 1"), "{r:?}");
}

#[test]
fn global_options_go_before_or_after_the_command() {
    let s = pipeline();
    let dir = s.path().to_str().unwrap();
    for args in [
        vec!["--format", "json", "--project-dir", dir, "status"],
        vec!["status", "--format", "json", "--project-dir", dir],
        vec!["--project-dir", dir, "status", "--format", "json"],
    ] {
        let r = cairn(std::env::temp_dir().as_path(), &args);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert_eq!(r.json()["actions"].as_array().unwrap().len(), 4, "{args:?}");
    }
    let wrong = cairn(s.path(), &["status", "--format", "mermaid"]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(wrong.stderr.contains("prints human or json, not mermaid"));
}

#[test]
fn the_project_is_found_from_a_subdirectory() {
    let s = pipeline();
    let deep = s.file("analysis/deeper");
    std::fs::create_dir_all(&deep).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["run", "describe", "--format", "json"])
        .current_dir(&deep)
        .env("CAIRN_STORE", s.store.path())
        .output()
        .unwrap();
    let r = crate::study::ran(out);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), ["describe"]);
    assert!(s.exists("output/description.txt"));
    assert!(!deep.join("output").exists());
}

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _cairn"),
        ("zsh", "#compdef cairn"),
        ("fish", "complete -c cairn"),
    ] {
        let r = cairn(dir.path(), &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {r:?}");
        assert!(r.stdout.contains(marker), "{shell}: {}", r.stdout);
        assert!(r.stdout.contains("force-run-dependencies"), "{shell}");
    }
}

#[test]
fn typos_get_did_you_mean() {
    let s = pipeline();
    let r = s.cairn(&["run", "analyze"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("Action 'analyze' not found in project.yaml\nDid you mean 'analyse'?"),
        "{r:?}"
    );

    let needs = check_human(
        "version: '4.0'\nactions:\n  prepare:\n    run: python:v2 a.py\n    outputs:\n      moderately_sensitive:\n        a: output/a.csv\n  analyse:\n    run: python:v2 b.py\n    needs: [prepaer]\n    outputs:\n      moderately_sensitive:\n        b: output/b.csv\n",
    );
    assert_eq!(needs.code, 1, "{needs:?}");
    assert!(
        needs.stderr.contains(
            "references an unknown action in its `needs` list: prepaer (did you mean `prepare`?)"
        ),
        "{needs:?}"
    );
}

#[test]
fn a_script_the_action_cannot_see_is_an_error_before_anything_runs() {
    let s = pipeline();
    // Declared inputs that leave out the script.
    s.write(
        "cairn.toml",
        &s.read("cairn.toml").replace(
            "inputs = [\"analysis/describe.py\"]",
            "inputs = [\"analysis/prepare.py\"]",
        ),
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "action describe runs analysis/describe.py, which it cannot see: it is not among the inputs declared for describe in cairn.toml"
        ),
        "{r:?}"
    );
    assert!(r.statuses().is_empty(), "nothing ran: {r:?}");

    // A script git ignores.
    std::fs::remove_file(s.file("cairn.toml")).unwrap();
    s.write(
        ".gitignore",
        "output/\nmetadata/\n.cairn/\nanalysis/report.py\n",
    );
    s.git(&["rm", "-q", "--cached", "analysis/report.py"]);
    let r = s.run(&["report"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("action report runs analysis/report.py, which it cannot see: git ignores it"),
        "{r:?}"
    );
}

#[test]
fn files_matching_no_output_pattern_are_named_in_a_note() {
    let s = pipeline();
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('x')\nopen('output/descripton.csv', 'w').write('y')\n",
    );
    let r = s.run(&["describe"]);
    assert_eq!(r.code, 0, "{r:?}");
    let notes: Vec<String> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "note")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        notes.iter().any(|n| n
            == "note: describe wrote files that match none of its output patterns, so they were discarded: output/descripton.csv"),
        "{notes:?}"
    );
    assert!(!s.exists("output/descripton.csv"));
}

#[test]
fn the_old_version_warning_comes_once_from_check_and_run_only() {
    let s = pipeline();
    let old = "using an old version (4.0)";
    for cmd in [
        vec!["status"],
        vec!["graph"],
        vec!["explain", "prepare"],
        vec!["show", "prepare"],
        vec!["log", "prepare"],
    ] {
        let r = s.cairn(&cmd);
        assert!(!r.stderr.contains(old), "{cmd:?}: {r:?}");
    }
    for cmd in [vec!["check"], vec!["run", "describe"]] {
        let r = s.cairn(&cmd);
        assert_eq!(
            r.stderr.matches(old).count() + r.stdout.matches(old).count(),
            1,
            "{cmd:?}: {r:?}"
        );
    }
}

#[test]
fn json_events_carry_durations_outputs_and_counts() {
    let s = pipeline();
    let r = s.run(&["analyse"]);
    assert_eq!(r.code, 0, "{r:?}");
    let events = r.events();
    let analyse = events
        .iter()
        .find(|e| e["event"] == "action" && e["action"] == "analyse")
        .unwrap();
    assert!(analyse["duration_s"].as_f64().unwrap() > 0.0, "{analyse}");
    assert_eq!(
        analyse["outputs"],
        serde_json::json!([{"path": "output/table.csv", "size": 9, "level": "moderately_sensitive"}])
    );
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(
        (done["ran"].as_u64(), done["cached"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(done["duration_s"].as_f64().is_some(), "{done}");

    let again = s.run(&["analyse"]);
    let cached = again
        .events()
        .into_iter()
        .find(|e| e["event"] == "action" && e["action"] == "analyse")
        .unwrap();
    assert_eq!(cached["status"], "cached");
    assert!(cached["duration_s"].is_null(), "{cached}");
    assert_eq!(cached["outputs"][0]["path"], "output/table.csv", "{cached}");
}
