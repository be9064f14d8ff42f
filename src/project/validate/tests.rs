//! One case per rule: a small project.yaml and the errors it must give, in order.

use crate::project::{Location, check_source};

/// A v5 project whose action `a` has the given body lines (indented four spaces).
fn v5(body: &str) -> String {
    format!("version: 5\nactions:\n  a:\n{}", indent(body))
}

fn indent(body: &str) -> String {
    body.lines().map(|l| format!("    {l}\n")).collect()
}

const OUT: &str = "outputs:\n  highly_sensitive:\n    x: output/a.csv";

/// Checks that `src` gives exactly these errors (each a substring, in order).
fn check(src: &str, expected: &[&str]) {
    let checked = check_source(src);
    let got: Vec<&str> = checked.errors.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(got.len(), expected.len(), "{src}\ngot: {got:#?}");
    for (g, e) in got.iter().zip(expected) {
        assert!(g.contains(e), "{src}\n{g:?} lacks {e:?}");
    }
    assert_eq!(checked.project.is_some(), expected.is_empty());
}

fn warnings(src: &str) -> Vec<String> {
    check_source(src)
        .warnings
        .into_iter()
        .map(|d| d.message)
        .collect()
}

#[test]
fn document_shape() {
    check("", &["project.yaml is empty"]);
    check("~\n", &["project.yaml is empty"]);
    check(
        "- a\n- b\n",
        &["must be a mapping with `version` and `actions` at the top level, but it is a list"],
    );
    check(
        "hello\n",
        &["must be a mapping with `version` and `actions` at the top level, but it is a string"],
    );
    check(
        "version: 5\nactions: {}\nfoo: 1\nbar: 2\n",
        &["Unexpected parameters (foo, bar) in project"],
    );
    check(
        "version: 5\n",
        &["Project `actions` section must be a dictionary of key/value pairs"],
    );
    check(
        "version: 5\nactions: [a]\n",
        &["Project `actions` section must be a dictionary"],
    );
    check(
        "version: 5\nactions:\n",
        &["Project `actions` section must be a dictionary"],
    );
    check("version: 5\nactions: {}\n", &[]);
}

#[test]
fn action_shape() {
    check(
        "version: 5\nactions:\n  a:\n",
        &["Configuration for action a must be a dictionary of key/value pairs"],
    );
    check(
        "version: 5\nactions:\n  a: 1\n",
        &["Configuration for action a must be a dictionary"],
    );
    check(
        "version: 5\nactions:\n  a: {}\n",
        &[
            "Action a must contain a configuration for 'run'",
            "Action a must contain a configuration for 'outputs'",
        ],
    );
    check(
        &v5(&format!("run: python:v2 a.py\ndescription: x\n{OUT}")),
        &["Unexpected parameters (description) in action a"],
    );
    check(
        &v5("run: python:v2 a.py\noutputs: [x]"),
        &["`outputs` section for action a must be a dictionary of key/value pairs"],
    );
    check(
        &v5(&format!("run: 5\n{OUT}")),
        &["`run` section for action a must be a string"],
    );
    check(
        &v5(&format!("run:\n{OUT}")),
        &["`run` section for action a must be a string"],
    );
    check(
        &v5(&format!("run: python:v2 a.py\nneeds: a\n{OUT}")),
        &["`needs` section for action a must be a list"],
    );
    check(
        &v5(&format!("run: python:v2 a.py\nconfig: [1]\n{OUT}")),
        &["`config` section for action a must be a dictionary of key/value pairs"],
    );
    check(
        &v5(&format!("run: python:v2 a.py\ndummy_data_file: 1\n{OUT}")),
        &["`dummy_data_file` section for action a must be a string"],
    );
    check(
        &v5(&format!(
            "run: python:v2 a.py\nneeds:\nconfig:\ndummy_data_file:\n{OUT}"
        )),
        &[],
    );
}

