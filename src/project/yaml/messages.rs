//! The YAML layer's error messages: libyaml's syntax errors as the reference words
//! them, with cairn's hints, and the errors of building the tree, each at its place.

use super::Node;
use super::events::{Mark, SyntaxError};
use crate::project::{Diagnostic, Location};

pub fn duplicate_key(key: &Node, first: Location) -> Diagnostic {
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

/// The file ended inside a `[...]` or `{...}`: point at the opening bracket.
pub fn unclosed(e: &SyntaxError, (bracket, at): (char, Location)) -> Diagnostic {
    let end = location(e.problem_mark);
    let problem = match &e.context {
        Some((context, _)) => format!("{context}, {}", e.problem),
        None => e.problem.clone(),
    };
    Diagnostic::at(
        format!(
            "invalid YAML: the `{bracket}` on line {}, column {} is never closed \
             ({problem} at line {}, column {}, the end of the file)",
            at.line, at.column, end.line, end.column
        ),
        at,
    )
}

/// libyaml's message, as the reference shows it: the problem and where, then the
/// construct being read and where it began.
pub fn syntax_error(src: &str, e: &SyntaxError, at_end: bool) -> Diagnostic {
    let at = location(e.problem_mark);
    let tab = src
        .get(e.problem_mark.index..)
        .is_some_and(|rest| rest.starts_with('\t'));
    let hint = if tab {
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
    let context = match &e.context {
        // "while scanning for the next token" at the problem itself says nothing more.
        Some((_, mark)) if mark.index == e.problem_mark.index => String::new(),
        Some((context, mark)) => {
            let from = location(*mark);
            format!(
                ", {context} from line {}, column {}",
                from.line, from.column
            )
        }
        None => String::new(),
    };
    Diagnostic::at(
        format!(
            "invalid YAML: {}{hint} (line {}, column {}{end}{context})",
            e.problem, at.line, at.column
        ),
        at,
    )
}

pub fn error_at(message: String, at: Mark) -> Diagnostic {
    located(message, location(at))
}

/// An error message that names its position, at that position.
pub fn located(message: String, at: Location) -> Diagnostic {
    Diagnostic::at(
        format!("{message} (line {}, column {})", at.line, at.column),
        at,
    )
}

pub fn location(mark: Mark) -> Location {
    Location {
        line: mark.line + 1,
        column: mark.column + 1,
    }
}
