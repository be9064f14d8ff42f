//! `cairn status` and `cairn explain` tell the truth: failed with when,
//! stale with the first cause, outputs edited or deleted in the project, the
//! last runtime; explain walks up to the first cause and shows the action's
//! own changes too.

use serde_json::Value;

use crate::study::pipeline;

fn by_action(v: &Value, name: &str) -> Value {
    v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == name)
        .unwrap_or_else(|| panic!("{name} in {v}"))
        .clone()
}

#[test]
fn status_distinguishes_failed_stale_and_edited_with_causes() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let fresh = s.cairn(&["status", "--format", "json"]);
    let prepare = by_action(&serde_json::from_str(&fresh.stdout).unwrap(), "prepare");
    assert_eq!(prepare["state"], "fresh");
    assert!(prepare["runtime_s"].is_number(), "{prepare}");

    s.write(
        "analysis/prepare.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/data.csv', 'w').write('id,value\\n1,1\\n')\n",
    );
    s.write("analysis/report.py", "import sys\nsys.exit(3)\n");
    std::fs::remove_file(s.file("output/description.txt")).unwrap();
    let r = s.cairn(&["status", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let cause = |a: &str| by_action(&v, a)["cause"].as_str().unwrap_or("").to_string();
    assert_eq!(by_action(&v, "prepare")["state"], "stale");
    assert!(
        cause("prepare").contains("analysis/prepare.py changed"),
        "{v}"
    );
    assert_eq!(by_action(&v, "report")["state"], "stale");
    assert!(
        cause("report").starts_with("analyse: prepare: analysis/prepare.py changed"),
        "the first cause, walked up: {v}"
    );
    assert_eq!(by_action(&v, "describe")["state"], "fresh");
    assert_eq!(
        by_action(&v, "describe")["deleted"][0],
        "output/description.txt"
    );

    // A failure is remembered with when, and only its latest workspace is kept.
    let first = s.run(&["run_all"]);
    assert_eq!(first.with_status("failed"), ["report"], "{first:?}");
    let kept = |text: &str| -> std::path::PathBuf {
        text.lines()
            .find_map(|l| l.strip_prefix("workspace: "))
            .expect("a kept workspace")
            .into()
    };
    let ws1 = kept(&s.read("metadata/report.log"));
    assert!(ws1.exists());
    s.write("analysis/report.py", "import sys\nsys.exit(4)\n");
    assert_eq!(s.run(&["run_all"]).with_status("failed"), ["report"]);
    let ws2 = kept(&s.read("metadata/report.log"));
    assert!(
        ws2.exists() && !ws1.exists(),
        "{ws1:?} removed, {ws2:?} kept"
    );

    s.write("output/table.csv", "tampered\n");
    let v: Value = serde_json::from_str(&s.cairn(&["status", "--format", "json"]).stdout).unwrap();
    let report = by_action(&v, "report");
    assert_eq!(report["state"], "failed", "{v}");
    assert!(report["failed_at"].as_str().unwrap().ends_with('Z'), "{v}");
    assert_eq!(report["cause"], "failed: Job exited with an error");
    assert_eq!(by_action(&v, "analyse")["edited"][0], "output/table.csv");

    let human = s.cairn(&["status"]);
    insta::assert_snapshot!(mask(&human.stdout), @r"
    prepare   [ID]  fresh         [T]
    analyse   [ID]  fresh         [T]
        output/table.csv: edited since cairn wrote it (the next run restores it)
    report    [ID]  failed        [T]  failed: Job exited with an error at [WHEN]
    describe  [ID]  fresh         [T]
    ");
}

#[test]
fn explain_walks_up_to_the_first_cause_and_shows_own_changes() {
    let s = pipeline();
    std::fs::remove_file(s.file("cairn.toml")).unwrap();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write(
        "analysis/prepare.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/data.csv', 'w').write('id,value\\n1,1\\n')\n",
    );
    s.write(
        "analysis/report.py",
        &format!("# tidied\n{}", s.read("analysis/report.py")),
    );
    let r = s.cairn(&["explain", "report"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("analyse ← prepare: analysis/prepare.py changed (read by prepare)"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("report itself changed too:")
            && r.stdout
                .contains("analysis/report.py changed (read by report)"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("run `cairn explain"), "{r:?}");
}

/// Identifiers, times and runtimes masked.
fn mask(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.split(' ')
                .map(|w| {
                    let is_id = w.len() == 16
                        && w.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                        && w.chars().any(|c| c.is_ascii_digit());
                    let is_secs = w.len() > 1
                        && w.ends_with('s')
                        && w[..w.len() - 1].chars().all(|c| c.is_ascii_digit());
                    if is_id {
                        "[ID]".to_string()
                    } else if is_secs {
                        "[T]".to_string()
                    } else if w.len() == 20 && w.starts_with("20") && w.ends_with('Z') {
                        "[WHEN]".to_string()
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
