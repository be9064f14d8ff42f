//! Objects in transit to and from another machine: a reader that refuses to
//! finish an object whose content no longer matches its name, and ingest of
//! content that must hash to a digest named in advance (a download).

use std::fs::File;
use std::io::{self, ErrorKind, Read};

use crate::digest::{Digest, Kind};
use crate::error::{Error, IoContext, Result};
use crate::object;
use crate::store::Store;

/// What [`Store::ingest_expected`] did with the content it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// The content hashes to the expected digest and is in the store.
    /// `new` is false when the store already had it.
    Stored { size: u64, new: bool },
    /// The content hashes to something else: nothing was stored.
    Mismatch { actual: Digest, size: u64 },
}

impl Store {
    /// Streams `reader` into the store as the object `expected`, hashing as
    /// it goes, and commits it only if its content hashes to `expected`.
    /// An error of `reader` is returned as [`Error::Io`] (on a staging path)
    /// and nothing is stored; wrap the reader to tell its errors apart.
    pub fn ingest_expected(&self, expected: &Digest, reader: impl Read) -> Result<Received> {
        let _shared = self.shared();
        let staged = object::stage_reader(&self.tmp_dir(), reader, true)?;
        let size = staged.size;
        if staged.digest != *expected {
            // Dropping the staged temp path removes it.
            return Ok(Received::Mismatch {
                actual: staged.digest,
                size,
            });
        }
        let new = object::commit(&self.layout, staged)?;
        Ok(Received::Stored { size, new })
    }

    /// Opens object `d` for streaming out of the store. The reader hashes
    /// what it reads and withholds the last bytes until the whole content
    /// has proved to be the object: a corrupt object ends in an error
    /// (`InvalidData`, wrapping [`Error::Corrupt`]) instead of its last
    /// bytes, so a receiver that knows the length never gets a complete
    /// wrong copy, and the object is moved to `quarantine/`.
    pub fn open_object(&self, d: &Digest) -> Result<ObjectReader<'_>> {
        let path = self.object_path(d);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::MissingObject { digest: *d, path });
            }
            Err(e) => return Err(e).at(&path),
        };
        let size = file.metadata().at(&path)?.len();
        Ok(ObjectReader {
            store: self,
            file,
            expected: *d,
            size,
            read: 0,
            hasher: Kind::Object.hasher(),
            verified: false,
        })
    }
}

/// A store object being read out; see [`Store::open_object`].
pub struct ObjectReader<'a> {
    store: &'a Store,
    file: File,
    expected: Digest,
    size: u64,
    read: u64,
    hasher: blake3::Hasher,
    verified: bool,
}

impl ObjectReader<'_> {
    /// The object's size in bytes, as found when it was opened: the length
    /// a receiver should be told to expect.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads whatever follows the expected end (content that grew), hashes
    /// it all and compares.
    fn verify(&mut self) -> io::Result<()> {
        let mut extra = [0u8; 8192];
        loop {
            match self.file.read(&mut extra) {
                Ok(0) => break,
                Ok(n) => {
                    self.hasher.update(&extra[..n]);
                    self.read += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let actual = Digest::from(self.hasher.finalize());
        if actual != self.expected || self.read != self.size {
            let path = self.store.object_path(&self.expected);
            let err = self.store.quarantine_corrupt(&path, self.expected, actual);
            return Err(io::Error::new(ErrorKind::InvalidData, err));
        }
        self.verified = true;
        Ok(())
    }
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.verified {
            return Ok(0);
        }
        let n = self.file.read(out)?;
        self.hasher.update(&out[..n]);
        self.read += n as u64;
        if n == 0 || self.read >= self.size {
            // These are the last bytes (or the content ended early): they are
            // handed out only once the whole object has proved itself.
            self.verify()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_sound_object_streams_out_whole() {
        let (_d, store) = store();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let d = store.ingest_bytes(&data).unwrap();
        let mut r = store.open_object(&d).unwrap();
        assert_eq!(r.size(), data.len() as u64);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let empty = store.ingest_bytes(b"").unwrap();
        let mut out = Vec::new();
        store
            .open_object(&empty)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_corrupt_object_never_yields_its_last_bytes_and_is_quarantined() {
        let (_d, store) = store();
        let data = vec![7u8; 100_000];
        let d = store.ingest_bytes(&data).unwrap();
        let path = store.object_path(&d);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut bad = data.clone();
        bad[99_999] = 8;
        std::fs::write(&path, &bad).unwrap();
        let mut r = store.open_object(&d).unwrap();
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(out.len() < data.len(), "{} bytes came out", out.len());
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(!store.has_object(&d));
    }

    #[test]
    fn ingest_expected_stores_only_matching_content() {
        let (_d, store) = store();
        let want = Kind::Object.digest(b"hello");
        let got = store.ingest_expected(&want, &b"jello"[..]).unwrap();
        assert!(matches!(got, Received::Mismatch { size: 5, .. }));
        assert!(!store.has_object(&want));
        let tmp_left = std::fs::read_dir(store.tmp_dir()).unwrap().count();
        assert_eq!(tmp_left, 0, "the refused content is not left in tmp/");
        let got = store.ingest_expected(&want, &b"hello"[..]).unwrap();
        assert_eq!(got, Received::Stored { size: 5, new: true });
        assert_eq!(store.read_object(&want).unwrap(), b"hello");
        let again = store.ingest_expected(&want, &b"hello"[..]).unwrap();
        assert_eq!(
            again,
            Received::Stored {
                size: 5,
                new: false
            }
        );
    }
}
