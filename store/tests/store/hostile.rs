//! Hostile archives, built here byte by byte: each is refused with a clear
//! error, and nothing is written outside the store's `tmp/` (which is left
//! empty), nor beside the store.

use std::fs;

use cairn_store::{Digest, Error, ExportOptions, ImportOptions, Kind};
use tar::EntryType;

use crate::support::{Fixture, build, derivation, list, snapshot, snapshot_outside_tmp};

/// A tar stream whose headers say exactly what a test wants, whatever the
/// `tar` crate's builder would normally refuse.
struct Raw(Vec<u8>);

impl Raw {
    fn new() -> Raw {
        Raw(Vec::new())
    }

    /// A cairn index listing `entries` (path, size).
    fn index(self, entries: &[(&str, u64)]) -> Raw {
        let mut text = String::from("format = 2\n");
        if entries.is_empty() {
            text.push_str("entries = []\n");
        }
        for (path, size) in entries {
            text.push_str(&format!("\n[[entries]]\npath = {path:?}\nsize = {size}\n"));
        }
        self.file(b"cairn-archive.toml", text.as_bytes())
    }

    fn file(self, name: &[u8], data: &[u8]) -> Raw {
        self.entry(name, EntryType::Regular, data, data.len() as u64, None)
    }

    fn entry(
        mut self,
        name: &[u8],
        kind: EntryType,
        data: &[u8],
        declared: u64,
        link: Option<&[u8]>,
    ) -> Raw {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(kind);
        h.set_size(declared);
        h.set_mode(0o444);
        h.set_mtime(0);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// A PAX extended header overriding the next entry's path.
    fn pax_path(self, path: &str) -> Raw {
        let record = |len: usize| format!("{len} path={path}\n");
        let mut len = record(0).len();
        while record(len).len() != len {
            len = record(len).len();
        }
        let body = record(len);
        self.entry(
            b"PaxHeaders/x",
            EntryType::XHeader,
            body.as_bytes(),
            body.len() as u64,
            None,
        )
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        zstd::encode_all(&self.0[..], 3).unwrap()
    }
}

fn obj(content: &[u8]) -> (Digest, String) {
    let d = Kind::Object.digest(content);
    let path = format!("objects/{}", d.to_hex());
    (d, path)
}

/// Imports `archive` into a store that already holds a little, and checks
/// that it is refused with a message containing `expect`, and that nothing
/// changed outside `tmp/`, `tmp/` is empty, and beside the store nothing moved.
fn refused(archive: &[u8], opts: &ImportOptions, expect: &str) -> Error {
    let f = Fixture::new();
    build(
        &f.store,
        "existing",
        &[("output/x.csv", b"already here", "moderately_sensitive")],
    );
    let sibling = f.beside("sibling");
    fs::create_dir(&sibling).unwrap();
    fs::write(sibling.join("keep.txt"), "keep").unwrap();
    let store_before = snapshot_outside_tmp(&f.root());
    let sibling_before = snapshot(&sibling);

    let err = f.store.import_with(archive, opts).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(expect), "expected {expect:?} in: {msg}");
    assert_eq!(snapshot_outside_tmp(&f.root()), store_before, "{msg}");
    assert!(list(&f.root().join("tmp")).is_empty(), "{msg}");
    assert_eq!(snapshot(&sibling), sibling_before, "{msg}");
    assert_eq!(list(f.dir.path()), ["sibling", "store"], "{msg}");
    err
}

fn check(archive: &[u8], expect: &str) -> Error {
    refused(archive, &ImportOptions::default(), expect)
}

#[test]
fn path_traversal_is_refused() {
    let (_, good) = obj(b"good");
    for name in [
        "objects/../../sibling/evil".to_string(),
        "../sibling/evil".to_string(),
        format!("{good}/../../../../sibling/evil"),
    ] {
        let a = Raw::new()
            .index(&[(&good, 4)])
            .file(name.as_bytes(), b"evil")
            .finish();
        check(&a, "'..' component");
    }
}

