//! An action's `run:` string: split like the shell, first word `image:tag`
//! (`Action.parse_run_string` in the reference).

use crate::project::command;
use crate::project::{Diagnostic, Location};

/// A parsed `run:`.
#[derive(Clone, Debug)]
pub struct Run {
    /// As written; the duplicate-command rule compares this text.
    pub raw: String,
    /// `shlex.split(raw)`, never empty.
    pub parts: Vec<String>,
    /// Before the first `:` of the first word (`python`, `ghcr.io/x/y`).
    pub image: String,
    /// After it (`v2`, `latest`).
    pub tag: String,
    pub location: Location,
}

/// Parses `raw`, found at `location`, for `action`.
pub fn parse(action: &str, raw: &str, location: Location) -> Result<Run, Diagnostic> {
    let empty = || {
        Diagnostic::at(
            format!("run must have a value, {action} has an empty run key"),
            location,
        )
    };
    if raw.is_empty() {
        return Err(empty());
    }
    let parts = command::split(raw).map_err(|e| {
        Diagnostic::at(
            format!(
                "The `run` command of action {action} cannot be split into arguments: {e} \
                 (check its quotes)"
            ),
            location,
        )
    })?;
    // Whitespace only: the reference crashes with an IndexError; it is as empty as "".
    let first = parts.first().ok_or_else(empty)?;
    let (image, tag) = first.split_once(':').unwrap_or((first, ""));
    if !is_valid_tag(tag) {
        return Err(Diagnostic::at(
            format!(
                "Action command {image} must have a version specified in the form :vN \
                 (e.g. {image}:v2)"
            ),
            location,
        ));
    }
    Ok(Run {
        raw: raw.to_string(),
        image: image.to_string(),
        tag: tag.to_string(),
        parts,
        location,
    })
}

/// `^((v[\d.]+(-pre)?)|dev|latest)$` as Python's `re.match` applies it: `$` also
/// matches before one final newline. (`\d` is taken as ASCII digits.)
fn is_valid_tag(tag: &str) -> bool {
    let tag = tag.strip_suffix('\n').unwrap_or(tag);
    if tag == "dev" || tag == "latest" {
        return true;
    }
    let Some(rest) = tag.strip_prefix('v') else {
        return false;
    };
    let rest = rest.strip_suffix("-pre").unwrap_or(rest);
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_accepted_and_rejected_like_the_reference() {
        for ok in [
            "v1", "v2", "v1.2", "v1.2.3", "dev", "latest", "v1-pre", "v1.2-pre", "v1.", "v..",
        ] {
            assert!(is_valid_tag(ok), "{ok} should be accepted");
        }
        for bad in [
            "",
            "v",
            "other",
            "vnotdigits",
            "v1x1",
            "pre",
            "V1",
            "2",
            "v1:v2",
            "v-pre",
            "latest ",
        ] {
            assert!(!is_valid_tag(bad), "{bad} should be rejected");
        }
    }

    fn message(raw: &str) -> String {
        parse("a", raw, Location::default()).unwrap_err().message
    }

    #[test]
    fn run_errors() {
        assert_eq!(message(""), "run must have a value, a has an empty run key");
        assert_eq!(
            message("  \t"),
            "run must have a value, a has an empty run key"
        );
        assert_eq!(
            message("python a.py"),
            "Action command python must have a version specified in the form :vN (e.g. python:v2)"
        );
        assert_eq!(
            message("test:"),
            "Action command test must have a version specified in the form :vN (e.g. test:v2)"
        );
        assert!(message("python:v2 'a.py").contains("No closing quotation"));
    }

    #[test]
    fn image_and_tag() {
        let run = parse("a", "ghcr.io/foo/bar:v1 x 'y z'", Location::default()).unwrap();
        assert_eq!(
            (run.image.as_str(), run.tag.as_str()),
            ("ghcr.io/foo/bar", "v1")
        );
        assert_eq!(run.parts, ["ghcr.io/foo/bar:v1", "x", "y z"]);
    }
}
