//! Observed inputs: with no configuration, an edit reruns only the actions
//! that looked at what changed, however they looked at it.

use crate::study::{Ran, Study, names};

/// One action per way of looking at a file. Each reads (or probes, or
/// lists) its own path, so editing that path must rerun it and nothing else.
const ACTIONS: &[(&str, &str, &str)] = &[
    // (action, script, what it looks at)
    ("py_open", "open('data/open.txt').read()", "data/open.txt"),
    (
        "py_import",
        "import helper\nhelper.go()",
        "analysis/helper.py",
    ),
    (
        "py_subprocess",
        "import subprocess\nsubprocess.run(['cat', 'data/sub.txt'], check=True, stdout=subprocess.DEVNULL)",
        "data/sub.txt",
    ),
    (
        "py_thread",
        "import threading\nt = threading.Thread(target=lambda: open('data/thread.txt').read())\nt.start(); t.join()",
        "data/thread.txt",
    ),
    (
        "py_mmap",
        "import mmap\nf = open('data/mmap.txt', 'rb')\nm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\nm[:1]",
        "data/mmap.txt",
    ),
    (
        "py_symlink",
        "open('data/link.txt').read()",
        "data/target.txt",
    ),
    (
        "py_chdir",
        "import os\nos.chdir('data')\nopen('chdir.txt').read()\nos.chdir('..')",
        "data/chdir.txt",
    ),
    (
        "py_dirfd",
        "import os\nfd = os.open('data', os.O_RDONLY)\nos.close(os.open('dirfd.txt', os.O_RDONLY, dir_fd=fd))",
        "data/dirfd.txt",
    ),
    (
        "py_exists",
        "import os\nos.path.exists('data/maybe.csv')",
        "data/maybe.csv",
    ),
    (
        "py_glob",
        "import glob\nglob.glob('inbox/*.csv')",
        "inbox/new.csv",
    ),
];

/// R actions: a `source()` of a helper.
const R: &[(&str, &str, &str)] = &[(
    "r_source",
    "source('analysis/lib.R')\nstopifnot(helper() == 1)",
    "analysis/lib.R",
)];

/// Shell actions (run by `sh`): a `cat`, a `test -f`, an `ls`.
const SHELL: &[(&str, &str, &str)] = &[
    ("sh_cat", "cat data/cat.txt > /dev/null", "data/cat.txt"),
    (
        "sh_test",
        "test -f data/probe.csv || true",
        "data/probe.csv",
    ),
    ("sh_ls", "ls listed > /dev/null", "listed/new.txt"),
];

fn study() -> Study {
    let s = Study::new();
    let mut yaml = String::from("version: \"4.0\"\nactions:\n");
    for (name, script, _) in ACTIONS {
        s.write(
            &format!("analysis/{name}.py"),
            &format!(
                "import os\n{script}\nos.makedirs('output', exist_ok=True)\nopen('output/{name}.txt', 'w').write('done')\n"
            ),
        );
        yaml += &format!(
            "  {name}:\n    run: python:v2 analysis/{name}.py\n    outputs:\n      moderately_sensitive:\n        done: output/{name}.txt\n"
        );
    }
    for (name, script, _) in R {
        s.write(
            &format!("analysis/{name}.R"),
            &format!(
                "{script}\ndir.create('output', showWarnings = FALSE)\nwriteLines('done', 'output/{name}.txt')\n"
            ),
        );
        yaml += &format!(
            "  {name}:\n    run: r:latest analysis/{name}.R\n    outputs:\n      moderately_sensitive:\n        done: output/{name}.txt\n"
        );
    }
    for (name, script, _) in SHELL {
        s.write(
            &format!("analysis/{name}.sh"),
            &format!("{script}\nmkdir -p output\necho done > output/{name}.txt\n"),
        );
        yaml += &format!(
            "  {name}:\n    run: sh:v1 analysis/{name}.sh\n    outputs:\n      moderately_sensitive:\n        done: output/{name}.txt\n"
        );
    }
    s.write("project.yaml", &yaml);
    s.write("cairn.toml", "[images.sh]\ncommand = [\"sh\"]\n");
    s.write("analysis/helper.py", "def go():\n    return 1\n");
    s.write("analysis/lib.R", "helper <- function() 1\n");
    for f in [
        "open", "sub", "thread", "mmap", "target", "chdir", "dirfd", "cat",
    ] {
        s.write(&format!("data/{f}.txt"), "v1\n");
    }
    std::os::unix::fs::symlink("target.txt", s.file("data/link.txt")).unwrap();
    s.write("inbox/old.csv", "x\n");
    s.write("listed/old.txt", "x\n");
    s.write("docs/notes.md", "notes\n");
    s.commit("a study with no declared inputs");
    s
}