#[test]
fn an_absolute_path_is_refused() {
    let (_, good) = obj(b"good");
    let a = Raw::new()
        .index(&[(&good, 4)])
        .file(b"/tmp/cairn-evil", b"evil")
        .finish();
    check(&a, "absolute path");
}

#[test]
fn a_pax_path_cannot_smuggle_a_traversal() {
    let (_, good) = obj(b"good");
    let a = Raw::new()
        .index(&[(&good, 4)])
        .pax_path("../../sibling/evil")
        .file(good.as_bytes(), b"good")
        .finish();
    check(&a, "'..' component");
}

#[test]
fn a_symlink_escaping_the_store_is_refused() {
    let (_, good) = obj(b"good");
    let a = Raw::new()
        .index(&[(&good, 0)])
        .entry(
            good.as_bytes(),
            EntryType::Symlink,
            b"",
            0,
            Some(b"../../sibling"),
        )
        .finish();
    check(&a, "a symbolic link; archives hold regular files only");
}

#[test]
fn a_hardlink_is_refused() {
    let (_, good) = obj(b"good");
    let a = Raw::new()
        .index(&[(&good, 0)])
        .entry(
            good.as_bytes(),
            EntryType::Link,
            b"",
            0,
            Some(b"/etc/passwd"),
        )
        .finish();
    check(&a, "a hard link");
}

#[test]
fn a_device_node_is_refused() {
    let (_, good) = obj(b"good");
    for (kind, what) in [
        (EntryType::Char, "a character device"),
        (EntryType::Block, "a block device"),
        (EntryType::Fifo, "a FIFO"),
        (EntryType::Directory, "a directory"),
    ] {
        let a = Raw::new()
            .index(&[(&good, 0)])
            .entry(good.as_bytes(), kind, b"", 0, None)
            .finish();
        check(&a, what);
    }
}

#[test]
fn a_huge_declared_size_is_refused_before_reading() {
    let (_, good) = obj(b"good");
    let huge = 1u64 << 40;
    let in_index = Raw::new()
        .index(&[(&good, huge)])
        .entry(good.as_bytes(), EntryType::Regular, b"good", huge, None)
        .finish();
    check(&in_index, "more than the limit");

    // The header lies about its size to an honest-looking index.
    let in_header = Raw::new()
        .index(&[(&good, 4)])
        .entry(good.as_bytes(), EntryType::Regular, b"good", huge, None)
        .finish();
    check(&in_header, &format!("declares {huge} bytes, the index 4"));

    // Below the default limit but above the caller's.
    let content = vec![1u8; 5000];
    let (_, big) = obj(&content);
    let a = Raw::new()
        .index(&[(&big, 5000)])
        .file(big.as_bytes(), &content)
        .finish();
    let opts = ImportOptions {
        max_object_size: 4096,
        ..ImportOptions::default()
    };
    refused(
        &a,
        &opts,
        "declares 5000 bytes, more than the limit of 4096",
    );
}

#[test]
fn too_many_entries_are_refused() {
    let entries: Vec<(String, u64)> = (0..5u8).map(|i| (obj(&[i]).1, 1)).collect();
    let listed: Vec<(&str, u64)> = entries.iter().map(|(p, n)| (p.as_str(), *n)).collect();
    let a = Raw::new().index(&listed).finish();
    let opts = ImportOptions {
        max_entries: 4,
        ..ImportOptions::default()
    };
    refused(&a, &opts, "5 entries, more than the limit of 4");
}

/// A genuine archive with two objects and a realisation.
fn genuine() -> Vec<u8> {
    let f = Fixture::new();
    let id = build(
        &f.store,
        "a",
        &[
            ("output/a.bin", &vec![3u8; 300_000], "moderately_sensitive"),
            ("output/b.bin", &vec![4u8; 300_000], "moderately_sensitive"),
        ],
    );
    let mut out = Vec::new();
    f.store
        .export(&[id], &ExportOptions::default(), &mut out)
        .unwrap();
    out
}

#[test]
fn a_truncated_zstd_stream_is_refused() {
    let a = genuine();
    for cut in [a.len() - 1, a.len() - 9, a.len() / 2, 20] {
        let err = check(&a[..cut], "");
        let msg = err.to_string();
        assert!(
            msg.contains("truncated") || msg.contains("unreadable"),
            "cut at {cut}: {msg}"
        );
    }
}

