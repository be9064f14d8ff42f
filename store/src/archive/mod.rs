//! Archives: a closure of derivations, their realisations and objects as a
//! zstd-compressed tar, for sharing a cache between machines.
//!
//! Format v1, in this (sorted) order:
//!
//! ```text
//! cairn-archive.toml      the index: format, and every following entry's path and size
//! drv/<64 hex>.toml       derivations
//! objects/<64 hex>        object contents
//! real/<64 hex>.toml      realisations
//! ```
//!
//! Every entry is a regular file with mode 0444, uid/gid 0, mtime 0 and no
//! user or group name, so the same closure always gives the same bytes.
//! The index makes a truncated archive detectable even when the cut falls
//! between two tar entries.

mod export;
mod import;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The archive format version.
pub const ARCHIVE_FORMAT: u32 = 2;

/// Name of the index entry, which comes first.
pub(crate) const INDEX: &str = "cairn-archive.toml";

/// The index of an archive: what follows it, in order.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Index {
    pub format: u32,
    pub entries: Vec<IndexEntry>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub path: String,
    pub size: u64,
}

/// What an archive entry holds, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EntryName {
    Derivation(Digest),
    Object(Digest),
    /// A derivation's path sets, by derivation id.
    PathSets(Digest),
    /// A realisation, by key.
    Realisation(Digest),
}

impl EntryName {
    /// The entry's path inside the archive.
    pub(crate) fn path(&self) -> String {
        match self {
            EntryName::Derivation(d) => format!("drv/{}.toml", d.to_hex()),
            EntryName::Object(d) => format!("objects/{}", d.to_hex()),
            EntryName::PathSets(d) => format!("paths/{}.toml", d.to_hex()),
            EntryName::Realisation(d) => format!("real/{}.toml", d.to_hex()),
        }
    }

    /// Parses an entry path. Only the exact forms above are accepted, so
    /// nothing else (absolute paths, `..`, odd names) can mean anything.
    pub(crate) fn parse(raw: &[u8]) -> Result<EntryName, &'static str> {
        if raw.first() == Some(&b'/') {
            return Err("absolute path");
        }
        if raw.split(|b| *b == b'/').any(|c| c == b"..") {
            return Err("path with a '..' component");
        }
        let path = std::str::from_utf8(raw).map_err(|_| "path is not UTF-8")?;
        let (dir, file) = path.split_once('/').ok_or("not a cairn archive entry")?;
        let record = |f: &str| f.strip_suffix(".toml").and_then(Digest::from_hex);
        let name = match dir {
            "drv" => record(file).map(EntryName::Derivation),
            "real" => record(file).map(EntryName::Realisation),
            "paths" => record(file).map(EntryName::PathSets),
            "objects" => Digest::from_hex(file).map(EntryName::Object),
            _ => None,
        };
        name.ok_or("not a cairn archive entry")
    }
}

/// What to put in an exported archive.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Include the objects of highly sensitive outputs. Without it they are
    /// withheld: their realisations (hashes only) still travel.
    pub include_highly_sensitive: bool,
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub derivations: u64,
    pub realisations: u64,
    pub objects: u64,
    /// Uncompressed bytes of the objects written.
    pub object_bytes: u64,
    /// Objects of highly sensitive outputs left out.
    pub withheld: u64,
    /// Compressed bytes written.
    pub archive_bytes: u64,
}

/// Limits an import enforces on what an archive declares.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Largest object accepted, in bytes.
    pub max_object_size: u64,
    /// Most entries accepted.
    pub max_entries: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            max_object_size: 64 << 30,
            max_entries: 10_000_000,
        }
    }
}

/// What an import added.
/// Decides whether a realisation from an archive may enter the store:
/// `Err(reason)` leaves it out (its objects and derivation still enter).
pub type Accept<'a> = &'a dyn Fn(&crate::record::Realisation) -> Result<(), String>;

/// A realisation an import left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedRealisation {
    pub key: Digest,
    pub derivation: Digest,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Realisations the caller's `accept` refused.
    pub refused: Vec<RefusedRealisation>,
    pub derivations_added: u64,
    pub realisations_added: u64,
    /// Realisations already recorded here, which were kept as they were.
    pub realisations_kept: u64,
    pub objects_added: u64,
    /// Objects that were already in the store (checked, not rewritten).
    pub objects_present: u64,
    pub bytes_added: u64,
    /// Highly sensitive outputs whose content the archive did not carry.
    pub withheld: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn entry_names_round_trip_and_refuse_the_rest() {
        let d = Kind::Object.digest(b"x");
        for name in [
            EntryName::Derivation(d),
            EntryName::Object(d),
            EntryName::PathSets(d),
            EntryName::Realisation(d),
        ] {
            assert_eq!(EntryName::parse(name.path().as_bytes()), Ok(name));
        }
        let hex = d.to_hex();
        for (raw, why) in [
            (format!("/objects/{hex}"), "absolute path"),
            (format!("objects/../{hex}"), "path with a '..' component"),
            (format!("objects/{hex}/x"), "not a cairn archive entry"),
            ("objects/zz".to_string(), "not a cairn archive entry"),
            (format!("drv/{hex}"), "not a cairn archive entry"),
            (INDEX.to_string(), "not a cairn archive entry"),
        ] {
            assert_eq!(EntryName::parse(raw.as_bytes()), Err(why), "{raw}");
        }
        // Sorted paths put derivations, then objects, then realisations.
        let mut paths = [
            EntryName::Realisation(d).path(),
            EntryName::Object(d).path(),
            EntryName::Derivation(d).path(),
            INDEX.to_string(),
        ];
        paths.sort();
        assert_eq!(paths[0], INDEX);
        assert!(paths[1].starts_with("drv/") && paths[3].starts_with("real/"));
    }
}
