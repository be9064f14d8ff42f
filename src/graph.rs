//! `cairn graph`: the action DAG as Graphviz DOT or Mermaid, edges pointing from an
//! action to those that need it. Nodes can be marked fresh, stale or never run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::GraphFormat;
use crate::project::{self, Project};
pub use crate::status::State as NodeState;

/// Graphviz and Mermaid styles of a node's state.
trait Styled {
    fn class(self) -> &'static str;
    fn dot_style(self) -> &'static str;
    fn mermaid_style(self) -> &'static str;
}

impl Styled for NodeState {
    fn class(self) -> &'static str {
        self.as_str()
    }

    fn dot_style(self) -> &'static str {
        match self {
            NodeState::Fresh => r##"style=filled, fillcolor="#c8e6c9""##,
            NodeState::Stale => r##"style=filled, fillcolor="#ffcc80""##,
            NodeState::NeverRun => "style=dashed",
            NodeState::Failed => r##"style=filled, fillcolor="#ef9a9a""##,
        }
    }

    fn mermaid_style(self) -> &'static str {
        match self {
            NodeState::Fresh => "fill:#c8e6c9",
            NodeState::Stale => "fill:#ffcc80",
            NodeState::NeverRun => "stroke-dasharray: 5 5",
            NodeState::Failed => "fill:#ef9a9a",
        }
    }
}

/// Runs `cairn graph`. Nodes are marked fresh, stale or never run when the
/// store can be consulted; otherwise the bare graph is printed.
pub fn run(
    project_dir: &Path,
    store: &crate::cli::StoreArgs,
    executor: Option<crate::exec::ExecutorChoice>,
    format: GraphFormat,
) -> anyhow::Result<ExitCode> {
    let project = match project::load(project_dir) {
        Ok((project, _warnings)) => project,
        Err(e) => {
            eprintln!("{e:#}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let states: HashMap<String, NodeState> =
        crate::session::Session::open_read_only(project_dir, store.store.as_deref(), executor)
            .and_then(|session| crate::status::evaluate(&session))
            .map(|evaluated| evaluated.into_iter().map(|e| (e.name, e.state)).collect())
            .unwrap_or_default();
    let text = render(&project, format, &|name| states.get(name).copied());
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // `cairn graph | head` is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The graph of `project` in `format`; `state` marks nodes (`None`: unmarked).
pub fn render(
    project: &Project,
    format: GraphFormat,
    state: &dyn Fn(&str) -> Option<NodeState>,
) -> String {
    match format {
        GraphFormat::Dot => dot(project, state),
        GraphFormat::Mermaid => mermaid(project, state),
    }
}

fn dot(project: &Project, state: &dyn Fn(&str) -> Option<NodeState>) -> String {
    let mut out = String::from("digraph cairn {\n    rankdir=LR;\n    node [shape=box];\n");
    for name in project.actions.keys() {
        let _ = match state(name) {
            Some(s) => writeln!(out, "    {} [{}];", dot_id(name), s.dot_style()),
            None => writeln!(out, "    {};", dot_id(name)),
        };
    }
    for (from, to) in edges(project) {
        let _ = writeln!(out, "    {} -> {};", dot_id(from), dot_id(to));
    }
    out.push_str("}\n");
    out
}

fn mermaid(project: &Project, state: &dyn Fn(&str) -> Option<NodeState>) -> String {
    // Mermaid ids must be plain words; names go in labels.
    let id: std::collections::HashMap<&str, String> = project
        .actions
        .keys()
        .enumerate()
        .map(|(i, name)| (name.as_str(), format!("a{i}")))
        .collect();
    let mut out = String::from("flowchart LR\n");
    let mut classes: Vec<(NodeState, Vec<&str>)> = Vec::new();
    for name in project.actions.keys() {
        let _ = writeln!(
            out,
            "    {}[\"{}\"]",
            id[name.as_str()],
            mermaid_label(name)
        );
        if let Some(s) = state(name) {
            match classes.iter_mut().find(|(c, _)| *c == s) {
                Some((_, ids)) => ids.push(&id[name.as_str()]),
                None => classes.push((s, vec![&id[name.as_str()]])),
            }
        }
    }
    for (from, to) in edges(project) {
        let _ = writeln!(out, "    {} --> {}", id[from], id[to]);
    }
    for (s, ids) in classes {
        let _ = writeln!(out, "    classDef {} {}", s.class(), s.mermaid_style());
        let _ = writeln!(out, "    class {} {}", ids.join(","), s.class());
    }
    out
}

/// Dependency edges (need -> action), each once, in file order.
fn edges(project: &Project) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for action in project.actions.values() {
        for need in &action.needs {
            let edge = (need.as_str(), action.name.as_str());
            if !out.contains(&edge) {
                out.push(edge);
            }
        }
    }
    out
}

fn dot_id(name: &str) -> String {
    let mut s = String::from("\"");
    for c in name.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Mermaid labels escape with HTML entities.
fn mermaid_label(name: &str) -> String {
    name.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        let src = "version: 5\nactions:\n\
            \x20 a: {run: 'python:v2 a.py', outputs: {highly_sensitive: {x: a.csv}}}\n\
            \x20 'b\"q\"': {run: 'python:v2 b.py', needs: [a, a], outputs: {highly_sensitive: {x: b.csv}}}\n\
            \x20 c: {run: 'python:v2 c.py', needs: [a, 'b\"q\"'], outputs: {highly_sensitive: {x: c.csv}}}\n";
        project::check_source(src).project.unwrap()
    }

    #[test]
    fn dot_output() {
        let marks = |name: &str| match name {
            "a" => Some(NodeState::Fresh),
            "c" => Some(NodeState::Stale),
            _ => None,
        };
        assert_eq!(
            render(&project(), GraphFormat::Dot, &marks),
            "digraph cairn {\n    rankdir=LR;\n    node [shape=box];\n    \
             \"a\" [style=filled, fillcolor=\"#c8e6c9\"];\n    \"b\\\"q\\\"\";\n    \
             \"c\" [style=filled, fillcolor=\"#ffcc80\"];\n    \
             \"a\" -> \"b\\\"q\\\"\";\n    \"a\" -> \"c\";\n    \"b\\\"q\\\"\" -> \"c\";\n}\n"
        );
    }

    #[test]
    fn mermaid_output() {
        let marks = |name: &str| (name != "a").then_some(NodeState::NeverRun);
        assert_eq!(
            render(&project(), GraphFormat::Mermaid, &marks),
            "flowchart LR\n    a0[\"a\"]\n    a1[\"b#quot;q#quot;\"]\n    a2[\"c\"]\n    \
             a0 --> a1\n    a0 --> a2\n    a1 --> a2\n    \
             classDef never_run stroke-dasharray: 5 5\n    class a1,a2 never_run\n"
        );
    }
}
