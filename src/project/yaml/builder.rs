//! Turns the parser's event stream into a [`Node`] tree, without recursion: an explicit
//! stack of open collections, anchors kept for aliases, duplicate keys collected.

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScanError, Span};

use super::merge;
use super::scalar::{self, KeyId, Tagged};
use super::{Entry, MAX_ALIAS_NODES, MAX_DEPTH, Node, Resolved, Scalar, Value};
use crate::project::{Diagnostic, Location};

/// Builds the single document of `src`; errors come back in the order found.
pub fn build(src: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ok) => ok,
            Err(e) => {
                let at_end = e.marker().index() >= src.chars().count();
                let diagnostic = match builder.innermost_flow().filter(|_| at_end) {
                    Some(open) => unclosed(&e, open),
                    None => scan_error(&e, at_end),
                };
                builder.errors.push(diagnostic);
                break;
            }
        };
        let fatal = match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    let at = location(span.start);
                    Err(Diagnostic::at(
                        format!(
                            "expected a single document in the stream, but found another \
                             document (line {})",
                            at.line
                        ),
                        at,
                    ))
                } else {
                    Ok(())
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                match scalar::resolve(text.into_owned(), style, tag.as_deref()) {
                    Ok(s) => builder.complete(
                        Node {
                            value: Value::Scalar(s),
                            location: location(span.start),
                        },
                        1,
                        anchor,
                    ),
                    Err(message) => Err(error_at(message, span)),
                }
            }
            Event::Alias(id) => builder.alias(id, span),
            Event::SequenceStart(anchor, tag) => check_collection_tag(tag.as_deref(), "seq", span)
                .and_then(|()| builder.open(Open::Seq(Vec::new()), anchor, span)),
            Event::MappingStart(anchor, tag) => check_collection_tag(tag.as_deref(), "map", span)
                .and_then(|()| builder.open(Open::Map(MapFrame::default()), anchor, span)),
            Event::SequenceEnd | Event::MappingEnd => builder.close(),
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => Ok(()),
        };
        if let Err(diagnostic) = fatal {
            builder.errors.push(diagnostic);
            break;
        }
    }
    if builder.errors.is_empty() {
        Ok(builder.root)
    } else {
        Err(builder.errors)
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Anchored nodes by the parser's anchor id, with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes created by aliases and anchor copies so far.
    alias_nodes: usize,
    errors: Vec<Diagnostic>,
}

struct Frame {
    open: Open,
    location: Location,
    /// Opened by `[` or `{` (a flow collection), which must be closed explicitly.
    flow: bool,
    anchor: usize,
    /// Nodes in this collection, itself included.
    size: usize,
}

enum Open {
    Seq(Vec<Node>),
    Map(MapFrame),
}

#[derive(Default)]
struct MapFrame {
    entries: Vec<Entry>,
    key: Option<Node>,
    /// Values of `<<` merge keys, in file order, and where their keys are.
    merges: Vec<Node>,
    merge_keys: Vec<Location>,
    /// Keys seen, once the mapping is big enough for hashing to beat a scan.
    index: Option<HashMap<KeyId, Location>>,
}

/// Mappings up to this size find duplicates by scanning: no allocation per key.
const SCAN_LIMIT: usize = 16;

impl MapFrame {
    /// Where `key` was first defined in this mapping, if it was.
    fn first_definition(&mut self, key: &Scalar, at: Location) -> Option<Location> {
        if !key.quoted && key.text == "<<" {
            let first = self.merge_keys.first().copied();
            self.merge_keys.push(at);
            return first;
        }
        if self.index.is_none() && self.entries.len() >= SCAN_LIMIT {
            let index = self
                .entries
                .iter()
                .filter_map(|e| Some((KeyId::of(e.key.as_scalar()?)?, e.key.location)))
                .collect();
            self.index = Some(index);
        }
        match &mut self.index {
            Some(index) => {
                let id = KeyId::of(key)?;
                match index.get(&id) {
                    Some(first) => Some(*first),
                    None => {
                        index.insert(id, at);
                        None
                    }
                }
            }
            None => self
                .entries
                .iter()
                .find(|e| e.key.as_scalar().is_some_and(|k| same_key(k, key)))
                .map(|e| e.key.location),
        }
    }
}

/// `KeyId` equality without building the ids for the common case of two strings.
fn same_key(a: &Scalar, b: &Scalar) -> bool {
    match (&a.resolved, &b.resolved) {
        (Resolved::Str, Resolved::Str) => a.text == b.text,
        (Resolved::Str, _) | (_, Resolved::Str) => false,
        _ => KeyId::of(a).is_some_and(|id| Some(id) == KeyId::of(b)),
    }
}

