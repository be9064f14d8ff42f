//! The end of `cairn run` for people: what ran, what was restored, what
//! failed and where to look, and how long it took.

use crate::study::pipeline;

/// `text` with the store path, scratch directory names and durations
/// (`0.3s`) masked, so a snapshot holds only what does not vary.
fn mask(text: &str, store: &std::path::Path) -> String {
    let text = text.replace(store.to_str().unwrap(), "[STORE]");
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                let bare = w.trim_end_matches(['\n', ',', ')']);
                let rest = &w[bare.len()..];
                let is_secs = bare.ends_with('s')
                    && bare[..bare.len() - 1].contains('.')
                    && bare[..bare.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.');
                if is_secs {
                    format!("[T]{rest}")
                } else if let Some(i) = w.find("/build-") {
                    let tail = &w[i + 1..];
                    let end = tail.find('/').unwrap_or(tail.len());
                    format!("{}/build-[ID]{}", &w[..i], &tail[end..])
                } else {
                    w.to_string()
                }
            })
            .collect();
        out.push_str(&words.join(" "));
    }
    out
}

#[test]
fn a_mixed_run_with_a_failure_says_what_happened() {
    let s = pipeline();
    assert_eq!(s.run(&["prepare", "describe"]).code, 0);
    s.write(
        "analysis/analyse.py",
        "import sys\nprint('something went wrong', file=sys.stderr)\nsys.exit(3)\n",
    );
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('four rows\\n')\n",
    );
    let r = s.cairn(&["run", "run_all", "-j1", "--continue-on-error"]);
    assert_eq!(r.code, 1, "{r:?}");
    insta::assert_snapshot!(mask(&r.stdout, s.store.path()), @r"
    => describe
       Completed successfully in [T]

       log file: metadata/describe.log
       outputs:
         output/description.txt  - moderately_sensitive

    => analyse
       Job exited with an error

       log file: metadata/analyse.log
       logs (truncated):
         something went wrong

    => 1 ran, 1 restored, 1 failed, 1 not run (dependency failed) in [T]
    => failed:
       analyse: Job exited with an error
          log: metadata/analyse.log
          workspace: [STORE]/tmp/build-[ID]/workspace
    => not run: report
    ");

    let stopped = s.cairn(&["run", "analyse", "describe", "-j1", "--force"]);
    assert_eq!(stopped.code, 1, "{stopped:?}");
    let last = stopped
        .stdout
        .lines()
        .find(|l| l.contains(" ran, "))
        .unwrap();
    assert!(
        last.contains("1 failed, 1 not started (stopped at the first failure)"),
        "{stopped:?}"
    );
}

#[test]
fn an_up_to_date_run_says_everything_was_restored() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let r = s.cairn(&["run", "run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    insta::assert_snapshot!(mask(&r.stdout, s.store.path()), @"=> 0 ran, 4 restored in [T]");
}
