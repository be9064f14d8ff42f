//! `cargo xtask bench trace`: what observing actions costs and buys.
//!
//! - the tracer's overhead on a Python action that imports pandas, and on a
//!   shell action that stats 10,000 files, traced against untraced;
//! - the no-op `cairn run` of 1,000 actions (10,000 outputs), every action
//!   traced when it ran;
//! - precision: in a 50-action study where each script reads 3 of 100
//!   shared files, how many actions rerun after one shared file is edited,
//!   against how many read it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::bench_run::{Shape, generate, git_init, run_ok, time};
use crate::{median, release_binary, report_row};

pub fn run(args: &[String]) -> Result<()> {
    let small = args.iter().any(|a| a == "--small");
    let cairn = release_binary()?;
    let work = PathBuf::from("target/bench/trace");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    let out = Command::new(&cairn)
        .args(["internal", "trace-install"])
        .arg(work.join("tools"))
        .output()?;
    if !out.status.success() {
        bail!(
            "installing the tracer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tracer = PathBuf::from(String::from_utf8(out.stdout)?.trim());

    // 1. Overhead on single actions.
    let python = pandas_python(&work)?;
    let ws = work.join("ws");
    std::fs::create_dir_all(&ws)?;
    let rounds = if small { 3 } else { 10 };
    let traced = |argv: &[&str]| -> Result<Duration> {
        let mut cmd = Command::new(&tracer);
        cmd.arg("--root")
            .arg(&ws)
            .arg("--out")
            .arg(work.join("trace.txt"))
            .arg("--")
            .args(argv)
            .current_dir(&ws);
        time(|| run_ok(&mut cmd))
    };
    let plain = |argv: &[&str]| -> Result<Duration> {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]).current_dir(&ws);
        time(|| run_ok(&mut cmd))
    };
    let py = python.to_string_lossy().into_owned();
    let pandas: [&str; 3] = [&py, "-c", "import pandas"];
    // Warm the page cache before measuring either.
    plain(&pandas)?;
    traced(&pandas)?;
    let mut p_plain = Vec::new();
    let mut p_traced = Vec::new();
    for _ in 0..rounds {
        p_plain.push(plain(&pandas)?);
        p_traced.push(traced(&pandas)?);
    }
    let files = ws.join("many");
    std::fs::create_dir_all(&files)?;
    for i in 0..10_000 {
        std::fs::write(files.join(format!("f{i}")), b"")?;
    }
    let stat_all: [&str; 3] = ["sh", "-c", "for f in many/*; do test -f \"$f\"; done"];
    let mut s_plain = Vec::new();
    let mut s_traced = Vec::new();
    for _ in 0..rounds.min(5) {
        s_plain.push(plain(&stat_all)?);
        s_traced.push(traced(&stat_all)?);
    }
    let (p_plain, p_traced) = (median(p_plain), median(p_traced));
    let (s_plain, s_traced) = (median(s_plain), median(s_traced));

    // 2. The no-op of 1,000 actions.
    let shape = Shape {
        actions: if small { 100 } else { 1000 },
        files_per_action: 10,
        file_size: 4096,
        chain: 10,
        dvc_cold: false,
    };
    let project = work.join("noop");
    generate(&project, &shape)?;
    git_init(&project)?;
    let store = work.join("store");
    let cairn_run = |dir: &Path, extra: &[&str]| {
        run_ok(
            Command::new(&cairn)
                .args(["run", "run_all", "--project-dir"])
                .arg(dir)
                .arg("--store")
                .arg(&store)
                .args(extra),
        )
    };
    cairn_run(&project, &[])?;
    std::thread::sleep(Duration::from_secs(3));
    cairn_run(&project, &[])?;
    let noop = median(
        (0..5)
            .map(|_| time(|| cairn_run(&project, &[])))
            .collect::<Result<Vec<_>>>()?,
    );

    // 3. Precision.
    let study = work.join("precision");
    let readers = precision_study(&study, 50, 100, 3)?;
    git_init(&study)?;
    cairn_run(&study, &["--format", "json"])?;
    // A shared file some action reads.
    let edited = readers[0][0];
    std::fs::write(study.join(format!("shared/s{edited}.csv")), "edited\n")?;
    let out = Command::new(&cairn)
        .args(["run", "run_all", "--format", "json", "--project-dir"])
        .arg(&study)
        .arg("--store")
        .arg(&store)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let reran = text
        .lines()
        .filter(|l| l.contains("\"event\":\"action\"") && l.contains("\"status\":\"ran\""))
        .count();
    let read_it = readers.iter().filter(|r| r.contains(&edited)).count();

    println!();
    report_row("python -c 'import pandas'", p_plain, None);
    report_row("  same, traced", p_traced, Some(("untraced", p_plain)));
    report_row("sh: test -f on 10,000 files", s_plain, None);
    report_row("  same, traced", s_traced, Some(("untraced", s_plain)));
    report_row(
        &format!("no-op run of {} actions", shape.actions),
        noop,
        None,
    );
    println!();
    println!(
        "tracing a Python action that imports pandas: {:.3}× (target ≤ 1.10×)",
        p_traced.as_secs_f64() / p_plain.as_secs_f64()
    );
    println!(
        "no-op of {} actions with tracing on: {:.1} ms (target < 60 ms)",
        shape.actions,
        noop.as_secs_f64() * 1000.0
    );
    println!(
        "precision: after editing shared/s{edited}.csv, {reran} action(s) reran; {read_it} read it (target: equal)"
    );
    Ok(())
}

/// A study of `actions` shell actions, each reading `per` of `shared` files;
/// returns which files each reads.
fn precision_study(
    dir: &Path,
    actions: usize,
    shared: usize,
    per: usize,
) -> Result<Vec<Vec<usize>>> {
    std::fs::create_dir_all(dir.join("shared"))?;
    std::fs::create_dir_all(dir.join("analysis"))?;
    for i in 0..shared {
        std::fs::write(dir.join(format!("shared/s{i}.csv")), format!("row {i}\n"))?;
    }
    let mut yaml = String::from("version: \"4.0\"\nactions:\n");
    let mut readers = Vec::new();
    let mut x: u64 = 0x9e37_79b9;
    for a in 0..actions {
        let mut reads = Vec::new();
        while reads.len() < per {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = (x % shared as u64) as usize;
            if !reads.contains(&f) {
                reads.push(f);
            }
        }
        let cats: Vec<String> = reads.iter().map(|f| format!("shared/s{f}.csv")).collect();
        std::fs::write(
            dir.join(format!("analysis/a{a}.sh")),
            format!(
                "mkdir -p output\ncat {} > output/a{a}.txt\n",
                cats.join(" ")
            ),
        )?;
        yaml += &format!(
            "  a{a}:\n    run: sh:v1 analysis/a{a}.sh\n    outputs:\n      moderately_sensitive:\n        out: output/a{a}.txt\n"
        );
        readers.push(reads);
    }
    std::fs::write(dir.join("project.yaml"), yaml)?;
    std::fs::write(
        dir.join("cairn.toml"),
        "[executor]\nkind = \"local\"\n[images.sh]\ncommand = [\"sh\"]\n",
    )?;
    Ok(readers)
}

/// A Python with pandas, from PyPI, in a venv under target/bench.
fn pandas_python(work: &Path) -> Result<PathBuf> {
    let venv = work.parent().context("bench dir")?.join("pandas-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        println!("installing pandas into {} …", venv.display());
        run_ok(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run_ok(Command::new(venv.join("bin/pip")).args(["install", "-q", "pandas"]))?;
    }
    Ok(python)
}
