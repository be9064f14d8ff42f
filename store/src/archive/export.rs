//! Export: write a closure as a reproducible tar.zst.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::{ARCHIVE_FORMAT, EntryName, ExportOptions, ExportStats, INDEX, Index, IndexEntry};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layout::RecordKind;
use crate::record::{PATH_SETS_FORMAT, PathSets, to_canonical};
use crate::store::{Store, parse_derivation, parse_realisation, read_record};

/// zstd level: the `zstd -3` of the pipeline we are measured against.
const LEVEL: i32 = 3;

enum Source {
    Bytes(Vec<u8>),
    File(PathBuf, u64),
    /// Path sets gathered from the exported realisations, written canonically.
    Sets(PathSets),
}

impl Source {
    /// Turns gathered path sets into their bytes, once everything is known.
    fn settle(&mut self) {
        if let Source::Sets(s) = self {
            *self = Source::Bytes(to_canonical(s).into_bytes());
        }
    }

    fn size(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File(_, n) => *n,
            Source::Sets(_) => unreachable!("settled before the index is written"),
        }
    }
}

impl Store {
    /// Writes the closure of the realisations `keys` (each realisation, its
    /// derivation, that derivation's path sets, and the objects the
    /// realisation names, including its log) to `out` as a tar.zst. The
    /// same closure always gives the same bytes.
    pub fn export(
        &self,
        keys: &[Digest],
        opts: &ExportOptions,
        out: impl Write,
    ) -> Result<ExportStats> {
        let _shared = self.shared();
        let mut stats = ExportStats::default();
        let mut entries: BTreeMap<EntryName, Source> = BTreeMap::new();
        for key in keys {
            if entries.contains_key(&EntryName::Realisation(*key)) {
                continue;
            }
            let path = self.layout.record_path(RecordKind::Realisation, key);
            let text = read_record(&path)?.ok_or(Error::UnknownRealisation { key: *key })?;
            let r = parse_realisation(&path, key, &text)?;
            ensure_canonical(&path, &text, &to_canonical(&r))?;
            let id = &r.derivation;
            if let std::collections::btree_map::Entry::Vacant(slot) =
                entries.entry(EntryName::Derivation(*id))
            {
                let dpath = self.layout.record_path(RecordKind::Derivation, id);
                let dtext = read_record(&dpath)?.ok_or(Error::UnknownDerivation { id: *id })?;
                let drv = parse_derivation(&dpath, id, &dtext)?;
                ensure_canonical(&dpath, &dtext, &to_canonical(&drv))?;
                slot.insert(Source::Bytes(dtext.into_bytes()));
                stats.derivations += 1;
            }
            // Only the path sets of what is exported: one whose realisation
            // the reader lacks would only cost lookups.
            let sets = PathSets {
                format: PATH_SETS_FORMAT,
                derivation: *id,
                sets: Vec::new(),
            };
            let set = r.observations.path_set();
            let entry = entries
                .entry(EntryName::PathSets(*id))
                .or_insert_with(|| Source::Sets(sets));
            if let Source::Sets(s) = entry
                && !s.sets.contains(&set)
            {
                s.sets.push(set);
                s.sets.sort_by_key(to_canonical);
            }
            let outputs = r
                .outputs
                .files
                .values()
                .map(|e| (e.object, e.is_highly_sensitive()));
            for (object, sensitive) in outputs.chain(r.log.map(|l| (l, false))) {
                if sensitive && !opts.include_highly_sensitive {
                    stats.withheld += 1;
                    continue;
                }
                let opath = self.object_path(&object);
                match opath.symlink_metadata() {
                    Ok(m) if m.is_file() => {
                        entries.insert(EntryName::Object(object), Source::File(opath, m.len()));
                    }
                    // Withheld here already: nothing to share.
                    _ if sensitive => stats.withheld += 1,
                    _ => {
                        return Err(Error::MissingObject {
                            digest: object,
                            path: opath,
                        });
                    }
                }
            }
            entries.insert(
                EntryName::Realisation(*key),
                Source::Bytes(text.into_bytes()),
            );
            stats.realisations += 1;
        }

        entries.values_mut().for_each(Source::settle);
        let index = Index {
            format: ARCHIVE_FORMAT,
            entries: entries
                .iter()
                .map(|(name, src)| IndexEntry {
                    path: name.path(),
                    size: src.size(),
                })
                .collect(),
        };
        let mut counted = CountingWriter { inner: out, n: 0 };
        let archive_path = PathBuf::from("(archive)");
        let mut enc = zstd::stream::write::Encoder::new(&mut counted, LEVEL).at(&archive_path)?;
        // Multithreaded zstd output does not depend on the worker count, so
        // the archive stays byte-identical across machines.
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        enc.multithread(workers).at(&archive_path)?;
        enc.include_checksum(true).at(&archive_path)?;
        let mut tar = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, enc));
        let index = to_canonical(&index);
        append(&mut tar, INDEX, index.len() as u64, index.as_bytes())?;
        for (name, src) in &entries {
            match src {
                Source::Bytes(b) => append(&mut tar, &name.path(), b.len() as u64, &b[..])?,
                Source::Sets(_) => unreachable!("settled above"),
                Source::File(path, size) => {
                    let f = File::open(path).at(path)?;
                    let exact = ExactReader {
                        inner: f,
                        left: *size,
                        path: path.clone(),
                    };
                    append(&mut tar, &name.path(), *size, exact)?;
                    stats.objects += 1;
                    stats.object_bytes += size;
                }
            }
        }
        let enc = tar
            .into_inner()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .at(&archive_path)?;
        enc.finish().at(&archive_path)?;
        stats.archive_bytes = counted.n;
        Ok(stats)
    }
}

/// Appends a regular file with fixed metadata.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o444);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    tar.append_data(&mut header, path, data)
        .at(std::path::Path::new(path))
}

fn ensure_canonical(path: &std::path::Path, text: &str, canonical: &str) -> Result<()> {
    if text == canonical {
        return Ok(());
    }
    Err(Error::BadRecord {
        path: path.to_path_buf(),
        reason: "not in canonical form; run `cairn store verify`".into(),
    })
}

/// Reads exactly `left` bytes, failing if the file is shorter (it would
/// otherwise corrupt the tar stream silently).
struct ExactReader {
    inner: File,
    left: u64,
    path: PathBuf,
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while being exported", self.path.display()),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
