//! Shared helpers: a fresh store per test, records built from files, a
//! snapshot of a directory tree, and child processes that are this very
//! test binary re-invoked in a role.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cairn_store::{
    ActionSpec, AllSources, DERIVATION_FORMAT, Derivation, Digest, ImageSpec, Kind, ObservationSet,
    Observed, OutputEntry, OutputManifest, REALISATION_FORMAT, Realisation, Store, Visible,
};

/// A temp directory holding a store at `store/`, and room beside it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        Fixture { dir, store }
    }

    pub fn root(&self) -> PathBuf {
        self.store.root().to_path_buf()
    }

    /// A path beside the store (not inside it).
    pub fn beside(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A derivation for an action called `name`; `salt` makes it unique.
pub fn derivation(name: &str, salt: &str) -> Derivation {
    Derivation {
        format: DERIVATION_FORMAT,
        action: ActionSpec {
            name: name.to_string(),
            outputs: BTreeMap::from([(
                "moderately_sensitive".to_string(),
                BTreeMap::from([("out".to_string(), "output/*".to_string())]),
            )]),
        },
        argv: vec!["python".into(), "analysis/a.py".into(), salt.into()],
        image: ImageSpec {
            reference: "python:v2".into(),
            identity: "sha256:0123".into(),
        },
        env: BTreeMap::from([("TZ".to_string(), "UTC".to_string())]),
        visible: Visible::All(AllSources::All),
        inputs: BTreeMap::new(),
    }
}

/// A realisation of `drv` whose outputs are `files` (path → (content, level)),
/// with the content ingested first.
pub fn realise(store: &Store, drv: Digest, files: &[(&str, &[u8], &str)]) -> Realisation {
    let mut manifest = OutputManifest::default();
    for (path, content, level) in files {
        let object = store.ingest_bytes(content).unwrap();
        manifest.files.insert(
            path.to_string(),
            OutputEntry {
                object,
                size: content.len() as u64,
                mode: 0o644,
                level: level.to_string(),
            },
        );
    }
    realisation(drv, manifest)
}

/// What every test realisation observed: one script.
pub fn observations() -> ObservationSet {
    let mut o = ObservationSet::default();
    o.read.insert(
        "analysis/a.py".into(),
        Observed::File(Kind::Object.digest(b"print()")),
    );
    o
}

/// The key of the test realisation of derivation `drv`.
pub fn key(drv: &Digest) -> Digest {
    cairn_store::realisation_key(drv, &observations())
}

/// A realisation record with fixed provenance.
pub fn realisation(drv: Digest, outputs: OutputManifest) -> Realisation {
    Realisation {
        format: REALISATION_FORMAT,
        derivation: drv,
        observations: observations(),
        outputs,
        exit_code: 0,
        started_at: 1_700_000_000,
        finished_at: 1_700_000_001,
        log: None,
        executor: "local".into(),
        host: "test".into(),
        commit: None,
        dirty: false,
        cairn_version: "0.1.0".into(),
        signatures: Vec::new(),
    }
}

/// Records a derivation and realises it with `files`; returns the
/// realisation's key.
pub fn build(store: &Store, name: &str, files: &[(&str, &[u8], &str)]) -> Digest {
    let mut salt = Kind::SourceTree.hasher();
    for (path, content, level) in files {
        for part in [path.as_bytes(), content, level.as_bytes()] {
            salt.update(&(part.len() as u64).to_le_bytes());
            salt.update(part);
        }
    }
    let salt = Digest::from(salt.finalize()).to_hex();
    let id = store.put_derivation(&derivation(name, &salt)).unwrap();
    let r = realise(store, id, files);
    store.put_realisation(&r).unwrap();
    r.key()
}

/// Every file under `dir` (relative path → content digest and mode);
/// symlinks and other non-files are recorded by kind.
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .display()
            .to_string();
        let meta = entry.path().symlink_metadata().unwrap();
        let what = if meta.is_file() {
            let content = fs::read(entry.path()).unwrap();
            format!(
                "file {:o} {}",
                meta.permissions().mode() & 0o7777,
                Kind::Object.digest(&content)
            )
        } else if meta.is_dir() {
            "dir".to_string()
        } else {
            format!("other {:?}", meta.file_type())
        };
        out.insert(rel, what);
    }
    out
}

/// The store tree minus `tmp/` (and the lock file, whose content never changes).
pub fn snapshot_outside_tmp(root: &Path) -> BTreeMap<String, String> {
    snapshot(root)
        .into_iter()
        .filter(|(k, _)| k != "tmp" && !k.starts_with("tmp/"))
        .collect()
}

/// Names in `dir`, sorted.
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Environment variable naming the role a re-invoked test binary plays.
const ROLE: &str = "CAIRN_STORE_TEST_ROLE";

/// The role this process was started in, if it is a child.
pub fn child_role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// This test binary, set to run only the test `test` (its full path, e.g.
/// `crash::ingest_survives_sigkill`) in `role`. That test sees the role with
/// [`child_role`] and acts as the child instead of the parent.
pub fn child(test: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .stdin(Stdio::null());
    cmd
}

/// A small deterministic generator (SplitMix64), so a failure can be
/// replayed from the seed a test prints.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed from the clock and the process id, printed for replay.
    pub fn from_entropy(what: &str) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let seed = t ^ (u64::from(std::process::id()) << 32);
        eprintln!("{what}: seed {seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}