#[test]
fn a_truncation_between_entries_is_caught_by_the_index() {
    let (_, one) = obj(b"one");
    let (_, two) = obj(b"two");
    let mut listed = [(one.as_str(), 3), (two.as_str(), 3)];
    listed.sort();
    let a = Raw::new()
        .index(&listed)
        .file(
            listed[0].0.as_bytes(),
            if listed[0].0 == one { b"one" } else { b"two" },
        )
        .finish();
    check(
        &a,
        "listed in the index but absent: the archive is truncated",
    );
}

#[test]
fn a_mismatched_object_hash_is_refused() {
    let (_, first) = obj(b"first, and fine");
    let (_, claimed) = obj(b"what the name promises");
    let mut listed = [(first.as_str(), 15), (claimed.as_str(), 9)];
    listed.sort();
    let mut raw = Raw::new().index(&listed);
    for (name, _) in listed {
        let data: &[u8] = if name == first {
            b"first, and fine"
        } else {
            b"malicious"
        };
        raw = raw.file(name.as_bytes(), data);
    }
    let err = check(&raw.finish(), "content hashes to");
    assert!(matches!(err, Error::ArchiveMismatch { .. }), "{err}");
}

#[test]
fn a_record_filed_under_the_wrong_id_is_refused() {
    let d = derivation("a", "1");
    let text = d.to_canonical();
    let wrong = Kind::Derivation.digest(b"another");
    let name = format!("drv/{}.toml", wrong.to_hex());
    let a = Raw::new()
        .index(&[(&name, text.len() as u64)])
        .file(name.as_bytes(), text.as_bytes())
        .finish();
    check(&a, "expected digest");
}

#[test]
fn a_realisation_with_an_escaping_output_path_is_refused() {
    let f = Fixture::new();
    let id = build(
        &f.store,
        "a",
        &[("output/a.csv", b"x", "moderately_sensitive")],
    );
    let r = f.store.realisation(&id).unwrap().unwrap();
    let text = r.to_canonical().replace("output/a.csv", "../../a.csv");
    let drv = f
        .store
        .derivation(&r.derivation)
        .unwrap()
        .unwrap()
        .to_canonical();
    let (_, x) = obj(b"x");
    let dname = format!("drv/{}.toml", r.derivation.to_hex());
    let rname = format!("real/{}.toml", id.to_hex());
    let a = Raw::new()
        .index(&[
            (&dname, drv.len() as u64),
            (&x, 1),
            (&rname, text.len() as u64),
        ])
        .file(dname.as_bytes(), drv.as_bytes())
        .file(x.as_bytes(), b"x")
        .file(rname.as_bytes(), text.as_bytes())
        .finish();
    check(&a, "'..' component");
}

#[test]
fn entries_that_are_not_cairn_entries_are_refused() {
    let (_, good) = obj(b"good");
    let a = Raw::new()
        .index(&[(&good, 4)])
        .file(b"etc/passwd", b"root")
        .finish();
    check(&a, "not a cairn archive entry");

    let unlisted = Raw::new()
        .index(&[])
        .file(good.as_bytes(), b"good")
        .finish();
    check(&unlisted, "not listed in the archive's index");

    let no_index = Raw::new().file(good.as_bytes(), b"good").finish();
    check(&no_index, "is this a cairn archive?");

    check(b"not zstd at all", "unreadable");
}

#[test]
fn trailing_garbage_after_the_archive_is_refused() {
    let (_, good) = obj(b"good");
    let mut tar = Vec::new();
    tar.extend(
        zstd::decode_all(
            &Raw::new()
                .index(&[(&good, 4)])
                .file(good.as_bytes(), b"good")
                .finish()[..],
        )
        .unwrap(),
    );
    tar.extend(std::iter::repeat_n(0xffu8, 2 << 20));
    let a = zstd::encode_all(&tar[..], 1).unwrap();
    check(&a, "unexpected data after the end of the archive");
}
