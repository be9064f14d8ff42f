//! The data of a YAML tree as tagged JSON, for comparing cairn's reading of a document
//! with the reference loader's (`tests/yaml_diff/`). Strings, lists, null and booleans
//! are themselves; a number keeps its exact value (`{"int": "12"}`, `{"float": "1.5"}`,
//! the float as Python's `repr`); a mapping keeps its order and its keys' types
//! (`{"map": [[key, value], ...]}`).

use serde_json::{Value as Json, json};

use super::{Node, Resolved, Value};
use crate::project::pynum;

/// One node, recursively: only for trees that [`super::parse`] built (depth-bounded).
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Scalar(s) => match &s.resolved {
            Resolved::Null => Json::Null,
            Resolved::Bool(b) => Json::Bool(*b),
            Resolved::Int(i) => json!({ "int": i }),
            Resolved::Float(f) => json!({ "float": pynum::float_repr(*f) }),
            Resolved::Timestamp { date_only } => {
                json!({ "timestamp": if *date_only { "date" } else { "datetime" } })
            }
            Resolved::Binary(hex) => json!({ "binary": hex }),
            Resolved::Str => Json::String(s.text.clone()),
        },
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Set(entries) => {
            // Unordered in Python: members as compact JSON text, sorted.
            let mut members: Vec<String> = entries
                .iter()
                .map(|e| to_json(&e.key).to_string())
                .collect();
            members.sort();
            json!({ "set": members })
        }
        Value::Map(entries) => {
            let pairs = entries
                .iter()
                .map(|e| {
                    let key = match &e.key.value {
                        Value::Seq(items) => {
                            json!({ "tuple": Json::Array(items.iter().map(to_json).collect()) })
                        }
                        _ => to_json(&e.key),
                    };
                    json!([key, to_json(&e.value)])
                })
                .collect();
            json!({ "map": Json::Array(pairs) })
        }
    }
}
