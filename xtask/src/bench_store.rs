//! `cargo xtask bench store`: the store's hashing, ingest, export and import
//! against `b3sum`, `cp`, `tar -c | zstd -T0 -3` and `zstd -d | tar -x` on
//! the same files, measured in one run (best of 3) and reported as ratios.
//!
//! Files live under `target/bench/store/` (a 1 GiB file and 10,000 small
//! ones by default); the page cache is warm and dirty data is flushed
//! (`sync`) before every timed step, for cairn and baselines alike.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use cairn_store::{
    ActionSpec, DERIVATION_FORMAT, Derivation, Digest, ExportOptions, ImageSpec, Kind, OutputEntry,
    OutputManifest, REALISATION_FORMAT, Realisation, Store, hash_file,
};

use crate::report_row;

const RUNS: usize = 3;
/// Small files per derivation of the export closure.
const PER_DERIVATION: usize = 100;

struct Shape {
    big: u64,
    small_files: usize,
}

impl Shape {
    fn from_args(args: &[String]) -> Result<Shape> {
        let mut s = Shape {
            big: 1 << 30,
            small_files: 10_000,
        };
        for a in args {
            match a.as_str() {
                "--small" => {
                    s.big = 64 << 20;
                    s.small_files = 1000;
                }
                other => bail!("unknown bench store option {other} (known: --small)"),
            }
        }
        Ok(s)
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let shape = Shape::from_args(args)?;
    if cfg!(debug_assertions) {
        // The store's own code must be optimised to be measured.
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["run", "--release", "--quiet", "--package", "xtask", "--"])
            .args(["bench", "store"])
            .args(args)
            .status()?;
        ensure!(status.success(), "release bench failed ({status})");
        return Ok(());
    }
    for tool in ["b3sum", "zstd", "tar", "cp", "sync"] {
        which(tool)?;
    }
    let work = PathBuf::from("target/bench/store");
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    fs::create_dir_all(&work)?;
    let work = fs::canonicalize(&work)?;
    let src = work.join("src");
    generate(&src, &shape)?;
    let big = src.join("big.bin");
    println!(
        "bench store: one {} MiB file; {} small files + that file for export/import; \
         best of {RUNS}, {} cores",
        shape.big >> 20,
        shape.small_files,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // Warm the page cache: every contender reads from memory.
    fs::read(&big)?;

    // Hashing and ingest of the large file.
    let copy = work.join("copy.bin");
    let store_dir = work.join("store");
    let t = best(vec![
        step(
            || Ok(()),
            || {
                let out = sh(&format!("b3sum --no-names {}", q(&big)))?;
                ensure!(out.len() >= 64, "b3sum printed {out:?}");
                Ok(())
            },
        ),
        step(|| Ok(()), || hash_file(&big).map(drop).context("hashing")),
        step(
            || remove(&copy),
            || sh(&format!("cp {} {}", q(&big), q(&copy))).map(drop),
        ),
        step(
            || remove(&copy),
            || sh(&format!("cp {} {} && sync", q(&big), q(&copy))).map(drop),
        ),
        step(
            || fresh_store(&store_dir),
            || {
                Store::open(&store_dir)?.ingest_file(&big)?;
                Ok(())
            },
        ),
    ])?;
    let [b3sum, hash, cp, cp_sync, ingest] = t[..] else {
        unreachable!()
    };
    remove(&copy)?;
    remove(&store_dir)?;

    // Export and import of a closure of every file.
    let origin_dir = work.join("origin");
    let ids = fill(&origin_dir, &src)?;
    let origin = Store::open(&origin_dir)?;
    let archive = work.join("cairn.tar.zst");
    let baseline_archive = work.join("baseline.tar.zst");
    let t = best(vec![
        step(
            || remove(&baseline_archive),
            || {
                sh(&format!(
                    "tar -c -C {} . | zstd -q -T0 -3 -o {}",
                    q(&src),
                    q(&baseline_archive)
                ))
                .map(drop)
            },
        ),
        step(
            || remove(&archive),
            || {
                let out = std::io::BufWriter::new(fs::File::create(&archive)?);
                origin.export(&ids, &ExportOptions::default(), out)?;
                Ok(())
            },
        ),
    ])?;
    let [tar_zstd, export] = t[..] else {
        unreachable!()
    };
    let import_dir = work.join("imported");
    let extract_dir = work.join("extracted");
    let t = best(vec![
        step(
            || {
                remove(&extract_dir)?;
                fs::create_dir_all(&extract_dir)?;
                Ok(())
            },
            || {
                sh(&format!(
                    "zstd -q -d -c {} | tar -x -C {}",
                    q(&baseline_archive),
                    q(&extract_dir)
                ))
                .map(drop)
            },
        ),
        step(
            || {
                remove(&extract_dir)?;
                fs::create_dir_all(&extract_dir)?;
                Ok(())
            },
            || {
                sh(&format!(
                    "zstd -q -d -c {} | tar -x -C {} && sync",
                    q(&baseline_archive),
                    q(&extract_dir)
                ))
                .map(drop)
            },
        ),
        step(
            || fresh_store(&import_dir),
            || {
                let store = Store::open(&import_dir)?;
                let stats = store.import(std::io::BufReader::new(fs::File::open(&archive)?))?;
                ensure!(
                    stats.objects_added > shape.small_files as u64 / 2,
                    "imported {stats:?}"
                );
                Ok(())
            },
        ),
    ])?;
    let [zstd_tar, zstd_tar_sync, import] = t[..] else {
        unreachable!()
    };
    let sizes = (
        fs::metadata(&archive)?.len(),
        fs::metadata(&baseline_archive)?.len(),
    );

    println!();
    report_row("b3sum (1 file)", b3sum, None);
    report_row("cairn hash", hash, Some(("b3sum", b3sum)));
    report_row("cp (1 file)", cp, None);
    report_row("cairn ingest (copy + hash)", ingest, Some(("cp", cp)));
    report_row(
        "  same, against cp + b3sum",
        ingest,
        Some(("cp + b3sum", cp + b3sum)),
    );
    report_row(
        "  same, against cp && sync",
        ingest,
        Some(("cp && sync", cp_sync)),
    );
    report_row("tar -c | zstd -T0 -3", tar_zstd, None);
    report_row("cairn export", export, Some(("tar | zstd", tar_zstd)));
    report_row("zstd -d | tar -x", zstd_tar, None);
    report_row(
        "cairn import (all rehashed)",
        import,
        Some(("zstd -d | tar -x", zstd_tar)),
    );
    report_row(
        "  same, against the durable one",
        import,
        Some(("zstd -d | tar -x && sync", zstd_tar_sync)),
    );
    println!(
        "cairn's ingest and import are durable (flushed to disk before they are \
         visible); the `&& sync` rows give the baselines the same guarantee"
    );
    println!(
        "archive sizes: cairn {:.1} MiB, tar|zstd {:.1} MiB",
        sizes.0 as f64 / 1048576.0,
        sizes.1 as f64 / 1048576.0
    );
    fs::remove_dir_all(&work)?;
    Ok(())
}

/// The big file (incompressible, like already compressed outputs) and the
/// small ones (CSV text, which compresses).
fn generate(src: &Path, shape: &Shape) -> Result<()> {
    fs::create_dir_all(src.join("small"))?;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut chunk = vec![0u8; 8 << 20];
    let mut f = std::io::BufWriter::new(fs::File::create(src.join("big.bin"))?);
    let mut left = shape.big;
    while left > 0 {
        for w in chunk.chunks_exact_mut(8) {
            w.copy_from_slice(&next().to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        std::io::Write::write_all(&mut f, &chunk[..n])?;
        left -= n as u64;
    }
    drop(f);
    for i in 0..shape.small_files {
        let rows = 5 + next() % 150;
        let mut text = String::from("patient_id,age,sex,value\n");
        for _ in 0..rows {
            let r = next();
            text.push_str(&format!(
                "{},{},{},{:.3}\n",
                r % 1_000_000,
                r % 97,
                ["F", "M"][(r >> 7) as usize % 2],
                (r % 100_000) as f64 / 7.0
            ));
        }
        fs::write(src.join(format!("small/{i:05}.csv")), text)?;
    }
    Ok(())
}

/// A store holding every file under `src`, realised by derivations of
/// `PER_DERIVATION` files each (and one for the big file); their ids.
fn fill(store_dir: &Path, src: &Path) -> Result<Vec<Digest>> {
    let store = Store::open(store_dir)?;
    let mut paths: Vec<PathBuf> = fs::read_dir(src.join("small"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    paths.sort();
    let mut groups: Vec<Vec<PathBuf>> = paths
        .chunks(PER_DERIVATION)
        .map(<[PathBuf]>::to_vec)
        .collect();
    groups.push(vec![src.join("big.bin")]);
    let mut ids = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let ingested = store.ingest_files(group)?;
        let mut outputs = OutputManifest::default();
        for (path, got) in group.iter().zip(ingested) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            outputs.files.insert(
                format!("output/{name}"),
                OutputEntry {
                    object: got.digest,
                    size: got.size,
                    mode: got.mode,
                    level: "moderately_sensitive".into(),
                },
            );
        }
        let drv = Derivation {
            format: DERIVATION_FORMAT,
            action: ActionSpec {
                name: format!("action_{i}"),
                outputs: Default::default(),
            },
            argv: vec!["python".into(), format!("analysis/{i}.py")],
            image: ImageSpec {
                reference: "python:v2".into(),
                identity: "bench".into(),
            },
            env: Default::default(),
            visible: cairn_store::Visible::All(cairn_store::AllSources::All),
            inputs: Default::default(),
        };
        let id = store.put_derivation(&drv)?;
        let mut observations = cairn_store::ObservationSet::default();
        observations.read.insert(
            format!("analysis/{i}.py"),
            cairn_store::Observed::File(Kind::Object.digest(i.to_string().as_bytes())),
        );
        let r = Realisation {
            format: REALISATION_FORMAT,
            derivation: id,
            observations,
            outputs,
            exit_code: 0,
            started_at: 0,
            finished_at: 0,
            log: None,
            executor: "local".into(),
            host: "bench".into(),
            commit: None,
            dirty: false,
            cairn_version: "bench".into(),
            signatures: Vec::new(),
        };
        store.put_realisation(&r)?;
        ids.push(r.key());
    }
    Ok(ids)
}

/// Something to time: an untimed setup, then the timed work.
struct Step<'a> {
    setup: Box<dyn FnMut() -> Result<()> + 'a>,
    work: Box<dyn FnMut() -> Result<()> + 'a>,
}

fn step<'a>(
    setup: impl FnMut() -> Result<()> + 'a,
    work: impl FnMut() -> Result<()> + 'a,
) -> Step<'a> {
    Step {
        setup: Box::new(setup),
        work: Box::new(work),
    }
}

