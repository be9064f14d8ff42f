//! Signatures on realisations: ed25519 keys named `NAME`, written as
//! `NAME:BASE64` the way Nix writes its binary-cache keys.
//!
//! An object needs no signature (its name is its hash); a realisation that
//! came from elsewhere is believed only when a key the user trusts signed
//! it. The caller decides which bytes of a record are signed; this module
//! signs and checks bytes.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use data_encoding::BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// A public key with its name, as listed in `[trust] keys`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    key: VerifyingKey,
}

/// A secret (signing) key with its name, as in a `NAME.secret` file.
pub struct SecretKey {
    pub name: String,
    key: SigningKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        write!(f, "SecretKey({})", self.name)
    }
}

/// A key name: what `cairn key generate` accepts and files are named by.
pub fn check_key_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        bail!("invalid key name {name:?}: use letters, digits, '.', '_' and '-' (not first '.')");
    }
    Ok(())
}

/// Splits `NAME:BASE64` and decodes the base64 part.
fn split_named(text: &str, what: &str) -> Result<(String, Vec<u8>)> {
    let text = text.trim();
    let (name, b64) = text
        .rsplit_once(':')
        .with_context(|| format!("{what} {text:?} is not NAME:BASE64"))?;
    check_key_name(name).with_context(|| format!("{what} {text:?}"))?;
    let bytes = BASE64
        .decode(b64.as_bytes())
        .with_context(|| format!("{what} {text:?}: the part after ':' is not base64"))?;
    Ok((name.to_string(), bytes))
}

impl FromStr for PublicKey {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<PublicKey> {
        let (name, bytes) = split_named(text, "public key")?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            anyhow::anyhow!(
                "public key {name:?}: {} bytes, an ed25519 public key has 32",
                b.len()
            )
        })?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| anyhow::anyhow!("public key {name:?} is not a valid ed25519 key"))?;
        Ok(PublicKey { name, key })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(self.key.as_bytes()))
    }
}

impl SecretKey {
    /// A fresh key pair named `name`, from the operating system's randomness.
    pub fn generate(name: &str) -> Result<SecretKey> {
        check_key_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| anyhow::anyhow!("no randomness for a new key: {e}"))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SecretKey {
            name: name.to_string(),
            key,
        })
    }

    /// Parses the text of a `NAME.secret` file: `NAME:BASE64` of the 32-byte
    /// seed followed by the 32-byte public key (Nix's layout), checked to
    /// belong together.
    pub fn parse(text: &str) -> Result<SecretKey> {
        let (name, bytes) = split_named(text, "secret key")?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|b: Vec<u8>| {
            anyhow::anyhow!(
                "secret key {name:?}: {} bytes, a cairn secret key has 64",
                b.len()
            )
        })?;
        let key = SigningKey::from_keypair_bytes(&bytes).map_err(|_| {
            anyhow::anyhow!("secret key {name:?}: its two halves do not belong together")
        })?;
        Ok(SecretKey { name, key })
    }

    /// The text of its `NAME.secret` file (without a newline).
    pub fn to_file_text(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            BASE64.encode(&self.key.to_keypair_bytes())
        )
    }

    /// Its public half, with the same name.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `message`; see [`sign`].
    pub fn sign(&self, message: &[u8]) -> String {
        sign(self, message)
    }
}

/// The signature of `message` by `secret`, as `NAME:BASE64` (64 bytes).
pub fn sign(secret: &SecretKey, message: &[u8]) -> String {
    let sig: Signature = secret.key.sign(message);
    format!("{}:{}", secret.name, BASE64.encode(&sig.to_bytes()))
}

