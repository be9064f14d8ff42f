//! BLAKE3 digests with a derive-key context per kind of thing hashed.

use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE32_NOPAD, HEXLOWER};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a digest was computed over. Each kind hashes under its own BLAKE3
/// derive-key context, so two different kinds of thing can never share a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The bytes of a file (store objects).
    Object,
    /// A canonical derivation record; its digest is the derivation id.
    Derivation,
    /// A canonical output manifest (the content of an action's outputs).
    Manifest,
    /// A Merkle tree of source files.
    SourceTree,
    /// A derivation id and a canonical observation set: a realisation key.
    Realisation,
    /// The sorted names in a directory an action listed.
    Listing,
}

impl Kind {
    /// The BLAKE3 derive-key context string of this kind.
    pub const fn context(self) -> &'static str {
        match self {
            Kind::Object => "cairn object v1",
            Kind::Derivation => "cairn derivation v2",
            Kind::Manifest => "cairn output manifest v1",
            Kind::SourceTree => "cairn source tree v1",
            Kind::Realisation => "cairn realisation v2",
            Kind::Listing => "cairn directory listing v1",
        }
    }

    /// A fresh hasher for this kind.
    pub fn hasher(self) -> blake3::Hasher {
        blake3::Hasher::new_derive_key(self.context())
    }

    /// The digest of `bytes` as this kind.
    pub fn digest(self, bytes: &[u8]) -> Digest {
        let mut h = self.hasher();
        h.update(bytes);
        Digest::from(h.finalize())
    }
}

/// A 32-byte BLAKE3 digest. Displayed and serialized as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Number of characters of the short, human-facing id (like an OpenSAFELY job id).
pub const SHORT_ID_LEN: usize = 16;

impl Digest {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits: the name of objects and records in the store.
    pub fn to_hex(&self) -> String {
        HEXLOWER.encode(&self.0)
    }

    /// Lowercase base32 (RFC 4648 alphabet) of the whole digest, 52 characters.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0).to_ascii_lowercase()
    }

    /// The first 16 characters of the base32 form, e.g. `gnrctu6yayqtow46`.
    pub fn short(&self) -> String {
        let mut s = self.to_base32();
        s.truncate(SHORT_ID_LEN);
        s
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Digest> {
        if s.len() != 64 {
            return None;
        }
        let bytes = HEXLOWER.decode(s.as_bytes()).ok()?;
        Some(Digest(bytes.try_into().ok()?))
    }
}

impl From<blake3::Hash> for Digest {
    fn from(h: blake3::Hash) -> Self {
        Digest(*h.as_bytes())
    }
}

impl From<[u8; 32]> for Digest {
    fn from(b: [u8; 32]) -> Self {
        Digest(b)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::from_hex(s).ok_or_else(|| format!("not a 64-digit hex digest: {s:?}"))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_never_collide() {
        let a = Kind::Object.digest(b"x");
        let b = Kind::Derivation.digest(b"x");
        assert_ne!(a, b);
    }

    #[test]
    fn hex_round_trip_and_short_shape() {
        let d = Kind::Object.digest(b"hello");
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        let short = d.short();
        assert_eq!(short.len(), 16);
        assert!(
            short
                .chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
        assert_eq!(Digest::from_hex("zz"), None);
    }
}
