//! verify, gc and disk usage, on stores damaged or grown the way a user's
//! would be.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use cairn_store::{Error, GcOptions, Problem, Store, VerifyOptions};

use crate::support::{Fixture, build, list};

fn damage(path: &std::path::Path, content: &[u8]) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(path, content).unwrap();
}

#[test]
fn verify_finds_a_clean_store_clean() {
    let f = Fixture::new();
    build(
        &f.store,
        "a",
        &[("output/a.csv", b"1", "moderately_sensitive")],
    );
    build(
        &f.store,
        "b",
        &[("output/b.csv", b"22", "highly_sensitive")],
    );
    let r = f.store.verify(&VerifyOptions::default()).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.objects, r.object_bytes), (2, 3));
    assert_eq!((r.derivations, r.realisations), (2, 2));
}

#[test]
fn verify_reports_corruption_and_quarantines_it() {
    let f = Fixture::new();
    let id = build(
        &f.store,
        "a",
        &[("output/a.csv", b"original", "moderately_sensitive")],
    );
    let keep = build(
        &f.store,
        "b",
        &[("output/b.csv", b"fine", "moderately_sensitive")],
    );
    let object = f.store.realisation(&id).unwrap().unwrap().outputs.files["output/a.csv"].object;
    damage(&f.store.object_path(&object), b"bit rot!");
    fs::write(f.root().join("objects-v1/ab/not-a-digest"), "stray").unwrap();

    let r = f.store.verify(&VerifyOptions::default()).unwrap();
    assert!(!r.is_clean());
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::CorruptObject { expected, .. } if *expected == object)),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::StrayFile { .. }))
    );
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::MissingObject { derivation, .. } if *derivation == id))
    );
    let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter().any(|t| t.contains("corrupt object: expected")),
        "{text:?}"
    );
    assert!(r.quarantined.is_empty(), "reporting alone moves nothing");

    let q = f.store.verify(&VerifyOptions { quarantine: true });
    // This process holds the store open already, but only once: the
    // upgrade to exclusive succeeds.
    let q = q.unwrap();
    assert_eq!(q.quarantined.len(), 3, "{:?}", q.quarantined);
    assert!(!f.store.has_object(&object));
    assert!(
        !f.store.has_realisation(&id),
        "a realisation that cannot be materialised goes"
    );
    assert!(f.store.has_realisation(&keep));
    assert_eq!(list(&f.root().join("quarantine")).len(), 3);
    let again = f.store.verify(&VerifyOptions::default()).unwrap();
    assert!(again.is_clean(), "{:?}", again.problems);
}

#[test]
fn verify_checks_every_record() {
    let f = Fixture::new();
    let id = build(
        &f.store,
        "a",
        &[("output/a.csv", b"1", "moderately_sensitive")],
    );
    let id = f.store.realisation(&id).unwrap().unwrap().derivation;
    let drv_path = f.root().join(format!("drv-v2/{}.toml", id.to_hex()));
    let text = fs::read_to_string(&drv_path).unwrap();
    damage(
        &drv_path,
        text.replace("analysis/a.py", "analysis/b.py").as_bytes(),
    );
    let r = f.store.verify(&VerifyOptions::default()).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::BadRecord { path, .. } if *path == drv_path)),
        "{:?}",
        r.problems
    );
    fs::remove_file(&drv_path).unwrap();
    let r = f.store.verify(&VerifyOptions::default()).unwrap();
    assert_eq!(r.problems, [Problem::MissingDerivation { derivation: id }]);
}

#[test]
fn gc_keeps_what_roots_reach_and_sweeps_the_rest() {
    let f = Fixture::new();
    let shared = b"shared content";
    let kept = build(
        &f.store,
        "kept",
        &[
            ("output/a.csv", shared, "moderately_sensitive"),
            ("output/k.csv", b"only kept", "moderately_sensitive"),
        ],
    );
    let dropped = build(
        &f.store,
        "dropped",
        &[
            ("output/a.csv", shared, "moderately_sensitive"),
            ("output/d.csv", b"only dropped", "moderately_sensitive"),
        ],
    );
    let loose = f.store.ingest_bytes(b"never recorded").unwrap();
    f.store.set_root("proj", &[kept]).unwrap();

    let dry = f
        .store
        .gc(&GcOptions {
            dry_run: true,
            ..GcOptions::default()
        })
        .unwrap();
    assert_eq!((dry.removed_derivations, dry.removed_objects), (1, 2));
    assert!(
        f.store.has_realisation(&dropped),
        "a dry run removes nothing"
    );

    let r = f.store.gc(&GcOptions::default()).unwrap();
    assert_eq!(
        (r.roots, r.kept_derivations, r.removed_derivations),
        (1, 1, 1)
    );
    assert_eq!((r.kept_objects, r.removed_objects), (2, 2));
    assert!(f.store.has_realisation(&kept));
    assert!(!f.store.has_realisation(&dropped));
    assert!(f.store.derivation(&dropped).unwrap().is_none());
    assert!(!f.store.has_object(&loose));
    let real = f.store.realisation(&kept).unwrap().unwrap();
    f.store
        .materialize(&real.outputs, &f.beside("project"))
        .unwrap();
    assert!(
        f.store
            .verify(&VerifyOptions::default())
            .unwrap()
            .is_clean()
    );
}

