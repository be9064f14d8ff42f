//! The remote cache over HTTP, against a real nginx (WebDAV `PUT`) and
//! against hostile servers. A remote that fails is always a warning and an
//! exit 0, never a failed command, and never a damaged store.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::hostile::{Behaviour, Hostile};
use crate::nginx::{Nginx, free_port};
use crate::sharing::Machine;

fn upload(m: &Machine, url: &str, digests: &[String], envs: &[(&str, &str)]) -> Value {
    let mut args = vec!["internal", "upload", "--remote", url];
    args.extend(digests.iter().map(String::as_str));
    m.json(&args, envs)
}

fn download(m: &Machine, url: &str, objects: &[String], extra: &[&str]) -> Value {
    let mut args = vec!["internal", "download", "--remote", url];
    args.extend(extra);
    args.extend(objects.iter().map(String::as_str));
    m.json(&args, &[])
}

/// `cairn store verify` finds nothing wrong.
fn assert_store_clean(m: &Machine) {
    let out = m.cairn(&["store", "verify"], &[]);
    assert_eq!(out.code, 0, "store verify:\n{}{}", out.stdout, out.stderr);
}

#[test]
fn objects_go_up_once_and_come_down_verified_on_another_machine() {
    let nginx = Nginx::start(None);
    let alice = Machine::new();
    let big: Vec<u8> = (0..9_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let contents: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("row {i}\n").repeat(i + 1).into_bytes())
        .chain([Vec::new(), big.clone()])
        .collect();
    let refs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let digests = alice.ingest(&refs);

    let first = upload(&alice, &nginx.url(), &digests, &[]);
    assert_eq!(first["transferred"], 22, "{first}");
    assert_eq!(first["complete"], true);
    for d in &digests {
        assert!(nginx.file(&format!("cas/{d}")).is_file(), "cas/{d} missing");
    }
    assert_eq!(
        std::fs::read(nginx.file(&format!("cas/{}", digests[21]))).unwrap(),
        big
    );
    assert_eq!(nginx.count("PUT", "cas/"), 22);

    // Everything is there: HEAD finds it and nothing is sent again.
    let again = upload(&alice, &nginx.url(), &digests, &[]);
    assert_eq!(again["transferred"], 0, "{again}");
    assert_eq!(again["present"], 22);
    assert_eq!(nginx.count("PUT", "cas/"), 22, "{}", nginx.access_log());
    assert_eq!(nginx.count("HEAD", "cas/"), 44);

    // Another machine fetches them, sizes known for some, into its store.
    let bob = Machine::new();
    let mut wanted: Vec<String> = digests.clone();
    wanted[21] = format!("{}:{}", digests[21], big.len());
    let got = download(&bob, &nginx.url(), &wanted, &["--jobs", "3"]);
    assert_eq!(got["transferred"], 22, "{got}");
    assert_eq!(
        got["bytes"].as_u64().unwrap(),
        contents.iter().map(|c| c.len() as u64).sum::<u64>()
    );
    for d in &digests {
        assert!(bob.object_path(d).is_file());
    }
    assert_store_clean(&bob);
    // A second pull has nothing to do.
    let again = download(&bob, &nginx.url(), &wanted, &[]);
    assert_eq!(
        (again["transferred"].as_u64(), again["present"].as_u64()),
        (Some(0), Some(22))
    );
}

#[test]
fn transfers_run_in_parallel_up_to_the_bound() {
    use std::sync::atomic::Ordering;
    let m = Machine::new();
    let wanted: Vec<String> = (0..12).map(|i| format!("{i:02x}").repeat(32)).collect();
    let slow = Hostile::start(
        Behaviour::Concurrent(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            Duration::from_millis(300),
        ),
        Duration::from_secs(20),
    );
    let v = download(&m, &slow.url(), &wanted, &["--jobs", "3"]);
    assert_eq!(v["missing"].as_array().unwrap().len(), 12, "{v}");
    let max = slow.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&max),
        "{max} requests at once with --jobs 3"
    );
}

