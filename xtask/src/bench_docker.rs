//! `cargo xtask bench docker`: the docker executor's per-action overhead. A
//! pipeline of N small actions in a busybox image, run cold by cairn, against
//! the same commands as bare `docker run --rm --network none -v …:/workspace`,
//! one after another. Rounds alternate; medians are reported as ratios.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{median, release_binary};

struct Options {
    actions: usize,
    rounds: usize,
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        actions: 30,
        rounds: 3,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || -> Result<usize> { Ok(it.next().context("missing value")?.parse()?) };
        match a.as_str() {
            "--actions" => o.actions = val()?.max(1),
            "--rounds" => o.rounds = val()?.max(1),
            other => bail!("unknown bench docker option {other}"),
        }
    }
    Ok(o)
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = options(args)?;
    let cairn = release_binary()?;
    let work = std::path::PathBuf::from("target/bench/docker");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;

    let repo = format!("cairn-bench-{}/busybox", std::process::id());
    let image = format!("{repo}:v1");
    build_image(&work.join("image"), &image)?;
    let result = measure(&cairn, &work, &repo, &image, &opts);
    let _ = Command::new("docker")
        .args(["rmi", "--force", &image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    result
}

fn measure(cairn: &Path, work: &Path, repo: &str, image: &str, opts: &Options) -> Result<()> {
    let n = opts.actions;
    println!(
        "bench docker: {n} actions in {image}, {} round(s)",
        opts.rounds
    );
    let mut bare = Vec::new();
    let mut cold = Vec::new();
    let mut noop = Vec::new();
    for round in 0..opts.rounds {
        // Bare docker: a fresh workspace per action, the same command.
        let dir = work.join(format!("bare-{round}"));
        let start = Instant::now();
        for i in 0..n {
            let ws = dir.join(format!("ws-{i}"));
            std::fs::create_dir_all(&ws)?;
            let status = Command::new("docker")
                .args(["run", "--rm", "--network", "none", "-v"])
                .arg(format!("{}:/workspace", ws.display()))
                .args(["-w", "/workspace", image, "sh", "-c", &script(i)])
                .stdin(Stdio::null())
                .status()?;
            if !status.success() {
                bail!("bare docker run {i} failed ({status})");
            }
        }
        bare.push(start.elapsed());

        // cairn: a fresh project and store, one action at a time.
        let project = work.join(format!("cairn-{round}"));
        generate(&project, n, repo)?;
        let store = work.join(format!("store-{round}"));
        cold.push(time_cairn(cairn, &project, &store)?);
        noop.push(time_cairn(cairn, &project, &store)?);
        let produced = std::fs::read_dir(project.join("output"))?.count();
        if produced != n {
            bail!("cairn produced {produced} outputs, not {n}");
        }
    }
    let (bare, cold, noop) = (median(bare), median(cold), median(noop));
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!();
    println!(
        "{:<40} {:>10} {:>14} {:>8}",
        "", "total", "per action", "ratio"
    );
    println!(
        "{:<40} {:>7.0} ms {:>11.1} ms {:>8}",
        "bare docker run --rm, sequential",
        bare.as_secs_f64() * 1000.0,
        per(bare),
        "1.00×"
    );
    println!(
        "{:<40} {:>7.0} ms {:>11.1} ms {:>7.2}×",
        "cairn run run_all -j 1 (cold)",
        cold.as_secs_f64() * 1000.0,
        per(cold),
        cold.as_secs_f64() / bare.as_secs_f64()
    );
    println!(
        "{:<40} {:>7.0} ms {:>11.1} ms",
        "cairn run run_all (no-op)",
        noop.as_secs_f64() * 1000.0,
        per(noop)
    );
    println!(
        "\ncairn's overhead per action: {:+.1} ms ({:+.1}%; target: within 10% of bare docker run)",
        per(cold) - per(bare),
        (cold.as_secs_f64() / bare.as_secs_f64() - 1.0) * 100.0
    );
    Ok(())
}

fn script(i: usize) -> String {
    format!("mkdir -p output && echo {i} > output/a{i}.txt")
}

fn time_cairn(cairn: &Path, project: &Path, store: &Path) -> Result<Duration> {
    let start = Instant::now();
    let status = Command::new(cairn)
        .args(["run", "run_all", "-j", "1", "--executor", "docker"])
        .arg("--project-dir")
        .arg(project)
        .env("CAIRN_STORE", store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("cairn run failed ({status}) in {}", project.display());
    }
    Ok(start.elapsed())
}

/// A project of `n` independent actions, each writing one file.
fn generate(dir: &Path, n: usize, repo: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut yaml = String::from("version: \"4.0\"\nactions:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  a{i}:\n    run: busybox:v1 sh -c '{}'\n    outputs:\n      moderately_sensitive:\n        out: output/a{i}.txt\n",
            script(i)
        ));
    }
    std::fs::write(dir.join("project.yaml"), yaml)?;
    std::fs::write(
        dir.join("cairn.toml"),
        format!("[images.busybox]\ndocker = \"{repo}\"\n"),
    )?;
    Ok(())
}

/// `FROM scratch` plus the host's static busybox.
fn build_image(ctx: &Path, image: &str) -> Result<()> {
    std::fs::create_dir_all(ctx)?;
    std::fs::copy("/bin/busybox", ctx.join("busybox"))
        .context("copying /bin/busybox (install busybox-static)")?;
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )?;
    let status = Command::new("docker")
        .args(["build", "--quiet", "--tag", image])
        .arg(ctx)
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::null())
        .status()
        .context("running docker build")?;
    if !status.success() {
        bail!("docker build failed ({status})");
    }
    Ok(())
}
