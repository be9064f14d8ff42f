//! The tracer: `cairn-trace`, a static ptrace + seccomp-BPF supervisor
//! (source in `supervisor/`, built by `build.rs`, embedded here), installed
//! on demand where an executor can run it, and the parser of what it writes.
//!
//! Trace file format (version 1), one line each:
//! - a header: `cairn-trace 1`, or `untraced\tREASON` when the program ran
//!   without tracing (ptrace or seccomp refused, no `/proc`) or made calls
//!   the supervisor does not decode (another ABI: 32-bit, x32);
//! - then events `OP\tEXISTED\tPATH`: OP is `read`, `write`, `stat`, `list` or
//!   `exec`; EXISTED is `1` if the path existed (for `write`: before the
//!   call), `0` if the lookup found nothing; PATH is relative to the root,
//!   `/`-separated, empty for the root itself, with `\\`, `\t`, `\n` and
//!   `\xHH` (a byte that is not valid UTF-8) escaped.
//!
//! The supervisor writes the file under a temporary name and renames it, so a
//! trace file is whole or absent.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The `cairn-trace` executable for the target cairn was built for.
pub const SUPERVISOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cairn-trace"));

/// Writes the supervisor into `dir` (once: the name holds its hash) and
/// returns its path. Concurrent installs race harmlessly: each renames a
/// complete file over the same name.
pub fn install(dir: &Path) -> io::Result<PathBuf> {
    if SUPERVISOR.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "cairn's tracer runs on Linux only",
        ));
    }
    let hash = blake3::hash(SUPERVISOR).to_hex();
    let path = dir.join(format!("cairn-trace-{}", &hash[..16]));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(SUPERVISOR)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

/// What an action did with the paths of its workspace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    /// Why it ran without tracing, or why its trace cannot be used (then
    /// `events` is empty): its observation set is every visible file.
    pub untraced: Option<String>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    pub op: Op,
    /// Relative to the root, `/`-separated, no leading `/`; "" is the root.
    pub path: String,
    /// For `Write`: whether the path existed before the call.
    pub existed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Content read: opened for reading (mmap goes through an open), a
    /// symlink's target read, the old name of a hard link or a rename, a file
    /// opened for writing without `O_TRUNC` (its content is kept).
    Read,
    /// Created, opened for writing, truncated, renamed from or to, removed,
    /// made a directory, its metadata changed. `existed` is whether the path
    /// was there before the call (the supervisor looks, at the call's entry).
    Write,
    /// Metadata or existence only: the stat family, access, chdir, an open
    /// of a directory or with `O_PATH`, a readlink of something not a link.
    Stat,
    /// Its entries listed (getdents).
    List,
    /// Executed (execve).
    Exec,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "read" => Op::Read,
            "write" => Op::Write,
            "stat" => Op::Stat,
            "list" => Op::List,
            "exec" => Op::Exec,
            _ => return None,
        })
    }
}

/// Reads and parses the trace file at `path`. A file that is missing (the
/// supervisor died before writing it) or unreadable reads as untraced.
pub fn load(path: &Path) -> Trace {
    match std::fs::read(path) {
        Ok(bytes) => parse(&String::from_utf8_lossy(&bytes)),
        Err(e) => Trace {
            untraced: Some(format!("no trace at {}: {e}", path.display())),
            events: Vec::new(),
        },
    }
}

/// Parses a trace file. Text without a known header (empty, another
/// version) reads as untraced, so that it can never pass for "looked at
/// nothing"; lines that are not events are skipped. A missing file (the
/// supervisor died before it wrote one) is the caller's to treat likewise.
pub fn parse(text: &str) -> Trace {
    let mut lines = text.lines();
    let untraced = match lines.next() {
        Some("cairn-trace 1") => None,
        Some(h) if h.starts_with("untraced\t") => {
            Some(String::from_utf8_lossy(&unescape(&h["untraced\t".len()..])).into_owned())
        }
        Some(h) => Some(format!("unknown trace header {h:?}")),
        None => Some("empty trace file".into()),
    };
    if untraced.is_some() {
        return Trace {
            untraced,
            events: Vec::new(),
        };
    }
    let events = lines
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let op = Op::parse(fields.next()?)?;
            let existed = match fields.next()? {
                "0" => false,
                "1" => true,
                _ => return None,
            };
            let path = String::from_utf8_lossy(&unescape(fields.next()?)).into_owned();
            Some(Event { op, path, existed })
        })
        .collect();
    Trace { untraced, events }
}

fn unescape(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'\\')) => (out.push(b'\\'), i += 2),
            (b'\\', Some(b't')) => (out.push(b'\t'), i += 2),
            (b'\\', Some(b'n')) => (out.push(b'\n'), i += 2),
            (b'\\', Some(b'x')) => match s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => (out.push(b), i += 4),
                None => (out.push(b'\\'), i += 1),
            },
            (b, _) => (out.push(b), i += 1),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: Op, existed: bool, path: &str) -> Event {
        Event {
            op,
            path: path.into(),
            existed,
        }
    }

    #[test]
    fn parses_events_and_undoes_escapes() {
        let t = parse(
            "cairn-trace 1\nread\t1\tanalysis/x.py\nstat\t0\tno\\tpe\\nx\\\\y\nlist\t1\t\nwrite\t0\t\\xff.csv\nbogus\t1\tz\nexec\t1",
        );
        assert_eq!(t.untraced, None);
        assert_eq!(
            t.events,
            vec![
                ev(Op::Read, true, "analysis/x.py"),
                ev(Op::Stat, false, "no\tpe\nx\\y"),
                ev(Op::List, true, ""),
                ev(Op::Write, false, "\u{fffd}.csv"),
            ]
        );
    }

    #[test]
    fn an_untraced_header_gives_the_reason() {
        let t = parse("untraced\tPTRACE_TRACEME: Operation not permitted (os error 1)\n");
        assert_eq!(
            t.untraced.as_deref(),
            Some("PTRACE_TRACEME: Operation not permitted (os error 1)")
        );
        assert!(t.events.is_empty());
    }

    #[test]
    fn a_trace_without_a_known_header_reads_as_untraced() {
        for text in ["", "cairn-trace 2\nread\t1\tx\n", "read\t1\tx\n"] {
            let t = parse(text);
            assert!(t.untraced.is_some(), "{text:?}");
            assert!(t.events.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn a_missing_trace_file_reads_as_untraced() {
        let dir = tempfile::tempdir().unwrap();
        let t = load(&dir.path().join("trace"));
        assert!(t.untraced.unwrap().starts_with("no trace at"));
        std::fs::write(dir.path().join("trace"), "cairn-trace 1\nlist\t1\t\n").unwrap();
        assert_eq!(
            load(&dir.path().join("trace")).events,
            vec![ev(Op::List, true, "")]
        );
    }

    #[test]
    fn install_writes_one_executable_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = install(dir.path()).unwrap();
        let b = install(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), SUPERVISOR);
        let mode = std::fs::metadata(&a).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