/// The best of `RUNS` timings of each step. The steps take turns, so a
/// neighbour's load on a shared machine falls on all of them alike; each run
/// follows its setup and a `sync`, so none pays for another's writeback.
fn best(mut steps: Vec<Step<'_>>) -> Result<Vec<Duration>> {
    let mut best = vec![Duration::MAX; steps.len()];
    for _ in 0..RUNS {
        for (s, b) in steps.iter_mut().zip(&mut best) {
            (s.setup)()?;
            sh("sync")?;
            let t = Instant::now();
            (s.work)()?;
            *b = (*b).min(t.elapsed());
        }
    }
    Ok(best)
}

fn sh(script: &str) -> Result<String> {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .with_context(|| format!("running {script}"))?;
    if !out.status.success() {
        bail!(
            "{script} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn which(tool: &str) -> Result<()> {
    sh(&format!("command -v {tool}"))
        .map(drop)
        .with_context(|| format!("{tool} is not installed (see .ci/install-deps)"))
}

/// Shell-quotes a path.
fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// An empty store at `dir`, created outside the timing.
fn fresh_store(dir: &Path) -> Result<()> {
    remove(dir)?;
    Store::open(dir)?;
    Ok(())
}

fn remove(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p)?,
        Ok(_) => fs::remove_file(p)?,
        Err(_) => {}
    }
    Ok(())
}
