//! Turns libyaml's event stream into a [`Node`] tree, without recursion: an explicit
//! stack of open collections, anchors kept for aliases, duplicate keys collected.

use std::collections::HashMap;

use super::events::{Event, Mark, Parser};
use super::merge;
use super::messages::{duplicate_key, error_at, located, location, syntax_error, unclosed};
use super::scalar::{self, KeyId, Tagged};
use super::{Entry, MAX_ALIAS_NODES, MAX_DEPTH, Node, Resolved, Value};
use crate::project::{Diagnostic, Location};

/// Builds the single document of `src`; errors come back in the order found.
pub fn build(src: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let mut builder = Builder::default();
    let mut parser = Parser::new(src);
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (event, at) = match next {
            Ok(ok) => ok,
            Err(e) => {
                let at_end = e.problem_mark.index >= src.len();
                let diagnostic = match builder.innermost_flow().filter(|_| at_end) {
                    Some(open) => unclosed(&e, open),
                    None => syntax_error(src, &e, at_end),
                };
                builder.errors.push(diagnostic);
                break;
            }
        };
        let fatal = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    let at = location(at);
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
            Event::Scalar {
                value,
                anchor,
                tag,
                implicit,
                style,
            } => match scalar::resolve(value, style, tag.as_deref(), implicit) {
                Ok(s) => builder.anchored(anchor, at).and_then(|anchor| {
                    builder.complete(
                        Node {
                            value: Value::Scalar(s),
                            location: location(at),
                        },
                        1,
                        anchor,
                    )
                }),
                Err(message) => Err(error_at(message, at)),
            },
            Event::Alias(name) => builder.alias(&name, at),
            Event::SequenceStart { anchor, tag, flow } => collection_tag(tag.as_deref(), "seq", at)
                .and_then(|kind| match kind {
                    Tag::Plain => Ok(Open::Seq(Vec::new())),
                    Tag::Omap => Ok(Open::Omap(Vec::new())),
                    Tag::Pairs => Ok(Open::Pairs(Vec::new())),
                    Tag::Set => Err(error_at(
                        "expected a mapping for the tag '!!set', but found a sequence".into(),
                        at,
                    )),
                })
                .and_then(|open| builder.anchored(anchor, at).map(|a| (open, a)))
                .and_then(|(open, anchor)| builder.open(open, anchor, flow, at)),
            Event::MappingStart { anchor, tag, flow } => collection_tag(tag.as_deref(), "map", at)
                .and_then(|kind| match kind {
                    Tag::Plain => Ok(Open::Map(MapFrame::default())),
                    Tag::Set => Ok(Open::Set(MapFrame::default())),
                    Tag::Omap | Tag::Pairs => Err(error_at(
                        "expected a sequence for the tags '!!omap' and '!!pairs', but \
                             found a mapping"
                            .into(),
                        at,
                    )),
                })
                .and_then(|open| builder.anchored(anchor, at).map(|a| (open, a)))
                .and_then(|(open, anchor)| builder.open(open, anchor, flow, at)),
            Event::SequenceEnd | Event::MappingEnd => builder.close(),
            Event::StreamStart | Event::DocumentEnd => Ok(()),
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
    /// Anchored nodes by name, with their size in nodes.
    anchors: HashMap<String, (Node, usize)>,
    /// Where each anchor was defined, including those on collections still open.
    anchor_marks: HashMap<String, Location>,
    /// Nodes created by aliases and anchor copies so far.
    alias_nodes: usize,
    errors: Vec<Diagnostic>,
}

struct Frame {
    open: Open,
    location: Location,
    /// Opened by `[` or `{` (a flow collection), which must be closed explicitly.
    flow: bool,
    anchor: Option<String>,
    /// Nodes in this collection, itself included.
    size: usize,
}

