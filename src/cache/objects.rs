//! Moving store objects to and from a remote's `cas/<hex>`, several at a
//! time. Nothing corrupt leaves (objects are read through the store's
//! verifying reader) and nothing unverified enters (downloads are ingested
//! against the digest they were asked for).
//!
//! A failure of the remote itself (unreachable, timeout, refusal, garbage)
//! stops the whole batch at once: one dead server costs one timeout, not one
//! per object. A problem with one object (absent, content that does not
//! match its name) is counted and the batch goes on.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cairn_store::{Digest, Received, Store};
use serde::Serialize;

use super::remote::Remote;
use super::remote_error::{Failure, RemoteError};

/// Largest object downloaded when its size is not known in advance.
pub const MAX_OBJECT: u64 = 64 << 30;

/// An object to download, with its size when a record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    pub digest: Digest,
    /// The size the realisation records; a body of another size is refused.
    pub size: Option<u64>,
}

impl From<Digest> for Wanted {
    fn from(digest: Digest) -> Wanted {
        Wanted { digest, size: None }
    }
}

/// An object that was not transferred because its content is not its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub digest: Digest,
    pub reason: String,
}

/// What a batch of transfers did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Objects sent (upload) or received and stored (download).
    pub transferred: usize,
    /// Objects the destination already had: found by `HEAD` on the server
    /// (upload), or already in the store (download).
    pub present: usize,
    /// Bytes sent or received and stored.
    pub bytes: u64,
    /// Objects the source did not have: absent from the store (upload),
    /// 404 on the server (download).
    pub missing: Vec<Digest>,
    /// Objects refused: corrupt in the store (quarantined, never sent), or a
    /// download whose content is not the object asked for (never stored).
    pub refused: Vec<Refused>,
}

impl Stats {
    /// Every object asked for is now at the destination.
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.refused.is_empty()
    }
}

enum Outcome {
    Transferred(u64),
    Present,
    Missing,
    Refused(String),
}

impl Remote {
    /// Sends each object of `digests` to `cas/<hex>` unless `HEAD` finds it
    /// there. Objects are read through the store's verifying reader: a
    /// corrupt one is quarantined and refused, and the server never receives
    /// a complete copy of it. `Err` when the remote failed (the batch
    /// stopped); objects sent before that stay sent.
    pub fn upload_objects(&self, store: &Store, digests: &[Digest]) -> Result<Stats, RemoteError> {
        let unique: Vec<Digest> = digests
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.batch(&unique, |d| self.upload_one(store, d))
    }

    /// Fetches each object of `wanted` from `cas/<hex>` that the store lacks,
    /// streaming it into the store, which recomputes its hash: content that
    /// is not the object asked for is refused and never stored. `Err` when
    /// the remote failed (the batch stopped); objects stored before that
    /// stay stored (they are verified).
    pub fn download_objects(&self, store: &Store, wanted: &[Wanted]) -> Result<Stats, RemoteError> {
        let mut unique: Vec<Wanted> = wanted.to_vec();
        unique.sort();
        unique.dedup_by_key(|w| w.digest);
        self.batch(&unique, |w| self.download_one(store, w))
    }

    fn upload_one(&self, store: &Store, d: &Digest) -> Result<Outcome, RemoteError> {
        let rel = cas_path(d);
        if !store.has_object(d) {
            return Ok(Outcome::Missing);
        }
        if self.head(&rel)? {
            return Ok(Outcome::Present);
        }
        let reader = match store.open_object(d) {
            Ok(r) => r,
            Err(cairn_store::Error::MissingObject { .. }) => return Ok(Outcome::Missing),
            Err(e) => return Err(local(self.url(&rel), e)),
        };
        let size = reader.size();
        let mut body = Watched::new(reader);
        let sent = self.put_reader(&rel, &mut body, size);
        match (sent, body.error) {
            (Ok(()), _) => Ok(Outcome::Transferred(size)),
            // The store refused to finish the object: not the server's fault.
            (Err(_), Some(e)) if e.kind() == io::ErrorKind::InvalidData => {
                Ok(Outcome::Refused(e.to_string()))
            }
            (Err(_), Some(e)) => Err(RemoteError::new(
                self.url(&rel),
                Failure::Local(format!("reading object {d} from the store: {e}")),
            )),
            (Err(e), None) => Err(e),
        }
    }

