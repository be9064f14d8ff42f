//! The store's error type: every variant names the path and, where a hash
//! was checked, the expected and actual digests.

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Shorthand for results of store operations.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on `path` failed. The cause is part of the message
    /// and not a separate `source`, so a printed chain says it once.
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: io::Error },

    /// The directory holds a store of another layout version.
    #[error(
        "{}: store layout version {found:?}, but this cairn reads version {expected}; \
         use the cairn that wrote it, or point --store at another directory",
        root.display()
    )]
    LayoutVersion {
        root: PathBuf,
        found: String,
        expected: u32,
    },

    /// The directory exists, is not empty and is not a cairn store.
    #[error(
        "{}: not a cairn store (it has no VERSION file and holds {entry:?}); \
         point --store at an empty or new directory",
        root.display()
    )]
    NotAStore { root: PathBuf, entry: String },

    /// Content does not hash to the digest it is stored or declared under.
    #[error(
        "{}: corrupt: expected digest {expected}, content hashes to {actual}",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },

    /// An object the caller asked for is not in the store.
    #[error("object {digest} is not in the store (looked for {})", path.display())]
    MissingObject { digest: Digest, path: PathBuf },

    /// A realisation refers to an object that is not in the store.
    #[error(
        "realisation of {derivation}: output {output:?} refers to object {object}, \
         which is not in the store; ingest the output before recording the realisation"
    )]
    DanglingReference {
        derivation: Digest,
        output: String,
        object: Digest,
    },

    /// A record could not be parsed or is inconsistent.
    #[error("{}: invalid record: {reason}", path.display())]
    BadRecord { path: PathBuf, reason: String },

    /// A path that should be a regular file is something else.
    #[error("{}: not a regular file ({kind}); only regular files can enter the store", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },

    /// A path recorded in a manifest would escape its destination.
    #[error("unsafe output path {path:?}: {reason}")]
    UnsafePath { path: String, reason: &'static str },

    /// A name given by the caller cannot name a file in the store.
    #[error("invalid {what} {name:?}: use letters, digits, '.', '_' and '-' only")]
    InvalidName { what: &'static str, name: String },

    /// Another process uses the store, so an exclusive operation cannot run.
    #[error(
        "{}: the store is in use by another cairn process; retry when it finishes",
        root.display()
    )]
    Busy { root: PathBuf },

    /// An archive entry was refused.
    #[error("archive entry {entry:?}: {reason}")]
    Archive { entry: String, reason: String },

    /// An archive entry's content does not match the digest it is named by.
    #[error("archive entry {entry:?}: expected digest {expected}, content hashes to {actual}")]
    ArchiveMismatch {
        entry: String,
        expected: Digest,
        actual: Digest,
    },

    /// A derivation asked for does not exist.
    #[error("derivation {id} is not in the store")]
    UnknownDerivation { id: Digest },

    /// A realisation asked for does not exist.
    #[error("realisation {key} is not in the store")]
    UnknownRealisation { key: Digest },
}

impl Error {
    pub(crate) fn archive(entry: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Archive {
            entry: entry.into(),
            reason: reason.into(),
        }
    }
}

/// Attaches a path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|cause| Error::Io {
            path: path.to_path_buf(),
            cause,
        })
    }
}
