//! Ingest and materialise: content in and out, stored once, read-only in
//! the store, never shared with a project by a hardlink.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use cairn_store::{Error, Kind, OutputEntry, OutputManifest};
use proptest::prelude::*;

use crate::support::{Fixture, Rng, list};

/// Big enough for the path that hashes on every core.
const BIG: usize = 9 << 20;

fn object_count(f: &Fixture) -> usize {
    let objects = f.root().join("objects-v1");
    list(&objects)
        .iter()
        .map(|fan| list(&objects.join(fan)).len())
        .sum()
}

#[test]
fn ingest_then_materialise_gives_the_same_bytes() {
    // One store for every case: content already stored must come out
    // right as well.
    let f = Fixture::new();
    let config = ProptestConfig::with_cases(48);
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..70_000),
        prop::bool::ANY,
    );
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&strategy, |(content, exec)| {
            let src = f.beside("src.bin");
            fs::write(&src, &content).unwrap();
            let mode = if exec { 0o700 } else { 0o600 };
            fs::set_permissions(&src, fs::Permissions::from_mode(mode)).unwrap();
            let got = f.store.ingest_file(&src).unwrap();
            prop_assert_eq!(got.digest, Kind::Object.digest(&content));
            prop_assert_eq!(got.size, content.len() as u64);
            prop_assert_eq!(got.mode, if exec { 0o755 } else { 0o644 });
            prop_assert_eq!(f.store.ingest_bytes(&content).unwrap(), got.digest);

            let entry = OutputEntry {
                object: got.digest,
                size: got.size,
                mode: got.mode,
                level: "moderately_sensitive".into(),
            };
            let dest = f.beside("project/output/out.bin");
            f.store.materialize_file(&entry, &dest).unwrap();
            prop_assert_eq!(fs::read(&dest).unwrap(), content);
            let meta = fs::metadata(&dest).unwrap();
            prop_assert_eq!(meta.permissions().mode() & 0o777, got.mode);
            Ok(())
        })
        .unwrap();
}

#[test]
fn objects_are_read_only_and_stored_once() {
    let f = Fixture::new();
    let a = f.beside("a");
    let b = f.beside("b");
    fs::write(&a, "same").unwrap();
    fs::write(&b, "same").unwrap();
    let da = f.store.ingest_file(&a).unwrap();
    let db = f.store.ingest_file(&b).unwrap();
    assert_eq!(da.digest, db.digest);
    assert_eq!(f.store.ingest_bytes(b"same").unwrap(), da.digest);
    assert_eq!(object_count(&f), 1);
    let path = f.store.object_path(&da.digest);
    assert!(path.starts_with(f.root().join("objects-v1")));
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        da.digest.to_hex()
    );
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o444);
    assert_eq!(
        meta.nlink(),
        1,
        "objects are copies, not links to the source"
    );
    assert!(list(&f.root().join("tmp")).is_empty());
}

#[test]
fn a_large_file_hashes_like_a_small_one() {
    let f = Fixture::new();
    let content = Rng::new(7).bytes(BIG + 3);
    let src = f.beside("big");
    fs::write(&src, &content).unwrap();
    let got = f.store.ingest_file(&src).unwrap();
    assert_eq!(got.digest, Kind::Object.digest(&content));
    assert_eq!(fs::read(f.store.object_path(&got.digest)).unwrap(), content);
    // The source is untouched.
    assert_eq!(fs::read(&src).unwrap(), content);
    assert!(list(&f.root().join("tmp")).is_empty());
}

