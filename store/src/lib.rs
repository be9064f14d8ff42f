//! cairn's content-addressed store.
//!
//! The store holds file contents addressed by their BLAKE3 digest (objects),
//! the derivations that describe how actions are built, and the realisations
//! that record what each derivation produced. It is a directory of plain
//! files, shared by every project of a user:
//!
//! ```text
//! VERSION                    "1": the layout version; another is refused
//! CACHEDIR.TAG  .gitignore   backup tools and git skip the store
//! lock                       flock: shared by every open Store, exclusive for GC
//! objects-v1/ab/<64 hex>     file contents, read-only (0444), named by digest
//! drv-v2/<64 hex>.toml       derivations (canonical TOML), named by id
//! paths-v1/<64 hex>.toml     a derivation's path sets, most recent first
//! real-v2/<64 hex>.toml      realisations, named by their key (derivation
//!                            id + observation set)
//! roots-v1/<name>.toml       GC roots (realisation keys a project uses)
//! locks-v1/<64 hex>.lock     per-derivation build locks
//! quarantine/                what `verify` moved aside
//! tmp/                       staging and scratch, on the objects' filesystem
//! ```
//!
//! Invariants, stated as absences:
//! - the store never depends on YAML, git, Docker or the command line;
//! - no module but `layout` builds a path inside the store;
//! - nothing enters the store without its hash recomputed from the bytes
//!   written, whether it comes from a file, from memory or from an archive;
//! - no reader ever sees a partial object or record: everything is written in
//!   `tmp/`, flushed to disk, then renamed into place;
//! - no realisation names an object that is absent, except the object of a
//!   highly sensitive output, which may be withheld (archives leave it out);
//! - no object is ever written to after it is visible, and none is ever
//!   hardlinked into a project;
//! - an archive import never writes outside `tmp/` before the whole archive
//!   has been checked, never follows an entry's path, and never calls
//!   `tar::Archive::unpack`;
//! - GC never runs while another process has the store open.
//!
//! Locks are `flock(2)` locks, released by the kernel when a process dies;
//! they are unreliable on NFS.

mod archive;
mod digest;
mod durable;
mod error;
mod gc;
mod ingest;
mod layout;
mod lock;
mod materialize;
mod object;
mod record;
mod roots;
mod store;
mod transfer;
mod usage;
mod verify;

pub use archive::{
    Accept, ExportOptions, ExportStats, ImportOptions, ImportStats, RefusedRealisation,
};
pub use digest::{Digest, Kind, SHORT_ID_LEN};
pub use error::{Error, Result};
pub use gc::{GcOptions, GcReport, TMP_MAX_AGE};
pub use ingest::Ingested;
pub use layout::LAYOUT_VERSION;
pub use lock::BuildLock;
pub use object::hash_file;
pub use record::{
    ActionSpec, AllSources, DERIVATION_FORMAT, Derivation, HIGHLY_SENSITIVE, ImageSpec, Look,
    MAX_PATH_SETS, ObservationSet, Observed, OutputEntry, OutputManifest, PATH_SETS_FORMAT,
    PRIVACY_LEVELS, PathSet, PathSets, REALISATION_FORMAT, Realisation, Visible,
    check_relative_path, from_toml, realisation_key, to_canonical,
};
pub use roots::{ROOT_FORMAT, Root};
pub use store::Store;
pub use transfer::{ObjectReader, Received};
pub use usage::Usage;
pub use verify::{Problem, VerifyOptions, VerifyReport, Withheld};
