//! Several processes writing to one store at once: the same content lands
//! once, and a derivation is built by one of them only.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cairn_store::{Kind, Store, VerifyOptions};

use crate::support::{Fixture, Rng, build, child, child_role, derivation, list, realise};

const WRITERS: usize = 4;
const TEST: &str = "concurrency::writers_in_several_processes_build_once";

fn sources(dir: &Path) -> Vec<PathBuf> {
    fs::create_dir_all(dir).unwrap();
    let mut rng = Rng::new(42);
    (0..30)
        .map(|i| {
            let p = dir.join(format!("f{i}"));
            let len = if i == 0 { 6 << 20 } else { (i % 10) * 700 };
            fs::write(&p, rng.bytes(len)).unwrap();
            p
        })
        .collect()
}

/// A writer: ingests every source, then builds the shared derivation
/// unless someone already has, noting in `builds.log` that it did.
fn writer(dir: &Path) {
    let store = Store::open(dir.join("store")).unwrap();
    let paths: Vec<PathBuf> = (0..30).map(|i| dir.join(format!("src/f{i}"))).collect();
    let ingested = store.ingest_files(&paths).unwrap();
    for (p, got) in paths.iter().zip(&ingested) {
        assert_eq!(got.digest, Kind::Object.digest(&fs::read(p).unwrap()));
    }
    let id = store.put_derivation(&derivation("shared", "1")).unwrap();
    let _lock = store.build_lock(&id).unwrap();
    if store.has_realisation(&crate::support::key(&id)) {
        return;
    }
    let mut log = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("builds.log"))
        .unwrap();
    writeln!(log, "{}", std::process::id()).unwrap();
    // Give the other writers time to reach the lock while this one builds.
    std::thread::sleep(Duration::from_millis(300));
    let r = realise(
        &store,
        id,
        &[("output/shared.csv", b"built once", "moderately_sensitive")],
    );
    store.put_realisation(&r).unwrap();
}

#[test]
fn writers_in_several_processes_build_once() {
    if child_role().as_deref() == Some("writer") {
        writer(Path::new(&std::env::var("CAIRN_TEST_DIR").unwrap()));
        return;
    }
    let f = Fixture::new();
    let dir = f.dir.path();
    let paths = sources(&dir.join("src"));
    let children: Vec<_> = (0..WRITERS)
        .map(|_| {
            child(TEST, "writer")
                .env("CAIRN_TEST_DIR", dir)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let builds = fs::read_to_string(dir.join("builds.log")).unwrap();
    assert_eq!(builds.lines().count(), 1, "built by {builds:?}");

    let distinct: std::collections::HashSet<Vec<u8>> =
        paths.iter().map(|p| fs::read(p).unwrap()).collect();
    let objects = f.root().join("objects-v1");
    let stored: usize = list(&objects)
        .iter()
        .map(|fan| list(&objects.join(fan)).len())
        .sum();
    assert_eq!(stored, distinct.len() + 1, "same content stored once");
    let id = derivation("shared", "1").id();
    let r = f
        .store
        .realisation(&crate::support::key(&id))
        .unwrap()
        .unwrap();
    assert_eq!(
        f.store
            .read_object(&r.outputs.files["output/shared.csv"].object)
            .unwrap(),
        b"built once"
    );
    assert!(
        f.store
            .verify(&VerifyOptions::default())
            .unwrap()
            .is_clean()
    );
    assert!(list(&f.root().join("tmp")).is_empty());
}

#[test]
fn a_build_lock_is_held_by_one_handle_at_a_time() {
    let f = Fixture::new();
    let other = Store::open(f.root()).unwrap();
    let id = build(&f.store, "a", &[]);
    let held = f.store.try_build_lock(&id).unwrap().expect("free at first");
    assert_eq!(held.id(), id);
    assert!(other.try_build_lock(&id).unwrap().is_none());
    assert!(
        f.store.try_build_lock(&id).unwrap().is_none(),
        "not reentrant"
    );
    let unrelated = derivation("b", "2").id();
    assert!(other.try_build_lock(&unrelated).unwrap().is_some());
    drop(held);
    assert!(other.try_build_lock(&id).unwrap().is_some());
}
