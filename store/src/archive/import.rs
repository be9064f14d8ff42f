//! Import: read an archive entry by entry, recompute every hash, and commit
//! to the store only once the whole archive has been checked.
//!
//! Entry paths are parsed, never joined to a directory: staging files are
//! named by `tempfile`, and the final place of everything is built by the
//! layout from a digest. Decompression and tar parsing run on the calling
//! thread; hashing and writing on a second one, like `zstd -d | tar -x`.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::prelude::*;
use tempfile::{NamedTempFile, TempPath};

use super::{
    ARCHIVE_FORMAT, Accept, EntryName, INDEX, ImportOptions, ImportStats, Index, IndexEntry,
    RefusedRealisation,
};
use crate::digest::{Digest, Kind};
use crate::durable;
use crate::error::{Error, IoContext, Result};
use crate::layout::RecordKind;
use crate::object::{self, OBJECT_MODE, Staged};
use crate::record::{PathSets, Realisation, to_canonical};
use crate::store::{
    MAX_RECORD_SIZE, RECORD_MODE, Store, parse_derivation, parse_path_sets, parse_realisation,
};

/// Chunk handed from the reading thread to the hashing thread.
const CHUNK: usize = 1 << 20;

/// Chunks in flight between the two threads.
const QUEUE: usize = 16;

/// Writeback of a large object is started every this many bytes, so the
/// disk works while the rest is still being decompressed and hashed.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// Bytes tolerated after the tar's end-of-archive blocks (tar pads to records).
const MAX_TRAILING: u64 = 1 << 20;

const STREAM: &str = "(stream)";

/// Work for the hashing thread.
enum Msg {
    /// An object entry starts; `file` is `None` when the store already has it
    /// (its content is still hashed, to check the archive).
    Begin {
        entry: String,
        expected: Digest,
        file: Option<NamedTempFile>,
    },
    /// The first `len` bytes of a buffer, which goes back to the reader.
    Data(Vec<u8>, usize),
    End,
}

/// Records read from the archive, checked but not yet committed.
#[derive(Default)]
struct Received {
    derivations: BTreeMap<Digest, String>,
    path_sets: Vec<PathSets>,
    realisations: BTreeMap<Digest, (Realisation, String)>,
    objects: HashSet<Digest>,
}

impl Store {
    /// Imports an archive written by [`Store::export`], with default limits.
    pub fn import(&self, input: impl Read) -> Result<ImportStats> {
        self.import_with(input, &ImportOptions::default())
    }

    /// Imports an archive. Refuses absolute paths, `..`, links, devices,
    /// entries not in the index or bigger than the limits, truncated streams
    /// and hash mismatches; on any refusal nothing outside `tmp/` has changed.
    pub fn import_with(&self, input: impl Read, opts: &ImportOptions) -> Result<ImportStats> {
        self.import_accepting(input, opts, &|_| Ok(()))
    }

    /// Like [`Store::import_with`], letting in only the realisations that
    /// `accept` accepts (the others are counted in `refused`); everything
    /// else, objects and derivations included, is imported as usual.
    pub fn import_accepting(
        &self,
        input: impl Read,
        opts: &ImportOptions,
        accept: Accept,
    ) -> Result<ImportStats> {
        let _shared = self.shared();
        let tmp = self.tmp_dir();
        let staging = tempfile::Builder::new()
            .prefix(".import-")
            .tempdir_in(&tmp)
            .at(&tmp)?;
        let decoder = zstd::stream::read::Decoder::new(input)
            .map_err(|e| Error::archive(STREAM, format!("cannot start decompressing: {e}")))?;
        let mut archive = tar::Archive::new(decoder);

        let (received, staged) = std::thread::scope(|s| {
            let (tx, rx) = sync_channel::<Msg>(QUEUE);
            // Buffers travel back for reuse: fresh ones would cost a page
            // fault and a zeroing per 4 KiB.
            let (back_tx, back_rx) = sync_channel::<Vec<u8>>(QUEUE + 2);
            let worker = s.spawn(|| hash_worker(rx, back_tx));
            let pipe = Pipe { tx, back: back_rx };
            let read = self.read_archive(&mut archive, opts, staging.path(), pipe);
            let hashed = worker.join().expect("the import hashing thread panicked");
            // A refused object stops the worker, and the reader then fails on
            // a closed channel: the worker's error is the one to report.
            match (read, hashed) {
                (_, Err(e)) | (Err(e), _) => Err(e),
                (Ok(r), Ok(staged)) => Ok((r, staged)),
            }
        })?;
        drain_end(archive.into_inner())?;
        self.commit_import(received, staged, staging.path(), accept)
    }