#[test]
fn outputs_rules() {
    let at_least = "must specify at least one output of: highly_sensitive, moderately_sensitive, minimally_sensitive";
    check(&v5("run: python:v2 a.py\noutputs: {}"), &[at_least]);
    check(
        &v5("run: python:v2 a.py\noutputs:\n  secret: {x: a.csv}"),
        &[at_least],
    );
    check(
        &v5("run: python:v2 a.py\noutputs:\n  highly_sensitive:"),
        &[at_least],
    );
    check(
        &v5("run: python:v2 a.py\noutputs:\n  highly_sensitive: {x: a.csv}\n  secret: {y: b.csv}"),
        &["Unexpected parameters (secret) in `outputs` section for action a"],
    );
    check(
        &v5("run: python:v2 a.py\noutputs:\n  highly_sensitive: {}"),
        &[],
    );
    check(
        &v5("run: python:v2 a.py\noutputs:\n  highly_sensitive: [a.csv]"),
        &["`highly_sensitive` section for action a must be a dictionary of key/value pairs"],
    );
    check(
        &v5("run: python:v2 a.py\noutputs:\n  highly_sensitive: {x: 1}"),
        &["`x` output for action a must be a string"],
    );
    // Every bad pattern is reported, not just the first.
    check(
        &v5(
            "run: python:v2 a.py\noutputs:\n  highly_sensitive: {x: /a.csv, y: out/x}\n  moderately_sensitive: {z: out/z.dta}",
        ),
        &[
            "Output path /a.csv is invalid: is an absolute path",
            "Output path out/x is invalid: output paths must have a file type extension at the end",
            "Output path out/z.dta is invalid: out/z.dta is not an allowed file type for moderately_sensitive outputs",
        ],
    );
}

#[test]
fn run_rules() {
    check(
        &v5(&format!("run: ''\n{OUT}")),
        &["run must have a value, a has an empty run key"],
    );
    check(
        &v5(&format!("run: '   '\n{OUT}")),
        &["run must have a value, a has an empty run key"],
    );
    check(
        &v5(&format!("run: python a.py\n{OUT}")),
        &["Action command python must have a version specified in the form :vN (e.g. python:v2)"],
    );
    check(
        &v5(&format!("run: python:v2 'a.py\n{OUT}")),
        &["No closing quotation"],
    );
    check(
        &v5(&format!("run: \"python:v2 a.py \\\\\"\n{OUT}")),
        &["No escaped character"],
    );
    check(
        &v5(&format!("run: r:latest a.R\n{OUT}")),
        &["Action a uses `r:latest`, which is not supported. Provide a version e.g. `:v2` instead"],
    );
    check(
        &format!(
            "version: 4\nactions:\n  a:\n{}",
            indent(&format!("run: r:latest a.R\n{OUT}"))
        ),
        &[],
    );
}

#[test]
fn needs_rules() {
    let two = |needs_b: &str| {
        format!(
            "version: 5\nactions:\n  a:\n{}  b:\n{}",
            indent(&format!("run: python:v2 a.py\n{OUT}")),
            indent(&format!(
                "run: python:v2 b.py\nneeds: {needs_b}\noutputs:\n  highly_sensitive:\n    x: output/b.csv"
            ))
        )
    };
    check(&two("[a]"), &[]);
    check(&two("[a, a]"), &[]);
    check(&two("[]"), &[]);
    check(
        &two("[nope, a, zz]"),
        &[
            "Action `b` references an unknown action in its `needs` list: nope",
            "Action `b` references an unknown action in its `needs` list: zz",
        ],
    );
    check(
        &two("[a b]"),
        &["`needs` actions should be separated with commas, but b needs `a b`"],
    );
    check(
        &two("[1]"),
        &[
            "`needs` section for action b must be a list of action names, but it contains an integer (1)",
        ],
    );
    check(&two("[b]"), &["`needs` of action b makes a cycle: b -> b"]);
}

