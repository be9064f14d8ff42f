//! The YAML layer on good, odd and hostile input.

use super::*;

fn errors(src: &str) -> Vec<String> {
    parse(src)
        .unwrap_err()
        .into_iter()
        .map(|d| d.message)
        .collect()
}

fn one_error(src: &str, needles: &[&str]) -> Location {
    let errs = parse(src).unwrap_err();
    assert_eq!(errs.len(), 1, "{src:?}: {errs:?}");
    for needle in needles {
        assert!(
            errs[0].message.contains(needle),
            "{src:?}: {:?} lacks {needle:?}",
            errs[0].message
        );
    }
    errs[0].location.unwrap()
}

fn root(src: &str) -> Node {
    parse(src).unwrap().unwrap()
}

#[test]
fn nodes_know_where_they_are() {
    let r = root("version: \"3.0\"\nactions:\n  a:\n    run: x\n");
    let v = r.get("version").unwrap();
    assert_eq!(
        v.location,
        Location {
            line: 1,
            column: 10
        }
    );
    let s = v.as_scalar().unwrap();
    assert_eq!((s.text.as_str(), s.quoted), ("3.0", true));
    let a = r.get("actions").unwrap();
    let entry = &a.as_map().unwrap()[0];
    assert_eq!(entry.key.location, Location { line: 3, column: 3 });
    assert_eq!(
        entry.value.get("run").unwrap().location,
        Location {
            line: 4,
            column: 10
        }
    );
}

#[test]
fn empty_streams_have_no_document() {
    assert_eq!(parse("").unwrap(), None);
    assert_eq!(parse("# just a comment\n\n").unwrap(), None);
    assert!(parse("---\n").unwrap().unwrap().is_null());
}

#[test]
fn duplicate_keys_at_any_level_are_all_reported() {
    let errs = errors("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n");
    assert_eq!(
        errs,
        [
            "found duplicate key \"c\" on line 4 (first defined on line 3)",
            "found duplicate key \"a\" on line 5 (first defined on line 1)",
        ]
    );
    // Python's dict equality: 1, 1.0 and true are one key; "1" is another.
    assert_eq!(errors("{1: a, 1.0: b}").len(), 1);
    assert_eq!(errors("{1: a, true: b}").len(), 1);
    assert!(parse("{1: a, '1': b}").is_ok());
    assert!(parse("{.nan: a, .nan: b}").is_ok());
}

#[test]
fn several_documents_are_rejected() {
    one_error("a: 1\n---\nb: 2\n", &["single document", "line 2"]);
}

#[test]
fn syntax_errors_name_their_line() {
    let at = one_error("version: 5\nactions:\n\ta: 1\n", &["tabs", "line 3"]);
    assert_eq!(at.line, 3);
    one_error(
        "version: 5\nactions:\n  a: [\n",
        &["invalid YAML", "line 4"],
    );
    one_error("a: \"abc\n", &["quoted scalar", "line 1"]);
    one_error("a: b: c\n", &["line 1"]);
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let r = root("base: &b {run: x, needs: [a]}\nc:\n  <<: *b\n  run: y\nd: *b\n");
    let c = r.get("c").unwrap();
    assert_eq!(c.get("run").unwrap().as_str(), Some("y"));
    assert_eq!(c.get("needs").unwrap().as_seq().unwrap().len(), 1);
    let keys: Vec<&str> = c
        .as_map()
        .unwrap()
        .iter()
        .map(|e| e.key.key_text())
        .collect();
    assert_eq!(keys, ["run", "needs"]);
    assert_eq!(r.get("d").unwrap().get("run").unwrap().as_str(), Some("x"));
    // A list of mappings: earlier ones win.
    let r = root("x: &x {a: 1}\ny: &y {a: 2, b: 3}\nz: {<<: [*x, *y]}\n");
    let z = r.get("z").unwrap();
    assert_eq!(z.get("a").unwrap().as_scalar().unwrap().text, "1");
    assert_eq!(z.get("b").unwrap().as_scalar().unwrap().text, "3");
    one_error("a: {<<: 1}", &["for merging"]);
    one_error("a: {<<: {x: 1}, <<: {y: 1}}", &["duplicate key \"<<\""]);
    one_error("a: *nope\n", &["undefined alias *nope"]);
    // The reference's loader refuses a second anchor of one name, and cairn cannot
    // hold a structure that contains itself.
    one_error("a: &x 1\nb: &x 2\n", &["duplicate anchor &x", "line 2"]);
    one_error("a: &x [*x]\n", &["recursive"]);
}