    fn read_archive<R: Read>(
        &self,
        archive: &mut tar::Archive<R>,
        opts: &ImportOptions,
        staging: &Path,
        pipe: Pipe,
    ) -> Result<Received> {
        let tx = &pipe.tx;
        let mut entries = archive.entries().map_err(stream_error)?;
        let mut first = entries
            .next()
            .ok_or_else(|| Error::archive(STREAM, "empty archive: no index"))?
            .map_err(stream_error)?;
        let shown = entry_path(&first);
        check_entry_type(&first, &shown)?;
        if shown != INDEX {
            return Err(Error::archive(
                shown,
                format!("the first entry must be {INDEX}; is this a cairn archive?"),
            ));
        }
        let index = read_index(&mut first, opts)?;
        let mut expected = index.entries.into_iter();
        let mut received = Received::default();

        for entry in entries {
            let mut entry = entry.map_err(stream_error)?;
            let shown = entry_path(&entry);
            check_entry_type(&entry, &shown)?;
            let name =
                EntryName::parse(&entry.path_bytes()).map_err(|why| Error::archive(&shown, why))?;
            let want = expected
                .next()
                .ok_or_else(|| Error::archive(&shown, "not listed in the archive's index"))?;
            if want.path != shown {
                return Err(Error::archive(
                    &shown,
                    format!("the index lists {:?} at this position", want.path),
                ));
            }
            let size = entry.size();
            if size != want.size {
                return Err(Error::archive(
                    &shown,
                    format!("declares {size} bytes, the index {}", want.size),
                ));
            }
            match name {
                EntryName::Derivation(id) => {
                    let text = read_text(&mut entry, &shown, size)?;
                    let drv = parse_derivation(Path::new(&shown), &id, &text)
                        .map_err(|e| record_error(&shown, e))?;
                    check_canonical(&shown, &text, &to_canonical(&drv))?;
                    received.derivations.insert(id, text);
                }
                EntryName::PathSets(id) => {
                    let text = read_text(&mut entry, &shown, size)?;
                    let sets = parse_path_sets(Path::new(&shown), &id, &text)
                        .map_err(|e| record_error(&shown, e))?;
                    check_canonical(&shown, &text, &to_canonical(&sets))?;
                    received.path_sets.push(sets);
                }
                EntryName::Realisation(id) => {
                    let text = read_text(&mut entry, &shown, size)?;
                    let r = parse_realisation(Path::new(&shown), &id, &text)
                        .map_err(|e| record_error(&shown, e))?;
                    check_canonical(&shown, &text, &to_canonical(&r))?;
                    received.realisations.insert(id, (r, text));
                }
                EntryName::Object(d) => {
                    let file = if self.has_object(&d) {
                        None
                    } else {
                        Some(durable::temp_file(staging, ".obj-", OBJECT_MODE)?)
                    };
                    send(
                        tx,
                        Msg::Begin {
                            entry: shown.clone(),
                            expected: d,
                            file,
                        },
                    )?;
                    let mut left = size;
                    while left > 0 {
                        let mut buf = pipe.buffer();
                        let len = left.min(CHUNK as u64) as usize;
                        read_full(&mut entry, &mut buf[..len], &shown, size)?;
                        left -= len as u64;
                        send(tx, Msg::Data(buf, len))?;
                    }
                    send(tx, Msg::End)?;
                    received.objects.insert(d);
                }
            }
        }
        if let Some(missing) = expected.next() {
            return Err(Error::archive(
                missing.path,
                "listed in the index but absent: the archive is truncated",
            ));
        }
        Ok(received)
    }

