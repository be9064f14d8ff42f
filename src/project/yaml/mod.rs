//! cairn's own YAML tree, built from libyaml's events (the reference's parser): every
//! node knows where it is in the file, and every scalar keeps its text and whether it was
//! quoted, so later rules can read `version: "3.0"` the way Python's `float()` would.
//!
//! The loader accepts what the reference's loader (ruamel's, over libyaml) accepts, with
//! the same data (`tests/it/yaml_diff.rs` checks it), and is safe on hostile input:
//! duplicate keys at any level, several documents, unknown tags and mapping keys that
//! Python cannot hash are errors; nesting depth and alias expansion are bounded (no
//! billion laughs); it never recurses on the input's depth beyond [`MAX_DEPTH`].

mod builder;
mod events;
mod json;
mod merge;
mod messages;
mod scalar;
mod timestamp;

use super::{Diagnostic, Location};

/// The deepest nesting of collections accepted. Real project files use about six.
pub const MAX_DEPTH: usize = 256;

/// The most nodes alias expansion (and anchor bookkeeping) may create.
pub const MAX_ALIAS_NODES: usize = 250_000;

/// A YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in file order; keys are scalars (or lists of scalars) and unique, merge
    /// keys already applied.
    Map(Vec<Entry>),
    /// A `!!set`: a mapping whose keys are its members (its values matter only when it
    /// is merged into a mapping).
    Set(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

/// A scalar: its text after YAML's quoting and folding rules, and what it resolves to.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Written quoted, as a block scalar or with a tag: its type is not read from its
    /// text (so a quoted `"<<"` is not a merge key).
    pub quoted: bool,
    pub resolved: Resolved,
}

/// The type of a scalar, as the reference's loader (ruamel, YAML 1.2) gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    Null,
    Bool(bool),
    /// A normalised decimal (`0x1F` is `"31"`); unbounded, like Python's `int`.
    Int(String),
    Float(f64),
    /// A date (`2020-01-01`) or a date and time, which Python reads as such.
    Timestamp {
        date_only: bool,
    },
    /// `!!binary`: the decoded bytes, in hexadecimal.
    Binary(String),
    Str,
}

impl Node {
    /// The text of a string scalar (Python `isinstance(x, str)`).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(Scalar {
                text,
                resolved: Resolved::Str,
                ..
            }) => Some(text),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(
            &self.value,
            Value::Scalar(Scalar {
                resolved: Resolved::Null,
                ..
            })
        )
    }

    /// The value under a string key of a mapping (Python `d.get("key")`).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key.as_str() == Some(key))
            .map(|e| &e.value)
    }

    /// The key as a name: the scalar's text as written (`123`, `a b`).
    pub fn key_text(&self) -> &str {
        self.as_scalar().map_or("", |s| s.text.as_str())
    }

    /// "a string", "a list", … for messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a mapping",
            Value::Set(_) => "a set",
            Value::Seq(_) => "a list",
            Value::Scalar(s) => match s.resolved {
                Resolved::Null => "empty (null)",
                Resolved::Bool(_) => "a boolean",
                Resolved::Int(_) => "an integer",
                Resolved::Float(_) => "a number",
                Resolved::Timestamp { .. } => "a date",
                Resolved::Binary(_) => "binary data",
                Resolved::Str => "a string",
            },
        }
    }
}

/// A document's data as tagged JSON (see `json.rs`), or the first error's message: how
/// the differential test asks cairn what it read.
pub fn data_as_json(src: &str) -> Result<serde_json::Value, String> {
    match parse(src) {
        Ok(Some(node)) => Ok(json::to_json(&node)),
        Ok(None) => Ok(serde_json::Value::Null),
        Err(errors) => Err(errors
            .into_iter()
            .next()
            .map_or_else(String::new, |d| d.message)),
    }
}

/// The first mapping key that is not a scalar (a list, which the YAML reader accepts as
/// Python does), as an error: no key in a project file can be one.
pub fn complex_key(root: &Node) -> Option<Diagnostic> {
    let mut todo = vec![root];
    while let Some(node) = todo.pop() {
        match &node.value {
            Value::Scalar(_) => {}
            Value::Seq(items) => todo.extend(items.iter().rev()),
            Value::Map(entries) | Value::Set(entries) => {
                if let Some(e) = entries.iter().find(|e| e.key.as_scalar().is_none()) {
                    let at = e.key.location;
                    return Some(Diagnostic::at(
                        format!(
                            "a mapping key in project.yaml must be a name, not {} \
                             (line {}, column {})",
                            e.key.describe(),
                            at.line,
                            at.column
                        ),
                        at,
                    ));
                }
                todo.extend(entries.iter().rev().map(|e| &e.value));
            }
        }
    }
    None
}

/// Parses one YAML document. `Ok(None)` when the stream holds no document at all.
pub fn parse(src: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    if let Some(diagnostic) = unacceptable_character(src) {
        return Err(vec![diagnostic]);
    }
    builder::build(src)
}

/// YAML's printable-character rule, checked up front: the parser would otherwise stop
/// silently at a NUL byte, and binary garbage deserves a plain answer.
fn unacceptable_character(src: &str) -> Option<Diagnostic> {
    let ascii_ok = |b: u8| matches!(b, b'\t' | b'\n' | b'\r' | b' '..=b'~');
    // Most files are ASCII: a byte scan is enough.
    if src.is_ascii() && src.bytes().all(ascii_ok) {
        return None;
    }
    let printable = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}')
            || ('\u{e000}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}'
    };
    let (offset, bad) = src.char_indices().find(|(_, c)| !printable(*c))?;
    let location = location_of_offset(src, offset);
    Some(Diagnostic::at(
        format!(
            "unacceptable character #x{:04x}: special characters are not allowed \
             (line {}, column {}; is this a binary file?)",
            u32::from(bad),
            location.line,
            location.column
        ),
        location,
    ))
}

/// The 1-based line and column (in characters) of a byte offset.
fn location_of_offset(src: &str, offset: usize) -> Location {
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Location {
        line,
        column: before[line_start..].chars().count() + 1,
    }
}

#[cfg(test)]
mod tests;
