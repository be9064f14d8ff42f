//! Processes killed with SIGKILL at random points while ingesting and while
//! importing, 100 times in all: afterwards `verify` finds the store clean,
//! no partial object is visible, and GC clears what the dead left in `tmp/`.

use std::fs;
use std::io::{BufRead, BufReader, Lines, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use cairn_store::{ExportOptions, GcOptions, Store, VerifyOptions};

use crate::support::{Rng, build, child, child_role, list};

const INGEST_KILLS: usize = 60;
const IMPORT_KILLS: usize = 40;
const READY: &str = "cairn-test-child-ready";
const ROUND: &str = "cairn-test-child-round";

/// A child of this binary that has opened the store.
struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

/// Starts this binary as a child of `test` in `role`, working in `dir`,
/// and waits until it has opened the store.
fn start(test: &str, role: &str, dir: &Path) -> Running {
    let mut child = child(test, role)
        .env("CAIRN_TEST_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    wait_for(&mut stdout, READY, &mut child);
    Running { child, stdout }
}

fn wait_for(lines: &mut Lines<BufReader<ChildStdout>>, what: &str, child: &mut Child) {
    loop {
        match lines.next() {
            Some(Ok(l)) if l == what => return,
            Some(Ok(_)) => {}
            _ => panic!("the child exited before {what}: {:?}", child.wait()),
        }
    }
}

/// How long one round of the child's work takes on this machine, so that
/// kills fall anywhere in it. The calibrating child is killed too.
fn calibrate(test: &str, role: &str, dir: &Path) -> Duration {
    let mut r = start(test, role, dir);
    let t = Instant::now();
    wait_for(&mut r.stdout, ROUND, &mut r.child);
    let round = t.elapsed();
    kill(r, Duration::ZERO);
    eprintln!("{test}: one round of work takes {round:?}");
    round.max(Duration::from_millis(2))
}

/// Kills the child at a random point of its first round (or just after).
fn kill_within(r: Running, round: Duration, rng: &mut Rng) {
    let window = round.as_micros() as u64 * 5 / 4;
    kill(r, Duration::from_micros(rng.below(window)));
}

fn kill(r: Running, after: Duration) {
    let Running { mut child, stdout } = r;
    std::thread::sleep(after);
    // SAFETY: kill(2) on the id of a child this test has not yet waited for.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    assert_eq!(rc, 0);
    drop(stdout);
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the child died on its own: {status}"
    );
}

/// Tells the parent, if it still listens, that a round of work is done.
fn round_done() {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{ROUND}").and_then(|()| out.flush());
}

/// What every kill must leave: a clean store, every object complete and
/// read-only. Returns whether the child left staging files in `tmp/`.
fn check_after_kill(store: &Store, round: usize) -> bool {
    let report = store.verify(&VerifyOptions::default()).unwrap();
    assert!(report.is_clean(), "round {round}: {:?}", report.problems);
    let objects = store.root().join("objects-v1");
    for fan in list(&objects) {
        for name in list(&objects.join(&fan)) {
            let meta = fs::symlink_metadata(objects.join(&fan).join(&name)).unwrap();
            assert!(meta.is_file(), "round {round}: {fan}/{name}");
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode, 0o444, "round {round}: {name}");
        }
    }
    !list(&store.root().join("tmp")).is_empty()
}

/// Clears what killed processes left in `tmp/`, and checks it went.
fn sweep(store: &Store) {
    store.gc(&GcOptions::default()).unwrap();
    assert!(list(&store.root().join("tmp")).is_empty());
}