    /// Checks every reference, then renames objects, derivations and
    /// realisations into place, in that order.
    fn commit_import(
        &self,
        mut received: Received,
        staged: Vec<Staged>,
        staging: &Path,
        accept: Accept,
    ) -> Result<ImportStats> {
        let mut stats = ImportStats::default();
        received.realisations.retain(|key, (r, _)| match accept(r) {
            Ok(()) => true,
            Err(reason) => {
                stats.refused.push(RefusedRealisation {
                    key: *key,
                    derivation: r.derivation,
                    reason,
                });
                false
            }
        });
        for (id, (r, _)) in &received.realisations {
            let shown = EntryName::Realisation(*id).path();
            let drv_known = received.derivations.contains_key(&r.derivation)
                || self
                    .layout
                    .record_path(RecordKind::Derivation, &r.derivation)
                    .is_file();
            if !drv_known {
                return Err(Error::archive(shown, "realisation without its derivation"));
            }
            let outputs = r
                .outputs
                .files
                .values()
                .map(|e| (e.object, e.is_highly_sensitive()));
            for (object, sensitive) in outputs.chain(r.log.map(|l| (l, false))) {
                if received.objects.contains(&object) || self.has_object(&object) {
                    continue;
                }
                if !sensitive {
                    return Err(Error::archive(
                        shown,
                        format!(
                            "names object {object}, which neither the archive nor the store holds"
                        ),
                    ));
                }
                stats.withheld += 1;
            }
        }

        let mut records: Vec<(TempPath, std::path::PathBuf)> = Vec::new();
        for (id, text) in &received.derivations {
            let dest = self.layout.record_path(RecordKind::Derivation, id);
            if !dest.is_file() {
                records.push((stage_record(staging, text)?, dest));
                stats.derivations_added += 1;
            }
        }
        for (id, (_, text)) in &received.realisations {
            let dest = self.layout.record_path(RecordKind::Realisation, id);
            if dest.is_file() {
                // A local realisation may hold content this archive withholds.
                stats.realisations_kept += 1;
            } else {
                records.push((stage_record(staging, text)?, dest));
                stats.realisations_added += 1;
            }
        }
        stats.objects_present = received.objects.len() as u64 - staged.len() as u64;
        if staged.is_empty() && records.is_empty() {
            for sets in &received.path_sets {
                self.merge_path_sets(sets)?;
            }
            return Ok(stats);
        }
        // One barrier for every staged byte, then the renames, then another
        // barrier so the renames themselves are durable when we return.
        durable::sync_filesystem(staging)?;
        let added: Vec<(bool, u64)> = staged
            .into_par_iter()
            .map(|s| {
                let size = s.size;
                object::commit(&self.layout, s).map(|new| (new, size))
            })
            .collect::<Result<_>>()?;
        for (new, size) in added {
            if new {
                stats.objects_added += 1;
                stats.bytes_added += size;
            } else {
                stats.objects_present += 1;
            }
        }
        for (temp, dest) in records {
            temp.persist(&dest).map_err(|e| e.error).at(&dest)?;
        }
        // Path sets last: one names a realisation only to speed up lookups.
        for sets in &received.path_sets {
            self.merge_path_sets(sets)?;
        }
        durable::sync_filesystem(staging)?;
        Ok(stats)
    }
}

/// The reading thread's end of the channel to the hashing thread.
struct Pipe {
    tx: SyncSender<Msg>,
    back: Receiver<Vec<u8>>,
}

impl Pipe {
    /// A `CHUNK`-sized buffer, reused when the hashing thread returned one.
    fn buffer(&self) -> Vec<u8> {
        self.back.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK])
    }
}

/// Hashes (and writes, when there is a file) each object, checking its digest.
fn hash_worker(rx: Receiver<Msg>, back: SyncSender<Vec<u8>>) -> Result<Vec<Staged>> {
    let mut staged = Vec::new();
    let mut current: Option<(String, Digest, blake3::Hasher, Option<NamedTempFile>, u64)> = None;
    for msg in rx {
        match msg {
            Msg::Begin {
                entry,
                expected,
                file,
            } => current = Some((entry, expected, Kind::Object.hasher(), file, 0)),
            Msg::Data(buf, len) => {
                let (_, _, hasher, file, size) = current.as_mut().expect("Begin precedes Data");
                hasher.update(&buf[..len]);
                if let Some(f) = file {
                    f.write_all(&buf[..len]).at(f.path())?;
                    let before = *size / WRITEBACK_EVERY;
                    if (*size + len as u64) / WRITEBACK_EVERY != before {
                        durable::start_writeback(f.as_file());
                    }
                }
                *size += len as u64;
                // The reader makes a new buffer if this one is not back in time.
                let _ = back.try_send(buf);
            }
            Msg::End => {
                let (entry, expected, hasher, file, size) =
                    current.take().expect("Begin precedes End");
                let actual: Digest = hasher.finalize().into();
                if actual != expected {
                    return Err(Error::ArchiveMismatch {
                        entry,
                        expected,
                        actual,
                    });
                }
                if let Some(f) = file {
                    durable::start_writeback(f.as_file());
                    staged.push(Staged {
                        temp: f.into_temp_path(),
                        digest: actual,
                        size,
                    });
                }
            }
        }
    }
    Ok(staged)
}

fn send(tx: &SyncSender<Msg>, msg: Msg) -> Result<()> {
    // The worker only hangs up after refusing an object; its error wins.
    tx.send(msg)
        .map_err(|_| Error::archive(STREAM, "object check stopped"))
}