enum Open {
    Seq(Vec<Node>),
    /// A `!!omap` sequence: single-entry mappings that become one ordered mapping.
    Omap(Vec<Node>),
    /// A `!!pairs` sequence: single-entry mappings that become `[key, value]` lists.
    Pairs(Vec<Node>),
    /// A `!!set` mapping: Python keeps its keys.
    Set(MapFrame),
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

impl MapFrame {
    /// Where `key` was first defined in this mapping, if it was.
    fn first_definition(&mut self, key: &Node) -> Option<Location> {
        let at = key.location;
        if key.as_scalar().is_some_and(|k| !k.quoted && k.text == "<<") {
            let first = self.merge_keys.first().copied();
            self.merge_keys.push(at);
            return first;
        }
        if self.index.is_none() && self.entries.len() >= SCAN_LIMIT {
            let index = self
                .entries
                .iter()
                .filter_map(|e| Some((KeyId::of_node(&e.key)?, e.key.location)))
                .collect();
            self.index = Some(index);
        }
        match &mut self.index {
            Some(index) => {
                let id = KeyId::of_node(key)?;
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
                .find(|e| same_key(&e.key, key))
                .map(|e| e.key.location),
        }
    }
}

/// Mappings up to this size find duplicates by scanning: no allocation per key.
const SCAN_LIMIT: usize = 16;

/// `KeyId` equality without building the ids for the common case of two strings.
fn same_key(a: &Node, b: &Node) -> bool {
    match (a.as_scalar(), b.as_scalar()) {
        (Some(a), Some(b)) => match (&a.resolved, &b.resolved) {
            (Resolved::Str, Resolved::Str) => a.text == b.text,
            (Resolved::Str, _) | (_, Resolved::Str) => false,
            _ => KeyId::of(a).is_some_and(|id| Some(id) == KeyId::of(b)),
        },
        _ => KeyId::of_node(a).is_some_and(|id| Some(id) == KeyId::of_node(b)),
    }
}

impl Builder {
    /// Registers a node's anchor where the node starts. The reference's loader refuses
    /// an anchor defined twice.
    fn anchored(&mut self, anchor: Option<String>, at: Mark) -> Result<Option<String>, Diagnostic> {
        let Some(name) = anchor else {
            return Ok(None);
        };
        let here = location(at);
        if let Some(first) = self.anchor_marks.insert(name.clone(), here) {
            return Err(Diagnostic::at(
                format!(
                    "found duplicate anchor &{name} on line {} (first defined on line {}, \
                     column {}); give each anchor its own name",
                    here.line, first.line, first.column
                ),
                here,
            ));
        }
        Ok(Some(name))
    }

    fn open(
        &mut self,
        open: Open,
        anchor: Option<String>,
        flow: bool,
        at: Mark,
    ) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(error_at(
                format!("the YAML is nested too deeply (more than {MAX_DEPTH} levels)"),
                at,
            ));
        }
        self.stack.push(Frame {
            open,
            location: location(at),
            flow,
            anchor,
            size: 1,
        });
        Ok(())
    }

    /// The innermost `[` or `{` still open, with its bracket.
    fn innermost_flow(&self) -> Option<(char, Location)> {
        let frame = self.stack.iter().rev().find(|f| f.flow)?;
        let bracket = match frame.open {
            Open::Seq(_) | Open::Omap(_) | Open::Pairs(_) => '[',
            Open::Map(_) | Open::Set(_) => '{',
        };
        Some((bracket, frame.location))
    }

    fn close(&mut self) -> Result<(), Diagnostic> {
        let frame = self.stack.pop().expect("the parser balances collections");
        let value = match frame.open {
            Open::Seq(items) => Value::Seq(items),
            Open::Omap(items) => Value::Map(omap(items)?),
            Open::Pairs(items) => Value::Seq(pairs(items)?),
            Open::Map(map) => Value::Map(merge::apply(map.entries, map.merges)?),
            Open::Set(map) => Value::Set(merge::apply(map.entries, map.merges)?),
        };
        let node = Node {
            value,
            location: frame.location,
        };
        self.complete(node, frame.size, frame.anchor)
    }

    fn alias(&mut self, name: &str, at: Mark) -> Result<(), Diagnostic> {
        let Some((node, size)) = self.anchors.get(name) else {
            if self.self_merge(name) {
                return Ok(());
            }
            let open = self.stack.iter().any(|f| f.anchor.as_deref() == Some(name));
            let message = if open {
                format!(
                    "the alias *{name} refers to a collection that contains it; \
                     project.yaml cannot hold a recursive structure"
                )
            } else {
                format!("found undefined alias *{name}")
            };
            return Err(error_at(message, at));
        };
        let (node, size) = (node.clone(), *size);
        self.charge(size, location(at))?;
        self.complete(node, size, None)
    }

