//! `cairn run`: what reruns, what is restored, and what a failure leaves behind.

use crate::study::{Study, names, pipeline};

#[test]
fn first_run_runs_everything_and_second_run_nothing() {
    let s = pipeline();
    let first = s.run(&["run_all"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(
        first.with_status("ran"),
        names(&["analyse", "describe", "prepare", "report"])
    );
    assert_eq!(s.read("output/report.txt"), "The total is 60.\n");
    assert!(
        s.read("metadata/report.log")
            .contains("status: Completed successfully")
    );

    let second = s.run(&["run_all"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(
        second.with_status("ran"),
        Vec::<String>::new(),
        "{second:?}"
    );
    assert_eq!(
        second.with_status("cached"),
        names(&["analyse", "describe", "prepare", "report"])
    );
}

#[test]
fn editing_one_script_reruns_only_what_it_affects() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write(
        "analysis/analyse.py",
        "rows = open('output/data.csv').read().splitlines()[1:]\ntotal = 2 * sum(int(r.split(',')[1]) for r in rows)\nopen('output/table.csv', 'w').write(f'total\\n{total}\\n')\n",
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["analyse", "report"]), "{r:?}");
    assert_eq!(s.read("output/report.txt"), "The total is 120.\n");
}

#[test]
fn an_upstream_rerun_with_identical_outputs_stops_there() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    // A comment changes the script, not what it writes.
    let script = s.read("analysis/prepare.py");
    s.write("analysis/prepare.py", &format!("# tidied\n{script}"));
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["prepare"]), "{r:?}");
    assert_eq!(
        r.with_status("cached"),
        names(&["analyse", "describe", "report"])
    );
}

#[test]
fn force_reruns_named_actions_and_f_their_dependencies_too() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);

    let forced = s.run(&["analyse", "--force"]);
    assert_eq!(forced.with_status("ran"), names(&["analyse"]), "{forced:?}");
    assert_eq!(forced.with_status("cached"), names(&["prepare"]));

    let deps = s.run(&["analyse", "-f"]);
    assert_eq!(
        deps.with_status("ran"),
        names(&["analyse", "prepare"]),
        "{deps:?}"
    );

    let plain = s.run(&["analyse"]);
    assert!(plain.with_status("ran").is_empty(), "{plain:?}");
}

#[test]
fn a_deleted_output_is_restored_without_rerunning() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    std::fs::remove_file(s.file("output/table.csv")).unwrap();
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    assert_eq!(s.read("output/table.csv"), "total\n60\n");
    assert!(r.stdout.contains("restored output/table.csv"), "{r:?}");
}

#[test]
fn an_edited_output_is_noticed_and_restored() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write("output/report.txt", "The total is 61.\n");
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    assert_eq!(s.read("output/report.txt"), "The total is 60.\n");
    assert!(
        r.stdout
            .contains("restored output/report.txt: it was edited"),
        "{r:?}"
    );
}

#[test]
fn a_failure_keeps_previous_outputs_and_stops_dependants() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write(
        "analysis/analyse.py",
        "import sys\nopen('output/table.csv', 'w').write('half-written')\nprint('something went wrong', file=sys.stderr)\nsys.exit(3)\n",
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.with_status("failed"), names(&["analyse"]), "{r:?}");
    assert_eq!(r.with_status("dependency_failed"), names(&["report"]));
    assert_eq!(s.read("output/table.csv"), "total\n60\n", "old output kept");
    let log = s.read("metadata/analyse.log");
    assert!(log.contains("something went wrong"), "{log}");
    assert!(log.contains("exit_code: 3"), "{log}");
    let kept = log
        .lines()
        .find_map(|l| l.strip_prefix("workspace: "))
        .expect("the kept workspace is named in the log");
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(kept).join("output/table.csv")).unwrap(),
        "half-written"
    );

    // Nothing was cached for the failure: fixing it runs it again.
    s.write(
        "analysis/analyse.py",
        "rows = open('output/data.csv').read().splitlines()[1:]\ntotal = sum(int(r.split(',')[1]) for r in rows)\nopen('output/table.csv', 'w').write(f'total\\n{total}\\n')\n",
    );
    let fixed = s.run(&["run_all"]);
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert!(
        fixed.with_status("ran").is_empty(),
        "back to the cached version: {fixed:?}"
    );
}