#[test]
fn cycles_name_their_actions() {
    let src = "version: 5\nactions:\n\
        \x20 a: {run: 'python:v2 a.py', needs: [c], outputs: {highly_sensitive: {x: a.csv}}}\n\
        \x20 b: {run: 'python:v2 b.py', needs: [a], outputs: {highly_sensitive: {x: b.csv}}}\n\
        \x20 c: {run: 'python:v2 c.py', needs: [b], outputs: {highly_sensitive: {x: c.csv}}}\n\
        \x20 d: {run: 'python:v2 d.py', needs: [d, a], outputs: {highly_sensitive: {x: d.csv}}}\n";
    check(
        src,
        &[
            "`needs` of action a makes a cycle: a -> c -> b -> a",
            "`needs` of action d makes a cycle: d -> d",
        ],
    );
    let checked = check_source(src);
    assert_eq!(
        checked.errors[0].location,
        Some(Location {
            line: 3,
            column: 38
        })
    );
}

#[test]
fn duplicates_across_actions() {
    let src = |v: u32, b_run: &str, b_out: &str| {
        format!(
            "version: {v}\nactions:\n\
             \x20 a: {{run: 'python:v2 a.py', outputs: {{highly_sensitive: {{x: output/a.csv}}}}}}\n\
             \x20 b: {{run: '{b_run}', outputs: {{moderately_sensitive: {{x: {b_out}}}}}}}\n\
             \x20 c: {{run: 'python:v2 a.py', outputs: {{minimally_sensitive: {{x: c.csv}}}}}}\n"
        )
    };
    check(
        &src(5, "python:v2 b.py", "output/a.csv"),
        &[
            "Output path output/a.csv is not unique",
            "Action c has the same 'run' command as other actions: a",
        ],
    );
    check(
        &src(1, "python:v2 a.py", "output/a.csv"),
        &[
            "Action b has the same 'run' command as other actions: a",
            "Action c has the same 'run' command as other actions: a ,b",
        ],
    );
    // Whitespace makes a different command, as in the reference.
    check(
        &src(1, "python:v2  a.py", "output/*.csv")
            .replace("c: {run: 'python:v2 a.py", "c: {run: 'python:v2 c.py"),
        &[],
    );
}

#[test]
fn versions_and_features() {
    let cohort = "run: cohortextractor:latest generate_cohort\noutputs:\n  highly_sensitive:\n    c: output/input.csv";
    let project = |version: &str, extra: &str| {
        format!(
            "version: {version}\n{extra}actions:\n  a:\n{}",
            indent(cohort)
        )
    };
    let expectations = "expectations:\n  population_size: 500\n";
    check(&project("3", expectations), &[]);
    check(
        &project("3", ""),
        &["Project must include `expectations` section"],
    );
    check(&project("'2'", ""), &[]);
    check(&project("3.5", ""), &[]);
    check(
        &project("4", ""),
        &["Action a uses cohortextractor actions, which are not supported in this version."],
    );
    check(
        &project("4", expectations),
        &[
            "Project includes `expectations` section, which is not supported in this version.",
            "Action a uses cohortextractor actions",
        ],
    );
    check(
        &project("6", ""),
        &["The latest version is v5, but got v6.0"],
    );
    check(
        &project("three", ""),
        &["`version` must be a number between 1 and 5"],
    );
    check(
        &format!("actions:\n  a:\n{}", indent(cohort)),
        &[
            "Project file must have a `version` attribute specifying which version of the project configuration format it uses (current latest version is 5)",
        ],
    );
    assert_eq!(
        warnings(&project("3", expectations)),
        ["Your project file is using an old version (3.0); consider updating to version 5"]
    );
    assert_eq!(
        warnings(&project("'2.50'", "")),
        ["Your project file is using an old version (2.5); consider updating to version 5"]
    );
    assert!(warnings("version: 5\nactions: {}\n").is_empty());
}

#[test]
fn version_errors_do_not_hide_action_errors() {
    check(
        "version: x\nactions:\n  a: 1\n",
        &[
            "`version` must be a number between 1 and 5",
            "Configuration for action a must be a dictionary",
        ],
    );
}

