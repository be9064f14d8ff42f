//! The versioned layout, as a user finds it on disk.

use std::fs;

use cairn_store::{Error, LAYOUT_VERSION, Store};

use crate::support::{Fixture, list};

#[test]
fn a_new_store_has_the_versioned_layout() {
    let f = Fixture::new();
    let root = f.root();
    for name in [
        "CACHEDIR.TAG",
        "VERSION",
        "drv-v2",
        "lock",
        "objects-v1",
        "paths-v1",
        "real-v2",
        "tmp",
    ] {
        assert!(list(&root).contains(&name.to_string()), "{name} missing");
    }
    assert_eq!(
        fs::read_to_string(root.join("VERSION")).unwrap().trim(),
        LAYOUT_VERSION.to_string()
    );
    let tag = fs::read_to_string(root.join("CACHEDIR.TAG")).unwrap();
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55\n"));
    assert_eq!(list(&root.join("objects-v1")).len(), 256);
    assert!(list(&root.join("tmp")).is_empty());
}

#[test]
fn another_layout_version_is_a_clear_error() {
    let f = Fixture::new();
    let root = f.root();
    drop(f.store);
    fs::write(root.join("VERSION"), "2\n").unwrap();
    let err = Store::open(&root).unwrap_err();
    assert!(matches!(err, Error::LayoutVersion { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("layout version \"2\""), "{msg}");
    assert!(msg.contains("this cairn reads version 1"), "{msg}");
    assert!(msg.contains("--store"), "{msg}");
}

#[test]
fn a_directory_with_other_files_is_not_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not a cairn store"), "{err}");
    assert_eq!(list(dir.path()), ["notes.txt"]);
}

#[test]
fn a_half_created_store_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    // What a process killed before writing VERSION leaves behind.
    fs::create_dir_all(dir.path().join("objects-v1/ab")).unwrap();
    fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(dir.path().join("VERSION").is_file());
    let d = store.ingest_bytes(b"x").unwrap();
    assert_eq!(store.read_object(&d).unwrap(), b"x");
}

#[test]
fn removed_directories_are_recreated() {
    let f = Fixture::new();
    let root = f.root();
    drop(f.store);
    fs::remove_dir_all(root.join("tmp")).unwrap();
    fs::remove_dir_all(root.join("objects-v1")).unwrap();
    let store = Store::open(&root).unwrap();
    let d = store.ingest_bytes(b"again").unwrap();
    assert!(store.has_object(&d));
}