#[test]
fn continue_on_error_runs_independent_branches() {
    let s = pipeline();
    s.write("analysis/prepare.py", "raise SystemExit(1)\n");
    // One at a time, so the failure comes before describe could start.
    let stop = s.run(&["run_all", "-j", "1"]);
    assert_eq!(stop.code, 1);
    assert_eq!(stop.with_status("failed"), names(&["prepare"]), "{stop:?}");
    assert_eq!(
        stop.with_status("dependency_failed"),
        names(&["analyse", "describe", "report"])
    );

    let go_on = s.run(&["run_all", "--continue-on-error"]);
    assert_eq!(go_on.code, 1);
    assert_eq!(go_on.with_status("ran"), names(&["describe"]), "{go_on:?}");
    assert_eq!(
        go_on.with_status("dependency_failed"),
        names(&["analyse", "report"])
    );
}

#[test]
fn unmatched_patterns_fail_with_a_did_you_mean_list() {
    let s = pipeline();
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/descripton.txt', 'w').write('typo')\n",
    );
    let r = s.run(&["describe"]);
    assert_eq!(r.code, 1, "{r:?}");
    let human = s.cairn(&["run", "describe"]);
    assert!(
        human
            .stdout
            .contains("No outputs found matching patterns:\n    - output/description.txt"),
        "{human:?}"
    );
    assert!(human.stdout.contains("output/descripton.txt"), "{human:?}");
}

#[test]
fn unknown_actions_list_the_valid_names() {
    let s = pipeline();
    let r = s.cairn(&["run", "nope"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Action 'nope' not found in project.yaml"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("run_all (runs all actions in project)"),
        "{r:?}"
    );
    assert!(r.stderr.contains("describe"), "{r:?}");
}

#[test]
fn outputs_an_action_no_longer_produces_are_removed() {
    let s = pipeline();
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('x')\nopen('output/extra.txt', 'w').write('y')\n",
    );
    s.write(
        "project.yaml",
        &s.read("project.yaml").replace(
            "description: output/description.txt",
            "description: output/*.txt",
        ),
    );
    assert_eq!(s.run(&["describe"]).code, 0);
    assert!(s.exists("output/extra.txt"));
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('x')\n",
    );
    let r = s.run(&["describe"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!s.exists("output/extra.txt"), "stale output removed");
    assert!(s.exists("output/description.txt"));
}

#[test]
fn two_runs_at_once_build_each_action_once() {
    let s = pipeline();
    let a = s
        .command(&["run", "run_all", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = s.run(&["run_all"]);
    let a = crate::study::ran(a.wait_with_output().unwrap());
    assert_eq!(a.code, 0, "{a:?}");
    assert_eq!(b.code, 0, "{b:?}");
    let mut ran = a.with_status("ran");
    ran.extend(b.with_status("ran"));
    ran.sort();
    assert_eq!(ran, names(&["analyse", "describe", "prepare", "report"]));
}

#[test]
fn status_reports_never_run_fresh_and_stale() {
    let s = pipeline();
    let states = |s: &Study| -> Vec<(String, String, bool)> {
        let r = s.cairn(&["status", "--format", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["action"].as_str().unwrap().to_string(),
                    a["state"].as_str().unwrap().to_string(),
                    a["id"].is_string(),
                )
            })
            .collect()
    };
    let before = states(&s);
    assert_eq!(before[0], ("prepare".into(), "never_run".into(), true));
    assert_eq!(before[1], ("analyse".into(), "never_run".into(), false));
    assert_eq!(s.run(&["run_all"]).code, 0);
    assert!(states(&s).iter().all(|(_, st, id)| st == "fresh" && *id));
    s.write(
        "analysis/prepare.py",
        "open('output/data.csv', 'w').write('id,value\\n')\n",
    );
    let after = states(&s);
    assert_eq!(after[0], ("prepare".into(), "stale".into(), true));
    assert_eq!(after[1], ("analyse".into(), "stale".into(), false));
    assert_eq!(after[3], ("describe".into(), "fresh".into(), true));
}

#[test]
fn explain_names_what_changed_among_what_the_action_observed() {
    let s = pipeline();
    std::fs::remove_file(s.file("cairn.toml")).unwrap();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write("analysis/prepare.py", "import os\nos.makedirs('output', exist_ok=True)\nopen('output/data.csv', 'w').write('id,value\\n1,1\\n')\n");
    let r = s.cairn(&["explain", "prepare"]);
    assert!(
        r.stdout
            .contains("analysis/prepare.py changed (read by prepare)"),
        "{r:?}"
    );
    assert_eq!(s.run(&["prepare"]).code, 0);
    let r = s.cairn(&["explain", "analyse"]);
    assert!(r.stdout.contains("the outputs of prepare changed"), "{r:?}");
}

#[test]
fn without_declared_inputs_an_edit_reruns_only_the_actions_that_read_it() {
    let s = pipeline();
    std::fs::remove_file(s.file("cairn.toml")).unwrap();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write("notes.md", "a note no action reads\n");
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('3 rows\\n')\n",
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.with_status("ran"), names(&["describe"]), "{r:?}");
}