#[test]
fn many_files_are_ingested_in_order() {
    let f = Fixture::new();
    let mut rng = Rng::new(1);
    let mut paths = Vec::new();
    let mut contents = Vec::new();
    for i in 0..40 {
        let content = if i == 39 {
            rng.bytes(BIG)
        } else {
            // A few duplicates among them.
            rng.bytes((i % 20) * 1000)
        };
        let p = f.beside(&format!("f{i}"));
        fs::write(&p, &content).unwrap();
        paths.push(p);
        contents.push(content);
    }
    let got = f.store.ingest_files(&paths).unwrap();
    for (g, c) in got.iter().zip(&contents) {
        assert_eq!(g.digest, Kind::Object.digest(c));
        assert_eq!(f.store.read_object(&g.digest).unwrap(), *c);
    }
    let distinct: std::collections::HashSet<_> = contents.iter().collect();
    assert_eq!(object_count(&f), distinct.len());
}

#[test]
fn a_batch_with_an_unreadable_file_commits_nothing() {
    let f = Fixture::new();
    let ok: Vec<PathBuf> = (0..12)
        .map(|i| {
            let p = f.beside(&format!("ok{i}"));
            fs::write(&p, format!("content {i}")).unwrap();
            p
        })
        .collect();
    let mut paths = ok.clone();
    paths.push(f.beside("absent"));
    let err = f.store.ingest_files(&paths).unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
    assert_eq!(object_count(&f), 0);
    assert!(list(&f.root().join("tmp")).is_empty());
}

#[test]
fn only_regular_files_enter_the_store() {
    let f = Fixture::new();
    let target = f.beside("target");
    fs::write(&target, "secret").unwrap();
    let link = f.beside("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = f.store.ingest_file(&link).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotAFile {
                kind: "symlink",
                ..
            }
        ),
        "{err}"
    );
    let err = f.store.ingest_file(f.dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotAFile {
                kind: "directory",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("only regular files"), "{err}");
    assert_eq!(object_count(&f), 0);
}

