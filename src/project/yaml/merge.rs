//! YAML merge keys (`<<: *defaults`), which the reference's loader (ruamel) supports,
//! so project files written for it may use them.

use std::collections::HashMap;

use super::scalar::KeyId;
use super::{Entry, Node, Value};
use crate::project::Diagnostic;

/// Applies `<<` merge keys the way ruamel (the reference's loader) does: merged entries
/// first, a list of mappings merged last-to-first, and the mapping's own keys winning.
pub fn apply(entries: Vec<Entry>, merges: Vec<Node>) -> Result<Vec<Entry>, Diagnostic> {
    if merges.is_empty() {
        return Ok(entries);
    }
    let mut sources: Vec<Entry> = Vec::new();
    for value in merges {
        match value.value {
            Value::Map(entries) | Value::Set(entries) => sources.extend(entries),
            Value::Seq(items) => {
                let mut maps = Vec::new();
                for item in items {
                    match item.value {
                        Value::Map(entries) | Value::Set(entries) => maps.push(entries),
                        _ => {
                            return Err(Diagnostic::at(
                                format!(
                                    "expected a mapping for merging, but found {} (line {})",
                                    item.describe(),
                                    item.location.line
                                ),
                                item.location,
                            ));
                        }
                    }
                }
                sources.extend(maps.into_iter().rev().flatten());
            }
            Value::Scalar(_) => {
                return Err(Diagnostic::at(
                    format!(
                        "expected a mapping or list of mappings for merging, but found {} \
                         (line {})",
                        value.describe(),
                        value.location.line
                    ),
                    value.location,
                ));
            }
        }
    }
    let mut out: Vec<Entry> = Vec::new();
    let mut index: HashMap<KeyId, usize> = HashMap::new();
    for entry in sources.into_iter().chain(entries) {
        let id = KeyId::of_node(&entry.key);
        match id.as_ref().and_then(|id| index.get(id)) {
            Some(&i) => out[i].value = entry.value,
            None => {
                if let Some(id) = id {
                    index.insert(id, out.len());
                }
                out.push(entry);
            }
        }
    }
    Ok(out)
}
