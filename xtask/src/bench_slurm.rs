//! `cargo xtask bench slurm`: the slurm executor against the same cluster.
//!
//! 1. Per-action overhead: N one-line Python actions run cold by cairn one at
//!    a time (`-j 1`), against `srun` of the same commands one after another
//!    (target: at most 1.5 s more per action).
//! 2. Throughput: 200 such actions through Slurm with `-j 2`, against the
//!    local executor with `-j 2`.
//!
//! The cluster is the one `SLURM_CONF` names, or else a private single-node
//! cluster started here with the integration tests' fixture.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::release_binary;

#[allow(dead_code)]
#[path = "../../tests/it/slurm_cluster.rs"]
mod slurm_cluster;

struct Options {
    actions: usize,
    many: usize,
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        actions: 20,
        many: 200,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || -> Result<usize> { Ok(it.next().context("missing value")?.parse()?) };
        match a.as_str() {
            "--actions" => o.actions = val()?.max(1),
            "--many" => o.many = val()?.max(1),
            other => bail!("unknown bench slurm option {other}"),
        }
    }
    Ok(o)
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = options(args)?;
    let cairn = release_binary()?;
    let work = std::path::PathBuf::from("target/bench/slurm");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    let conf = match std::env::var_os("SLURM_CONF") {
        Some(c) => {
            println!(
                "bench slurm: the cluster of SLURM_CONF={}",
                c.to_string_lossy()
            );
            std::path::PathBuf::from(c)
        }
        None => {
            let c = slurm_cluster::cluster();
            println!(
                "bench slurm: a private single-node cluster (started in {:.2} s)",
                c.startup.as_secs_f64()
            );
            c.conf.clone()
        }
    };
    let python = which("python3").context("python3 is not on PATH")?;

    // 1. Per-action overhead against srun.
    let n = opts.actions;
    let project = work.join("overhead");
    generate(&project, n)?;
    let srun = {
        let dir = work.join("srun");
        let start = Instant::now();
        for i in 0..n {
            let ws = dir.join(format!("ws-{i}"));
            std::fs::create_dir_all(ws.join("analysis"))?;
            std::fs::copy(project.join("analysis/w.py"), ws.join("analysis/w.py"))?;
            let status = Command::new("srun")
                .arg("--quiet")
                .arg(format!("--chdir={}", ws.display()))
                .arg(&python)
                .args(["analysis/w.py", &format!("a{i}")])
                .env("SLURM_CONF", &conf)
                .stdin(Stdio::null())
                .status()
                .context("running srun")?;
            if !status.success() {
                bail!("srun {i} failed ({status})");
            }
        }
        start.elapsed()
    };
    let cold = time_cairn(
        &cairn,
        &project,
        &work.join("store-overhead"),
        &conf,
        "slurm",
        1,
    )?;
    check(&project, n)?;
    let per = |d: Duration| d.as_secs_f64() / n as f64;
    println!();
    println!("{:<44} {:>9} {:>12}", "", "total", "per action");
    println!(
        "{:<44} {:>7.2} s {:>10.3} s",
        format!("srun python3 …, {n} one after another"),
        srun.as_secs_f64(),
        per(srun)
    );
    println!(
        "{:<44} {:>7.2} s {:>10.3} s",
        format!("cairn run -j 1 --executor slurm ({n}, cold)"),
        cold.as_secs_f64(),
        per(cold)
    );
    println!(
        "cairn's overhead per action over srun: {:+.3} s (target: at most +1.5 s)",
        per(cold) - per(srun)
    );

    // 2. Many trivial actions, two at a time.
    let m = opts.many;
    let many = work.join("many");
    generate(&many, m)?;
    let slurm = time_cairn(
        &cairn,
        &many,
        &work.join("store-many-slurm"),
        &conf,
        "slurm",
        2,
    )?;
    check(&many, m)?;
    std::fs::remove_dir_all(many.join("output"))?;
    std::fs::remove_dir_all(many.join("metadata"))?;
    std::fs::remove_dir_all(many.join(".cairn"))?;
    let local = time_cairn(
        &cairn,
        &many,
        &work.join("store-many-local"),
        &conf,
        "local",
        2,
    )?;
    check(&many, m)?;
    println!();
    println!(
        "{:<44} {:>7.2} s {:>10.3} s",
        format!("cairn run -j 2 --executor local ({m})"),
        local.as_secs_f64(),
        local.as_secs_f64() / m as f64
    );
    println!(
        "{:<44} {:>7.2} s {:>10.3} s   {:.2}× local",
        format!("cairn run -j 2 --executor slurm ({m})"),
        slurm.as_secs_f64(),
        slurm.as_secs_f64() / m as f64,
        slurm.as_secs_f64() / local.as_secs_f64()
    );
    Ok(())
}

fn time_cairn(
    cairn: &Path,
    project: &Path,
    store: &Path,
    conf: &Path,
    executor: &str,
    jobs: usize,
) -> Result<Duration> {
    let start = Instant::now();
    let out = Command::new(cairn)
        .args(["run", "run_all", "--executor", executor, "-j"])
        .arg(jobs.to_string())
        .arg("--project-dir")
        .arg(project)
        .env("CAIRN_STORE", store)
        .env("SLURM_CONF", conf)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "cairn run --executor {executor} failed ({}) in {}:\n{}",
            out.status,
            project.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(start.elapsed())
}

fn check(project: &Path, n: usize) -> Result<()> {
    let produced = std::fs::read_dir(project.join("output"))?.count();
    if produced != n {
        bail!("cairn produced {produced} outputs, not {n}");
    }
    Ok(())
}

/// A project of `n` independent actions, each writing one file with Python.
fn generate(dir: &Path, n: usize) -> Result<()> {
    std::fs::create_dir_all(dir.join("analysis"))?;
    let mut yaml = String::from("version: \"4.0\"\nactions:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  a{i}:\n    run: python:v2 analysis/w.py a{i}\n    outputs:\n      moderately_sensitive:\n        out: output/a{i}.txt\n"
        ));
    }
    std::fs::write(dir.join("project.yaml"), yaml)?;
    std::fs::write(
        dir.join("analysis/w.py"),
        "import os, sys\nos.makedirs('output', exist_ok=True)\nopen(f'output/{sys.argv[1]}.txt', 'w').write(sys.argv[1])\n",
    )?;
    Ok(())
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
