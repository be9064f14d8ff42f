//! The expanded command of an action: Python's `shlex.split` of `run` (reimplemented
//! exactly, POSIX mode), then what the OpenSAFELY runner appends — `--config '<json>'`
//! and, for `cohortextractor:* generate_cohort`, the dummy-data and output-dir flags.

use super::paths;

/// Python's `shlex.split(s)`: POSIX rules, whitespace splitting, no comments.
/// The error text is Python's (`No closing quotation`, `No escaped character`).
pub fn split(s: &str) -> Result<Vec<String>, &'static str> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Between,
        Word,
        Quoted(char),
        Escape(Escaped),
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Escaped {
        Word,
        InDoubleQuotes,
    }
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut parts = Vec::new();
    let mut token = String::new();
    // An empty pair of quotes still makes a token, so remember quoting happened.
    let mut quoted = false;
    let mut state = State::Between;
    for c in s.chars() {
        state = match state {
            State::Between | State::Word if is_space(c) => {
                if state == State::Word || quoted {
                    parts.push(std::mem::take(&mut token));
                    quoted = false;
                }
                State::Between
            }
            State::Between | State::Word => match c {
                '\'' | '"' => {
                    quoted = true;
                    State::Quoted(c)
                }
                '\\' => State::Escape(Escaped::Word),
                _ => {
                    token.push(c);
                    State::Word
                }
            },
            State::Quoted(q) if c == q => State::Word,
            State::Quoted('"') if c == '\\' => State::Escape(Escaped::InDoubleQuotes),
            State::Quoted(q) => {
                token.push(c);
                State::Quoted(q)
            }
            State::Escape(Escaped::Word) => {
                token.push(c);
                State::Word
            }
            State::Escape(Escaped::InDoubleQuotes) => {
                // Inside double quotes a backslash only escapes `"` and `\`.
                if c != '"' && c != '\\' {
                    token.push('\\');
                }
                token.push(c);
                State::Quoted('"')
            }
        };
    }
    match state {
        State::Quoted(_) => Err("No closing quotation"),
        State::Escape(_) => Err("No escaped character"),
        State::Word => {
            parts.push(token);
            Ok(parts)
        }
        State::Between => {
            if quoted {
                parts.push(token);
            }
            Ok(parts)
        }
    }
}

/// Python's `shlex.quote`: how one argument is shown in a shell command line.
pub fn quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if arg.is_empty() {
        "''".into()
    } else if arg.chars().all(safe) {
        arg.into()
    } else {
        format!("'{}'", arg.replace('\'', "'\"'\"'"))
    }
}

/// Python's `shlex.join`: the command line the OpenSAFELY runner logs.
pub fn join(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// What the runner appends to a `cohortextractor` v1 extraction.
pub struct Extraction<'a> {
    /// `dummy_data_file`, if the action has one.
    pub dummy_data_file: Option<&'a str>,
    /// `expectations.population_size` (1000 where the version ignores it).
    pub population_size: &'a str,
    /// Every output pattern, in the reference's level order.
    pub patterns: Vec<&'a str>,
}

/// The expanded argv: `parts` (the shlex split of `run`), `--config <json>` when
/// `config` is a non-empty mapping, then the extraction flags.
pub fn expand(
    parts: &[String],
    config_json: Option<String>,
    extraction: &Extraction,
) -> Vec<String> {
    let mut argv = parts.to_vec();
    if let Some(json) = config_json {
        argv.push("--config".into());
        argv.push(json);
    }
    if is_cohortextractor_v1(&argv) {
        // cairn always runs like the local runner: on the dummy-data backend.
        argv.push(match extraction.dummy_data_file {
            Some(file) => format!("--dummy-data-file={file}"),
            None => format!("--expectations-population={}", extraction.population_size),
        });
        let dirs = paths::unique_parents(extraction.patterns.iter().copied());
        if let [dir] = dirs.as_slice() {
            argv.push(format!("--output-dir={dir}"));
        }
    }
    argv
}

