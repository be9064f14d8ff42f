//! Rules for the data-extraction commands, which look at `run` and `outputs` together:
//! `cohortextractor:* generate_cohort` and `ehrql|databuilder:* generate-dataset`.

use super::outputs::Outputs;
use super::run::Run;
use crate::project::pynum::py_isspace;
use crate::project::{Diagnostic, PrivacyLevel, paths};

/// Checks `run` and `outputs` of one action against the extraction rules.
pub fn check(action: &str, run: &Run, outputs: &Outputs) -> Option<Diagnostic> {
    if matches_command(&run.raw, &["cohortextractor:"], &["generate_cohort"]) {
        return cohortextractor(action, run, outputs);
    }
    if matches_command(
        &run.raw,
        &["ehrql:", "databuilder:"],
        &["generate-dataset", "generate_dataset"],
    ) {
        return ehrql(action, run, outputs);
    }
    None
}

/// `re.match(r"(prefixes)\S+ (commands)", raw)`: a prefix at the very start, a run of
/// non-space characters, one space, then the command (which may continue).
fn matches_command(raw: &str, prefixes: &[&str], commands: &[&str]) -> bool {
    prefixes.iter().any(|prefix| {
        let Some(rest) = raw.strip_prefix(prefix) else {
            return false;
        };
        let word_end = rest.find(py_isspace).unwrap_or(rest.len());
        word_end > 0
            && rest[word_end..]
                .strip_prefix(' ')
                .is_some_and(|tail| commands.iter().any(|c| tail.starts_with(c)))
    })
}

fn cohortextractor(action: &str, run: &Run, outputs: &Outputs) -> Option<Diagnostic> {
    let levels = outputs.level_count();
    if levels != 1 {
        return Some(Diagnostic::at(
            format!(
                "A `generate_cohort` action must have exactly one output; {action} had {levels}"
            ),
            run.location,
        ));
    }
    let dirs = paths::unique_parents(outputs.patterns_by_level().map(|(_, o)| o.pattern.as_str()));
    let has_flag = run
        .parts
        .iter()
        .any(|a| a == "--output-dir" || a.starts_with("--output-dir="));
    if dirs.len() == 1 || has_flag {
        return None;
    }
    let list: Vec<String> = dirs.iter().map(|d| format!(" - {d}/")).collect();
    Some(Diagnostic::at(
        format!(
            "generate_cohort command should produce output in only one directory, found {}:\n{}",
            dirs.len(),
            list.join("\n")
        ),
        run.location,
    ))
}

fn ehrql(action: &str, run: &Run, outputs: &Outputs) -> Option<Diagnostic> {
    if outputs.has_outputs(PrivacyLevel::ModeratelySensitive)
        || outputs.has_outputs(PrivacyLevel::MinimallySensitive)
    {
        return Some(Diagnostic::at(
            format!(
                "`{action}` action uses `generate-dataset` and so all outputs must be \
                 labelled `highly_sensitive`"
            ),
            run.location,
        ));
    }
    let spec = output_spec(&run.parts).filter(|s| !s.is_empty());
    let Some(spec) = spec else {
        return Some(Diagnostic::at(
            format!(
                "`{action}` action does not provide an `--output` argument specifying where \
                 the results of `generate-dataset` should be stored"
            ),
            run.location,
        ));
    };
    let patterns: Vec<&str> = outputs
        .levels
        .get(&PrivacyLevel::HighlySensitive)
        .into_iter()
        .flatten()
        .map(|o| o.pattern.as_str())
        .collect();
    let (got, expected) = match split_directory_and_extension(spec) {
        // `--output dir:ext` writes one file per table: every pattern must be `dir/*.ext`.
        Some((dir, ext)) => {
            let glob = format!("{dir}/*.{ext}");
            match patterns.iter().find(|p| !fnmatch(p, &glob)) {
                None => return None,
                Some(p) => (p.to_string(), format!("{dir}/:{ext}")),
            }
        }
        None if patterns.contains(&spec) => return None,
        None => (patterns.join(", "), spec.to_string()),
    };
    Some(Diagnostic::at(
        format!(
            "output specification must match the `--output` argument in the `run` command\n\
             \x20             got: {got}\nbut was expecting: {expected}"
        ),
        run.location,
    ))
}

/// The value of the first `--output X` or `--output=X` argument.
fn output_spec(parts: &[String]) -> Option<&str> {
    parts.iter().enumerate().find_map(|(i, arg)| {
        if arg == "--output" {
            Some(parts.get(i + 1).map_or("", String::as_str))
        } else {
            arg.strip_prefix("--output=")
        }
    })
}

