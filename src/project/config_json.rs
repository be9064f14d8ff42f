//! An action's `config` as the OpenSAFELY runner passes it: Python's `json.dumps`
//! (`", "` and `": "` separators, ASCII only, `NaN`/`Infinity`), then `'` replaced by
//! `\u0027` so the JSON survives the runner's shell quoting.

use std::fmt::Write as _;

use super::pynum;
use super::yaml::{Node, Resolved, Scalar, Value};

/// `json.dumps(config).replace("'", "\\u0027")`.
pub fn dumps(node: &Node) -> String {
    let mut out = String::new();
    write_value(&mut out, node);
    out.replace('\'', "\\u0027")
}

fn write_value(out: &mut String, node: &Node) {
    match &node.value {
        Value::Map(entries) => {
            out.push('{');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_key(out, e.key.as_scalar().expect("YAML keys are scalars"));
                out.push_str(": ");
                write_value(out, &e.value);
            }
            out.push('}');
        }
        // Python's `json.dumps` cannot write a set (the reference crashes); cairn writes
        // its members as a list.
        Value::Set(entries) => {
            out.push('[');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, &e.key);
            }
            out.push(']');
        }
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Scalar(s) => write_scalar(out, s),
    }
}

fn write_scalar(out: &mut String, s: &Scalar) {
    match &s.resolved {
        Resolved::Null => out.push_str("null"),
        Resolved::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Resolved::Int(i) => out.push_str(i),
        Resolved::Float(f) => out.push_str(&float(*f)),
        // Python's `json.dumps` cannot write a date at all (the reference crashes);
        // cairn writes the date as written.
        Resolved::Str | Resolved::Timestamp { .. } | Resolved::Binary(_) => {
            write_string(out, &s.text)
        }
    }
}

/// JSON object keys must be strings; Python converts scalars as `str()` would, except
/// that booleans and null read `true`, `false`, `null`.
fn write_key(out: &mut String, s: &Scalar) {
    match &s.resolved {
        Resolved::Str => write_string(out, &s.text),
        _ => {
            let mut text = String::new();
            write_scalar(&mut text, s);
            write_string(out, &text);
        }
    }
}

fn float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        pynum::float_repr(f)
    }
}

/// Python's `py_encode_basestring_ascii`.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::yaml;

    fn check(yaml_src: &str, expected: &str) {
        let root = yaml::parse(yaml_src).unwrap().unwrap();
        assert_eq!(dumps(root.get("config").unwrap()), expected, "{yaml_src}");
    }

    #[test]
    fn dumps_like_python_json() {
        // Expected values are Python's json.dumps(...).replace("'", "\\u0027").
        check(
            "config: {files: [a.csv, \"it's.csv\"]}",
            r#"{"files": ["a.csv", "it\u0027s.csv"]}"#,
        );
        check(
            "config: {a: 1, b: 1.50, c: true, d: null, e: yes, f: 0x1F, g: 1e16}",
            r#"{"a": 1, "b": 1.5, "c": true, "d": null, "e": "yes", "f": 31, "g": 1e+16}"#,
        );
        check(
            "config: {1: x, 2.5: y, false: z, ~: w}",
            r#"{"1": "x", "2.5": "y", "false": "z", "null": "w"}"#,
        );
        check(
            "config: {n: .nan, i: -.inf, s: \"tab\\there \\\\ \\\"q\\\" é 😀 \\u007f\"}",
            r#"{"n": NaN, "i": -Infinity, "s": "tab\there \\ \"q\" \u00e9 \ud83d\ude00 \u007f"}"#,
        );
        check(
            "config: {nested: {list: [[], {}]}}",
            r#"{"nested": {"list": [[], {}]}}"#,
        );
        check(
            "config: {big: 123456789012345678901234567890}",
            r#"{"big": 123456789012345678901234567890}"#,
        );
    }
}