#[test]
fn gc_drops_the_root_of_a_deleted_project() {
    let f = Fixture::new();
    let project = f.beside("project");
    fs::create_dir(&project).unwrap();
    let id = build(
        &f.store,
        "a",
        &[("output/a.csv", b"1", "moderately_sensitive")],
    );
    let name = f.store.set_project_root(&project, &[id]).unwrap();
    assert_eq!(
        f.store
            .gc(&GcOptions::default())
            .unwrap()
            .removed_derivations,
        0
    );
    fs::remove_dir(&project).unwrap();
    let r = f.store.gc(&GcOptions::default()).unwrap();
    assert_eq!(r.dead_roots, [name]);
    assert!(!f.store.has_realisation(&id));
}

#[test]
fn gc_age_and_size_limits_keep_the_recently_used() {
    let f = Fixture::new();
    let old = build(
        &f.store,
        "old",
        &[("o.bin", &[1u8; 1000], "moderately_sensitive")],
    );
    let new = build(
        &f.store,
        "new",
        &[("n.bin", &[2u8; 1000], "moderately_sensitive")],
    );
    // Make `old` look unused for two days.
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(48 * 3600);
    let old_drv = f.store.realisation(&old).unwrap().unwrap().derivation;
    for (dir, id) in [("drv-v2", old_drv), ("real-v2", old)] {
        let p = f.root().join(format!("{dir}/{}.toml", id.to_hex()));
        fs::File::open(&p)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
    }
    let by_size = GcOptions {
        max_size: Some(1500),
        dry_run: true,
        ..GcOptions::default()
    };
    let r = f.store.gc(&by_size).unwrap();
    assert_eq!((r.kept_derivations, r.kept_bytes), (1, 1000));
    let by_age = GcOptions {
        max_age: Some(Duration::from_secs(24 * 3600)),
        ..GcOptions::default()
    };
    f.store.gc(&by_age).unwrap();
    assert!(f.store.has_realisation(&new));
    assert!(!f.store.has_realisation(&old));
}

#[test]
fn gc_sweeps_staging_leftovers_but_not_fresh_scratch() {
    let f = Fixture::new();
    let tmp = f.root().join("tmp");
    fs::write(tmp.join(".obj-left-by-a-crash"), "partial").unwrap();
    fs::create_dir(tmp.join(".import-killed")).unwrap();
    let scratch = f.store.scratch_dir("work-").unwrap();
    let r = f.store.gc(&GcOptions::default()).unwrap();
    assert_eq!(r.removed_tmp, 2);
    assert_eq!(
        list(&tmp),
        [scratch.path().file_name().unwrap().to_string_lossy()]
    );
}

#[test]
fn gc_waits_for_no_one_and_says_the_store_is_busy() {
    let f = Fixture::new();
    let other = Store::open(f.root()).unwrap();
    let err = f.store.gc(&GcOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    assert!(err.to_string().contains("retry when it finishes"), "{err}");
    let err = f
        .store
        .verify(&VerifyOptions { quarantine: true })
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    // Plain verify reads alongside other users.
    assert!(
        f.store
            .verify(&VerifyOptions::default())
            .unwrap()
            .is_clean()
    );
    drop(other);
    f.store.gc(&GcOptions::default()).unwrap();
    // The failed attempt left this handle holding its shared lock: another
    // handle still cannot take the store exclusively.
    let third = Store::open(f.root()).unwrap();
    assert!(matches!(
        third.gc(&GcOptions::default()),
        Err(Error::Busy { .. })
    ));
}

#[test]
fn usage_counts_what_the_store_holds() {
    let f = Fixture::new();
    build(
        &f.store,
        "a",
        &[("a", &[0u8; 4096], "moderately_sensitive")],
    );
    f.store.set_root("p", &[]).unwrap();
    let u = f.store.usage().unwrap();
    assert_eq!((u.objects, u.object_bytes), (1, 4096));
    assert_eq!((u.derivations, u.realisations, u.roots), (1, 1, 1));
    assert!(u.record_bytes > 0);
    assert!(u.disk_bytes >= 4096);
    assert_eq!(u.tmp_bytes, 0);
}

#[test]
fn gc_keeps_a_realisations_derivation_and_path_sets_and_drops_old_formats() {
    let f = Fixture::new();
    let key = build(
        &f.store,
        "a",
        &[("output/a.csv", b"1", "moderately_sensitive")],
    );
    let drv = f.store.realisation(&key).unwrap().unwrap().derivation;
    // Records of an earlier format, as a store written by an older cairn has.
    for dir in ["drv-v1", "real-v1"] {
        fs::create_dir_all(f.root().join(dir)).unwrap();
        fs::write(
            f.root().join(dir).join(format!("{}.toml", drv.to_hex())),
            "x",
        )
        .unwrap();
    }
    f.store.set_root("p", &[key]).unwrap();
    f.store.gc(&GcOptions::default()).unwrap();
    assert!(f.store.has_realisation(&key));
    assert!(f.store.derivation(&drv).unwrap().is_some());
    assert_eq!(f.store.path_sets(&drv).unwrap().len(), 1);
    assert!(!f.root().join("drv-v1").exists() && !f.root().join("real-v1").exists());

    f.store.set_root("p", &[]).unwrap();
    f.store.gc(&GcOptions::default()).unwrap();
    assert!(!f.store.has_realisation(&key));
    assert!(f.store.derivation(&drv).unwrap().is_none());
    assert!(f.store.path_sets(&drv).unwrap().is_empty());
    let r = f.store.verify(&VerifyOptions::default()).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}