#[test]
fn a_corrupt_object_on_the_server_is_refused_and_the_store_stays_clean() {
    let nginx = Nginx::start(None);
    let alice = Machine::new();
    let digests = alice.ingest(&[b"the real content\n", b"another\n"]);
    upload(&alice, &nginx.url(), &digests, &[]);
    // A writer to the cache replaces one object with other bytes.
    std::fs::write(
        nginx.file(&format!("cas/{}", digests[0])),
        b"forged content!!\n",
    )
    .unwrap();

    let bob = Machine::new();
    let got = download(&bob, &nginx.url(), &digests, &[]);
    assert_eq!(got["transferred"], 1, "{got}");
    assert_eq!(got["complete"], false);
    let refused = got["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["digest"], digests[0].as_str());
    assert!(!bob.object_path(&digests[0]).exists());
    assert!(bob.object_path(&digests[1]).is_file());
    assert_store_clean(&bob);
    let tmp = std::fs::read_dir(bob.store().join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "nothing of the forged download is left in tmp/");

    // The same when the record names the size and the server lies about it.
    let sized = vec![format!("{}:{}", digests[0], 17)];
    let got = download(&bob, &nginx.url(), &sized, &[]);
    assert_eq!(got["refused"].as_array().unwrap().len(), 1, "{got}");
    // An object the server lacks is missing, not an error.
    let absent = "ab".repeat(32);
    let got = download(&bob, &nginx.url(), std::slice::from_ref(&absent), &[]);
    assert_eq!(got["missing"][0], absent.as_str(), "{got}");
}

#[test]
fn a_corrupt_object_in_the_store_never_leaves_it() {
    use std::os::unix::fs::PermissionsExt;
    let nginx = Nginx::start(None);
    let alice = Machine::new();
    let content = vec![b'x'; 600_000];
    let digests = alice.ingest(&[&content, b"sound\n"]);
    let path = alice.object_path(&digests[0]);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut rotten = content.clone();
    rotten[599_999] = b'y';
    std::fs::write(&path, &rotten).unwrap();

    let up = upload(&alice, &nginx.url(), &digests, &[]);
    assert_eq!(up["transferred"], 1, "{up}");
    assert_eq!(up["refused"][0]["digest"], digests[0].as_str());
    assert!(
        up["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{up}"
    );
    assert!(
        !nginx.file(&format!("cas/{}", digests[0])).exists(),
        "a corrupt object reached the server"
    );
    assert!(nginx.file(&format!("cas/{}", digests[1])).is_file());
    // It was moved aside, so the next run rebuilds what needs it.
    assert!(!path.exists());
}

#[test]
fn a_token_is_sent_when_configured_and_required_by_the_server() {
    let nginx = Nginx::start(Some("s3cret"));
    let alice = Machine::new();
    let digests = alice.ingest(&[b"needs a token\n"]);

    // No token: a warning naming 401 and the URL, exit 0, nothing uploaded.
    let out = alice.cairn(
        &["internal", "upload", "--remote", &nginx.url(), &digests[0]],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["error"]["status"], 401, "{v}");
    assert!(
        out.stderr
            .contains("warning: remote cache http://127.0.0.1:"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("401") && out.stderr.contains("token-env"),
        "{}",
        out.stderr
    );

    // The variable named by token-env is unset: said, and still 401.
    alice.cairn_toml("[remote]\ntoken-env = \"CAIRN_TEST_TOKEN\"\n");
    let out = alice.cairn(
        &["internal", "upload", "--remote", &nginx.url(), &digests[0]],
        &[],
    );
    assert!(
        out.stderr.contains("$CAIRN_TEST_TOKEN, which is not set"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json()["error"]["status"], 401);

    // A wrong token is refused; the right one, from the environment, works,
    // with the URL from $CAIRN_REMOTE.
    let url = nginx.url();
    let env_wrong = [
        ("CAIRN_TEST_TOKEN", "guess"),
        ("CAIRN_REMOTE", url.as_str()),
    ];
    let v = alice.json(&["internal", "upload", &digests[0]], &env_wrong);
    assert_eq!(v["error"]["status"], 401, "{v}");
    let env_right = [
        ("CAIRN_TEST_TOKEN", "s3cret"),
        ("CAIRN_REMOTE", url.as_str()),
    ];
    let v = alice.json(&["internal", "upload", &digests[0]], &env_right);
    assert_eq!(v["transferred"], 1, "{v}");
    assert!(nginx.file(&format!("cas/{}", digests[0])).is_file());
    assert!(!nginx.access_log().contains("s3cret"));
}

#[test]
fn records_round_trip_with_put_and_get_and_absence_is_not_an_error() {
    let nginx = Nginx::start(None);
    let m = Machine::new();
    let body = m.file("rec.toml", b"format = 1\n");
    let url = nginx.url();
    let v = m.json(
        &[
            "internal",
            "remote-put",
            "ac/abc.toml",
            body.to_str().unwrap(),
            "--remote",
            &url,
        ],
        &[],
    );
    assert_eq!(v["put"], "ac/abc.toml", "{v}");
    let v = m.json(
        &["internal", "remote-head", "ac/abc.toml", "--remote", &url],
        &[],
    );
    assert_eq!(v["found"], true);
    let v = m.json(
        &["internal", "remote-get", "ac/abc.toml", "--remote", &url],
        &[],
    );
    assert_eq!(v["len"], 11, "{v}");
    let v = m.json(
        &["internal", "remote-get", "ac/nope.toml", "--remote", &url],
        &[],
    );
    assert_eq!(v["found"], false);
    let v = m.json(
        &["internal", "remote-head", "ac/nope.toml", "--remote", &url],
        &[],
    );
    assert_eq!(v["found"], false);
    // A body over the limit is refused, not read into memory.
    let v = m.json(
        &[
            "internal",
            "remote-get",
            "ac/abc.toml",
            "--max",
            "5",
            "--remote",
            &url,
        ],
        &[],
    );
    assert_eq!(v["error"]["kind"], "too-large", "{v}");
}

/// Runs `cairn internal ARGS --remote URL`; asserts the degradation: exit
/// 0, a warning, and an error of `kind`; returns the JSON.
fn degrades(m: &Machine, args: &[&str], url: &str, kind: &str) -> Value {
    let mut all = vec!["internal"];
    all.extend(args);
    all.extend(["--remote", url, "--timeout-ms", "700"]);
    let out = m.cairn(&all, &[]);
    assert_eq!(out.code, 0, "cairn {all:?} failed:\n{}", out.stderr);
    out.assert_no_crash();
    let v = out.json();
    assert_eq!(v["error"]["kind"], kind, "{all:?}: {v}\n{}", out.stderr);
    assert!(
        out.stderr.contains("warning: remote cache"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(url),
        "the warning names the URL:\n{}",
        out.stderr
    );
    v
}

#[test]
fn a_server_that_is_down_is_a_warning() {
    let m = Machine::new();
    let digests = m.ingest(&[b"local only\n"]);
    let url = format!("http://127.0.0.1:{}/cache", free_port());
    let v = degrades(&m, &["upload", &digests[0]], &url, "unreachable");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("refused"),
        "{v}"
    );
    degrades(&m, &["download", &"cd".repeat(32)], &url, "unreachable");
    assert_store_clean(&m);
}

#[test]
fn a_server_that_never_answers_times_out_quickly() {
    let m = Machine::new();
    let digests = m.ingest(&[b"a\n", b"b\n", b"c\n"]);
    let silent = Hostile::start(Behaviour::Silent, Duration::from_secs(15));
    let t = Instant::now();
    degrades(
        &m,
        &["upload", &digests[0], &digests[1], &digests[2]],
        &silent.url(),
        "timeout",
    );
    degrades(
        &m,
        &["download", &"ef".repeat(32)],
        &silent.url(),
        "timeout",
    );
    degrades(&m, &["remote-get", "ac/x"], &silent.url(), "timeout");
    // Bytes that trickle in keep each read alive, but a record's whole
    // exchange has its own limit (3 x 700 ms here).
    let trickle = Hostile::start(
        Behaviour::Trickle(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec(),
            Duration::from_millis(200),
        ),
        Duration::from_secs(15),
    );
    degrades(&m, &["remote-get", "ac/x"], &trickle.url(), "timeout");
    // An object's body that stops coming times out on the next read.
    let stall = Hostile::start(
        Behaviour::Trickle(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec(),
            Duration::from_millis(2000),
        ),
        Duration::from_secs(15),
    );
    degrades(&m, &["download", &"9a".repeat(32)], &stall.url(), "timeout");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert_store_clean(&m);
}

#[test]
fn refusals_and_server_errors_are_warnings_with_their_status() {
    let m = Machine::new();
    let digests = m.ingest(&[b"x\n"]);
    for status in [401u16, 403, 500, 503] {
        let server = Hostile::status(status);
        let v = degrades(&m, &["upload", &digests[0]], &server.url(), "status");
        assert_eq!(v["error"]["status"], status);
        let v = degrades(&m, &["download", &"12".repeat(32)], &server.url(), "status");
        assert_eq!(v["error"]["status"], status);
    }
    // A redirect is not followed (it could carry the token elsewhere).
    let redirect = Hostile::start(
        Behaviour::Reply(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ),
        Duration::from_secs(10),
    );
    let v = degrades(&m, &["remote-head", "cas/x"], &redirect.url(), "status");
    assert_eq!(v["error"]["status"], 302);
}

#[test]
fn garbage_and_lying_bodies_never_reach_the_store() {
    let m = Machine::new();
    // Not HTTP at all.
    let ssh = Hostile::start(
        Behaviour::Reply(b"SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\n".to_vec()),
        Duration::from_secs(10),
    );
    degrades(&m, &["download", &"34".repeat(32)], &ssh.url(), "garbage");
    degrades(&m, &["remote-head", "cas/x"], &ssh.url(), "garbage");

    // A body shorter than it declares, then the connection closes.
    let short = Hostile::start(
        Behaviour::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this".to_vec()),
        Duration::from_secs(10),
    );
    degrades(&m, &["download", &"56".repeat(32)], &short.url(), "garbage");
    degrades(&m, &["remote-get", "ac/x"], &short.url(), "garbage");

    // A body longer than it declares: only the declared bytes count, and
    // they are not the object, so it is refused.
    let other = Machine::new();
    let digests = other.ingest(&[b"hello world"]);
    let long = Hostile::start(
        Behaviour::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello world".to_vec()),
        Duration::from_secs(10),
    );
    let v = download(&m, &long.url(), &digests, &["--timeout-ms", "700"]);
    assert_eq!(v["refused"][0]["digest"], digests[0].as_str(), "{v}");
    let sized = vec![format!("{}:11", digests[0])];
    let v = download(&m, &long.url(), &sized, &["--timeout-ms", "700"]);
    assert!(
        v["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("declares 5 bytes"),
        "{v}"
    );

    // A well-formed answer with the wrong content for the name asked is
    // refused; the same bytes under their own name are accepted.
    let right_bytes = Hostile::start(
        Behaviour::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world".to_vec()),
        Duration::from_secs(10),
    );
    let v = download(
        &m,
        &right_bytes.url(),
        &["78".repeat(32)],
        &["--timeout-ms", "700"],
    );
    assert_eq!(v["refused"].as_array().unwrap().len(), 1, "{v}");
    let v = download(&m, &right_bytes.url(), &digests, &["--timeout-ms", "700"]);
    assert_eq!(v["transferred"], 1, "the true object is accepted: {v}");
    assert_store_clean(&m);
    let objects = walk_files(&m.store().join("objects-v1"));
    assert_eq!(objects, 1, "only the verified object entered the store");
}

#[test]
fn an_https_or_odd_url_is_a_clear_warning() {
    let m = Machine::new();
    let out = m.cairn(
        &[
            "internal",
            "remote-head",
            "cas/x",
            "--remote",
            "ftp://127.0.0.1/c",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["error"]["kind"], "bad-url");
    assert!(out.stderr.contains("http://"), "{}", out.stderr);
    // No remote at all is a usage error of the plumbing, which says how.
    let out = m.cairn(&["internal", "remote-head", "cas/x"], &[]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("CAIRN_REMOTE"), "{}", out.stderr);
}

fn walk_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                walk_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}
