//! Developer tasks: `cargo xtask ci`, `cargo xtask bench`, `cargo xtask conformance`,
//! `cargo xtask man`.

mod bench_cache;
mod bench_docker;
mod bench_restore;
mod bench_run;
mod bench_slurm;
mod bench_store;
mod bench_trace;
mod man;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("man") => {
            let dir = args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target").join("man"));
            for f in man::write(&dir)? {
                println!("{}", dir.join(f).display());
            }
            Ok(())
        }
        Some("conformance") => cargo(&["test", "--test", "it", "--", "conformance"]),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("run") => bench_run::run(&args[2..]),
            Some("docker") => bench_docker::run(&args[2..]),
            Some("store") => bench_store::run(&args[2..]),
            Some("restore") => bench_restore::run(&args[2..]),
            Some("trace") => bench_trace::run(&args[2..]),
            Some("cache") => bench_cache::run(&args[2..]),
            Some("slurm") => bench_slurm::run(&args[2..]),
            _ => bail!("usage: cargo xtask bench <run|store|docker|restore|trace|cache|slurm>"),
        },
        _ => {
            eprintln!("usage: cargo xtask <ci|conformance|bench|man>");
            std::process::exit(2)
        }
    }
}

/// What CI checks: formatting, lints, and every test.
fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    supervisor_checks()?;
    cargo(&["test", "--workspace"])
}

/// The tracer's supervisor is not in cargo's module tree (build.rs compiles
/// it alone), so `cargo fmt`, `cargo clippy` and `cargo test` do not see it.
fn supervisor_checks() -> Result<()> {
    let main = "src/trace/supervisor/main.rs";
    run(Command::new("rustfmt").args(["--check", "--edition", "2024", main]))?;
    for test in [false, true] {
        let mut clippy = Command::new("clippy-driver");
        clippy
            .args(["--edition", "2024", "--crate-type", "bin", "-D", "warnings"])
            .args([
                "--emit",
                "metadata",
                "--out-dir",
                "target/supervisor-lint",
                main,
            ]);
        if test {
            clippy.arg("--test");
        }
        run(&mut clippy)?;
    }
    let tests = Path::new("target/supervisor-test/cairn-trace-tests");
    std::fs::create_dir_all(tests.parent().unwrap())?;
    run(Command::new("rustc")
        .args(["--edition", "2024", "--test", "-D", "warnings", "-o"])
        .arg(tests)
        .arg(main))?;
    run(&mut Command::new(tests))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Builds cairn in release mode and returns the binary's path.
pub fn release_binary() -> Result<PathBuf> {
    cargo(&["build", "--release", "--bin", "cairn"])?;
    Ok(std::fs::canonicalize("target/release/cairn")?)
}

/// The median of some durations.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Prints one line of a bench table, with a ratio against a baseline.
pub fn report_row(name: &str, d: Duration, baseline: Option<(&str, Duration)>) {
    let ms = d.as_secs_f64() * 1000.0;
    match baseline {
        Some((bname, b)) => println!(
            "{name:<32} {ms:>10.1} ms   {:.2}× {bname}",
            d.as_secs_f64() / b.as_secs_f64()
        ),
        None => println!("{name:<32} {ms:>10.1} ms"),
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
