//! Sharing the cache through the real binary: archives for CI, the remote
//! cache on a real nginx, signatures and trust, and privacy.

use std::path::{Path, PathBuf};

use crate::nginx::Nginx;
use crate::study::{Ran, Study, names, pipeline};

/// A clone of `s` at HEAD, with an empty store of its own: another machine.
fn fresh_clone(s: &Study) -> Study {
    let c = Study {
        dir: tempfile::tempdir().unwrap(),
        store: tempfile::tempdir().unwrap(),
    };
    let out = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(s.path())
        .arg(c.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    c
}

/// `cairn ARGS` in `s` with `home` as the user's home (keys, user config).
fn cairn(s: &Study, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut c = s.command(args);
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("CAIRN_REMOTE");
    for (k, v) in env {
        c.env(k, v);
    }
    crate::study::ran(c.output().unwrap())
}

fn run(s: &Study, home: &Path, env: &[(&str, &str)]) -> Ran {
    let r = cairn(s, home, &["run", "run_all", "--format", "json"], env);
    assert_eq!(r.code, 0, "{r:?}");
    r
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Generates a key pair called `name` in `home`; returns its public key
/// (`NAME:BASE64`) and its secret file.
fn key(home: &Path, name: &str) -> (String, PathBuf) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["key", "generate", name])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let secret = home.join(format!(".config/cairn/keys/{name}.secret"));
    assert!(secret.is_file());
    (public, secret)
}

#[test]
fn an_imported_archive_makes_a_fresh_clone_run_nothing() {
    let h = home();
    let s = pipeline();
    run(&s, h.path(), &[]);
    let archive = h.path().join("cache.tar.zst");
    let a = archive.to_str().unwrap();
    let e = cairn(&s, h.path(), &["cache", "export", "run_all", "-o", a], &[]);
    assert_eq!(e.code, 0, "{e:?}");
    assert!(e.stdout.contains("exported 4 realisation(s)"), "{e:?}");
    assert!(e.stdout.contains("1 object(s) withheld"), "{e:?}");
    let first = std::fs::read(&archive).unwrap();
    assert_eq!(
        cairn(&s, h.path(), &["cache", "export", "-o", a], &[]).code,
        0
    );
    assert_eq!(std::fs::read(&archive).unwrap(), first, "byte-identical");

    let c = fresh_clone(&s);
    // Unsigned realisations are not trusted by default.
    let refused = cairn(&c, h.path(), &["cache", "import", a], &[]);
    assert_eq!(refused.code, 0, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("ignoring the realisation of analyse"),
        "{refused:?}"
    );
    let i = cairn(
        &c,
        h.path(),
        &["cache", "import", "--trust-unsigned", a],
        &[],
    );
    assert!(i.stdout.contains("4 realisation(s) added"), "{i:?}");
    let again = cairn(
        &c,
        h.path(),
        &["cache", "import", "--trust-unsigned", a],
        &[],
    );
    assert!(
        again.stdout.contains("0 realisation(s) added")
            && again.stdout.contains("0 object(s) added"),
        "importing twice changes nothing: {again:?}"
    );
    let r = run(&c, h.path(), &[]);
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    assert_eq!(r.with_status("withheld"), names(&["prepare"]), "{r:?}");
    assert_eq!(c.read("output/report.txt"), "The total is 60.\n");
    assert!(
        !c.exists("output/data.csv"),
        "highly_sensitive content stayed behind"
    );

    // Something stale that needs the withheld content reruns what makes it.
    c.write(
        "analysis/analyse.py",
        &c.read("analysis/analyse.py")
            .replace("total = ", "total = 0 + "),
    );
    let r = run(&c, h.path(), &[]);
    assert_eq!(
        r.with_status("ran"),
        names(&["analyse", "prepare"]),
        "{r:?}"
    );
}

