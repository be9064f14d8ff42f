//! `cairn graph`: the action graph of a project, in DOT and Mermaid.

use crate::support::{cairn, project};

const CHAIN: &str = "version: 5\nactions:\n\
    \x20 extract: {run: 'ehrql:v1 generate-dataset d.py --output output/d.csv', outputs: {highly_sensitive: {d: output/d.csv}}}\n\
    \x20 model: {run: 'python:v2 m.py', needs: [extract], outputs: {moderately_sensitive: {t: output/t.csv}}}\n\
    \x20 report: {run: 'python:v2 r.py', needs: [extract, model], outputs: {moderately_sensitive: {r: output/r.html}}}\n";

#[test]
fn dot_by_default() {
    let dir = project(CHAIN);
    let out = cairn(dir.path(), &["graph"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout, @r#"
        digraph cairn {
            rankdir=LR;
            node [shape=box];
            "extract";
            "model";
            "report";
            "extract" -> "model";
            "extract" -> "report";
            "model" -> "report";
        }
        "#);
}

#[test]
fn mermaid() {
    let dir = project(CHAIN);
    let out = cairn(dir.path(), &["graph", "--format", "mermaid"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout, @r#"
        flowchart LR
            a0["extract"]
            a1["model"]
            a2["report"]
            a0 --> a1
            a0 --> a2
            a1 --> a2
        "#);
}

#[test]
fn an_invalid_project_has_no_graph() {
    let dir = project(
        "version: 5\nactions:\n  a: {run: 'python:v2 a.py', needs: [a], outputs: {highly_sensitive: {x: a.csv}}}\n",
    );
    let out = cairn(dir.path(), &["graph"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr
            .starts_with("project.yaml:3:38: error: `needs` of action a makes a cycle: a -> a"),
        "{}",
        out.stderr
    );
}
