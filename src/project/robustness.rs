//! `check_source` must never panic: every conformance case, cut short at many points and
//! with characters swapped for YAML's special ones, is checked and its errors rendered.
//! Also the `load` entry point the rest of cairn uses.

use super::{Renderer, Severity, check_source};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/cases");

/// Every file of the corpus.
fn corpus() -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(CASES)
        .expect("the corpus is in tests/conformance")
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    files.sort();
    files
}

fn check_and_render(src: &str) {
    let checked = check_source(src);
    assert_eq!(
        checked.project.is_some(),
        checked.errors.is_empty(),
        "{src}"
    );
    let renderer = Renderer {
        file: "project.yaml",
        source: src,
        colour: true,
    };
    renderer.render_all(&checked.errors, Severity::Error);
    renderer.render_all(&checked.warnings, Severity::Warning);
}

#[test]
fn truncated_files_never_panic() {
    for src in corpus() {
        let cuts: Vec<usize> = src.char_indices().map(|(i, _)| i).step_by(3).collect();
        for cut in cuts {
            check_and_render(&src[..cut]);
        }
    }
}

#[test]
fn mutated_files_never_panic() {
    let specials = [
        "[", "]", "{", "}", ":", "-", "'", "\"", "\t", "\n", "&a", "*a", "!!int", "<<: ", "#", "|",
        ">", "? ", "~", "%", "é", "\\",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for src in corpus() {
        let boundaries: Vec<usize> = src.char_indices().map(|(i, _)| i).collect();
        if boundaries.is_empty() {
            continue;
        }
        for _ in 0..60 {
            let at = boundaries[(next() as usize) % boundaries.len()];
            let insert = specials[(next() as usize) % specials.len()];
            let mut mutated = src.clone();
            if next() % 2 == 0 {
                mutated.insert_str(at, insert);
            } else {
                let end = src[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                mutated.replace_range(at..end, insert);
            }
            check_and_render(&mutated);
        }
    }
}

mod load {
    use crate::project::load;

    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("No project.yaml file found in {}", dir.path().display())
        );
    }

    #[test]
    fn valid_project_with_warnings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("project.yaml"),
            "version: 4\nactions:\n  a: {run: 'python:v2 a.py', outputs: {highly_sensitive: {x: a.csv}}}\n",
        )
        .unwrap();
        let (project, warnings) = load(dir.path()).unwrap();
        assert_eq!(project.actions["a"].argv, ["python:v2", "a.py"]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("old version (4.0)"));
    }

    #[test]
    fn invalid_project_error_is_the_rendered_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("project.yaml"), "version: 5\nactions: 3\n").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        let file = dir.path().join("project.yaml");
        assert_eq!(
            err,
            format!(
                "{}:2:10: error: Project `actions` section must be a dictionary of key/value \
                 pairs\n  |\n2 | actions: 3\n  |          ^",
                file.display()
            )
        );
    }
}
