//! `cargo xtask bench restore`: restoring 2 GB of outputs from the store into
//! a project, every byte verified against its object's name, against `cp -r`
//! of the same files. Once as 10,000 files of 200 KiB, once as 20 files of
//! 100 MiB (the large-file path: kernel copy, then a parallel hash).

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::bench_run::{Shape, generate, run_ok, time};
use crate::{median, release_binary, report_row};

pub fn run(args: &[String]) -> Result<()> {
    let small = args.iter().any(|a| a == "--small");
    let cairn = release_binary()?;
    let work = std::path::PathBuf::from("target/bench/restore");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    let scale = if small { 10 } else { 1 };
    let shapes = [
        ("10,000 files of 200 KiB", 100 / scale, 100, 200 * 1024),
        ("20 files of 100 MiB", 20 / scale, 1, 100 << 20),
    ];
    println!("bench restore: verified restore against cp -r (median of 3)\n");
    for (label, actions, files, size) in shapes {
        let shape = Shape {
            actions,
            files_per_action: files,
            file_size: size,
            chain: 1,
            dvc_cold: false,
        };
        let project = work.join(format!("p{files}"));
        generate(&project, &shape)?;
        let store = work.join(format!("store{files}"));
        let cairn_run = || {
            run_ok(
                Command::new(&cairn)
                    .args(["run", "run_all", "--project-dir"])
                    .arg(&project)
                    .arg("--store")
                    .arg(&store)
                    .env("CAIRN_NO_SANDBOX", "1"),
            )
        };
        cairn_run()?;
        let copy_src = work.join("copy-src");
        run_ok(
            Command::new("cp")
                .arg("-r")
                .arg(project.join("output"))
                .arg(&copy_src),
        )?;
        let copy_dst = work.join("copy-dst");
        let mut cp = Vec::new();
        let mut restore = Vec::new();
        for _ in 0..3 {
            remove(&copy_dst)?;
            settle();
            cp.push(time(|| {
                run_ok(Command::new("cp").arg("-r").arg(&copy_src).arg(&copy_dst))
            })?);
            remove(&project.join("output"))?;
            settle();
            restore.push(time(cairn_run)?);
        }
        let (cp, restore) = (median(cp), median(restore));
        println!("{label} ({:.2} GB):", (actions * files * size) as f64 / 1e9);
        report_row("  cp -r", cp, None);
        report_row(
            "  cairn run (restore, verified)",
            restore,
            Some(("cp -r", cp)),
        );
        remove(&copy_src)?;
        remove(&copy_dst)?;
        remove(&project)?;
        remove(&store)?;
    }
    println!("\ntarget: restore at most 1.3× cp -r");
    Ok(())
}

fn remove(p: &Path) -> Result<()> {
    if p.exists() {
        std::fs::remove_dir_all(p)?;
    }
    Ok(())
}

/// Lets writeback of the previous step finish so it is not billed to the next.
fn settle() {
    let _ = Command::new("sync").status();
}
