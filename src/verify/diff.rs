//! Where two versions of an output first differ: the line of a text file,
//! the row and column of a CSV file, the byte offset of anything else.

use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Text and CSV files larger than this are compared byte by byte.
const MAX_TEXT: u64 = 64 << 20;

/// The first difference between a reference file and a rebuilt one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FirstDifference {
    /// Line `line` (1-based); `None` where one file has no such line.
    Line {
        line: usize,
        reference: Option<String>,
        rebuilt: Option<String>,
    },
    /// Data row `row` (1-based, the header is row 0), starting on line
    /// `line`, column `column` (1-based) named `header`.
    Csv {
        row: usize,
        line: usize,
        column: usize,
        header: Option<String>,
        reference: Option<String>,
        rebuilt: Option<String>,
    },
    /// The first differing byte (one file may end there).
    Byte { offset: u64 },
}

impl std::fmt::Display for FirstDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(s) => format!("{:?}", clip(s)),
            None => "(none)".to_string(),
        };
        match self {
            FirstDifference::Line {
                line,
                reference,
                rebuilt,
            } => write!(f, "line {line}: {} vs {}", show(reference), show(rebuilt)),
            FirstDifference::Csv {
                row,
                line,
                column,
                header,
                reference,
                rebuilt,
            } => {
                let at = if *row == 0 {
                    "header".to_string()
                } else {
                    format!("row {row}")
                };
                let name = header
                    .as_ref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                write!(
                    f,
                    "{at} (line {line}), column {column}{name}: {} vs {}",
                    show(reference),
                    show(rebuilt)
                )
            }
            FirstDifference::Byte { offset } => write!(f, "byte {offset}"),
        }
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 80 {
        let head: String = s.chars().take(77).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

/// Where `reference` and `rebuilt` first differ (`None`: they are equal).
/// `name` (the output's path) says whether it is a CSV file.
pub fn first_difference(
    name: &str,
    reference: &Path,
    rebuilt: &Path,
) -> Result<Option<FirstDifference>> {
    let small = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() <= MAX_TEXT);
    if small(reference) && small(rebuilt) {
        let a =
            std::fs::read(reference).with_context(|| format!("reading {}", reference.display()))?;
        let b = std::fs::read(rebuilt).with_context(|| format!("reading {}", rebuilt.display()))?;
        if let (Some(a), Some(b)) = (as_text(&a), as_text(&b)) {
            let found = if name.to_ascii_lowercase().ends_with(".csv") {
                csv_difference(a, b)
            } else {
                line_difference(a, b)
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        return byte_difference(&mut &a[..], &mut &b[..]);
    }
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(BufReader::new)
            .with_context(|| format!("reading {}", p.display()))
    };
    byte_difference(&mut open(reference)?, &mut open(rebuilt)?)
}

fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

fn line_difference(a: &str, b: &str) -> Option<FirstDifference> {
    let (mut la, mut lb) = (a.split_inclusive('\n'), b.split_inclusive('\n'));
    let mut line = 0;
    loop {
        line += 1;
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                let trim = |s: &str| s.strip_suffix('\n').unwrap_or(s).to_string();
                return Some(FirstDifference::Line {
                    line,
                    reference: x.map(trim),
                    rebuilt: y.map(trim),
                });
            }
        }
    }
}

fn csv_difference(a: &str, b: &str) -> Option<FirstDifference> {
    let (ra, rb) = (records(a), records(b));
    let header = ra.first().map(|(_, r)| r.clone()).unwrap_or_default();
    for i in 0..ra.len().max(rb.len()) {
        let (x, y) = (ra.get(i), rb.get(i));
        if x.map(|r| &r.1) == y.map(|r| &r.1) {
            continue;
        }
        let line = x.or(y).map(|r| r.0).unwrap_or(1);
        let empty = Vec::new();
        let (fx, fy) = (x.map_or(&empty, |r| &r.1), y.map_or(&empty, |r| &r.1));
        let column = (0..fx.len().max(fy.len()))
            .find(|&c| fx.get(c) != fy.get(c))
            .unwrap_or(0);
        return Some(FirstDifference::Csv {
            row: i,
            line,
            column: column + 1,
            header: header.get(column).cloned(),
            reference: x.and_then(|r| r.1.get(column).cloned()),
            rebuilt: y.and_then(|r| r.1.get(column).cloned()),
        });
    }
    None
}

/// CSV records as RFC 4180 reads them (quoted fields may hold commas,
/// doubled quotes and newlines), each with the line it starts on.
fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut line, mut start) = (1, 1);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut pending = false;
    while let Some(c) = chars.next() {
        pending = true;
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() => quoted = true,
            '\n' if quoted => {
                line += 1;
                field.push('\n');
            }
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            '\r' if !quoted && chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                out.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
                pending = false;
            }
            c => field.push(c),
        }
    }
    if pending {
        fields.push(field);
        out.push((start, fields));
    }
    out
}

fn byte_difference(a: &mut impl Read, b: &mut impl Read) -> Result<Option<FirstDifference>> {
    let (mut ba, mut bb) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let mut offset = 0u64;
    loop {
        let na = fill(a, &mut ba)?;
        let nb = fill(b, &mut bb)?;
        let n = na.min(nb);
        if let Some(i) = (0..n).find(|&i| ba[i] != bb[i]) {
            return Ok(Some(FirstDifference::Byte {
                offset: offset + i as u64,
            }));
        }
        if na != nb {
            return Ok(Some(FirstDifference::Byte {
                offset: offset + n as u64,
            }));
        }
        if na == 0 {
            return Ok(None);
        }
        offset += n as u64;
    }
}

/// Reads until `buf` is full or the input ends.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, a: &[u8], b: &[u8], expected: Option<&str>) {
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&pa, a).unwrap();
        std::fs::write(&pb, b).unwrap();
        let found = first_difference(name, &pa, &pb).unwrap();
        assert_eq!(found.map(|d| d.to_string()).as_deref(), expected, "{name}");
    }

    #[test]
    fn first_differences() {
        check("x.txt", b"a\nb\n", b"a\nb\n", None);
        check(
            "x.txt",
            b"a\nb\nc\n",
            b"a\nB\nc\n",
            Some(r#"line 2: "b" vs "B""#),
        );
        check("x.txt", b"a\n", b"a\nb\n", Some(r#"line 2: (none) vs "b""#));
        check(
            "t.csv",
            b"id,value\n1,10\n2,20\n",
            b"id,value\n1,10\n2,21\n",
            Some(r#"row 2 (line 3), column 2 (value): "20" vs "21""#),
        );
        check(
            "t.csv",
            b"id,note\n1,\"a,\nb\"\n2,x\n",
            b"id,note\n1,\"a,\nb\"\n2,y\n",
            Some(r#"row 2 (line 4), column 2 (note): "x" vs "y""#),
        );
        check(
            "t.csv",
            b"id,value\n1,10\n",
            b"id,total\n1,10\n",
            Some(r#"header (line 1), column 2 (value): "value" vs "total""#),
        );
        check("x.bin", b"\0\x01\x02", b"\0\x01\x03", Some("byte 2"));
        check("x.bin", b"\0\x01", b"\0\x01\x03", Some("byte 2"));
        check("x.txt", b"a\n", b"a\r\n", Some(r#"line 1: "a" vs "a\r""#));
    }
}
