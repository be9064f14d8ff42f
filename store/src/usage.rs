//! Disk usage figures of a store.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::Result;
use crate::layout::RecordKind;
use crate::store::Store;

/// How much the store holds. Byte counts are apparent sizes; `disk_bytes`
/// is what the whole store occupies on disk (allocated blocks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub objects: u64,
    pub object_bytes: u64,
    pub derivations: u64,
    pub realisations: u64,
    pub record_bytes: u64,
    pub roots: u64,
    /// Staging files and scratch workspaces.
    pub tmp_bytes: u64,
    /// What `verify` moved aside.
    pub quarantine_bytes: u64,
    pub disk_bytes: u64,
}

impl Store {
    /// Counts and sizes of what the store holds.
    pub fn usage(&self) -> Result<Usage> {
        let mut u = Usage::default();
        for (_, path) in self.layout.list_objects()?.found {
            u.objects += 1;
            u.object_bytes += len(&path);
        }
        for (kind, count) in [
            (RecordKind::Derivation, &mut u.derivations),
            (RecordKind::Realisation, &mut u.realisations),
        ] {
            for (_, path) in self.layout.list_records(kind)?.found {
                *count += 1;
                u.record_bytes += len(&path);
            }
        }
        u.roots = self.layout.list_roots()?.len() as u64;
        u.tmp_bytes = tree(&self.layout.tmp_dir()).0;
        u.quarantine_bytes = tree(&self.layout.quarantine_dir()).0;
        u.disk_bytes = tree(self.root()).1;
        Ok(u)
    }
}

fn len(path: &Path) -> u64 {
    path.symlink_metadata().map(|m| m.len()).unwrap_or(0)
}

/// (apparent bytes of files, allocated bytes of everything) under `dir`.
/// Entries vanishing during the walk are skipped: the store is live.
fn tree(dir: &Path) -> (u64, u64) {
    let (mut apparent, mut disk) = (0, 0);
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if let Ok(m) = entry.metadata() {
            if m.is_file() {
                apparent += m.len();
            }
            disk += m.blocks() * 512;
        }
    }
    (apparent, disk)
}