fn ran(r: &Ran) -> Vec<String> {
    assert_eq!(r.code, 0, "{r:?}");
    r.with_status("ran")
}

#[test]
fn an_edit_reruns_only_the_actions_that_looked_at_it() {
    let s = study();
    let all: Vec<&str> = ACTIONS.iter().chain(R).chain(SHELL).map(|a| a.0).collect();
    assert_eq!(ran(&s.run(&["run_all"])), names(&all));
    assert!(ran(&s.run(&["run_all"])).is_empty());

    // A file no action looks at: nothing reruns.
    s.write("docs/notes.md", "edited\n");
    s.write("docs/new.md", "new\n");
    assert!(ran(&s.run(&["run_all"])).is_empty(), "unrelated files");

    for (name, _, path) in ACTIONS.iter().chain(R).chain(SHELL) {
        let before = std::fs::read_to_string(s.file(path)).unwrap_or_default();
        s.write(path, &format!("{before}# edited for {name}\n"));
        let r = s.run(&["run_all"]);
        assert_eq!(ran(&r), names(&[name]), "editing {path}: {r:?}");
    }
    assert!(ran(&s.run(&["run_all"])).is_empty());
}

#[test]
fn explain_and_dry_run_name_the_observed_change() {
    let s = study();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write("data/open.txt", "v2\n");
    s.write("data/maybe.csv", "now here\n");
    s.write("listed/new.txt", "x\n");
    let e = s.cairn(&["explain", "py_open"]);
    assert!(
        e.stdout.contains("data/open.txt changed (read by py_open)"),
        "{e:?}"
    );
    let e = s.cairn(&["explain", "py_exists"]);
    assert!(
        e.stdout
            .contains("data/maybe.csv appeared (py_exists looked for it)"),
        "{e:?}"
    );
    let e = s.cairn(&["explain", "sh_ls"]);
    assert!(
        e.stdout
            .contains("the listing of listed/ changed (sh_ls listed it)"),
        "{e:?}"
    );
    let d = s.cairn(&["run", "run_all", "--dry-run"]);
    assert!(
        d.stdout
            .contains("would run: data/open.txt changed (read by py_open)"),
        "{d:?}"
    );
    let show = s.cairn(&["show", "py_dirfd"]);
    assert!(
        show.stdout.contains("  read      data/dirfd.txt  file "),
        "{show:?}"
    );
}

#[test]
fn a_file_written_then_read_back_does_not_make_its_action_stale() {
    let s = Study::new();
    s.write(
        "project.yaml",
        "version: \"4.0\"\nactions:\n  roundtrip:\n    run: python:v2 analysis/rt.py\n    outputs:\n      moderately_sensitive:\n        out: output/rt.txt\n",
    );
    s.write(
        "analysis/rt.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('scratch.txt', 'w').write('x')\nopen('scratch.txt').read()\nopen('output/rt.txt', 'w').write('x')\nopen('output/rt.txt').read()\n",
    );
    s.commit("round trip");
    assert_eq!(ran(&s.run(&["run_all"])), names(&["roundtrip"]));
    assert!(ran(&s.run(&["run_all"])).is_empty());
    let show = s.cairn(&["show", "roundtrip"]);
    assert!(show.stdout.contains("scratch.txt"), "{show:?}");
}

