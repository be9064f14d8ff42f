//! `cairn key generate` and signatures through the real binary: key files
//! and their modes, never overwriting, and trust from `cairn.toml` and the
//! user's `config.toml`.

use std::os::unix::fs::PermissionsExt;

use crate::sharing::Machine;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn key_generate_writes_a_private_secret_and_prints_the_public_key() {
    let m = Machine::new();
    let out = m.cairn(&["key", "generate", "team"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let printed = out.stdout.trim();
    let (name, b64) = printed.split_once(':').expect("NAME:BASE64");
    assert_eq!(name, "team");
    assert_eq!(
        data_encoding::BASE64.decode(b64.as_bytes()).unwrap().len(),
        32
    );

    let keys = m.home().join(".config/cairn/keys");
    let secret = keys.join("team.secret");
    let public = keys.join("team.public");
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&public), 0o644);
    assert_eq!(std::fs::read_to_string(&public).unwrap().trim(), printed);
    let secret_text = std::fs::read_to_string(&secret).unwrap();
    assert!(secret_text.starts_with("team:"));
    assert!(
        !secret_text.contains(b64),
        "the secret file holds the seed first"
    );

    // Never overwritten: a clear error, and the old key is intact.
    let again = m.cairn(&["key", "generate", "team"], &[]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("already exists") && again.stderr.contains("team.secret"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_text);
    assert!(again.stdout.is_empty());

    // $XDG_CONFIG_HOME wins over ~/.config; a bad name is refused.
    let xdg = m.home().join("xdg");
    let xdg_s = xdg.display().to_string();
    let out = m.cairn(&["key", "generate", "ci-1"], &[("XDG_CONFIG_HOME", &xdg_s)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(xdg.join("cairn/keys/ci-1.secret").is_file());
    let out = m.cairn(&["key", "generate", "../evil"], &[]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("invalid key name"), "{}", out.stderr);
}

#[test]
fn signatures_verify_only_under_keys_the_user_trusts() {
    let m = Machine::new();
    let team = m
        .cairn(&["key", "generate", "team"], &[])
        .stdout
        .trim()
        .to_string();
    let other = m
        .cairn(&["key", "generate", "other"], &[])
        .stdout
        .trim()
        .to_string();
    let keys = m.home().join(".config/cairn/keys");
    let message = b"canonical realisation bytes";

    // sign-with from cairn.toml, relative to the project... here absolute.
    m.cairn_toml(&format!(
        "[remote]\nsign-with = {:?}\n[trust]\nkeys = [{team:?}]\n",
        keys.join("team.secret").display().to_string()
    ));
    let out = m.cairn_stdin(&["internal", "sign"], &[], message);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sig = out.json()["signature"].as_str().unwrap().to_string();
    assert!(sig.starts_with("team:"));

    let verify = |msg: &[u8], sig: &str| {
        let out = m.cairn_stdin(&["internal", "verify", sig], &[], msg);
        assert_eq!(out.code, 0, "{}", out.stderr);
        (out.json()["signed_by"].clone(), out.stderr)
    };
    assert_eq!(verify(message, &sig).0, "team");
    // Tampered message: not believed, with a warning.
    let (by, stderr) = verify(b"canonical realisation bytez", &sig);
    assert!(by.is_null());
    assert!(
        stderr.contains("warning: no signature by a trusted key"),
        "{stderr}"
    );
    // Signed by a key that only the user's config trusts: believed once the
    // user's config.toml lists it (the two lists merge).
    let other_secret = keys.join("other.secret").display().to_string();
    let out = m.cairn_stdin(&["internal", "sign", "--key", &other_secret], &[], message);
    let other_sig = out.json()["signature"].as_str().unwrap().to_string();
    assert!(verify(message, &other_sig).0.is_null());
    std::fs::write(
        m.home().join(".config/cairn/config.toml"),
        format!("[trust]\nkeys = [{other:?}]\n"),
    )
    .unwrap();
    assert_eq!(verify(message, &other_sig).0, "other");
    assert_eq!(verify(message, &sig).0, "team");
    // A signature relabelled with a trusted name does not pass.
    let relabelled = other_sig.replacen("other:", "team:", 1);
    assert!(verify(message, &relabelled).0.is_null());

    // A secret key others can read is refused, with the fix.
    let secret = keys.join("other.secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = m.cairn_stdin(&["internal", "sign", "--key", &other_secret], &[], message);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);

    // A malformed trusted key is an error naming where it is.
    m.cairn_toml("[trust]\nkeys = [\"team:***\"]\n");
    let out = m.cairn_stdin(&["internal", "verify", &sig], &[], message);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cairn.toml: [trust] keys"),
        "{}",
        out.stderr
    );
}