#[test]
fn only_realisations_signed_by_a_trusted_key_are_used() {
    let author = home();
    let reader = home();
    let (team, secret) = key(author.path(), "team");
    let (other, _) = key(reader.path(), "other");
    let s = pipeline();
    s.write(
        "cairn.toml",
        &format!(
            "{}[remote]\nsign-with = \"{}\"\n",
            s.read("cairn.toml"),
            secret.display()
        ),
    );
    s.commit("sign what is shared");
    run(&s, author.path(), &[]);
    let archive = author.path().join("signed.tar.zst");
    let a = archive.to_str().unwrap();
    assert_eq!(
        cairn(&s, author.path(), &["cache", "export", "-o", a], &[]).code,
        0
    );

    // A reader who trusts another key ignores them, naming each action.
    let c = fresh_clone(&s);
    std::fs::create_dir_all(reader.path().join(".config/cairn")).unwrap();
    let user_config = reader.path().join(".config/cairn/config.toml");
    std::fs::write(&user_config, format!("[trust]\nkeys = [\"{other}\"]\n")).unwrap();
    let i = cairn(&c, reader.path(), &["cache", "import", a], &[]);
    for action in ["prepare", "analyse", "report", "describe"] {
        assert!(
            i.stderr
                .contains(&format!("ignoring the realisation of {action}"))
                && i.stderr
                    .contains("no signature is by a key in [trust] keys"),
            "{i:?}"
        );
    }
    assert!(!run(&c, reader.path(), &[]).with_status("ran").is_empty());

    // A reader who trusts the team's key uses them.
    let c = fresh_clone(&s);
    std::fs::write(&user_config, format!("[trust]\nkeys = [\"{team}\"]\n")).unwrap();
    let i = cairn(&c, reader.path(), &["cache", "import", a], &[]);
    assert!(i.stdout.contains("4 realisation(s) added"), "{i:?}");
    assert!(run(&c, reader.path(), &[]).with_status("ran").is_empty());
}

#[test]
fn a_remote_cache_on_nginx_serves_a_fresh_clone() {
    let server = Nginx::start(Some("s3cret"));
    let h = home();
    let s = pipeline();
    s.write(
        "cairn.toml",
        &format!(
            "{}[remote]\nurl = \"{}\"\ntoken-env = \"CAIRN_TEST_TOKEN\"\n",
            s.read("cairn.toml"),
            server.url()
        ),
    );
    s.commit("a remote cache");
    let token = [("CAIRN_TEST_TOKEN", "s3cret")];

    // Without the token the server refuses: a warning, and a local run.
    let r = run(&s, h.path(), &[]);
    assert_eq!(r.with_status("ran").len(), 4, "{r:?}");
    assert!(r.notes().contains("401"), "{r:?}");
    assert!(
        !server.cache_root().join("ac").exists(),
        "nothing was accepted"
    );

    // With it, what the run built is pushed: objects, then records.
    let p = cairn(&s, h.path(), &["cache", "push"], &token);
    assert_eq!(p.code, 0, "{p:?}");
    assert!(p.stdout.contains("pushed 4 realisation(s)"), "{p:?}");
    let data_object = {
        let data = std::fs::read(s.file("output/data.csv")).unwrap();
        cairn_object_hex(&data)
    };
    assert!(
        !server.file(&format!("cas/{data_object}")).exists(),
        "highly_sensitive content stays behind"
    );
    assert_eq!(
        cairn(&s, h.path(), &["cache", "push"], &token)
            .stdout
            .matches("0 object(s) (")
            .count(),
        1,
        "a second push sends no object again"
    );

    // Another machine pulls what it needs and runs nothing.
    let c = fresh_clone(&s);
    let r = run(&c, h.path(), &[("CAIRN_TEST_TOKEN", "s3cret")]);
    assert!(!r.notes().contains("warning: the remote"), "{r:?}");
    assert!(
        r.with_status("ran").len() == 4,
        "unsigned: not trusted, so built here: {r:?}"
    );
    let c = fresh_clone(&s);
    let r = cairn(
        &c,
        h.path(),
        &["run", "run_all", "--format", "json", "--trust-unsigned"],
        &token,
    );
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    assert_eq!(c.read("output/report.txt"), "The total is 60.\n");

    // A corrupted object on the server is refused and the action rebuilt.
    let table = cairn_object_hex(b"total\n60\n");
    std::fs::write(server.file(&format!("cas/{table}")), b"total\n61\n").unwrap();
    let c = fresh_clone(&s);
    let r = cairn(
        &c,
        h.path(),
        &["run", "run_all", "--format", "json", "--trust-unsigned"],
        &token,
    );
    assert_eq!(r.code, 0, "{r:?}");
    // analyse is rebuilt here, and prepare with it: its content (highly
    // sensitive) never left the author's machine.
    assert_eq!(
        r.with_status("ran"),
        names(&["analyse", "prepare"]),
        "{r:?}"
    );
    assert!(r.notes().contains("could not give intact"), "{r:?}");
    assert_eq!(c.read("output/table.csv"), "total\n60\n");
    let v = cairn(&c, h.path(), &["store", "verify"], &[]);
    assert_eq!(v.code, 0, "the store stays sound: {v:?}");
}

