//! `cairn show` (provenance) and `cairn log`.

use serde_json::Value;

use crate::study::pipeline;

fn is_iso8601(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.chars().filter(char::is_ascii_digit).count() == 14
}

#[test]
fn show_gives_the_derivation_observations_and_realisation() {
    let s = pipeline();
    let head = s.git(&["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(s.run(&["run_all"]).code, 0);

    let r = s.cairn(&["show", "analyse", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["state"], "fresh");
    let id = doc["id"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    let drv = &doc["derivation"];
    assert_eq!(drv["short"], id);
    assert_eq!(drv["argv"][1], "analysis/analyse.py");
    assert!(
        drv["image"]["identity"]
            .as_str()
            .unwrap()
            .starts_with("blake3:")
    );
    assert_eq!(
        drv["inputs"]["prepare"]["manifest"].as_str().unwrap().len(),
        64
    );
    assert!(
        doc["observations"]["read"]["analysis/analyse.py"]
            .as_str()
            .unwrap()
            .starts_with("file ")
    );
    let real = &doc["realisation"];
    assert_eq!(real["commit"], head.as_str());
    assert_eq!(real["dirty"], false);
    assert_eq!(real["executor"], "local");
    assert_eq!(real["current"], true);
    assert!(is_iso8601(real["started_at"].as_str().unwrap()), "{real}");
    assert!(is_iso8601(real["finished_at"].as_str().unwrap()), "{real}");
    assert_eq!(real["signatures"], serde_json::json!([]));
    let out = &real["outputs"][0];
    assert_eq!(out["path"], "output/table.csv");
    assert_eq!(out["level"], "moderately_sensitive");
    assert_eq!(out["size"], 9);
    assert_eq!(out["hash"].as_str().unwrap().len(), 64);

    let human = s.cairn(&["show", "analyse"]);
    assert_eq!(human.code, 0, "{human:?}");
    for expected in [
        format!("id          {id}"),
        format!("  commit    {head} (clean)"),
        "  executor  local".to_string(),
        "  signed    none".to_string(),
        "  input     prepare: outputs ".to_string(),
        "  read      analysis/analyse.py  file ".to_string(),
    ] {
        assert!(human.stdout.contains(&expected), "{expected}: {human:?}");
    }
    let started = human
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("  started   "))
        .unwrap();
    assert!(is_iso8601(started), "{started}");
    assert!(
        human.stdout.lines().any(|l| l.contains("output/table.csv")
            && l.contains("moderately_sensitive")
            && l.contains("9 B")),
        "{human:?}"
    );
}

#[test]
fn a_dirty_build_says_so_and_log_prints_the_last_log() {
    let s = pipeline();
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nprint('describing')\nopen('output/description.txt', 'w').write('3 rows\\n')\n",
    );
    assert_eq!(s.run(&["describe"]).code, 0);
    let r = s.cairn(&["show", "describe", "--format", "json"]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["realisation"]["dirty"], true, "{doc}");
    assert!(
        s.cairn(&["show", "describe"])
            .stdout
            .contains("(work tree dirty)")
    );
    let log = s.cairn(&["log", "describe"]);
    assert_eq!(log.code, 0, "{log:?}");
    assert!(log.stdout.contains("describing"), "{log:?}");
}

#[test]
fn show_before_anything_ran_says_there_is_no_realisation() {
    let s = pipeline();
    let r = s.cairn(&["show", "report"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("derivation  not yet known"), "{r:?}");
    assert!(
        r.stdout.contains("realisation none: report is never_run"),
        "{r:?}"
    );
    let j = s.cairn(&["show", "report", "--format", "json"]);
    let doc: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(doc["realisation"], Value::Null);
    assert_eq!(doc["state"], "never_run");
}
