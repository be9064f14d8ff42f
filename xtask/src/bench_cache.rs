//! `cargo xtask bench cache`: sharing a 1,000-action store (10,000 files,
//! 2 GB). Export and import against `tar -c | zstd -T0 -3` and
//! `zstd -d | tar -x` on the same files; push and pull to a local nginx
//! against `curl` sending and fetching the same files, 8 at a time; and the
//! no-op `cairn run` with `[remote] url` set against the one without.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

// The same nginx the sharing tests start: WebDAV PUT on a free loopback
// port, its files in a temp directory, stopped by pid when dropped.
#[path = "../../tests/it/nginx.rs"]
#[allow(dead_code)]
mod nginx;

use crate::bench_run::{Shape, generate, git_init, run_ok, time};
use crate::{median, release_binary, report_row};

pub fn run(args: &[String]) -> Result<()> {
    let small = args.iter().any(|a| a == "--small");
    let cairn = release_binary()?;
    let work = PathBuf::from("target/bench/cache");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    let shape = Shape {
        actions: if small { 100 } else { 1000 },
        files_per_action: 10,
        file_size: if small { 20 * 1024 } else { 200 * 1024 },
        chain: 10,
        dvc_cold: false,
    };
    let project = work.join("study");
    generate(&project, &shape)?;
    git_init(&project)?;
    let store = work.join("store");
    let home = work.join("home");
    std::fs::create_dir_all(&home)?;
    // The subcommand first; `--project-dir` and `--store` follow it.
    let cairn_cmd = |dir: &Path, store: &Path, args: &[&str]| {
        let mut c = Command::new(&cairn);
        c.args(args)
            .arg("--project-dir")
            .arg(dir)
            .arg("--store")
            .arg(store)
            .env("HOME", &home)
            .env_remove("CAIRN_REMOTE")
            .env("CAIRN_NO_SANDBOX", "1");
        c
    };
    println!("bench cache: building the study once …");
    run_ok(&mut cairn_cmd(&project, &store, &["run", "run_all"]))?;
    let sync = || run_ok(&mut Command::new("sync"));

    // 1. Archives.
    let archive = work.join("cache.tar.zst");
    sync()?;
    let export = time(|| {
        run_ok(&mut cairn_cmd(
            &project,
            &store,
            &[
                "cache",
                "export",
                "--include-highly-sensitive",
                "-o",
                archive.to_str().unwrap(),
            ],
        ))
    })?;
    let tarball = work.join("plain.tar.zst");
    sync()?;
    let tar_c = time(|| {
        run_ok(Command::new("sh").arg("-c").arg(format!(
            "tar -C {} -c output | zstd -q -T0 -3 -o {}",
            project.display(),
            tarball.display()
        )))
    })?;
    let store2 = work.join("store2");
    sync()?;
    let import = time(|| {
        run_ok(&mut cairn_cmd(
            &project,
            &store2,
            &[
                "cache",
                "import",
                "--trust-unsigned",
                archive.to_str().unwrap(),
            ],
        ))
    })?;
    let untar = work.join("untar");
    std::fs::create_dir_all(&untar)?;
    sync()?;
    let tar_x = time(|| {
        run_ok(Command::new("sh").arg("-c").arg(format!(
            "zstd -q -d -c {} | tar -C {} -x",
            tarball.display(),
            untar.display()
        )))
    })?;

    // 2. A remote cache on nginx, against curl on the same files.
    let nginx = nginx::Nginx::start(None);
    let url = nginx.url();
    sync()?;
    let push = time(|| {
        run_ok(&mut cairn_cmd(
            &project,
            &store,
            &[
                "cache",
                "push",
                "--include-highly-sensitive",
                "--remote",
                &url,
            ],
        ))
    })?;
    let files: Vec<String> = list_files(&project.join("output"))?;
    let list = work.join("files.txt");
    std::fs::write(&list, files.join("\n") + "\n")?;
    sync()?;
    let curl_put = time(|| {
        run_ok(Command::new("sh").arg("-c").arg(format!(
            "cd {} && xargs -P 8 -I F curl -sf -T F {}/curl/F < {}",
            project.join("output").display(),
            url,
            list.display()
        )))
    })?;
    let store3 = work.join("store3");
    let clone = work.join("clone");
    run_ok(
        Command::new("git")
            .args(["clone", "-q"])
            .arg(&project)
            .arg(&clone),
    )?;
    sync()?;
    let pull = time(|| {
        run_ok(&mut cairn_cmd(
            &clone,
            &store3,
            &["cache", "pull", "--trust-unsigned", "--remote", &url],
        ))
    })?;
    let fetched = work.join("fetched");
    std::fs::create_dir_all(&fetched)?;
    sync()?;
    let curl_get = time(|| {
        run_ok(Command::new("sh").arg("-c").arg(format!(
            "cd {} && xargs -P 8 -I F sh -c 'mkdir -p $(dirname F) && curl -sf -o F {}/curl/F' < {}",
            fetched.display(),
            url,
            list.display()
        )))
    })?;

    // 3. The no-op, with and without a remote configured.
    std::thread::sleep(Duration::from_secs(3));
    run_ok(&mut cairn_cmd(&project, &store, &["run", "run_all"]))?;
    let noop = |remote: Option<&str>| -> Result<Duration> {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let mut c = cairn_cmd(&project, &store, &["run", "run_all"]);
            if let Some(u) = remote {
                c.env("CAIRN_REMOTE", u);
            }
            samples.push(time(|| run_ok(&mut c))?);
        }
        Ok(median(samples))
    };
    let noop_local = noop(None)?;
    let noop_remote = noop(Some(&url))?;
    let asked = nginx.access_log().lines().count();
    drop(nginx);

    let gb = (shape.actions * shape.files_per_action * shape.file_size) as f64 / 1e9;
    println!();
    println!(
        "{} actions, {} files, {gb:.2} GB",
        shape.actions,
        files.len()
    );
    report_row("tar -c | zstd -T0 -3", tar_c, None);
    report_row("cairn cache export", export, Some(("tar | zstd", tar_c)));
    report_row("zstd -d | tar -x", tar_x, None);
    report_row("cairn cache import", import, Some(("zstd | tar", tar_x)));
    report_row("curl -T, 8 at a time", curl_put, None);
    report_row("cairn cache push", push, Some(("curl", curl_put)));
    report_row("curl GET, 8 at a time", curl_get, None);
    report_row("cairn cache pull", pull, Some(("curl", curl_get)));
    report_row("no-op run", noop_local, None);
    report_row(
        "no-op run, remote set",
        noop_remote,
        Some(("no remote", noop_local)),
    );
    println!();
    println!(
        "throughput against curl: push {:.2}×, pull {:.2}× (target ≥ 0.8×)",
        curl_put.as_secs_f64() / push.as_secs_f64(),
        curl_get.as_secs_f64() / pull.as_secs_f64()
    );
    println!("requests the server saw in all: {asked}");
    Ok(())
}

fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir)?.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}