#[test]
fn declared_inputs_narrow_what_an_action_sees() {
    let s = pipeline();
    s.write(
        "cairn.toml",
        "[actions.describe]\ninputs = [\"analysis/describe.py\"]\n",
    );
    assert_eq!(s.run(&["describe"]).code, 0);
    // An undeclared file changes: describe cannot see it, so it stays fresh.
    s.write("analysis/prepare.py", "# changed\n");
    let r = s.run(&["describe"]);
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    // Reading an undeclared file fails loudly instead of a false cache hit.
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write(open('analysis/prepare.py').read())\n",
    );
    let r = s.run(&["describe"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        s.read("metadata/describe.log")
            .contains("FileNotFoundError")
    );
}

#[test]
fn the_commit_is_recorded_as_provenance_not_identity() {
    let s = pipeline();
    let first = s.git(&["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(s.run(&["describe"]).code, 0);
    assert!(
        s.read("metadata/describe.log")
            .contains(&format!("commit: {first}"))
    );
    // A commit that changes nothing describe sees shares its derivation.
    s.write("notes.md", "");
    s.git(&["add", "-A"]);
    s.commit("notes");
    s.write("analysis/describe.py", &s.read("analysis/describe.py"));
    std::fs::remove_file(s.file("notes.md")).unwrap();
    s.commit("no notes");
    let r = s.run(&["describe"]);
    assert!(r.with_status("ran").is_empty(), "{r:?}");
}

#[test]
fn commit_builds_from_that_commits_tree() {
    let s = pipeline();
    let old = s.git(&["rev-parse", "HEAD"]).trim().to_string();
    s.write("analysis/describe.py", "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('uncommitted\\n')\n");
    let r = s.run(&["describe", "--commit", &old]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s.read("output/description.txt"), "three rows\n");
    let r = s.run(&["describe"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s.read("output/description.txt"), "uncommitted\n");
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let s = pipeline();
    s.write(
        "cairn.toml",
        "[images.python]\ncommand = [\"python-that-is-not-installed\"]\n",
    );
    let r = s.cairn(&["run", "describe"]);
    assert_eq!(r.code, 1, "{r:?}");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("`python`") && all.contains("not installed"),
        "{r:?}"
    );
    assert!(all.contains("[images.python]"), "{r:?}");
}

#[test]
fn moderately_sensitive_outputs_get_the_level_4_checks() {
    let s = pipeline();
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('x')\nopen('output/leak.csv', 'w').write('patient_id,x\\n1,2\\n')\n",
    );
    s.write(
        "project.yaml",
        &s.read("project.yaml").replace(
            "description: output/description.txt",
            "description: output/description.txt\n        leak: output/leak.csv",
        ),
    );
    let r = s.cairn(&["run", "describe"]);
    assert_eq!(r.code, 0, "reported, not fatal: {r:?}");
    assert!(r.stdout.contains("File has patient_id column"), "{r:?}");
    assert!(
        s.read("metadata/describe.log")
            .contains("Invalid moderately_sensitive outputs")
    );
}

#[test]
fn ctrl_c_kills_running_actions_and_records_nothing() {
    let s = pipeline();
    // A script name no other test uses, so pgrep finds only this action.
    let script = format!(
        "analysis/sleepy_{}_{}.py",
        std::process::id(),
        s.path().file_name().unwrap().to_string_lossy()
    );
    s.write(
        &script,
        "import os, time\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('x')\ntime.sleep(60)\n",
    );
    s.write(
        "project.yaml",
        &s.read("project.yaml").replace(
            "python:v2 analysis/describe.py",
            &format!("python:v2 {script}"),
        ),
    );
    s.write("cairn.toml", "");
    let child = s
        .command(&["run", "describe", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the action has started.
    let started = std::time::Instant::now();
    loop {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &script])
            .output()
            .unwrap();
        if out.status.success() || started.elapsed().as_secs() > 30 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: sending a signal to our own child.
    unsafe {
        libc_kill(child.id() as i32, 2);
    }
    let begun = std::time::Instant::now();
    let out = crate::study::ran(child.wait_with_output().unwrap());
    assert!(
        begun.elapsed().as_secs() < 30,
        "the action was killed, not awaited"
    );
    assert_eq!(out.code, 130, "{out:?}");
    let left = std::process::Command::new("pgrep")
        .args(["-f", &script])
        .output()
        .unwrap();
    assert!(!left.status.success(), "no action process is left behind");
    assert!(
        !s.exists("output/description.txt"),
        "nothing partial materialised"
    );
    let status = s.cairn(&["status", "--format", "json"]);
    assert!(
        status.stdout.contains(r#""action":"describe","id""#),
        "{status:?}"
    );
    assert!(
        status.stdout.contains("never_run"),
        "nothing recorded: {status:?}"
    );
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn withheld_content_is_rebuilt_only_when_a_stale_action_needs_it() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    // Drop the highly_sensitive object of prepare, as an archive exported
    // without --include-highly-sensitive would.
    let shown = s.cairn(&["show", "prepare", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    let object = doc["realisation"]["outputs"][0]["hash"]
        .as_str()
        .expect("the realisation names its object")
        .to_string();
    let path = s
        .store
        .path()
        .join("objects-v1")
        .join(&object[..2])
        .join(&object);
    std::fs::remove_file(&path).unwrap();
    // A checkout that never ran anything: it knows outputs only from the store.
    std::fs::remove_dir_all(s.file(".cairn")).unwrap();

    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("withheld"), names(&["prepare"]), "{r:?}");
    assert!(
        r.with_status("ran").is_empty(),
        "nothing stale needs it: {r:?}"
    );

    s.write(
        "analysis/analyse.py",
        "rows = open('output/data.csv').read().splitlines()[1:]\nopen('output/table.csv', 'w').write(f'rows\\n{len(rows)}\\n')\n",
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.with_status("ran"),
        names(&["analyse", "prepare", "report"]),
        "{r:?}"
    );
    assert!(path.exists(), "the rebuild put the content back");
}

#[test]
fn an_up_to_date_project_is_checked_without_reading_files() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    // Files written less than 2 s before they were hashed are racy and are
    // hashed again once; after that, stat data alone proves them unchanged.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(s.run(&["run_all"]).code, 0);
    let r = s.run(&["run_all"]);
    let done = r
        .events()
        .into_iter()
        .find(|e| e["event"] == "done")
        .expect("a done event");
    assert_eq!(done["files_hashed"], 0, "{r:?}");
    // An edit is still seen.
    s.write(
        "analysis/report.py",
        &format!("{}\n", s.read("analysis/report.py")),
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.with_status("ran"), names(&["report"]), "{r:?}");
}

#[test]
fn dry_run_says_what_would_run_and_runs_nothing() {
    let s = pipeline();
    assert_eq!(s.run(&["describe"]).code, 0);
    s.write(
        "analysis/prepare.py",
        &format!("# v2\n{}", s.read("analysis/prepare.py")),
    );
    let r = s.cairn(&["run", "run_all", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("prepare (") && r.stdout.contains("would run: never run"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("describe (") && r.stdout.contains("fresh: would restore"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("analyse (id not yet known): would run after its dependencies"),
        "{r:?}"
    );
    assert!(!s.exists("output/data.csv"), "nothing ran");
}

#[test]
fn sandboxed_actions_have_no_network_and_cannot_touch_the_project() {
    let s = pipeline();
    let project_file = s.file("project.yaml");
    s.write(
        "analysis/describe.py",
        &format!(
            "import os\nos.makedirs('output', exist_ok=True)\n\
             seen = 'visible' if os.path.exists({p:?}) else 'hidden'\n\
             try:\n    open({p:?}, 'a').write('x')\n    wrote = 'wrote'\nexcept OSError:\n    wrote = 'refused'\n\
             nets = ','.join(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n\
             open('output/description.txt', 'w').write(f'{{nets}} {{seen}} {{wrote}} {{os.getcwd()}}')\n",
            p = project_file.to_str().unwrap()
        ),
    );
    let r = s.run(&["describe"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        s.read("output/description.txt"),
        "lo hidden refused /workspace"
    );
    assert!(!s.read("project.yaml").ends_with('x'));
}

#[test]
fn log_prints_the_actions_log() {
    let s = pipeline();
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nprint('hello from describe')\nopen('output/description.txt', 'w').write('x')\n",
    );
    assert_eq!(s.run(&["describe"]).code, 0);
    let r = s.cairn(&["log", "describe"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("hello from describe"), "{r:?}");
    assert!(
        r.stdout
            .contains("output/description.txt  - moderately_sensitive"),
        "{r:?}"
    );
}

#[test]
fn graph_marks_fresh_and_never_run_actions() {
    let s = pipeline();
    assert_eq!(s.run(&["describe"]).code, 0);
    let r = s.cairn(&["graph"]);
    assert_eq!(r.code, 0, "{r:?}");
    let line = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.contains(&format!("\"{name}\" [")))
            .unwrap_or_else(|| panic!("no node {name}: {r:?}"))
            .to_string()
    };
    assert!(line("describe").contains("fillcolor"), "{r:?}");
    assert!(line("prepare").contains("dashed"), "{r:?}");
}

#[test]
fn the_example_study_reruns_only_what_an_edit_affects() {
    let s = Study::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/study");
    for f in [
        "project.yaml",
        "cairn.toml",
        "analysis/study_definition.py",
        "analysis/cohortextractor.py",
        "analysis/feasibility.py",
        "analysis/cr_analysis_dataset.py",
        "analysis/an_ccount_crude.py",
    ] {
        s.write(f, &std::fs::read_to_string(example.join(f)).unwrap());
    }
    s.commit("the example study");
    let first = s.run(&["run_all"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(
        first.with_status("ran"),
        names(&["anCASE", "crMAIN", "feasibility", "generate_cohort"])
    );
    assert_eq!(s.read("output/input.csv").lines().count(), 2001);
    assert!(s.read("output/tpp_sgss_counts.svg").starts_with("<svg"));

    let second = s.run(&["run_all"]);
    assert!(second.with_status("ran").is_empty(), "{second:?}");

    s.write(
        "analysis/an_ccount_crude.py",
        &s.read("analysis/an_ccount_crude.py")
            .replace("n if n > 7 else 0", "n if n > 10 else 0"),
    );
    let third = s.run(&["run_all"]);
    assert_eq!(third.with_status("ran"), names(&["anCASE"]), "{third:?}");
}

#[test]
fn a_project_its_enclosing_repository_ignores_is_read_from_disk() {
    let s = pipeline();
    s.write(".gitignore", "build/\n");
    let inner = "build/generated";
    for f in ["project.yaml", "analysis/describe.py"] {
        s.write(&format!("{inner}/{f}"), &s.read(f));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["run", "describe", "--format", "json", "--project-dir"])
        .arg(s.file(inner))
        .env("CAIRN_STORE", s.store.path())
        .output()
        .unwrap();
    let r = crate::study::ran(out);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        s.read(&format!("{inner}/output/description.txt")),
        "three rows\n"
    );
}

#[test]
fn an_action_ends_with_its_command_and_background_writers_with_it() {
    // Sandboxed (a PID namespace) and not (the action's process group).
    for sandbox in [true, false] {
        let s = Study::new();
        s.write(
            "project.yaml",
            r#"version: "4.0"
actions:
  late:
    run: python:v2 analysis/late.py
    outputs:
      moderately_sensitive:
        out: output/out.txt
"#,
        );
        // A child left running tries to change the output after the action ends.
        s.write(
            "analysis/late.py",
            "import os, subprocess\nos.makedirs('output', exist_ok=True)\nopen('output/out.txt', 'w').write('on time\\n')\nsubprocess.Popen(['sh', '-c', 'sleep 1; echo late >> output/out.txt'])\n",
        );
        s.commit("late");
        let mut cmd = s.command(&["run", "run_all", "--format", "json"]);
        if !sandbox {
            cmd.env("CAIRN_NO_SANDBOX", "1");
        }
        let r = crate::study::ran(cmd.output().unwrap());
        assert_eq!(r.code, 0, "sandbox {sandbox}: {r:?}");
        std::thread::sleep(std::time::Duration::from_millis(1500));
        assert_eq!(s.read("output/out.txt"), "on time\n", "sandbox {sandbox}");
        let verify = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["store", "verify"])
            .env("CAIRN_STORE", s.store.path())
            .output()
            .unwrap();
        assert!(verify.status.success(), "sandbox {sandbox}: {verify:?}");
        let second = s.run(&["run_all"]);
        assert_eq!(second.with_status("cached"), vec!["late"], "{second:?}");
        assert_eq!(s.read("output/out.txt"), "on time\n");
    }
}

#[test]
fn a_full_disk_fails_the_action_and_loses_nothing() {
    // The store lives on a 5 MiB tmpfs (1.3 of it the tracer), mounted in a
    // private user and mount namespace (no privileges needed); the second
    // version of the output fits in the scratch workspace but not again in
    // the store.
    let s = Study::new();
    s.write(
        "project.yaml",
        r#"version: "4.0"
actions:
  big:
    run: python:v2 analysis/big.py
    outputs:
      highly_sensitive:
        data: output/big.bin
"#,
    );
    let script = |kib: usize| {
        format!(
            "import os\nos.makedirs('output', exist_ok=True)\nopen('output/big.bin', 'wb').write(bytes([{}]) * {kib} * 1024)\n",
            kib % 251
        )
    };
    s.write("analysis/big.py", &script(1000));
    s.commit("small");
    let small_store = s.path().join("mnt");
    std::fs::create_dir(&small_store).unwrap();
    let cairn = env!("CARGO_BIN_EXE_cairn");
    let sh = format!(
        r#"set -e
mount -t tmpfs -o size=5m tmpfs mnt
export CAIRN_STORE=$PWD/mnt/store CAIRN_NO_SANDBOX=1
{cairn} run run_all --project-dir . > first.out 2>&1
sed -i 's/1000/1900/' analysis/big.py
set +e
{cairn} run run_all --project-dir . > second.out 2>&1
echo "second: $?"
set -e
{cairn} store verify > verify.out 2>&1
echo "verify: $?"
ls -A mnt/store/tmp > tmp.out
"#
    );
    let out = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &sh])
        .current_dir(s.path())
        .output()
        .expect("unshare (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let second = s.read("second.out");
    assert!(text.contains("second: 1"), "{text}\n{second}");
    assert!(second.contains("No space left on device"), "{second}");
    assert!(second.contains("storing the outputs of big"), "{second}");
    assert!(
        text.contains("verify: 0"),
        "{text}\n{}",
        s.read("verify.out")
    );
    assert_eq!(s.read("tmp.out"), "", "nothing left in the store's tmp/");
    // The project keeps the output of the last successful run.
    assert_eq!(
        std::fs::read(s.file("output/big.bin")).unwrap().len(),
        1000 * 1024
    );
}

#[test]
fn a_run_killed_at_any_point_leaves_a_consistent_store_and_project() {
    let s = pipeline();
    // One complete run gives the time to spread the kills over.
    let t = std::time::Instant::now();
    let full = s.run(&["run_all", "--force-run-dependencies"]);
    assert_eq!(full.code, 0, "{full:?}");
    let whole = t.elapsed();
    for round in 0..8u32 {
        // Change what `prepare` writes so that every round has work to do.
        s.write(
            "analysis/prepare.py",
            &format!(
                "import os\nos.makedirs('output', exist_ok=True)\nopen('output/data.csv', 'w').write('id,value\\n1,{round}\\n2,20\\n3,30\\n')\n"
            ),
        );
        let mut child = s
            .command(&["run", "run_all", "--format", "json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * round / 8);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let again = s.run(&["run_all"]);
        assert_eq!(again.code, 0, "round {round}: {again:?}");
        assert_eq!(
            s.read("output/data.csv"),
            format!("id,value\n1,{round}\n2,20\n3,30\n"),
            "round {round}"
        );
        let total = round + 50;
        assert_eq!(
            s.read("output/report.txt"),
            format!("The total is {total}.\n")
        );
        let verify = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["store", "verify"])
            .env("CAIRN_STORE", s.store.path())
            .output()
            .unwrap();
        assert!(verify.status.success(), "round {round}: {verify:?}");
        // Nothing is stale after the recovery run.
        let status = s.cairn(&["status", "--format", "json"]);
        assert!(
            !status.stdout.contains("\"stale\""),
            "round {round}: {status:?}"
        );
    }
}
