//! `cairn check` as a user sees it: exit codes, the JSON contract, and the human
//! output (errors with snippets, pinned by inline snapshots).

use crate::support::{self, cairn, check_human, check_json, project};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/cases");

fn case(name: &str) -> String {
    std::fs::read_to_string(format!("{CASES}/{name}")).unwrap()
}

#[test]
fn seed_job_request_prints_four_actions_and_the_run_all_warning() {
    let out = check_human(case("000_seed_job_request.yaml"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .collect();
    assert_eq!(
        names,
        [
            "project.yaml is valid (version 3.0): 4 actions",
            "generate_cohort",
            "feasibility",
            "crMAIN",
            "anCASE"
        ]
    );
    assert!(out.stdout.contains(
        "    command  cohortextractor:latest generate_cohort --study-definition study_definition \
         --expectations-population=10000 --output-dir=output\n    needs    -\n"
    ));
    assert!(out.stdout.contains("    needs    crMAIN\n"));
    insta::assert_snapshot!(out.stderr, @r#"
        project.yaml:1:10: warning: Your project file is using an old version (3.0); consider updating to version 5
          |
        1 | version: "3.0"
          |          ^
        project.yaml:40:3: warning: `run_all` is a reserved action name; user-defined actions with this name are ignored and will raise an error in later versions.
           |
        40 |   run_all:
           |   ^
        "#);
}

#[test]
fn json_contract() {
    let out = check_json(case("029_v5_config_and_dummy_data_file.yaml"));
    assert_eq!(out.code, 0);
    insta::assert_snapshot!(out.stdout, @r#"
        {
          "valid": true,
          "version": 5.0,
          "actions": [
            "a"
          ],
          "warnings": [],
          "errors": [],
          "plan": {
            "a": {
              "image": "python",
              "tag": "v2",
              "argv": [
                "python:v2",
                "a.py",
                "--config",
                "{\"files\": [\"a.csv\", \"it\\u0027s.csv\"]}"
              ],
              "needs": [],
              "outputs": {
                "highly_sensitive": {
                  "x": "output/a.csv"
                }
              }
            }
          }
        }
        "#);
}

#[test]
fn json_for_an_invalid_project() {
    let out = check_json("version: 5\nactions:\n  a: 1\n");
    assert_eq!(out.code, 1);
    let json = out.json();
    assert_eq!(json["valid"], false);
    assert_eq!(json["version"], 5.0);
    assert_eq!(json["actions"], serde_json::json!([]));
    assert_eq!(json["plan"], serde_json::json!({}));
    assert_eq!(
        json["errors"],
        serde_json::json!([{
            "message": "Configuration for action a must be a dictionary of key/value pairs",
            "line": 3,
            "column": 6
        }])
    );
    assert!(
        out.stderr.is_empty(),
        "JSON mode keeps stderr quiet: {}",
        out.stderr
    );
}

#[test]
fn missing_project_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = cairn(dir.path(), &["check"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("No project.yaml file found in ."),
        "{}",
        out.stderr
    );
    let out = cairn(dir.path(), &["check", "--format", "json"]);
    assert_eq!(out.code, 1);
    let json = out.json();
    assert_eq!(
        json["errors"][0]["message"],
        "No project.yaml file found in ."
    );
    assert_eq!(json["errors"][0]["line"], serde_json::Value::Null);
}

#[test]
fn usage_errors_exit_2() {
    let dir = project("version: 5\nactions: {}\n");
    let out = cairn(dir.path(), &["check", "--format", "yaml"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn project_dir_flag_names_the_file_in_messages() {
    let dir = project("version: 5\nactions: [a]\n");
    let elsewhere = tempfile::tempdir().unwrap();
    let arg = dir.path().to_str().unwrap();
    let out = cairn(elsewhere.path(), &["check", "--project-dir", arg]);
    assert_eq!(out.code, 1);
    let expected = format!("{arg}/project.yaml:2:10: error: Project `actions` section");
    assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
}

#[test]
fn yaml_syntax_error_snapshot() {
    let out = check_human(case("120_yaml_syntax_error.yaml"));
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
    insta::assert_snapshot!(out.stderr, @r"
        project.yaml:3:6: error: invalid YAML: the `[` on line 3, column 6 is never closed (while parsing a flow node, did not find expected node content at line 4, column 1, the end of the file)
          |
        3 |   a: [
          |      ^
        project.yaml is not valid: 1 error
        ");
}

#[test]
fn tab_indentation_snapshot() {
    let out = check_human(case("121_yaml_tab_indent.yaml"));
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @r"
        project.yaml:3:1: error: invalid YAML: found character that cannot start any token; indent with spaces, not tabs (line 3, column 1)
          |
        3 | 	a: 1
          | ^
        project.yaml is not valid: 1 error
        ");
}

#[test]
fn duplicate_key_snapshot() {
    let out = check_human(case("019_v5_duplicate_action_yaml_key.yaml"));
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @r#"
        project.yaml:8:3: error: found duplicate key "a" on line 8 (first defined on line 3)
          |
        8 |   a:
          |   ^
        project.yaml is not valid: 1 error
        "#);
}

#[test]
fn multiple_errors_snapshot() {
    let out = check_human(case("119_v5_multiple_errors.yaml"));
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @r"
        project.yaml:2:1: error: Unexpected parameters (foo) in project
          |
        2 | foo: 1
          | ^
        project.yaml:5:10: error: Action a uses `python:latest`, which is not supported. Provide a version e.g. `:v2` instead
          |
        5 |     run: python:latest a.py
          |          ^
        project.yaml:10:10: error: Action b uses `python:latest`, which is not supported. Provide a version e.g. `:v2` instead
           |
        10 |     run: python:latest a.py
           |          ^
        project.yaml:10:10: error: Action b has the same 'run' command as other actions: a
           |
        10 |     run: python:latest a.py
           |          ^
        project.yaml:11:13: error: Action `b` references an unknown action in its `needs` list: zz
           |
        11 |     needs: [zz]
           |             ^
        project.yaml:14:12: error: Output path output/a.csv is not unique
           |
        14 |         x: output/a.csv
           |            ^
        project.yaml is not valid: 6 errors
        ");
}

#[test]
fn cycle_snapshot() {
    let out = check_human(case("014_v5_cycle_two_actions.yaml"));
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @r"
        project.yaml:5:13: error: `needs` of action a makes a cycle: a -> b -> a (an action cannot need itself, directly or through other actions)
          |
        5 |     needs: [b]
          |             ^
        project.yaml is not valid: 1 error
        ");
}

#[test]
fn errors_are_listed_in_file_order() {
    let out = check_json(
        "version: 5\nactions:\n  b: {run: 'python:v2 b.py', needs: [zz], outputs: {highly_sensitive: {x: b.csv}}}\n  \
         a: {run: 'python:v2 a.py', outputs: {}}\nfoo: 1\n",
    );
    let lines: Vec<u64> = out.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 5]);
}

#[test]
fn crash_free_on_the_reference_crashers() {
    // Each of these crashes the reference validator; cairn explains instead.
    for (yaml, needle) in [
        ("", "empty"),
        ("- a\n", "mapping"),
        ("version: 5\nactions:\n\ta: 1\n", "line 3"),
        (
            "version: 5\nactions:\n  a: {run: 'python:v2 \"x', outputs: {highly_sensitive: {x: a.csv}}}\n",
            "No closing quotation",
        ),
        (
            "version: 5\nactions:\n  a: {run: '   ', outputs: {highly_sensitive: {x: a.csv}}}\n",
            "empty run key",
        ),
        (
            "version: 5\nactions:\n  a: {run: 'python:v2 a', needs: [1], outputs: {highly_sensitive: {x: a.csv}}}\n",
            "must be a list of action names",
        ),
        (
            "version: 6\nactions: {}\n",
            "The latest version is v5, but got v6.0",
        ),
    ] {
        let out = check_json(yaml);
        out.assert_no_crash();
        assert_eq!(out.code, 1, "{yaml:?}");
        let message = out.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains(needle),
            "{yaml:?}: {message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn broken_pipe_is_not_a_failure() {
    use std::process::{Command, Stdio};
    let dir = support::project(case("000_seed_job_request.yaml"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["check", "--format", "json"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before cairn writes
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Real studies continue a flow sequence on the next line, indented no deeper than its
/// key; the reference's YAML loader accepts it, and so does cairn.
#[test]
fn needs_continued_on_the_next_line_at_the_keys_indentation() {
    let extract = |name: &str| {
        format!(
            "  {name}:\n    run: ehrql:v1 generate-dataset analysis/{name}.py --output output/{name}.csv.gz\n\
             \x20   outputs:\n      highly_sensitive:\n        dataset: output/{name}.csv.gz\n"
        )
    };
    let yaml = format!(
        "version: '4.0'\nactions:\n{}{}{}\
         \x20 summarise:\n    run: r:v2 analysis/summarise.R\n\
         \x20   needs: [extract_cases, extract_controls_1,\n    extract_controls_2]\n\
         \x20   outputs:\n      moderately_sensitive:\n        table: output/summary.csv\n",
        extract("extract_cases"),
        extract("extract_controls_1"),
        extract("extract_controls_2"),
    );
    let out = check_json(&yaml);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(
        report["plan"]["summarise"]["needs"],
        serde_json::json!(["extract_cases", "extract_controls_1", "extract_controls_2"])
    );
    assert_eq!(
        report["plan"]["summarise"]["argv"],
        serde_json::json!(["r:v2", "analysis/summarise.R"])
    );
    // The human form agrees.
    let human = check_human(&yaml);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human
            .stdout
            .contains("needs    extract_cases, extract_controls_1, extract_controls_2"),
        "{}",
        human.stdout
    );
}

/// What the reference's loader rejects, cairn rejects: a `:` inside an unquoted value
/// in a flow mapping.
#[test]
fn a_colon_in_an_unquoted_flow_value_is_the_references_error() {
    let out = check_human(
        "version: 5\nactions:\n  a: {run: python:v2 a.py, outputs: {highly_sensitive: {x: a.csv}}}\n",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with(
            "project.yaml:3:18: error: invalid YAML: found unexpected ':' (line 3, column 18, \
             while scanning a plain scalar from line 3, column 12)"
        ),
        "{}",
        out.stderr
    );
}