    fn download_one(&self, store: &Store, w: &Wanted) -> Result<Outcome, RemoteError> {
        if store.has_object(&w.digest) {
            return Ok(Outcome::Present);
        }
        let rel = cas_path(&w.digest);
        let limit = w.size.unwrap_or(MAX_OBJECT);
        let got = self.get_with(&rel, None, false, |url, body, len| {
            if let (Some(len), Some(size)) = (len, w.size)
                && len != size
            {
                return Ok(Outcome::Refused(format!(
                    "the server declares {len} bytes; the object has {size}"
                )));
            }
            if let Some(len) = len
                && len > limit
            {
                return Ok(Outcome::Refused(format!(
                    "the server declares {len} bytes, over the limit of {limit}"
                )));
            }
            // One byte over the limit is enough to know the body is wrong.
            let mut body = Watched::new(body.take(limit + 1));
            match store.ingest_expected(&w.digest, &mut body) {
                Ok(Received::Stored { size, .. }) => Ok(Outcome::Transferred(size)),
                Ok(Received::Mismatch { size, .. }) if size > limit => Ok(Outcome::Refused(
                    format!("the server sent more than {limit} bytes"),
                )),
                Ok(Received::Mismatch { actual, size }) => Ok(Outcome::Refused(format!(
                    "the server sent {size} bytes hashing to {actual}"
                ))),
                // The body failed (the network), or the store did.
                Err(e) => match body.error.take() {
                    Some(net) => Err(RemoteError::from_io(url, &net)),
                    None => Err(local(url.to_string(), e)),
                },
            }
        })?;
        Ok(got.unwrap_or(Outcome::Missing))
    }

    /// Runs `one` over `items` on up to `self.parallel` threads; the first
    /// remote failure stops the others from starting anything new.
    fn batch<T: Sync + Copy + Into<Digest>>(
        &self,
        items: &[T],
        one: impl Fn(&T) -> Result<Outcome, RemoteError> + Sync,
    ) -> Result<Stats, RemoteError> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let stats = Mutex::new(Stats::default());
        let failure: Mutex<Option<RemoteError>> = Mutex::new(None);
        let threads = self.parallel.min(items.len()).max(1);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let result = one(item);
                        let mut st = stats.lock().unwrap_or_else(|e| e.into_inner());
                        match result {
                            Ok(Outcome::Transferred(n)) => {
                                st.transferred += 1;
                                st.bytes += n;
                            }
                            Ok(Outcome::Present) => st.present += 1,
                            Ok(Outcome::Missing) => st.missing.push((*item).into()),
                            Ok(Outcome::Refused(reason)) => st.refused.push(Refused {
                                digest: (*item).into(),
                                reason,
                            }),
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                failure
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .get_or_insert(e);
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        let mut stats = stats.into_inner().unwrap_or_else(|e| e.into_inner());
        stats.missing.sort();
        stats.refused.sort_by_key(|r| r.digest);
        Ok(stats)
    }
}

impl From<Wanted> for Digest {
    fn from(w: Wanted) -> Digest {
        w.digest
    }
}

/// Where object `d` lives on a remote.
pub fn cas_path(d: &Digest) -> String {
    format!("cas/{}", d.to_hex())
}

fn local(url: String, e: cairn_store::Error) -> RemoteError {
    RemoteError::new(url, Failure::Local(format!("the local store: {e}")))
}

/// A reader that remembers its own failure, so a failed transfer can be
/// blamed on the right side (the store or the network).
struct Watched<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R> Watched<R> {
    fn new(inner: R) -> Watched<R> {
        Watched { inner, error: None }
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            // The original is kept: it may wrap the client's own error
            // (a timeout), which classifying it needs.
            let copy = io::Error::new(e.kind(), e.to_string());
            self.error = Some(e);
            copy
        })
    }
}