#[test]
fn materialised_files_are_copies_the_project_may_edit() {
    let f = Fixture::new();
    let got = f.store.ingest_bytes(b"a,b\n1,2\n").unwrap();
    let manifest = OutputManifest {
        files: BTreeMap::from([
            (
                "output/t.csv".to_string(),
                OutputEntry {
                    object: got,
                    size: 8,
                    mode: 0o644,
                    level: "moderately_sensitive".into(),
                },
            ),
            (
                "output/deep/run.sh".to_string(),
                OutputEntry {
                    object: got,
                    size: 8,
                    mode: 0o755,
                    level: "highly_sensitive".into(),
                },
            ),
        ]),
    };
    let project = f.beside("project");
    f.store.materialize(&manifest, &project).unwrap();
    let out = project.join("output/t.csv");
    let object = f.store.object_path(&got);
    assert_ne!(
        fs::metadata(&out).unwrap().ino(),
        fs::metadata(&object).unwrap().ino(),
        "never a hardlink"
    );
    assert_eq!(
        fs::metadata(project.join("output/deep/run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    // A script editing its output in place leaves the store alone.
    fs::write(&out, "edited").unwrap();
    assert_eq!(f.store.read_object(&got).unwrap(), b"a,b\n1,2\n");
    // Materialising again restores the edit.
    f.store.materialize(&manifest, &project).unwrap();
    assert_eq!(fs::read(&out).unwrap(), b"a,b\n1,2\n");
    let leftovers: Vec<_> = list(&project.join("output"))
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn materialise_refuses_paths_that_leave_the_project() {
    let f = Fixture::new();
    let got = f.store.ingest_bytes(b"x").unwrap();
    let manifest = OutputManifest {
        files: BTreeMap::from([(
            "../escape".to_string(),
            OutputEntry {
                object: got,
                size: 1,
                mode: 0o644,
                level: "moderately_sensitive".into(),
            },
        )]),
    };
    let project = f.beside("project");
    fs::create_dir(&project).unwrap();
    let err = f.store.materialize(&manifest, &project).unwrap_err();
    assert!(matches!(err, Error::UnsafePath { .. }), "{err}");
    assert!(!f.beside("escape").exists());
}

#[test]
fn materialise_notices_a_missing_or_damaged_object() {
    let f = Fixture::new();
    let got = f.store.ingest_bytes(b"hello").unwrap();
    let entry = |object| OutputEntry {
        object,
        size: 5,
        mode: 0o644,
        level: "moderately_sensitive".into(),
    };
    let missing = Kind::Object.digest(b"never");
    let err = f
        .store
        .materialize_file(&entry(missing), &f.beside("x"))
        .unwrap_err();
    assert!(matches!(err, Error::MissingObject { .. }), "{err}");

    let path = f.store.object_path(&got);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&path, "hello, damaged").unwrap();
    let err = f
        .store
        .materialize_file(&entry(got), &f.beside("y"))
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(!f.beside("y").exists());
}

#[test]
fn adopting_moves_files_from_tmp_and_copies_the_rest() {
    let f = Fixture::new();
    let scratch = f.store.scratch_dir("adopt-").unwrap();
    let mut rng = Rng::new(3);
    // Many files (one flush for the batch) and a large one, moved.
    let mut paths = Vec::new();
    let mut contents = Vec::new();
    for i in 0..12 {
        let content = if i == 11 {
            rng.bytes(BIG)
        } else {
            rng.bytes(100 + i)
        };
        let p = scratch.path().join(format!("out{i}"));
        fs::write(&p, &content).unwrap();
        paths.push(p);
        contents.push(content);
    }
    // Copied, not moved: outside tmp/, and a file with a second link.
    let outside = f.beside("outside");
    fs::write(&outside, "outside").unwrap();
    let linked = scratch.path().join("linked");
    fs::write(&linked, "linked").unwrap();
    let other_name = scratch.path().join("other-name");
    fs::hard_link(&linked, &other_name).unwrap();
    paths.push(outside.clone());
    contents.push(b"outside".to_vec());
    paths.push(linked.clone());
    contents.push(b"linked".to_vec());

    let got = f.store.adopt_files(&paths).unwrap();
    for (g, c) in got.iter().zip(&contents) {
        assert_eq!(g.digest, Kind::Object.digest(c));
        assert_eq!(g.size, c.len() as u64);
        assert_eq!(f.store.read_object(&g.digest).unwrap(), *c);
        let meta = fs::metadata(f.store.object_path(&g.digest)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o444);
        assert_eq!(meta.nlink(), 1);
    }
    for p in &paths[..12] {
        assert!(!p.exists(), "{} was moved into the store", p.display());
    }
    assert_eq!(fs::read(&outside).unwrap(), b"outside");
    assert_eq!(fs::read(&other_name).unwrap(), b"linked");
    // A second adoption of content the store has removes the file.
    let again = scratch.path().join("again");
    fs::write(&again, &contents[0]).unwrap();
    let got2 = f.store.adopt_files(std::slice::from_ref(&again)).unwrap();
    assert_eq!(got2[0].digest, got[0].digest);
    assert!(!again.exists());
    assert_eq!(object_count(&f), contents.len());
    drop(scratch);
    assert!(f.store.verify(&Default::default()).unwrap().is_clean());
}

#[test]
fn a_corrupt_object_never_reaches_its_destination_small_or_large() {
    for size in [100usize, 5 << 20] {
        let f = Fixture::new();
        let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let object = f.store.ingest_bytes(&content).unwrap();
        let path = f.store.object_path(&object);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let mut bad = content.clone();
        bad[size / 2] ^= 1;
        fs::write(&path, &bad).unwrap();
        let dest = f.beside("out/file.bin");
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::write(&dest, b"what the project had").unwrap();
        let entry = OutputEntry {
            object,
            size: size as u64,
            mode: 0o644,
            level: "moderately_sensitive".into(),
        };
        let err = f.store.materialize_file(&entry, &dest).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{size}: {err}");
        assert_eq!(fs::read(&dest).unwrap(), b"what the project had", "{size}");
        assert_eq!(
            list(dest.parent().unwrap()),
            vec!["file.bin"],
            "no temp file left"
        );
        assert!(!f.store.has_object(&object), "{size}: quarantined");
        assert_eq!(list(&f.root().join("quarantine")).len(), 1);
    }
}