#[test]
fn legacy_run_all() {
    let body = "run: cohortextractor:latest --version\nneeds: [nope]\noutputs:\n  moderately_sensitive:\n    w: project.yaml";
    let src = |v: u32| {
        format!(
            "version: {v}\nactions:\n  a:\n{}  b:\n{}  run_all:\n{}",
            indent(&format!("run: python:v2 a.py\n{OUT}")),
            indent(
                "run: python:v2 b.py\nneeds: [run_all]\noutputs:\n  highly_sensitive:\n    x: b.csv"
            ),
            indent(body)
        )
    };
    let checked = check_source(&src(2));
    assert!(checked.errors.is_empty(), "{:?}", checked.errors);
    let project = checked.project.unwrap();
    assert_eq!(project.actions.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(project.actions["b"].needs.is_empty());
    let w = warnings(&src(2));
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[1].starts_with("Action `b` needs the user-defined `run_all` action"));
    assert_eq!(
        w[2],
        "`run_all` is a reserved action name; user-defined actions with this name are ignored and will raise an error in later versions."
    );
    check(
        &src(5),
        &["`run_all` is a reserved action name and is not allowed for user-defined actions."],
    );
}

#[test]
fn extraction_rules() {
    let with =
        |version: &str, body: &str| format!("version: {version}\nactions:\n  a:\n{}", indent(body));
    check(
        &with(
            "2",
            "run: cohortextractor:latest generate_cohort\noutputs:\n  highly_sensitive: {x: o/a.csv}\n  moderately_sensitive: {y: o/b.csv}",
        ),
        &["A `generate_cohort` action must have exactly one output; a had 2"],
    );
    check(
        &with(
            "2",
            "run: cohortextractor:latest generate_cohort\noutputs:\n  highly_sensitive: {x: o1/a.csv, y: o2/b.csv}",
        ),
        &[
            "generate_cohort command should produce output in only one directory, found 2:\n - o1/\n - o2/",
        ],
    );
    check(
        &with(
            "2",
            "run: cohortextractor:latest generate_cohort --output-dir o1\noutputs:\n  highly_sensitive: {x: o1/a.csv, y: o2/b.csv}",
        ),
        &[],
    );
    check(
        &with(
            "5",
            "run: ehrql:v1 generate-dataset d.py --output o/a.csv\noutputs:\n  moderately_sensitive: {x: o/a.csv}",
        ),
        &[
            "`a` action uses `generate-dataset` and so all outputs must be labelled `highly_sensitive`",
        ],
    );
    check(
        &with(
            "5",
            "run: ehrql:v1 generate-dataset d.py --output\noutputs:\n  highly_sensitive: {x: o/a.csv}",
        ),
        &[
            "`a` action does not provide an `--output` argument specifying where the results of `generate-dataset` should be stored",
        ],
    );
    check(
        &with(
            "5",
            "run: databuilder:v0 generate_dataset d.py --output=o/a.csv\noutputs:\n  highly_sensitive: {x: o/b.csv}",
        ),
        &[
            "output specification must match the `--output` argument in the `run` command\n              got: o/b.csv\nbut was expecting: o/a.csv",
        ],
    );
    check(
        &with(
            "5",
            "run: ehrql:v1 generate-dataset d.py --output outputs:arrow\noutputs:\n  highly_sensitive: {x: outputs.arrow}",
        ),
        &["got: outputs.arrow\nbut was expecting: outputs/:arrow"],
    );
    check(
        &with(
            "5",
            "run: ehrql:v1 generate-dataset d.py --output=o/a.csv\noutputs:\n  highly_sensitive: {x: o/a.csv}",
        ),
        &[],
    );
    check(
        &with(
            "5",
            "run: ehrql:v1 generate-measures m.py --output o/m.csv\noutputs:\n  moderately_sensitive: {x: o/m.csv}",
        ),
        &[],
    );
}