#[test]
fn alias_bombs_are_stopped() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        src.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    one_error(&src, &["aliases expand to more than"]);
}

#[test]
fn nesting_is_bounded() {
    one_error(&"[".repeat(100_000), &["line 1"]);
    let deep = "- ".repeat(100_000) + "x\n";
    one_error(&deep, &["nested too deeply"]);
    assert!(parse(&("- ".repeat(MAX_DEPTH - 1) + "x\n")).is_ok());
}

#[test]
fn tags() {
    let r = root("a: !!str 3\nb: !!int \"3\"\nc: !!float 1\nd: ! 5\n");
    assert_eq!(r.get("a").unwrap().as_str(), Some("3"));
    assert_eq!(
        r.get("b").unwrap().as_scalar().unwrap().resolved,
        Resolved::Int("3".into())
    );
    assert_eq!(
        r.get("c").unwrap().as_scalar().unwrap().resolved,
        Resolved::Float(1.0)
    );
    // `!` alone is libyaml's "plain implicit": typed by its text, as the reference does.
    assert_eq!(
        r.get("d").unwrap().as_scalar().unwrap().resolved,
        Resolved::Int("5".into())
    );
    one_error(
        "a: !foo x\n",
        &["could not determine a constructor for the tag '!foo'"],
    );
    one_error("a: !!int x\n", &["not valid for the tag '!!int'"]);
    // The reference's other core tags.
    let r = root("a: !!binary aGk=\nb: !!set {x, y}\nc: !!omap [x: 1]\nd: !!pairs [x: 1, x: 2]\n");
    assert_eq!(r.get("a").unwrap().describe(), "binary data");
    assert_eq!(r.get("b").unwrap().describe(), "a set");
    assert_eq!(
        r.get("c")
            .unwrap()
            .get("x")
            .unwrap()
            .as_scalar()
            .unwrap()
            .text,
        "1"
    );
    assert_eq!(r.get("d").unwrap().as_seq().unwrap().len(), 2);
    one_error("a: !!binary eA=\n", &["Incorrect padding"]);
    one_error("a: !!omap [x: 1, x: 2]\n", &["duplicate key \"x\""]);
    one_error("a: !!regexp x\n", &["could not determine a constructor"]);
    one_error("a: !!seq x\n", &["cannot be used on a scalar"]);
    one_error("a: !!map [1]\n", &["'!!map'"]);
}

#[test]
fn list_keys_are_read_as_the_reference_reads_them() {
    // Python makes a list key a tuple; a list holding a collection cannot be a key.
    let r = root("? [a, b]\n: 1\n");
    assert!(r.as_map().unwrap()[0].key.as_seq().is_some());
    assert_eq!(errors("{[a]: 1, [a]: 2}").len(), 1);
    one_error("? [a, [b]]\n: 1\n", &["unhashable key", "a list"]);
    one_error("? {a: 1}\n: 1\n", &["unhashable key", "a mapping"]);
    // No key in a project file can be a list.
    let checked = crate::project::check_source("version: 5\n? [a]\n: 1\n");
    assert!(
        checked.errors[0]
            .message
            .contains("must be a name, not a list")
    );
}

#[test]
fn the_reference_parser_decides_what_is_valid() {
    // A flow collection continued at its key's indentation (real studies do this).
    let r = root("a:\n  needs: [b,\n  c]\n");
    assert_eq!(
        r.get("a")
            .unwrap()
            .get("needs")
            .unwrap()
            .as_seq()
            .unwrap()
            .len(),
        2
    );
    // A `:` inside a plain scalar in a flow collection is an error there.
    one_error(
        "a: {run: python:v2 a.py}\n",
        &["found unexpected ':'", "line 1"],
    );
    // A plain `<<` or `=` is only a key.
    one_error("a: <<\n", &["'tag:yaml.org,2002:merge'"]);
    one_error("a: [=]\n", &["'tag:yaml.org,2002:value'"]);
    assert!(parse("=: 1\n").is_ok());
}

#[test]
fn special_characters_are_rejected_up_front() {
    let at = one_error("a: 1\nb: x\u{0}y\n", &["#x0000", "line 2", "binary"]);
    assert_eq!(at, Location { line: 2, column: 5 });
    one_error("a: \u{7f}\n", &["#x007f"]);
    assert!(parse("a: \"tab\there é 😀\"\n").is_ok());
}