/// ehrQL's `split_directory_and_extension`: `out/ds:arrow` or `out/ds/:arrow` is a
/// directory and an extension; anything else is a single file.
fn split_directory_and_extension(spec: &str) -> Option<(String, String)> {
    let path = paths::pure_str(spec);
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let (stem, ext) = path[name_start..].rsplit_once(':')?;
    let dir = if stem.is_empty() {
        paths::parent(&path)
    } else {
        format!("{}{stem}", &path[..name_start])
    };
    Some((dir, ext.to_string()))
}

/// Python's `fnmatch.fnmatch` on POSIX: `*` matches anything (slashes too), `?` one
/// character, `[...]` a set (`[!...]` its complement).
fn fnmatch(name: &str, pattern: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let pat: Vec<char> = pattern.chars().collect();
    // Iterative wildcard matching with backtracking to the last `*`.
    let (mut n, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() && pat[p] == '*' {
            star = Some((p, n));
            p += 1;
            continue;
        }
        if p < pat.len() {
            let (matched, width) = match_one(&pat[p..], name[n]);
            if matched {
                p += width;
                n += 1;
                continue;
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|c| *c == '*')
}

/// Whether the pattern element at the start of `pat` matches `c`, and its width.
fn match_one(pat: &[char], c: char) -> (bool, usize) {
    match pat[0] {
        '?' => (true, 1),
        '[' => {
            let mut i = 1;
            let negate = pat.get(i) == Some(&'!');
            if negate {
                i += 1;
            }
            let start = i;
            // A `]` right after `[` or `[!` is literal; an unclosed `[` is a literal `[`.
            if pat.get(i) == Some(&']') {
                i += 1;
            }
            while i < pat.len() && pat[i] != ']' {
                i += 1;
            }
            if i >= pat.len() {
                return (c == '[', 1);
            }
            let set = &pat[start..i];
            let mut hit = false;
            let mut j = 0;
            while j < set.len() {
                if j + 2 < set.len() && set[j + 1] == '-' {
                    hit |= set[j] <= c && c <= set[j + 2];
                    j += 3;
                } else {
                    hit |= set[j] == c;
                    j += 1;
                }
            }
            (hit != negate, i + 1)
        }
        literal => (literal == c, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_patterns() {
        let co = |raw| matches_command(raw, &["cohortextractor:"], &["generate_cohort"]);
        assert!(co("cohortextractor:latest generate_cohort --x"));
        assert!(co("cohortextractor:v1 generate_cohortx"));
        assert!(!co("cohortextractor:latest  generate_cohort"));
        assert!(!co(" cohortextractor:latest generate_cohort"));
        assert!(!co("cohortextractor: generate_cohort"));
        assert!(!co("cohortextractor:latest\tgenerate_cohort"));
    }

    #[test]
    fn output_specs() {
        let parts = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(output_spec(&parts("e g --output a.csv")), Some("a.csv"));
        assert_eq!(output_spec(&parts("e g --output=b.csv x")), Some("b.csv"));
        assert_eq!(output_spec(&parts("e g --output")), Some(""));
        assert_eq!(output_spec(&parts("e g -o x")), None);
        assert_eq!(
            split_directory_and_extension("output/ds:arrow"),
            Some(("output/ds".into(), "arrow".into()))
        );
        assert_eq!(
            split_directory_and_extension("outputs/:arrow"),
            Some(("outputs".into(), "arrow".into()))
        );
        assert_eq!(split_directory_and_extension("a:b/c.csv"), None);
        assert_eq!(
            split_directory_and_extension("out//ds:csv/"),
            Some(("out/ds".into(), "csv".into()))
        );
    }

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatch("output/ds/a.arrow", "output/ds/*.arrow"));
        assert!(fnmatch("output/ds/x/a.arrow", "output/ds/*.arrow"));
        assert!(fnmatch("output/ds/*.arrow", "output/ds/*.arrow"));
        assert!(!fnmatch("output/ds.arrow", "output/ds/*.arrow"));
        assert!(fnmatch("a1.csv", "a?.csv"));
        assert!(fnmatch("ab.csv", "a[bc].csv"));
        assert!(!fnmatch("ad.csv", "a[bc].csv"));
        assert!(fnmatch("ad.csv", "a[!bc].csv"));
        assert!(fnmatch("a5.csv", "a[0-9].csv"));
        assert!(fnmatch("a[.csv", "a[.csv"));
        assert!(fnmatch("", "*"));
    }
}