    /// A mapping that merges itself (`a: &a {<<: *a}`, or `<<: [*a]`): ruamel merges
    /// the mapping's own entries into it, which changes nothing, and such a merge key
    /// is not counted as one. The alias is dropped.
    fn self_merge(&mut self, name: &str) -> bool {
        let n = self.stack.len();
        let is_target = |f: &Frame| f.anchor.as_deref() == Some(name);
        let merge_pending = |f: &Frame| match &f.open {
            Open::Map(map) | Open::Set(map) => map
                .key
                .as_ref()
                .and_then(Node::as_scalar)
                .is_some_and(|k| !k.quoted && k.text == "<<"),
            _ => false,
        };
        match self.stack.as_mut_slice() {
            [.., top] if is_target(top) && merge_pending(top) => {
                if let Open::Map(map) | Open::Set(map) = &mut top.open {
                    map.key = None;
                }
                true
            }
            [.., map, seq] if n >= 2 && is_target(map) && merge_pending(map) => {
                matches!(seq.open, Open::Seq(_))
            }
            _ => false,
        }
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
    fn complete(
        &mut self,
        node: Node,
        size: usize,
        anchor: Option<String>,
    ) -> Result<(), Diagnostic> {
        if let Some(anchor) = anchor {
            self.charge(size, node.location)?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        parent.size += size;
        let is_key = matches!(&parent.open, Open::Map(map) | Open::Set(map) if map.key.is_none());
        if let (false, Value::Scalar(s)) = (is_key, &node.value) {
            // The reference's loader gives a plain `<<` or `=` a tag of its own, which
            // only a mapping key can have.
            let special = match s.text.as_str() {
                "<<" => "merge",
                "=" => "value",
                _ => "",
            };
            if !s.quoted && !special.is_empty() {
                return Err(located(
                    format!(
                        "could not determine a constructor for the tag \
                         'tag:yaml.org,2002:{special}': a plain `{}` can only be a \
                         mapping key; quote it",
                        s.text
                    ),
                    node.location,
                ));
            }
        }
        match &mut parent.open {
            Open::Seq(items) | Open::Omap(items) | Open::Pairs(items) => items.push(node),
            Open::Map(map) | Open::Set(map) => match map.key.take() {
                None => {
                    // A list of scalars is a key (Python makes it a tuple); a mapping,
                    // or a list holding a collection, cannot be hashed.
                    let hashable = match &node.value {
                        Value::Scalar(_) => true,
                        Value::Seq(items) => items.iter().all(|i| i.as_scalar().is_some()),
                        Value::Map(_) | Value::Set(_) => false,
                    };
                    if !hashable {
                        return Err(Diagnostic::at(
                            format!(
                                "found unhashable key: a mapping key cannot be {} \
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
                    if let Some(first) = map.first_definition(&key) {
                        self.errors.push(duplicate_key(&key, first));
                        return Ok(());
                    }
                    if key.as_scalar().is_some_and(|k| !k.quoted && k.text == "<<") {
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

/// The single entry of each item of a `!!omap` or `!!pairs`, as ruamel requires.
fn single_entries(items: Vec<Node>, tag: &str) -> Result<Vec<Entry>, Diagnostic> {
    items
        .into_iter()
        .map(|item| match item.value {
            Value::Map(mut pairs) if pairs.len() == 1 => Ok(pairs.remove(0)),
            _ => Err(located(
                format!("each item of a '!!{tag}' must be a mapping of one entry"),
                item.location,
            )),
        })
        .collect()
}

/// The entries of a `!!omap`, as ruamel builds its ordered dict: no key twice.
fn omap(items: Vec<Node>) -> Result<Vec<Entry>, Diagnostic> {
    let mut entries: Vec<Entry> = Vec::new();
    for entry in single_entries(items, "omap")? {
        let id = KeyId::of_node(&entry.key);
        if let Some(first) = entries
            .iter()
            .find(|e| id.is_some() && KeyId::of_node(&e.key) == id)
        {
            return Err(duplicate_key(&entry.key, first.key.location));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// The items of a `!!pairs`: Python's `(key, value)` tuples, as two-item lists.
fn pairs(items: Vec<Node>) -> Result<Vec<Node>, Diagnostic> {
    Ok(single_entries(items, "pairs")?
        .into_iter()
        .map(|e| Node {
            location: e.key.location,
            value: Value::Seq(vec![e.key, e.value]),
        })
        .collect())
}

/// The core tags a collection can carry besides its own kind.
enum Tag {
    Plain,
    Omap,
    Pairs,
    Set,
}

/// Checks a collection's tag: its own kind, `!!omap`, `!!pairs` or `!!set`.
fn collection_tag(tag: Option<&str>, expected: &str, at: Mark) -> Result<Tag, Diagnostic> {
    match tag.map(Tagged::of) {
        None | Some(Tagged::NonSpecific) => Ok(Tag::Plain),
        Some(Tagged::Core(suffix)) => match suffix.as_str() {
            s if s == expected => Ok(Tag::Plain),
            "omap" => Ok(Tag::Omap),
            "pairs" => Ok(Tag::Pairs),
            "set" => Ok(Tag::Set),
            name => Err(error_at(
                format!("the tag '!!{name}' cannot be used on a collection here"),
                at,
            )),
        },
        Some(Tagged::Other(name)) => Err(error_at(
            format!("could not determine a constructor for the tag '{name}'"),
            at,
        )),
    }
}
