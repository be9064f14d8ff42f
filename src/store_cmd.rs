//! `cairn store verify|gc|du`: maintenance of the store.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_store::{GcOptions, Store, VerifyOptions};

use crate::cli::{StoreArgs, StoreCommand};

/// Runs one `cairn store` subcommand on the store the project in
/// `project_dir` uses (the same rule as every command: `--store`,
/// `$CAIRN_STORE`, `[store] path` of its `cairn.toml`, the default).
pub fn run(command: StoreCommand, project_dir: &Path, args: &StoreArgs) -> Result<ExitCode> {
    let path = crate::config::Config::load(project_dir)?.store_path(args.store.as_deref())?;
    let Some(store) = Store::open_existing(&path)
        .with_context(|| format!("opening the store {}", path.display()))?
    else {
        // Nothing to check, collect or measure; and nothing is created.
        println!(
            "no store at {}: nothing has been built there yet",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        StoreCommand::Verify { repair } => verify(&store, repair),
        StoreCommand::Gc {
            dry_run,
            keep_days,
            max_size,
        } => gc(
            &store,
            GcOptions {
                dry_run,
                max_age: keep_days.map(|d| std::time::Duration::from_secs(d * 24 * 3600)),
                max_size,
                ..GcOptions::default()
            },
        ),
        StoreCommand::Du => du(&store),
    }
}

fn verify(store: &Store, repair: bool) -> Result<ExitCode> {
    let report = store.verify(&VerifyOptions { quarantine: repair })?;
    for problem in &report.problems {
        println!("{problem}");
    }
    for w in &report.withheld {
        println!(
            "withheld: {} output {:?} (highly sensitive, not in this store)",
            w.derivation.short(),
            w.output
        );
    }
    for q in &report.quarantined {
        println!("moved aside: {}", q.display());
    }
    println!(
        "checked {} objects ({}), {} derivations, {} realisations: {} problems, {} withheld",
        report.objects,
        human_bytes(report.object_bytes),
        report.derivations,
        report.realisations,
        report.problems.len(),
        report.withheld.len()
    );
    if report.is_clean() || repair {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("the store has problems; `cairn store verify --repair` moves them aside");
        Ok(ExitCode::FAILURE)
    }
}

fn gc(store: &Store, opts: GcOptions) -> Result<ExitCode> {
    let dry_run = opts.dry_run;
    let report = store.gc(&opts)?;
    for name in &report.dead_roots {
        println!("dropped root {name}: its project no longer exists");
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {} derivations, {} realisations, {} objects and {} temporary entries, \
         freeing {}; kept {} derivations ({}) from {} roots",
        report.removed_derivations,
        report.removed_realisations,
        report.removed_objects,
        report.removed_tmp,
        human_bytes(report.freed_bytes),
        report.kept_derivations,
        human_bytes(report.kept_bytes),
        report.roots
    );
    Ok(ExitCode::SUCCESS)
}

fn du(store: &Store) -> Result<ExitCode> {
    let u = store.usage()?;
    println!("store        {}", store.root().display());
    println!(
        "objects      {:>10}  {}",
        u.objects,
        human_bytes(u.object_bytes)
    );
    println!("derivations  {:>10}", u.derivations);
    println!("realisations {:>10}", u.realisations);
    println!("records                  {}", human_bytes(u.record_bytes));
    println!("roots        {:>10}", u.roots);
    println!("tmp                      {}", human_bytes(u.tmp_bytes));
    println!(
        "quarantine               {}",
        human_bytes(u.quarantine_bytes)
    );
    println!("on disk                  {}", human_bytes(u.disk_bytes));
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