/// `is_extraction_command(args, require_version=1)` of the reference.
fn is_cohortextractor_v1(argv: &[String]) -> bool {
    argv.len() > 1
        && matches!(argv[1].as_str(), "generate_cohort" | "generate_dataset")
        && argv[0].starts_with("cohortextractor:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&[&str], &str>) {
        let expected = expected.map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(split(input), expected, "shlex.split({input:?})");
    }

    #[test]
    fn splits_like_python_shlex() {
        // Expected values are Python's `shlex.split` on the same input.
        check("python:v2 a.py", Ok(&["python:v2", "a.py"]));
        check("  a   b  ", Ok(&["a", "b"]));
        check("a\tb\nc\rd", Ok(&["a", "b", "c", "d"]));
        check("", Ok(&[]));
        check("   ", Ok(&[]));
        check("'a b' c", Ok(&["a b", "c"]));
        check("a'b c'd", Ok(&["ab cd"]));
        check("\"\"", Ok(&[""]));
        check("a '' b", Ok(&["a", "", "b"]));
        check("''''", Ok(&[""]));
        check(r#""a\"b""#, Ok(&["a\"b"]));
        check(r#""a\\b""#, Ok(&["a\\b"]));
        check(r#""a\nb""#, Ok(&["a\\nb"]));
        check(r#""a\$b""#, Ok(&["a\\$b"]));
        check(r"'a\b'", Ok(&["a\\b"]));
        check(r"a\ b", Ok(&["a b"]));
        check(r"\'", Ok(&["'"]));
        check("a\\\nb", Ok(&["a\nb"]));
        check("x # not a comment", Ok(&["x", "#", "not", "a", "comment"]));
        check("--config='{\"a\": 1}'", Ok(&["--config={\"a\": 1}"]));
        check("é 'ü x'", Ok(&["é", "ü x"]));
        check("python:latest \"a.py", Err("No closing quotation"));
        check("'abc", Err("No closing quotation"));
        check("abc\\", Err("No escaped character"));
        check("\"abc\\", Err("No escaped character"));
    }

    #[test]
    fn quotes_like_python_shlex() {
        assert_eq!(quote("a.py"), "a.py");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(quote("é"), "'é'");
        assert_eq!(
            join(&["python:v2".into(), "--config".into(), "{\"a\": 1}".into()]),
            "python:v2 --config '{\"a\": 1}'"
        );
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn expands_cohortextractor_extras() {
        let parts = strings(&["cohortextractor:latest", "generate_cohort"]);
        let one_dir = Extraction {
            dummy_data_file: None,
            population_size: "10000",
            patterns: vec!["output/input.csv"],
        };
        assert_eq!(
            expand(&parts, None, &one_dir),
            strings(&[
                "cohortextractor:latest",
                "generate_cohort",
                "--expectations-population=10000",
                "--output-dir=output"
            ])
        );
        let root_and_dummy = Extraction {
            dummy_data_file: Some("dummy/x.csv"),
            population_size: "1000",
            patterns: vec!["input.csv", "input_2.csv"],
        };
        assert_eq!(
            expand(&parts, None, &root_and_dummy)[2..],
            strings(&["--dummy-data-file=dummy/x.csv", "--output-dir=."])
        );
        let two_dirs = Extraction {
            dummy_data_file: None,
            population_size: "1000",
            patterns: vec!["a/x.csv", "b/y.csv"],
        };
        assert_eq!(
            expand(&parts, None, &two_dirs)[2..],
            strings(&["--expectations-population=1000"])
        );
    }

    #[test]
    fn other_commands_only_get_config() {
        let parts = strings(&["python:v2", "a.py"]);
        let ex = Extraction {
            dummy_data_file: Some("d.csv"),
            population_size: "1000",
            patterns: vec!["output/a.csv"],
        };
        assert_eq!(expand(&parts, None, &ex), parts);
        assert_eq!(
            expand(&parts, Some("{}".into()), &ex),
            strings(&["python:v2", "a.py", "--config", "{}"])
        );
        // `cohortextractor:v1 generate_dataset` counts; `cohortextractor --version` not.
        let ds = strings(&["cohortextractor:v1", "generate_dataset"]);
        assert_eq!(expand(&ds, None, &ex).len(), 4);
        let version = strings(&["cohortextractor:latest", "--version"]);
        assert_eq!(expand(&version, None, &ex), version);
    }
}
