//! One verify build: an action rebuilt in a fresh workspace, on a thread of
//! its own carrying its variation, its outputs hashed where they are.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use cairn_store::{Derivation, Digest, Realisation, Store};
use serde::Serialize;

use super::vary::Variation;
use crate::run::build::{self, Built, Provenance, Request};
use crate::session::Session;

/// One version of an output file: its hash, size and mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side {
    pub hash: String,
    pub size: u64,
    pub mode: String,
}

/// An output file of one build (or of the record), and where its content is.
#[derive(Clone, Debug)]
pub struct Version {
    pub side: Side,
    pub level: String,
    /// The content on disk; `None` when it is not in this store (withheld).
    pub content: Option<PathBuf>,
    /// For a recorded output: what its store object hashes to now, when
    /// that is not its name.
    pub corrupt: Option<Digest>,
}

/// The outputs of one build or of the record, by path.
pub type Files = BTreeMap<String, Version>;

/// A finished rebuild; its scratch workspace lives as long as it does.
pub struct Rebuilt {
    pub files: Files,
    _scratch: tempfile::TempDir,
}

/// What a rebuild needs to know about the action.
pub struct Target<'a> {
    pub name: &'a str,
    pub drv: &'a Derivation,
    pub upstream: Vec<Arc<Realisation>>,
}

/// Rebuilds `target` under `variation`. `Ok(Err(reason))`: it could not run.
pub fn rebuild(
    session: &Session,
    target: &Target,
    variation: &Variation,
    cancelled: &AtomicBool,
) -> Result<std::result::Result<Rebuilt, String>> {
    let sources = session.sources_for(target.name)?;
    let provenance = Provenance::default();
    let req = Request {
        name: target.name,
        drv: target.drv,
        id: target.drv.id(),
        sources: &sources,
        upstream: target.upstream.clone(),
        force: true,
        provenance: &provenance,
        cancelled,
    };
    let layout = variation.workspace();
    let executed = std::thread::scope(|s| {
        s.spawn(|| {
            variation
                .apply_to_thread()
                .map_err(|e| anyhow::anyhow!("applying {}: {e}", variation.describe()))?;
            build::execute(session, &req, &layout)
        })
        .join()
        .expect("a verify build panicked")
    })?;
    let executed = match executed {
        Ok(executed) => executed,
        Err(Built::Failed(f)) => {
            let mut reason = f.message;
            if let Some(ws) = f.workspace {
                reason.push_str(&format!(" (workspace kept at {})", ws.display()));
            }
            return Ok(Err(reason));
        }
        Err(Built::InputDamaged { path, error, .. }) => {
            return Ok(Err(format!(
                "its input {path} cannot be restored from the store: {error}"
            )));
        }
        Err(Built::Ran { .. } | Built::Elsewhere(_)) => unreachable!("execute records nothing"),
    };
    let mut files = Files::new();
    for (path, level) in &executed.collected.files {
        let on_disk = executed.workspace.join(path);
        let meta = std::fs::metadata(&on_disk)?;
        let hash = cairn_store::hash_file(&on_disk)?;
        files.insert(
            path.clone(),
            Version {
                side: Side {
                    hash: hash.to_hex(),
                    size: meta.len(),
                    mode: mode_of(meta.permissions().mode()),
                },
                level: level.as_str().to_string(),
                content: Some(on_disk),
                corrupt: None,
            },
        );
    }
    Ok(Ok(Rebuilt {
        files,
        _scratch: executed.scratch,
    }))
}

/// The outputs a realisation records, each store object rehashed.
pub fn recorded(store: &Store, r: &Realisation) -> Result<Files> {
    let mut files = Files::new();
    for (path, entry) in &r.outputs.files {
        let object = store.object_path(&entry.object);
        let (content, corrupt) = if object.is_file() {
            let actual = cairn_store::hash_file(&object)?;
            (Some(object), (actual != entry.object).then_some(actual))
        } else {
            (None, None)
        };
        files.insert(
            path.clone(),
            Version {
                side: Side {
                    hash: entry.object.to_hex(),
                    size: entry.size,
                    mode: format!("{:o}", entry.mode),
                },
                level: entry.level.clone(),
                content,
                corrupt,
            },
        );
    }
    Ok(files)
}

/// Modes as the store records them: executable or not.
fn mode_of(mode: u32) -> String {
    if mode & 0o100 != 0 { "755" } else { "644" }.to_string()
}
