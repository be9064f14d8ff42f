//! `cairn internal …` (hidden): the sharing layer's plumbing, driven by the
//! integration tests through the real binary against real servers. Every
//! command prints one JSON object; a remote that fails is a `warning:` line
//! and an `"error"` member, and the exit code stays 0, as a run would.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_store::{Digest, Store};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::objects::Wanted;
use super::remote::{Remote, Timeouts};
use super::remote_error::RemoteError;
use super::settings::Sharing;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Whether REL exists on the remote
    RemoteHead {
        /// A path under the remote's base URL
        rel: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// The content of REL on the remote (its length and BLAKE3 object digest)
    RemoteGet {
        /// A path under the remote's base URL
        rel: String,
        /// Refuse bodies longer than this
        #[arg(long, value_name = "BYTES")]
        max: Option<u64>,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// PUT FILE's content as REL
    RemotePut {
        /// A path under the remote's base URL
        rel: String,
        /// The file whose content to send
        file: PathBuf,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Copy files into the store; prints their digests
    Ingest {
        /// The files to copy
        files: Vec<PathBuf>,
    },
    /// Send objects to the remote's cas/
    Upload {
        /// The objects' digests (hex)
        digests: Vec<String>,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Fetch objects (HEX or HEX:SIZE) from the remote's cas/ into the store
    Download {
        /// The objects, as HEX or HEX:SIZE
        objects: Vec<String>,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Sign standard input with KEY (default: [remote] sign-with)
    Sign {
        /// The secret key file
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Which trusted key, if any, signed standard input
    Verify {
        /// The signatures (NAME:BASE64)
        signatures: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct RemoteArgs {
    /// The remote cache URL [default: $CAIRN_REMOTE, cairn.toml, user config]
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
    /// Connect and per-read/write timeout
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    timeout_ms: u64,
    /// Transfers at once
    #[arg(long, default_value_t = 8)]
    jobs: usize,
}

/// Runs one internal command for the project in `project_dir`.
pub fn run(
    command: CacheCommand,
    project_dir: &Path,
    store_flag: Option<&Path>,
) -> Result<ExitCode> {
    let config = Config::load(project_dir)?;
    let open_store = || -> Result<Store> {
        let path = config.store_path(store_flag)?;
        Store::open(&path).with_context(|| format!("opening the store {}", path.display()))
    };
    let out = match command {
        CacheCommand::RemoteHead { rel, remote } => {
            let r = connect(&config, project_dir, &remote)?;
            report(
                r.and_then(|r| r.head(&rel))
                    .map(|found| json!({ "found": found })),
            )
        }
        CacheCommand::RemoteGet { rel, max, remote } => {
            let r = connect(&config, project_dir, &remote)?
                .map(|r| max.map_or(r.clone(), |m| r.with_max_get(m)));
            report(r.and_then(|r| r.get(&rel)).map(|body| match body {
                None => json!({ "found": false }),
                Some(b) => json!({
                    "found": true,
                    "len": b.len(),
                    "digest": cairn_store::Kind::Object.digest(&b).to_hex(),
                }),
            }))
        }
        CacheCommand::RemotePut { rel, file, remote } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let r = connect(&config, project_dir, &remote)?;
            report(
                r.and_then(|r| r.put(&rel, &bytes))
                    .map(|()| json!({ "put": rel })),
            )
        }
        CacheCommand::Ingest { files } => {
            let store = open_store()?;
            let digests = store.ingest_files(&files)?;
            json!({ "digests": digests.iter().map(|i| i.digest.to_hex()).collect::<Vec<_>>() })
        }
        CacheCommand::Upload { digests, remote } => {
            let digests = digests
                .iter()
                .map(|d| parse_digest(d))
                .collect::<Result<Vec<_>>>()?;
            let store = open_store()?;
            let r = connect(&config, project_dir, &remote)?;
            report(
                r.and_then(|r| r.upload_objects(&store, &digests))
                    .map(stats_json),
            )
        }
        CacheCommand::Download { objects, remote } => {
            let wanted = objects
                .iter()
                .map(|o| parse_wanted(o))
                .collect::<Result<Vec<_>>>()?;
            let store = open_store()?;
            let r = connect(&config, project_dir, &remote)?;
            report(
                r.and_then(|r| r.download_objects(&store, &wanted))
                    .map(stats_json),
            )
        }
        CacheCommand::Sign { key } => {
            let sharing = Sharing::resolve(&config, project_dir, None)?;
            let secret = match key {
                Some(path) => super::keys::read_secret(&path)?,
                None => sharing
                    .signer()?
                    .context("no key to sign with: pass --key or set [remote] sign-with")?,
            };
            json!({ "signature": secret.sign(&stdin()?) })
        }
        CacheCommand::Verify { signatures } => {
            let sharing = Sharing::resolve(&config, project_dir, None)?;
            let by = super::trust::verify(&sharing.trusted, &stdin()?, &signatures);
            if by.is_none() {
                eprintln!("warning: no signature by a trusted key; the record would be ignored");
            }
            json!({ "signed_by": by })
        }
    };
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The remote these arguments name, or the configuration error (a missing
/// URL is a usage error; an unusable one degrades like any remote failure).
fn connect(
    config: &Config,
    project_dir: &Path,
    args: &RemoteArgs,
) -> Result<Result<Remote, RemoteError>> {
    let sharing = Sharing::resolve(config, project_dir, args.remote.as_deref())?;
    for w in &sharing.warnings {
        eprintln!("warning: {w}");
    }
    let Some(settings) = sharing.remote else {
        bail!(
            "no remote cache: pass --remote URL, set $CAIRN_REMOTE, or `url` under [remote] in cairn.toml"
        );
    };
    let timeouts = Timeouts::all(Duration::from_millis(args.timeout_ms));
    Ok(settings
        .connect(timeouts)
        .map(|r| r.with_parallelism(args.jobs)))
}

/// The result as JSON; a remote failure becomes a warning and an `error` member.
fn report(result: Result<Value, RemoteError>) -> Value {
    match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("warning: {e}; continuing without the remote cache");
            json!({ "error": {
                "kind": e.kind(),
                "status": e.status(),
                "url": e.url,
                "message": e.to_string(),
            }})
        }
    }
}

fn stats_json(s: super::objects::Stats) -> Value {
    let complete = s.complete();
    let mut v = json!(s);
    v["complete"] = json!(complete);
    v
}

fn parse_digest(s: &str) -> Result<Digest> {
    s.parse().map_err(|e: String| anyhow::anyhow!(e))
}

fn parse_wanted(s: &str) -> Result<Wanted> {
    let (hex, size) = match s.split_once(':') {
        Some((h, n)) => (
            h,
            Some(n.parse().with_context(|| format!("size in {s:?}"))?),
        ),
        None => (s, None),
    };
    Ok(Wanted {
        digest: parse_digest(hex)?,
        size,
    })
}

fn stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("reading standard input")?;
    Ok(buf)
}