impl Builder {
    fn open(&mut self, open: Open, anchor: usize, span: Span) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(error_at(
                format!("the YAML is nested too deeply (more than {MAX_DEPTH} levels)"),
                span,
            ));
        }
        self.stack.push(Frame {
            open,
            location: location(span.start),
            // Block collections start with an empty span; `[` and `{` are one character.
            flow: span.end.index() > span.start.index(),
            anchor,
            size: 1,
        });
        Ok(())
    }

    /// The innermost `[` or `{` still open, with its bracket.
    fn innermost_flow(&self) -> Option<(char, Location)> {
        let frame = self.stack.iter().rev().find(|f| f.flow)?;
        let bracket = match frame.open {
            Open::Seq(_) => '[',
            Open::Map(_) => '{',
        };
        Some((bracket, frame.location))
    }

    fn close(&mut self) -> Result<(), Diagnostic> {
        let frame = self.stack.pop().expect("the parser balances collections");
        let value = match frame.open {
            Open::Seq(items) => Value::Seq(items),
            Open::Map(map) => Value::Map(merge::apply(map.entries, map.merges)?),
        };
        let node = Node {
            value,
            location: frame.location,
        };
        self.complete(node, frame.size, frame.anchor)
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<(), Diagnostic> {
        let (node, size) = self
            .anchors
            .get(&id)
            .ok_or_else(|| error_at("found an alias to an unknown anchor".into(), span))?;
        let (node, size) = (node.clone(), *size);
        self.charge(size, location(span.start))?;
        self.complete(node, size, 0)
    }

    /// Counts nodes created by aliasing against the budget.
    fn charge(&mut self, size: usize, at: Location) -> Result<(), Diagnostic> {
        self.alias_nodes += size;
        if self.alias_nodes > MAX_ALIAS_NODES {
            return Err(located(
                format!(
                    "the YAML's aliases expand to more than {MAX_ALIAS_NODES} nodes; \
                     project.yaml does not need that many"
                ),
                at,
            ));
        }
        Ok(())
    }

    /// A finished node goes into its parent (or becomes the root).
    fn complete(&mut self, node: Node, size: usize, anchor: usize) -> Result<(), Diagnostic> {
        if anchor != 0 {
            self.charge(size, node.location)?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        parent.size += size;
        match &mut parent.open {
            Open::Seq(items) => items.push(node),
            Open::Map(map) => match map.key.take() {
                None => {
                    if !matches!(node.value, Value::Scalar(_)) {
                        return Err(Diagnostic::at(
                            format!(
                                "found unhashable key: mapping keys must be scalars, not {} \
                                 (line {}, column {})",
                                node.describe(),
                                node.location.line,
                                node.location.column
                            ),
                            node.location,
                        ));
                    }
                    map.key = Some(node);
                }
                Some(key) => {
                    let scalar = key.as_scalar().expect("keys are checked to be scalars");
                    if let Some(first) = map.first_definition(scalar, key.location) {
                        self.errors.push(duplicate_key(&key, first));
                        return Ok(());
                    }
                    if !scalar.quoted && scalar.text == "<<" {
                        map.merges.push(node);
                    } else {
                        map.entries.push(Entry { key, value: node });
                    }
                }
            },
        }
        Ok(())
    }
}

fn duplicate_key(key: &Node, first: Location) -> Diagnostic {
    Diagnostic::at(
        format!(
            "found duplicate key \"{}\" on line {} (first defined on line {})",
            key.key_text(),
            key.location.line,
            first.line
        ),
        key.location,
    )
}

fn check_collection_tag(
    tag: Option<&saphyr_parser::Tag>,
    expected: &str,
    span: Span,
) -> Result<(), Diagnostic> {
    match tag.map(Tagged::of) {
        None | Some(Tagged::NonSpecific) => Ok(()),
        Some(Tagged::Core(suffix)) if suffix == expected => Ok(()),
        Some(Tagged::Core(name)) => Err(error_at(
            format!("the tag '!!{name}' cannot be used on a collection here"),
            span,
        )),
        Some(Tagged::Other(name)) => Err(error_at(
            format!("could not determine a constructor for the tag '{name}'"),
            span,
        )),
    }
}

/// The file ended inside a `[...]` or `{...}`: point at the opening bracket.
fn unclosed(e: &ScanError, (bracket, at): (char, Location)) -> Diagnostic {
    let end = location(*e.marker());
    Diagnostic::at(
        format!(
            "invalid YAML: the `{bracket}` on line {}, column {} is never closed \
             ({} at line {}, column {}, the end of the file)",
            at.line,
            at.column,
            e.info(),
            end.line,
            end.column
        ),
        at,
    )
}

fn scan_error(e: &ScanError, at_end: bool) -> Diagnostic {
    let at = location(*e.marker());
    let hint = if e.info().contains("tab") {
        "; indent with spaces, not tabs"
    } else {
        ""
    };
    // Most often an unclosed bracket or quote further up.
    let end = if at_end {
        ", at the end of the file"
    } else {
        ""
    };
    Diagnostic::at(
        format!(
            "invalid YAML: {}{hint} (line {}, column {}{end})",
            e.info(),
            at.line,
            at.column
        ),
        at,
    )
}

fn error_at(message: String, span: Span) -> Diagnostic {
    located(message, location(span.start))
}

/// An error message that names its position, at that position.
fn located(message: String, at: Location) -> Diagnostic {
    Diagnostic::at(
        format!("{message} (line {}, column {})", at.line, at.column),
        at,
    )
}

fn location(marker: Marker) -> Location {
    Location {
        line: marker.line(),
        column: marker.col() + 1,
    }
}
