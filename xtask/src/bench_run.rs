//! `cargo xtask bench run`: cairn's run overhead and no-op rerun, against
//! running the same commands directly and against `dvc repro` on the same
//! pipeline. Everything is measured in one run and reported as ratios.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{median, release_binary, report_row};

/// The shape of the generated pipeline.
pub struct Shape {
    pub actions: usize,
    pub files_per_action: usize,
    pub file_size: usize,
    /// Actions form chains of this length (each needs the previous one).
    pub chain: usize,
    /// Also time `dvc repro` from scratch (hours on the full pipeline).
    pub dvc_cold: bool,
}

impl Shape {
    pub fn from_args(args: &[String]) -> Result<Shape> {
        let mut s = Shape {
            actions: 1000,
            files_per_action: 10,
            file_size: 200 * 1024,
            chain: 10,
            dvc_cold: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = || -> Result<usize> { Ok(it.next().context("missing value")?.parse()?) };
            match a.as_str() {
                "--actions" => s.actions = val()?,
                "--files-per-action" => s.files_per_action = val()?,
                "--file-size" => s.file_size = val()?,
                "--dvc-cold" => s.dvc_cold = true,
                "--small" => {
                    s.actions = 50;
                    s.file_size = 4096;
                }
                other => bail!("unknown bench run option {other}"),
            }
        }
        Ok(s)
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let shape = Shape::from_args(args)?;
    let cairn = release_binary()?;
    let work = PathBuf::from("target/bench/run");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    let total = shape.actions * shape.files_per_action * shape.file_size;
    println!(
        "bench run: {} actions, {} output files, {:.2} GB",
        shape.actions,
        shape.actions * shape.files_per_action,
        total as f64 / 1e9
    );

    // 1. The same commands, run directly in dependency order.
    let direct_dir = work.join("direct");
    generate(&direct_dir, &shape)?;
    let direct = time(|| {
        for i in 0..shape.actions {
            sh(&direct_dir, &["gen.sh", &i.to_string()])?;
        }
        Ok(())
    })?;

    // 1b. The same commands, each in a fresh workspace holding a copy of
    //     the outputs it needs: the input copying cairn's target leaves out.
    let ws_dir = work.join("workspaces");
    generate(&ws_dir, &shape)?;
    let direct_ws = time(|| {
        for i in 0..shape.actions {
            let w = ws_dir.join(format!("w{i}"));
            std::fs::create_dir_all(&w)?;
            std::fs::copy(ws_dir.join("gen.sh"), w.join("gen.sh"))?;
            if i % shape.chain != 0 {
                let from = ws_dir.join(format!("w{}/output/a{}", i - 1, i - 1));
                let to = w.join(format!("output/a{}", i - 1));
                std::fs::create_dir_all(&to)?;
                for f in std::fs::read_dir(&from)? {
                    let f = f?;
                    std::fs::copy(f.path(), to.join(f.file_name()))?;
                }
            }
            sh(&w, &["gen.sh", &i.to_string()])?;
        }
        Ok(())
    })?;
    std::fs::remove_dir_all(&ws_dir)?;

    // 2. cairn, cold and no-op, on a git repository whose outputs are
    //    ignored, as in a real study.
    let project = work.join("cairn");
    generate(&project, &shape)?;
    git_init(&project)?;
    let store = work.join("store");
    let run_in = |store: &Path, sandbox: bool, args: &[&str]| -> Result<()> {
        let mut cmd = Command::new(&cairn);
        cmd.arg("run")
            .args(args)
            .arg("--project-dir")
            .arg(&project)
            .arg("--store")
            .arg(store)
            .args(["-j", "1"]);
        if !sandbox {
            cmd.env("CAIRN_NO_SANDBOX", "1");
        }
        let out = cmd.output()?;
        if !out.status.success() {
            bail!(
                "cairn run failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    };
    let run = |args: &[&str]| run_in(&store, false, args);
    let cold = time(|| run(&["run_all"]))?;
    // The first no-op after a cold run may rehash files written within the
    // racy-timestamp margin; settle, then measure.
    std::thread::sleep(Duration::from_secs(3));
    run(&["run_all"])?;
    let noop = median(
        (0..5)
            .map(|_| time(|| run(&["run_all"])))
            .collect::<Result<Vec<_>>>()?,
    );
    // The same cold run in the bubblewrap sandbox (the default where bwrap
    // is installed), from an empty store.
    let sandboxed = if bwrap_available() {
        for d in ["output", "metadata", ".cairn"] {
            std::fs::remove_dir_all(project.join(d))?;
        }
        let store2 = work.join("store-sandboxed");
        let t = time(|| run_in(&store2, true, &["run_all"]))?;
        std::fs::remove_dir_all(&store2)?;
        Some(t)
    } else {
        None
    };
    println!(
        "direct {:.1} s, cairn cold {:.1} s, cairn no-op {:.1} ms; now DVC …",
        direct.as_secs_f64(),
        cold.as_secs_f64(),
        noop.as_secs_f64() * 1000.0
    );

    // 3. DVC on the same pipeline. `dvc repro` from scratch rewrites
    //    `dvc.lock` after every stage, so on 1,000 stages it takes hours;
    //    unless `--dvc-cold` asks for that, DVC records the outputs the
    //    direct run made (`dvc commit`) and only its no-op is timed.
    let dvc = dvc_binary(&work)?;
    let dvc_dir = work.join("dvc");
    generate(&dvc_dir, &shape)?;
    write_dvc_yaml(&dvc_dir, &shape)?;
    run_ok(
        Command::new(&dvc)
            .args(["init", "--no-scm", "-q"])
            .current_dir(&dvc_dir),
    )?;
    let dvc_cold = if shape.dvc_cold {
        Some(time(|| {
            run_ok(
                Command::new(&dvc)
                    .args(["repro", "-q"])
                    .current_dir(&dvc_dir),
            )
        })?)
    } else {
        std::fs::rename(direct_dir.join("output"), dvc_dir.join("output"))?;
        run_ok(
            Command::new(&dvc)
                .args(["commit", "-f", "-q"])
                .current_dir(&dvc_dir),
        )?;
        None
    };
    run_ok(
        Command::new(&dvc)
            .args(["repro", "-q"])
            .current_dir(&dvc_dir),
    )?;
    let dvc_noop = median(
        (0..3)
            .map(|_| {
                time(|| {
                    run_ok(
                        Command::new(&dvc)
                            .args(["repro", "-q"])
                            .current_dir(&dvc_dir),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?,
    );

    let per_action = (cold.saturating_sub(direct)).as_secs_f64() * 1000.0 / shape.actions as f64;
    println!();
    report_row("commands run directly", direct, None);
    report_row(
        "direct, copying inputs",
        direct_ws,
        Some(("direct", direct)),
    );
    report_row("cairn run run_all (cold)", cold, Some(("direct", direct)));
    if let Some(dvc_cold) = dvc_cold {
        report_row("dvc repro (cold)", dvc_cold, Some(("direct", direct)));
    }
    if let Some(sandboxed) = sandboxed {
        report_row(
            "  same, sandboxed (bwrap)",
            sandboxed,
            Some(("direct", direct)),
        );
    }
    report_row("cairn run run_all (no-op)", noop, None);
    report_row("dvc repro (no-op)", dvc_noop, None);
    println!();
    let beyond_copying =
        (cold.saturating_sub(direct_ws)).as_secs_f64() * 1000.0 / shape.actions as f64;
    println!(
        "per-action overhead of cairn: (cold − direct) / actions = {per_action:.2} ms; \
         (cold − direct copying inputs) / actions = {beyond_copying:.2} ms (target < 10 ms + input copying)"
    );
    if let Some(sandboxed) = sandboxed {
        println!(
            "sandboxed: (cold − direct copying inputs) / actions = {:.2} ms",
            (sandboxed.saturating_sub(direct_ws)).as_secs_f64() * 1000.0 / shape.actions as f64
        );
    }
    println!(
        "no-op: {:.1} ms (target < 100 ms); dvc repro / cairn = {:.1}× (target ≥ 20×)",
        noop.as_secs_f64() * 1000.0,
        dvc_noop.as_secs_f64() / noop.as_secs_f64()
    );
    Ok(())
}

/// Makes `dir` a git repository with everything committed and the outputs
/// ignored, as a real study is.
pub fn git_init(dir: &Path) -> Result<()> {
    std::fs::write(dir.join(".gitignore"), "output/\nmetadata/\n.cairn/\n")?;
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@localhost",
            "commit",
            "-q",
            "-m",
            "study",
        ],
    ] {
        run_ok(Command::new("git").args(args).current_dir(dir))?;
    }
    Ok(())
}

/// Writes the project: `gen.sh` and a `project.yaml` (v4) of chained actions.
pub fn generate(dir: &Path, shape: &Shape) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("gen.sh"),
        format!(
            "set -e\nmkdir -p output/a$1\nfor j in $(seq 1 {files}); do head -c {size} /dev/urandom > output/a$1/f$j.bin; done\n",
            files = shape.files_per_action,
            size = shape.file_size
        ),
    )?;
    let mut y = String::from("version: \"4.0\"\nactions:\n");
    for i in 0..shape.actions {
        y.push_str(&format!("  a{i}:\n    run: sh:v1 gen.sh {i}\n"));
        if i % shape.chain != 0 {
            y.push_str(&format!("    needs: [a{}]\n", i - 1));
        }
        y.push_str(&format!(
            "    outputs:\n      highly_sensitive:\n        data: output/a{i}/*.bin\n"
        ));
    }
    std::fs::write(dir.join("project.yaml"), y)?;
    std::fs::write(dir.join("cairn.toml"), "[images.sh]\ncommand = [\"sh\"]\n")?;
    Ok(())
}

fn write_dvc_yaml(dir: &Path, shape: &Shape) -> Result<()> {
    let mut y = String::from("stages:\n");
    for i in 0..shape.actions {
        y.push_str(&format!(
            "  a{i}:\n    cmd: sh gen.sh {i}\n    deps:\n      - gen.sh\n"
        ));
        if i % shape.chain != 0 {
            y.push_str(&format!("      - output/a{}\n", i - 1));
        }
        y.push_str(&format!("    outs:\n      - output/a{i}\n"));
    }
    std::fs::write(dir.join("dvc.yaml"), y)?;
    Ok(())
}

/// DVC from PyPI, in a venv under target/bench.
fn dvc_binary(work: &Path) -> Result<PathBuf> {
    let venv = work.parent().expect("bench dir").join("dvc-venv");
    let dvc = venv.join("bin/dvc");
    if !dvc.exists() {
        println!("installing dvc into {} …", venv.display());
        run_ok(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run_ok(Command::new(venv.join("bin/pip")).args(["install", "-q", "dvc"]))?;
    }
    Ok(dvc)
}

/// Whether bubblewrap can create a sandbox here.
fn bwrap_available() -> bool {
    Command::new("bwrap")
        .args([
            "--ro-bind",
            "/",
            "/",
            "--unshare-net",
            "--unshare-pid",
            "--",
            "true",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

fn sh(dir: &Path, args: &[&str]) -> Result<()> {
    run_ok(Command::new("sh").args(args).current_dir(dir))
}

pub fn run_ok(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

pub fn time(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed())
}