/// The ingest child: ingests batches, large files and records, forever.
fn ingest_forever(dir: &Path) -> ! {
    let store = Store::open(dir.join("store")).unwrap();
    let src = dir.join(format!("src-{}", std::process::id()));
    fs::create_dir_all(&src).unwrap();
    let mut rng = Rng::new(u64::from(std::process::id()));
    let big = rng.bytes(5 << 20);
    println!("{READY}");
    for round in 0u64.. {
        let paths: Vec<PathBuf> = (0..20)
            .map(|i| {
                let p = src.join(format!("f{i}"));
                let len = rng.below(40_000) as usize;
                fs::write(&p, rng.bytes(len)).unwrap();
                p
            })
            .collect();
        let got = store.ingest_files(&paths).unwrap();
        let big_path = src.join("big");
        let mut content = big.clone();
        content[..8].copy_from_slice(&round.to_le_bytes());
        fs::write(&big_path, &content).unwrap();
        store.ingest_file(&big_path).unwrap();
        store.ingest_bytes(&rng.bytes(100)).unwrap();
        let files: Vec<(String, Vec<u8>)> = got
            .iter()
            .take(3)
            .enumerate()
            .map(|(i, g)| {
                let content = store.read_object(&g.digest).unwrap();
                (format!("output/{i}.bin"), content)
            })
            .collect();
        let files: Vec<(&str, &[u8], &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice(), "moderately_sensitive"))
            .collect();
        build(&store, &format!("a{round}-{}", std::process::id()), &files);
        round_done();
    }
    unreachable!()
}

#[test]
fn ingest_survives_sigkill() {
    let test = "crash::ingest_survives_sigkill";
    if child_role().as_deref() == Some("ingest") {
        ingest_forever(Path::new(&std::env::var("CAIRN_TEST_DIR").unwrap()));
    }
    let dir = tempfile::tempdir().unwrap();
    let window = calibrate(test, "ingest", dir.path());
    let mut rng = Rng::from_entropy(test);
    let mut staging_left = 0;
    for round in 1..INGEST_KILLS {
        kill_within(start(test, "ingest", dir.path()), window, &mut rng);
        let store = Store::open(dir.path().join("store")).unwrap();
        staging_left += usize::from(check_after_kill(&store, round));
    }
    let store = Store::open(dir.path().join("store")).unwrap();
    eprintln!(
        "{test}: {staging_left} of {INGEST_KILLS} kills left staging files, {} objects survived",
        store.usage().unwrap().objects
    );
    sweep(&store);
}

/// The import child: imports the prepared archives in turn, forever.
fn import_forever(dir: &Path) -> ! {
    let archives: Vec<Vec<u8>> = (0..3)
        .map(|i| fs::read(dir.join(format!("{i}.tar.zst"))).unwrap())
        .collect();
    let store = Store::open(dir.join("store")).unwrap();
    println!("{READY}");
    loop {
        for a in &archives {
            store.import(&a[..]).unwrap();
        }
        round_done();
    }
}

/// Three archives of 30 objects each, one of them large.
fn write_archives(dir: &Path) {
    let origin = Store::open(dir.join("origin")).unwrap();
    let mut rng = Rng::new(3);
    for i in 0..3 {
        let contents: Vec<Vec<u8>> = (0..30)
            .map(|j| rng.bytes(if j == 0 { 5 << 20 } else { j * 997 }))
            .collect();
        let files: Vec<(String, &[u8])> = contents
            .iter()
            .enumerate()
            .map(|(j, c)| (format!("output/{j}.bin"), c.as_slice()))
            .collect();
        let files: Vec<(&str, &[u8], &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), *c, "moderately_sensitive"))
            .collect();
        let id = build(&origin, &format!("a{i}"), &files);
        let out = fs::File::create(dir.join(format!("{i}.tar.zst"))).unwrap();
        origin
            .export(&[id], &ExportOptions::default(), out)
            .unwrap();
    }
}

#[test]
fn import_survives_sigkill() {
    let test = "crash::import_survives_sigkill";
    if child_role().as_deref() == Some("import") {
        import_forever(Path::new(&std::env::var("CAIRN_TEST_DIR").unwrap()));
    }
    let dir = tempfile::tempdir().unwrap();
    write_archives(dir.path());
    let window = calibrate(test, "import", dir.path());
    sweep(&Store::open(dir.path().join("store")).unwrap());
    let mut rng = Rng::from_entropy(test);
    let (mut imported, mut staging_left) = (0, 0);
    for round in 1..IMPORT_KILLS {
        kill_within(start(test, "import", dir.path()), window, &mut rng);
        let store = Store::open(dir.path().join("store")).unwrap();
        staging_left += usize::from(check_after_kill(&store, round));
        imported += store.usage().unwrap().realisations;
        // Empty the store again, so the next child has everything to write.
        sweep(&store);
        assert_eq!(store.usage().unwrap().objects, 0);
    }
    eprintln!(
        "{test}: {staging_left} of {IMPORT_KILLS} kills left staging files, \
         {imported} realisations imported before a kill"
    );
}
