//! Export and import between stores: the identity on a closure, bytes that
//! depend only on the closure, and highly sensitive content left behind.

use std::fs;

use cairn_store::{Digest, ExportOptions, Store, VerifyOptions};
use proptest::prelude::*;

use crate::support::{Fixture, build, snapshot_outside_tmp};

/// Derivations with their outputs: (path, content, level) per file.
type Closure = Vec<Vec<(String, Vec<u8>, String)>>;

fn closures() -> impl Strategy<Value = Closure> {
    let level = prop::sample::select(vec![
        "moderately_sensitive".to_string(),
        "minimally_sensitive".to_string(),
        "highly_sensitive".to_string(),
    ]);
    let file = (
        "[a-z]{1,6}(/[a-z]{1,6})?\\.csv",
        prop::collection::vec(any::<u8>(), 0..3000),
        level,
    );
    prop::collection::vec(prop::collection::vec(file, 0..4), 1..4)
}

fn fill(store: &Store, closure: &Closure) -> Vec<Digest> {
    closure
        .iter()
        .enumerate()
        .map(|(i, files)| {
            let files: Vec<(&str, &[u8], &str)> = files
                .iter()
                .map(|(p, c, l)| (p.as_str(), c.as_slice(), l.as_str()))
                .collect();
            build(store, &format!("action_{i}"), &files)
        })
        .collect()
}

fn export(store: &Store, ids: &[Digest], sensitive: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let opts = ExportOptions {
        include_highly_sensitive: sensitive,
    };
    store.export(ids, &opts, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn export_then_import_is_the_identity(closure in closures()) {
        let a = Fixture::new();
        let ids = fill(&a.store, &closure);
        let archive = export(&a.store, &ids, true);

        let b = Fixture::new();
        let stats = b.store.import(&archive[..]).unwrap();
        prop_assert_eq!(stats.derivations_added, ids.len() as u64);
        prop_assert_eq!(stats.withheld, 0);
        let records = |s: &Store| {
            snapshot_outside_tmp(s.root())
                .into_iter()
                .filter(|(k, _)| k.starts_with("objects-v1/") || k.starts_with("drv-v1/")
                    || k.starts_with("real-v1/"))
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(records(&a.store), records(&b.store));
        for id in &ids {
            prop_assert_eq!(b.store.derivation(id).unwrap(), a.store.derivation(id).unwrap());
        }
        // The import's own export is the same archive, byte for byte.
        prop_assert_eq!(export(&b.store, &ids, true), archive.clone());
        prop_assert!(b.store.verify(&VerifyOptions::default()).unwrap().is_clean());

        // Importing again changes nothing.
        let before = snapshot_outside_tmp(b.store.root());
        let again = b.store.import(&archive[..]).unwrap();
        prop_assert_eq!(again.objects_added + again.derivations_added + again.realisations_added, 0);
        prop_assert_eq!(snapshot_outside_tmp(b.store.root()), before);
    }
}

#[test]
fn the_same_closure_always_gives_the_same_bytes() {
    let files: &[(&str, &[u8], &str)] = &[
        ("output/a.csv", b"a\n1\n", "moderately_sensitive"),
        ("output/b.csv", b"b\n2\n", "minimally_sensitive"),
    ];
    let one = Fixture::new();
    let id = build(&one.store, "a", files);
    // Another store, files ingested in another order.
    let two = Fixture::new();
    two.store.ingest_bytes(b"b\n2\n").unwrap();
    assert_eq!(build(&two.store, "a", files), id);
    let x = export(&one.store, &[id, id], false);
    assert_eq!(x, export(&two.store, &[id], false));
    assert_eq!(x, export(&one.store, &[id], false));

    // Sorted entries, fixed metadata.
    let tar = zstd::decode_all(&x[..]).unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    let mut names = Vec::new();
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.mode().unwrap(), 0o444);
        assert_eq!(
            (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
            (0, 0, 0)
        );
        assert_eq!(h.username().unwrap(), Some(""));
        assert_eq!(h.entry_type(), tar::EntryType::Regular);
        names.push(String::from_utf8(e.path_bytes().into_owned()).unwrap());
    }
    assert_eq!(names[0], "cairn-archive.toml");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 1 + 1 + 2 + 1 + 1, "{names:?}");
}

#[test]
fn highly_sensitive_content_stays_behind_unless_asked() {
    let a = Fixture::new();
    let id = build(
        &a.store,
        "extract",
        &[
            (
                "output/cohort.csv",
                b"patient,age\n1,40\n",
                "highly_sensitive",
            ),
            ("output/summary.csv", b"n\n1\n", "moderately_sensitive"),
        ],
    );
    let secret =
        a.store.realisation(&id).unwrap().unwrap().outputs.files["output/cohort.csv"].object;
    let archive = export(&a.store, &[id], false);
    let tar = zstd::decode_all(&archive[..]).unwrap();
    assert!(
        !tar.windows(11).any(|w| w == b"patient,age"),
        "highly sensitive bytes in the archive"
    );

    let b = Fixture::new();
    let stats = b.store.import(&archive[..]).unwrap();
    assert_eq!(stats.withheld, 1);
    assert!(!b.store.has_object(&secret));
    let report = b.store.verify(&VerifyOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.withheld.len(), 1);
    assert_eq!(report.withheld[0].output, "output/cohort.csv");
    // Re-exporting the import withholds it too, without failing.
    assert_eq!(export(&b.store, &[id], false), archive);

    let with = export(&a.store, &[id], true);
    let c = Fixture::new();
    assert_eq!(c.store.import(&with[..]).unwrap().withheld, 0);
    assert!(c.store.has_object(&secret));
}

#[test]
fn exporting_an_unknown_derivation_names_it() {
    let f = Fixture::new();
    let id = cairn_store::Kind::Derivation.digest(b"nothing");
    let err = f
        .store
        .export(&[id], &ExportOptions::default(), std::io::sink())
        .unwrap_err();
    assert!(err.to_string().contains(&id.to_hex()), "{err}");
}

#[test]
fn an_archive_file_round_trips_through_disk() {
    let a = Fixture::new();
    let id = build(
        &a.store,
        "a",
        &[("output/x.bin", &[7u8; 100_000], "moderately_sensitive")],
    );
    let path = a.beside("cache.tar.zst");
    let stats = a
        .store
        .export(
            &[id],
            &ExportOptions::default(),
            fs::File::create(&path).unwrap(),
        )
        .unwrap();
    assert_eq!(stats.archive_bytes, fs::metadata(&path).unwrap().len());
    assert_eq!(
        (stats.derivations, stats.realisations, stats.objects),
        (1, 1, 1)
    );
    let b = Fixture::new();
    let got = b.store.import(fs::File::open(&path).unwrap()).unwrap();
    assert_eq!((got.objects_added, got.bytes_added), (1, 100_000));
    assert!(b.store.realisation(&id).unwrap().is_some());
}