/// The name of a trusted key that signed `message`, if any of `signatures`
/// (each `NAME:BASE64`) is one. Signatures by unknown names, malformed ones
/// and ones that do not verify are passed over. Verification is strict
/// (no malleable signatures, no weak keys).
pub fn verify(trusted: &[PublicKey], message: &[u8], signatures: &[String]) -> Option<String> {
    for sig in signatures {
        let Some((name, b64)) = sig.trim().rsplit_once(':') else {
            continue;
        };
        let Ok(bytes) = BASE64.decode(b64.as_bytes()) else {
            continue;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes) else {
            continue;
        };
        let sig = Signature::from_bytes(&bytes);
        let signed = trusted
            .iter()
            .filter(|k| k.name == name)
            .any(|k| k.key.verify_strict(message, &sig).is_ok());
        if signed {
            return Some(name.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_under_its_key_only() {
        let team = SecretKey::generate("team").unwrap();
        let other = SecretKey::generate("other").unwrap();
        let msg = b"realisation bytes";
        let sig = team.sign(msg);
        assert!(sig.starts_with("team:"));
        let trusted = vec![team.public()];
        assert_eq!(
            verify(&trusted, msg, std::slice::from_ref(&sig)),
            Some("team".into())
        );
        // A tampered message.
        assert_eq!(
            verify(&trusted, b"realisation bytez", std::slice::from_ref(&sig)),
            None
        );
        // Signed by a key that is not trusted.
        assert_eq!(verify(&trusted, msg, &[other.sign(msg)]), None);
        // An unknown key under a trusted key's name.
        let impostor = SecretKey::generate("team").unwrap();
        assert_eq!(verify(&trusted, msg, &[impostor.sign(msg)]), None);
        // A trusted key's signature relabelled with another (trusted) name.
        let relabelled = sig.replacen("team:", "other:", 1);
        assert_eq!(verify(&[other.public()], msg, &[relabelled]), None);
        // No signatures, garbage signatures, and one good among bad ones.
        assert_eq!(verify(&trusted, msg, &[]), None);
        let junk = vec!["team".to_string(), "team:!!!".into(), "team:AAAA".into()];
        assert_eq!(verify(&trusted, msg, &junk), None);
        let mixed = vec!["team:AAAA".to_string(), other.sign(msg), sig];
        assert_eq!(verify(&trusted, msg, &mixed), Some("team".into()));
    }

    #[test]
    fn keys_round_trip_through_their_text() {
        let k = SecretKey::generate("ci.example-1").unwrap();
        let again = SecretKey::parse(&format!("{}\n", k.to_file_text())).unwrap();
        assert_eq!(again.public(), k.public());
        let public: PublicKey = k.public().to_string().parse().unwrap();
        assert_eq!(public, k.public());
        assert_eq!(again.sign(b"m"), k.sign(b"m"), "ed25519 is deterministic");
    }

    #[test]
    fn malformed_keys_say_what_is_wrong() {
        let check = |text: &str, want: &str| {
            let err = format!("{:#}", text.parse::<PublicKey>().unwrap_err());
            assert!(err.contains(want), "{text:?}: {err}");
        };
        check("nocolon", "not NAME:BASE64");
        check("team:***", "not base64");
        check("team:AAAA", "3 bytes");
        check(":AAAA", "invalid key name");
        check("../x:AAAA", "invalid key name");
        let k = SecretKey::generate("a").unwrap();
        let mut halves = k.to_file_text();
        let public = SecretKey::generate("a").unwrap().public().to_string();
        // Seed of one key, public half of another.
        let mut bytes = BASE64
            .decode(halves.split_once(':').unwrap().1.as_bytes())
            .unwrap();
        bytes[32..].copy_from_slice(
            &BASE64
                .decode(public.split_once(':').unwrap().1.as_bytes())
                .unwrap(),
        );
        halves = format!("a:{}", BASE64.encode(&bytes));
        let err = format!("{:#}", SecretKey::parse(&halves).unwrap_err());
        assert!(err.contains("do not belong together"), "{err}");
        assert!(check_key_name("team").is_ok());
        assert!(check_key_name(".hidden").is_err());
    }
}