fn read_index<R: Read>(entry: &mut tar::Entry<'_, R>, opts: &ImportOptions) -> Result<Index> {
    let size = entry.size();
    let text = read_text(entry, INDEX, size)?;
    let index: Index = toml::from_str(&text)
        .map_err(|e| Error::archive(INDEX, format!("unreadable index: {e}")))?;
    if index.format != ARCHIVE_FORMAT {
        return Err(Error::archive(
            INDEX,
            format!(
                "archive format {}, but this cairn reads format {ARCHIVE_FORMAT}",
                index.format
            ),
        ));
    }
    if index.entries.len() as u64 > opts.max_entries {
        return Err(Error::archive(
            INDEX,
            format!(
                "{} entries, more than the limit of {}",
                index.entries.len(),
                opts.max_entries
            ),
        ));
    }
    let mut previous: Option<&str> = None;
    for IndexEntry { path, size } in &index.entries {
        let name = EntryName::parse(path.as_bytes()).map_err(|why| Error::archive(path, why))?;
        if previous.is_some_and(|p| p >= path.as_str()) {
            return Err(Error::archive(
                path,
                "the index is not sorted or lists an entry twice",
            ));
        }
        previous = Some(path);
        let limit = match name {
            EntryName::Object(_) => opts.max_object_size,
            _ => MAX_RECORD_SIZE,
        };
        if *size > limit {
            return Err(Error::archive(
                path,
                format!("declares {size} bytes, more than the limit of {limit}"),
            ));
        }
    }
    Ok(index)
}

/// Only regular files: links, devices, FIFOs and directories are refused.
fn check_entry_type<R: Read>(entry: &tar::Entry<'_, R>, shown: &str) -> Result<()> {
    let t = entry.header().entry_type();
    let what = match t {
        tar::EntryType::Regular => return Ok(()),
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a FIFO",
        tar::EntryType::Directory => "a directory",
        _ => "not a regular file",
    };
    Err(Error::archive(
        shown,
        format!("{what}; archives hold regular files only"),
    ))
}

fn entry_path<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    String::from_utf8_lossy(&entry.path_bytes()).into_owned()
}

fn read_text(entry: &mut impl Read, shown: &str, size: u64) -> Result<String> {
    if size > MAX_RECORD_SIZE {
        return Err(Error::archive(
            shown,
            format!("declares {size} bytes, more than the limit of {MAX_RECORD_SIZE}"),
        ));
    }
    let mut buf = vec![0u8; size as usize];
    read_full(entry, &mut buf, shown, size)?;
    String::from_utf8(buf).map_err(|_| Error::archive(shown, "not UTF-8"))
}

/// Fills `buf`, or fails: a short read means the stream ended mid-entry.
fn read_full(r: &mut impl Read, buf: &mut [u8], shown: &str, size: u64) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(Error::archive(
                    shown,
                    format!("truncated: the stream ended inside this {size}-byte entry"),
                ));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(stream_error(e)),
        }
    }
    Ok(())
}

/// Reads what follows the tar's end, so the zstd frame (and its checksum)
/// is checked to the end; refuses more than padding.
fn drain_end(mut rest: impl Read) -> Result<()> {
    let n =
        io::copy(&mut (&mut rest).take(MAX_TRAILING + 1), &mut io::sink()).map_err(stream_error)?;
    if n > MAX_TRAILING {
        return Err(Error::archive(
            STREAM,
            "unexpected data after the end of the archive",
        ));
    }
    Ok(())
}

fn stage_record(staging: &Path, text: &str) -> Result<TempPath> {
    let mut f = durable::temp_file(staging, ".rec-", RECORD_MODE)?;
    f.write_all(text.as_bytes()).at(f.path())?;
    Ok(f.into_temp_path())
}

fn check_canonical(shown: &str, text: &str, canonical: &str) -> Result<()> {
    if text != canonical {
        return Err(Error::archive(shown, "record is not in canonical form"));
    }
    Ok(())
}

fn record_error(shown: &str, e: Error) -> Error {
    match e {
        Error::Corrupt {
            expected, actual, ..
        } => Error::ArchiveMismatch {
            entry: shown.to_string(),
            expected,
            actual,
        },
        Error::BadRecord { reason, .. } => Error::archive(shown, reason),
        other => other,
    }
}

fn stream_error(e: io::Error) -> Error {
    Error::archive(STREAM, format!("unreadable (corrupt or truncated): {e}"))
}
