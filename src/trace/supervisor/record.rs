//! The set of events and the file it is written to.
//!
//! Format (version 1): a header line, `cairn-trace 1`, or `untraced\tREASON`
//! when the program ran without tracing; then one event per line,
//! `OP\tEXISTED\tPATH`, with OP one of `read`, `write`, `stat`, `list`,
//! `exec`, EXISTED `0` or `1`, and PATH relative to the root (empty for the
//! root itself). In PATH a backslash is written `\\`, a tab `\t`, a newline
//! `\n`, and a byte that is not part of valid UTF-8 `\xHH`.

use std::collections::HashSet;
use std::io::Write;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Stat,
    List,
    Exec,
}

impl Op {
    fn name(self) -> &'static [u8] {
        match self {
            Op::Read => b"read",
            Op::Write => b"write",
            Op::Stat => b"stat",
            Op::List => b"list",
            Op::Exec => b"exec",
        }
    }
}

/// Events in the order first seen, each once.
pub struct Events {
    seen: HashSet<Vec<u8>>,
    order: Vec<Vec<u8>>,
    line: Vec<u8>,
}

impl Events {
    pub fn new() -> Self {
        Events {
            seen: HashSet::new(),
            order: Vec::new(),
            line: Vec::with_capacity(256),
        }
    }

    pub fn add(&mut self, op: Op, existed: bool, rel: &[u8]) {
        self.line.clear();
        self.line.extend_from_slice(op.name());
        self.line
            .extend_from_slice(if existed { b"\t1\t" } else { b"\t0\t" });
        escape(rel, &mut self.line);
        self.line.push(b'\n');
        // Only a new event allocates.
        if !self.seen.contains(self.line.as_slice()) {
            self.seen.insert(self.line.clone());
            self.order.push(self.line.clone());
        }
    }

    pub fn write(&self, out: &mut impl Write, untraced: Option<&str>) -> std::io::Result<()> {
        match untraced {
            None => out.write_all(b"cairn-trace 1\n")?,
            Some(reason) => {
                let mut line = b"untraced\t".to_vec();
                escape(reason.as_bytes(), &mut line);
                line.push(b'\n');
                out.write_all(&line)?;
            }
        }
        // Events of a partial trace would pass for all there was to see.
        if untraced.is_none() {
            for line in &self.order {
                out.write_all(line)?;
            }
        }
        out.flush()
    }
}

fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for chunk in bytes.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                _ => out.push(b),
            }
        }
        for &b in chunk.invalid() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_escaped_and_kept_once_in_order() {
        let mut e = Events::new();
        e.add(Op::Read, true, b"b\tc\nd\\e");
        e.add(Op::Stat, false, b"\xffz");
        e.add(Op::Read, true, b"b\tc\nd\\e");
        e.add(Op::List, true, b"");
        let mut out = Vec::new();
        e.write(&mut out, None).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cairn-trace 1\nread\t1\tb\\tc\\nd\\\\e\nstat\t0\t\\xffz\nlist\t1\t\n"
        );
        let mut out = Vec::new();
        e.write(&mut out, Some("no\tptrace")).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "untraced\tno\\tptrace\n");
    }
}
