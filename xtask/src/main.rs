//! Developer tasks: `cargo xtask ci`, `cargo xtask bench`, `cargo xtask conformance`.

mod bench_docker;
mod bench_run;
mod bench_slurm;
mod bench_store;

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
        Some("conformance") => cargo(&["test", "--test", "it", "--", "conformance"]),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("run") => bench_run::run(&args[2..]),
            Some("docker") => bench_docker::run(&args[2..]),
            Some("store") => bench_store::run(&args[2..]),
            Some("slurm") => bench_slurm::run(&args[2..]),
            _ => bail!("usage: cargo xtask bench <run|store|docker|slurm>"),
        },
        _ => {
            eprintln!("usage: cargo xtask <ci|conformance|bench>");
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
    cargo(&["test", "--workspace"])
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
