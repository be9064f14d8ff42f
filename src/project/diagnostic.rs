//! Errors and warnings about `project.yaml`, with where they are, and how to show them:
//! `project.yaml:LINE:COL: error: message` and the offending line with a caret.

use std::fmt::Write as _;

use super::Location;

/// One problem (or warning) found in `project.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The text users search for: the reference's wording wherever it has one.
    pub message: String,
    pub location: Option<Location>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Severity::Error => "\x1b[1;31m",
            Severity::Warning => "\x1b[1;33m",
        }
    }
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, location: Option<Location>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            location,
        }
    }

    pub fn at(message: impl Into<String>, location: Location) -> Diagnostic {
        Diagnostic::new(message, Some(location))
    }
}

/// Renders diagnostics for a person.
pub struct Renderer<'a> {
    /// The file name to show, e.g. `project.yaml` or `study/project.yaml`.
    pub file: &'a str,
    pub source: &'a str,
    /// ANSI colour (only for a terminal).
    pub colour: bool,
}

/// The widest part of a source line shown in a snippet.
const SNIPPET_WIDTH: usize = 100;

impl Renderer<'_> {
    /// Every diagnostic in turn, each ending with a newline.
    pub fn render_all(&self, diagnostics: &[Diagnostic], severity: Severity) -> String {
        let lines = LineIndex::new(self.source);
        let mut out = String::new();
        for d in diagnostics {
            self.render_one(&mut out, &lines, d, severity);
        }
        out
    }

    fn render_one(&self, out: &mut String, lines: &LineIndex, d: &Diagnostic, sev: Severity) {
        let (bold, blue, reset, level) = if self.colour {
            ("\x1b[1m", "\x1b[1;34m", "\x1b[0m", sev.colour())
        } else {
            ("", "", "", "")
        };
        let position = match d.location {
            Some(at) => format!("{}:{}:{}", self.file, at.line, at.column),
            None => self.file.to_string(),
        };
        let _ = writeln!(
            out,
            "{bold}{position}:{reset} {level}{}{reset}: {bold}{}{reset}",
            sev.label(),
            d.message
        );
        let Some(at) = d.location else { return };
        let Some(text) = lines.line(self.source, at.line) else {
            return;
        };
        let (shown, caret) = window(text, at.column);
        let gutter = at.line.to_string();
        let pad = " ".repeat(gutter.len());
        let _ = writeln!(out, "{blue}{pad} |{reset}");
        let _ = writeln!(out, "{blue}{gutter} |{reset} {shown}");
        let _ = writeln!(out, "{blue}{pad} |{reset} {caret}{level}^{reset}");
    }
}

/// The part of a line to show and the padding that puts a caret under `column`.
/// Long lines (a 100 KB `run:`) are cut to a window around the column.
fn window(line: &str, column: usize) -> (String, String) {
    let chars: Vec<char> = line.trim_end_matches('\r').chars().collect();
    let col = column.saturating_sub(1);
    let (start, prefix) = if chars.len() > SNIPPET_WIDTH && col > SNIPPET_WIDTH / 2 {
        (col - SNIPPET_WIDTH / 2, "...")
    } else {
        (0, "")
    };
    let end = chars.len().min(start + SNIPPET_WIDTH);
    let suffix = if end < chars.len() { "..." } else { "" };
    let shown: String = chars[start.min(end)..end].iter().collect();
    // Keep tabs in the padding so the caret lines up however the terminal shows them.
    let before_caret = col.min(chars.len());
    let caret: String = prefix
        .chars()
        .map(|_| ' ')
        .chain(
            chars[start.min(before_caret)..before_caret]
                .iter()
                .map(|c| if *c == '\t' { '\t' } else { ' ' }),
        )
        .chain(std::iter::repeat_n(' ', col.saturating_sub(chars.len())))
        .collect();
    (format!("{prefix}{shown}{suffix}"), caret)
}

/// Byte offsets of line starts, so many diagnostics in a big file stay cheap.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(source: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line<'s>(&self, source: &'s str, line: usize) -> Option<&'s str> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        let end = self.starts.get(line).map_or(source.len(), |next| next - 1);
        source.get(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, d: Diagnostic) -> String {
        Renderer {
            file: "project.yaml",
            source,
            colour: false,
        }
        .render_all(&[d], Severity::Error)
    }

    #[test]
    fn renders_position_message_and_caret() {
        let out = render(
            "version: 5\nactions:\n  a: 1\n",
            Diagnostic::at("boom", Location { line: 3, column: 3 }),
        );
        assert_eq!(
            out,
            "project.yaml:3:3: error: boom\n  |\n3 |   a: 1\n  |   ^\n"
        );
    }

    #[test]
    fn without_location_only_the_message() {
        let out = render("x", Diagnostic::new("boom", None));
        assert_eq!(out, "project.yaml: error: boom\n");
    }

    #[test]
    fn tabs_are_kept_in_the_caret_padding() {
        let out = render(
            "\tab: c\n",
            Diagnostic::at("x", Location { line: 1, column: 2 }),
        );
        assert!(out.ends_with("1 | \tab: c\n  | \t^\n"), "{out}");
    }

    #[test]
    fn long_lines_are_windowed() {
        let line = format!("run: {}", "x".repeat(100_000));
        let out = render(
            &line,
            Diagnostic::at(
                "long",
                Location {
                    line: 1,
                    column: 50_000,
                },
            ),
        );
        assert!(out.len() < 400, "{}", out.len());
        assert!(out.contains("...x"));
    }

    #[test]
    fn column_far_past_a_long_line() {
        let line = "x".repeat(300);
        let out = render(
            &line,
            Diagnostic::at(
                "x",
                Location {
                    line: 1,
                    column: 1000,
                },
            ),
        );
        assert!(out.contains("^"));
    }

    #[test]
    fn line_past_the_end_has_no_snippet() {
        let out = render("a\n", Diagnostic::at("x", Location { line: 9, column: 1 }));
        assert_eq!(out, "project.yaml:9:1: error: x\n");
    }
}
