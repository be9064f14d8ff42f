//! cairn's content-addressed store.
//!
//! The store holds file contents addressed by their BLAKE3 digest, the
//! derivations that describe how actions are built, and the realisations that
//! record what each derivation produced. It knows nothing of YAML, git, Docker
//! or the command line.

mod digest;
mod record;

pub use digest::{Digest, Kind, SHORT_ID_LEN};
pub use record::{
    ActionSpec, DERIVATION_FORMAT, Derivation, ImageSpec, OutputEntry, OutputManifest,
    PRIVACY_LEVELS, REALISATION_FORMAT, Realisation, from_toml, to_canonical,
};