#[test]
fn where_ptrace_is_refused_actions_run_untraced_and_depend_on_everything() {
    let s = Study::new();
    s.write(
        "project.yaml",
        "version: \"4.0\"\nactions:\n  a:\n    run: python:v2 analysis/a.py\n    outputs:\n      moderately_sensitive:\n        out: output/a.txt\n",
    );
    s.write(
        "analysis/a.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/a.txt', 'w').write('x')\n",
    );
    s.write("docs/notes.md", "notes\n");
    s.commit("one action");
    let filter = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        filter.path(),
        crate::trace::deny_filter(libc::SYS_ptrace as u32),
    )
    .unwrap();
    // cairn itself runs under a seccomp filter that refuses ptrace, as in a
    // container whose profile forbids it.
    let run = || {
        let script = format!(
            "exec bwrap --bind / / --dev /dev --proc /proc --seccomp 9 -- \"$CAIRN\" run run_all --format json --project-dir \"$DIR\" 9<\"{}\"",
            filter.path().display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .env("CAIRN", env!("CARGO_BIN_EXE_cairn"))
            .env("DIR", s.path())
            .env("CAIRN_STORE", s.store.path())
            .env("CAIRN_NO_SANDBOX", "1")
            .output()
            .unwrap();
        crate::study::ran(out)
    };
    let first = run();
    assert_eq!(ran(&first), names(&["a"]));
    assert!(
        first.stdout.contains("ran untraced") && first.stdout.contains("PTRACE"),
        "the run says so: {first:?}"
    );
    assert_eq!(first.stdout.matches("ran untraced").count(), 1, "once");
    assert!(ran(&run()).is_empty());
    // Untraced, the action depends on every visible file.
    s.write("docs/notes.md", "edited\n");
    assert_eq!(ran(&run()), names(&["a"]));
}

#[test]
fn the_seed_job_request_reruns_only_the_action_whose_script_changed() {
    // The seed's own project.yaml, verbatim; its programs are stand-ins:
    // the .do files are shell scripts run by `sh`, and the cohort extractor
    // is a script that writes a dummy cohort.
    let s = Study::new();
    s.write(
        "project.yaml",
        &std::fs::read_to_string("tests/conformance/cases/000_seed_job_request.yaml").unwrap(),
    );
    s.write(
        "cairn.toml",
        "[images.cohortextractor]\ncommand = [\"sh\", \"analysis/cohortextractor.sh\"]\n[images.stata-mp]\ncommand = [\"sh\"]\n",
    );
    s.write("analysis/study_definition.py", "population = 'everyone'\n");
    s.write(
        "analysis/cohortextractor.sh",
        "cat analysis/study_definition.py > /dev/null\nmkdir -p output\necho patient_id,age > output/input.csv\necho 1,40 >> output/input.csv\n",
    );
    s.write(
        "analysis/00_Test_runs_and_feasibility.do",
        "cat output/input.csv > /dev/null\nmkdir -p logs\necho feasible > logs/00_Test_runs_and_feasibility.log\n",
    );
    s.write(
        "analysis/cr_analysis_dataset.do",
        "cp output/input.csv analysis/cr_analysis_dataset.dta\nmkdir -p logs\necho created > logs/cr_analysis_dataset.log\n",
    );
    s.write(
        "analysis/an_ccount_crude.do",
        "cat analysis/cr_analysis_dataset.dta > /dev/null\nmkdir -p logs output\necho counted > logs/an_ccount_crude.log\nfor f in tpp_sgss_counts tpp_type_counts tpp_fp; do echo '<svg/>' > output/$f.svg; done\n",
    );
    s.commit("the seed's job request, with stand-ins");
    assert_eq!(
        ran(&s.run(&["run_all"])),
        names(&["anCASE", "crMAIN", "feasibility", "generate_cohort"])
    );
    s.write(
        "analysis/an_ccount_crude.do",
        &(s.read("analysis/an_ccount_crude.do") + "# a comment\n"),
    );
    assert_eq!(ran(&s.run(&["run_all"])), names(&["anCASE"]));
    s.write(
        "analysis/00_Test_runs_and_feasibility.do",
        &(s.read("analysis/00_Test_runs_and_feasibility.do") + "# a comment\n"),
    );
    assert_eq!(ran(&s.run(&["run_all"])), names(&["feasibility"]));
}
