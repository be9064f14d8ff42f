//! `cairn clean` and `cairn store ls`.

use crate::study::pipeline;

#[test]
fn clean_removes_outputs_and_logs_and_the_next_run_restores_them() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let r = s.cairn(&["clean", "analyse"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("removed 1 output file(s) and 1 log(s) of 1 action(s)"),
        "{r:?}"
    );
    assert!(!s.exists("output/table.csv") && !s.exists("metadata/analyse.log"));
    assert!(s.exists("output/report.txt") && s.exists("metadata/report.log"));

    let again = s.run(&["run_all"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.with_status("ran").is_empty(), "{again:?}");
    assert_eq!(s.read("output/table.csv"), "total\n60\n");
    assert!(s.exists("metadata/analyse.log"));

    assert_eq!(s.cairn(&["clean"]).code, 0);
    assert!(
        !s.exists("output") && !s.exists("metadata"),
        "empty directories go too"
    );

    let typo = s.cairn(&["clean", "analyze"]);
    assert_eq!(typo.code, 1);
    assert!(typo.stderr.contains("did you mean 'analyse'?"), "{typo:?}");
}

#[test]
fn store_ls_lists_projects_and_actions_with_sizes() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    let r = s.cairn(&["store", "ls"]);
    assert_eq!(r.code, 0, "{r:?}");
    let project = std::fs::canonicalize(s.path()).unwrap();
    assert!(
        r.stdout
            .contains(&format!("{}  (last used ", project.display())),
        "{r:?}"
    );
    let line = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("report "))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(
        line.contains("1 file(s), 17 B") && line.contains("built 20"),
        "{line}"
    );
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("  ")).count(),
        4,
        "{r:?}"
    );
}