#[test]
fn a_server_that_is_down_is_a_warning_and_a_local_run() {
    let server = Nginx::start(None);
    let url = server.url();
    drop(server);
    let h = home();
    let s = pipeline();
    let r = run(&s, h.path(), &[("CAIRN_REMOTE", &url)]);
    assert_eq!(r.with_status("ran").len(), 4, "{r:?}");
    assert!(
        r.notes().contains("warning: the remote cache failed"),
        "{r:?}"
    );
    let v = cairn(&s, h.path(), &["store", "verify"], &[]);
    assert_eq!(v.code, 0, "{v:?}");
}

/// The hex name of an object with this content (BLAKE3, object context).
fn cairn_object_hex(content: &[u8]) -> String {
    let mut h = blake3::Hasher::new_derive_key("cairn object v1");
    h.update(content);
    h.finalize().to_hex().to_string()
}

#[test]
fn a_slow_refusing_or_lying_server_is_a_warning_and_a_local_run() {
    use crate::hostile::{Behaviour, Hostile};
    use std::time::Duration;
    let answers = [
        ("silent", Behaviour::Silent),
        (
            "500",
            Behaviour::Reply(
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n".to_vec(),
            ),
        ),
        (
            "403",
            Behaviour::Reply(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n".to_vec()),
        ),
        (
            "garbage",
            Behaviour::Reply(b"\x00\x01 not http at all\r\n\r\n".to_vec()),
        ),
        (
            "a lie",
            Behaviour::Reply(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nnot a record".to_vec()),
        ),
    ];
    for (what, behaviour) in answers {
        let server = Hostile::start(behaviour, Duration::from_secs(20));
        let h = home();
        let s = pipeline();
        let r = cairn(
            &s,
            h.path(),
            &["run", "run_all", "--format", "json", "--trust-unsigned"],
            &[
                ("CAIRN_REMOTE", &server.url()),
                ("CAIRN_REMOTE_TIMEOUT", "1"),
            ],
        );
        assert_eq!(r.code, 0, "{what}: {r:?}");
        assert_eq!(r.with_status("ran").len(), 4, "{what}: {r:?}");
        if what != "a lie" {
            assert!(
                r.notes().contains("warning: the remote cache failed"),
                "{what}: {r:?}"
            );
        }
        let v = cairn(&s, h.path(), &["store", "verify"], &[]);
        assert_eq!(v.code, 0, "{what}: the store stays sound: {v:?}");
    }
}

#[test]
fn hostile_archives_are_refused_and_write_nothing() {
    let h = home();
    let s = pipeline();
    run(&s, h.path(), &[]);
    let good = h.path().join("good.tar.zst");
    assert_eq!(
        cairn(
            &s,
            h.path(),
            &["cache", "export", "-o", good.to_str().unwrap()],
            &[]
        )
        .code,
        0
    );
    let bytes = std::fs::read(&good).unwrap();
    let dir = h.path().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    // A truncated archive, garbage, and a tar whose entry climbs out.
    std::fs::write(dir.join("truncated.tar.zst"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.join("garbage.tar.zst"), b"this is not an archive").unwrap();
    let tar = std::process::Command::new("python3")
        .args([
            "-c",
            "import io,sys,tarfile\nb=io.BytesIO()\nt=tarfile.open(fileobj=b,mode='w')\ni=tarfile.TarInfo('../../escape')\ni.size=3\nt.addfile(i,io.BytesIO(b'bad'))\nt.close()\nsys.stdout.buffer.write(b.getvalue())",
        ])
        .output()
        .unwrap();
    assert!(tar.status.success(), "{tar:?}");
    std::fs::write(dir.join("escape.tar"), &tar.stdout).unwrap();
    let zst = std::process::Command::new("zstd")
        .args(["-q", "-f", "escape.tar", "-o", "escape.tar.zst"])
        .current_dir(&dir)
        .status()
        .expect("zstd (see .ci/install-deps)");
    assert!(zst.success());
    let c = fresh_clone(&s);
    for bad in ["truncated.tar.zst", "garbage.tar.zst", "escape.tar.zst"] {
        let path = dir.join(bad);
        let i = cairn(
            &c,
            h.path(),
            &["cache", "import", path.to_str().unwrap()],
            &[],
        );
        assert_eq!(i.code, 1, "{bad}: {i:?}");
        assert!(
            i.stderr.contains(bad),
            "{bad}: the error names the file: {i:?}"
        );
        let v = cairn(&c, h.path(), &["store", "verify"], &[]);
        assert_eq!(v.code, 0, "{bad}: {v:?}");
    }
    assert!(!h.path().join("escape").exists() && !c.path().join("../escape").exists());
    let r = run(&c, h.path(), &[]);
    assert_eq!(r.with_status("ran").len(), 4, "nothing was imported: {r:?}");
}

#[test]
fn a_push_cut_off_by_a_server_stop_completes_after_a_restart() {
    let h = home();
    let s = Study::new();
    // Many small outputs, so the push is still sending when the server stops.
    let mut yaml = String::from("version: \"4.0\"\nactions:\n");
    for i in 0..20 {
        yaml += &format!(
            "  a{i}:\n    run: python:v2 analysis/many.py {i}\n    outputs:\n      moderately_sensitive:\n        out: output/a{i}/*.txt\n"
        );
    }
    s.write("project.yaml", &yaml);
    s.write(
        "analysis/many.py",
        "import os, sys\ni = sys.argv[1]\nos.makedirs(f'output/a{i}', exist_ok=True)\nfor j in range(40):\n    open(f'output/a{i}/f{j}.txt', 'w').write(f'{i} {j}\\n')\n",
    );
    s.commit("many outputs");
    run(&s, h.path(), &[]);
    let mut server = Nginx::start(None);
    let url = server.url();
    let mut push = s.command(&["cache", "push", "--remote", &url]);
    push.env("HOME", h.path())
        .env("CAIRN_REMOTE_TIMEOUT", "2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = push.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server.count("PUT", "cas/") < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "the push never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.stop();
    let cut = crate::study::ran(child.wait_with_output().unwrap());
    assert_ne!(cut.code, 0, "a push cut off fails, and says so: {cut:?}");
    assert!(
        !server.cache_root().join("ac").exists(),
        "no record before its objects"
    );
    server.restart();
    let p = cairn(&s, h.path(), &["cache", "push", "--remote", &url], &[]);
    assert_eq!(p.code, 0, "{p:?}");
    assert!(p.stdout.contains("pushed 20 realisation(s)"), "{p:?}");
    assert!(p.stdout.contains("already there"), "{p:?}");
    let c = fresh_clone(&s);
    let r = cairn(
        &c,
        h.path(),
        &["run", "run_all", "--format", "json", "--trust-unsigned"],
        &[("CAIRN_REMOTE", &url)],
    );
    assert!(r.with_status("ran").is_empty(), "{r:?}");
}