#[test]
fn problems_in_one_action_do_not_hide_others() {
    let src = "version: 5\nfoo: 1\nactions:\n\
        \x20 a: {run: 'python:latest a.py', outputs: {highly_sensitive: {x: output/a.csv}}}\n\
        \x20 b: {run: 'python:latest a.py', needs: [zz], outputs: {highly_sensitive: {x: output/a.csv}}}\n\
        \x20 c: {run: 'python:v2 \"c.py', needs: [zz], outputs: {highly_sensitive: {x: /c.csv}}}\n";
    check(
        src,
        &[
            "Unexpected parameters (foo) in project",
            "Action a uses `python:latest`",
            "Action b uses `python:latest`",
            "Action b has the same 'run' command as other actions: a",
            "Action `b` references an unknown action in its `needs` list: zz",
            "Output path output/a.csv is not unique",
            "No closing quotation",
            "Output path /c.csv is invalid: is an absolute path",
        ],
    );
}

#[test]
fn errors_carry_locations() {
    let checked = check_source(&v5(
        "run: python a.py\noutputs:\n  highly_sensitive:\n    x: /a.csv",
    ));
    let at: Vec<_> = checked.errors.iter().map(|d| d.location.unwrap()).collect();
    assert_eq!(
        at,
        [
            Location {
                line: 4,
                column: 10
            },
            Location {
                line: 7,
                column: 12
            }
        ]
    );
}

#[test]
fn argv_is_expanded() {
    let checked = check_source(
        "version: '3.0'\nexpectations: {population_size: 10000}\nactions:\n\
         \x20 g:\n    run: cohortextractor:latest generate_cohort --study-definition sd\n    outputs: {highly_sensitive: {c: output/input.csv}}\n\
         \x20 p:\n    run: python:latest p.py\n    config: {files: [a.csv, \"it's.csv\"], n: 1.0}\n    needs: [g]\n    outputs: {moderately_sensitive: {f: output/*.png}}\n\
         \x20 q:\n    run: python:latest q.py\n    config: {}\n    outputs: {moderately_sensitive: {f: output/q.png}}\n",
    );
    let p = checked.project.unwrap();
    assert_eq!(p.version, 3.0);
    assert_eq!(
        p.actions["g"].argv,
        [
            "cohortextractor:latest",
            "generate_cohort",
            "--study-definition",
            "sd",
            "--expectations-population=10000",
            "--output-dir=output"
        ]
    );
    assert_eq!(
        p.actions["p"].argv,
        [
            "python:latest",
            "p.py",
            "--config",
            r#"{"files": ["a.csv", "it\u0027s.csv"], "n": 1.0}"#
        ]
    );
    assert_eq!(p.actions["q"].argv, ["python:latest", "q.py"]);
    assert_eq!(
        (p.actions["p"].image.as_str(), p.actions["p"].tag.as_str()),
        ("python", "latest")
    );
    assert_eq!(p.actions["p"].needs, ["g"]);
    assert_eq!(p.actions["p"].location, Location { line: 7, column: 3 });
}

#[test]
fn action_names_are_the_keys_text() {
    check(
        "version: 5\nactions:\n  1: {run: 'python:v2 a.py', outputs: {highly_sensitive: {x: a.csv}}}\n  '1': {run: 'python:v2 b.py', outputs: {highly_sensitive: {x: b.csv}}}\n",
        &["found duplicate action name \"1\" on line 4 (first defined on line 3)"],
    );
    let checked = check_source(
        "version: 5\nactions:\n  ünï cødé: {run: 'python:v2 a.py', outputs: {highly_sensitive: {x: a.csv}}}\n  b: {run: 'python:v2 b.py', needs: [ünï cødé], outputs: {highly_sensitive: {x: b.csv}}}\n",
    );
    // A name with a space cannot be needed: the reference's comma rule.
    assert_eq!(checked.errors.len(), 1);
}
