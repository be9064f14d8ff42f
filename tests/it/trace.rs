//! The tracer (`cairn-trace`) on its own: small programs run under it in a
//! temp root, and the events it records. The supervisor is the one embedded
//! in cairn, installed by `cairn internal trace-install`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The installed supervisor, once per test process.
fn supervisor() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["internal", "trace-install"])
            .arg(&dir)
            .output()
            .expect("run cairn");
        assert!(out.status.success(), "trace-install: {out:?}");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// A program's run under the tracer.
#[derive(Debug)]
struct Traced {
    code: i32,
    header: String,
    events: BTreeSet<String>,
    stdout: String,
    stderr: String,
}

impl Traced {
    /// Every `OP EXISTED PATH` (space-separated here for readability) was recorded.
    #[track_caller]
    fn assert_has(&self, expected: &[&str]) {
        for e in expected {
            assert!(
                self.events.contains(&e.replace(' ', "\t")),
                "no event `{e}` in {self:#?}"
            );
        }
    }

    #[track_caller]
    fn assert_lacks(&self, path_part: &str) {
        for e in &self.events {
            assert!(
                !e.contains(path_part),
                "unexpected event `{e}` in {self:#?}"
            );
        }
    }
}

fn root() -> TempDir {
    tempfile::tempdir().unwrap()
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn command(root: &Path, argv: &[&str]) -> (Command, PathBuf) {
    let out = root.parent().unwrap().join(format!(
        "{}.trace",
        root.file_name().unwrap().to_string_lossy()
    ));
    let mut c = Command::new(supervisor());
    c.arg("--root")
        .arg(root)
        .arg("--out")
        .arg(&out)
        .arg("--")
        .args(argv)
        .current_dir(root)
        .stdin(Stdio::null());
    (c, out)
}

fn collect(out: std::process::Output, trace: &Path) -> Traced {
    let text =
        std::fs::read_to_string(trace).unwrap_or_else(|e| panic!("no trace file ({e}): {out:?}"));
    let _ = std::fs::remove_file(trace);
    let partial = format!("{}.partial", trace.display());
    assert!(!Path::new(&partial).exists(), "{partial} left behind");
    let mut lines = text.lines();
    Traced {
        code: out
            .status
            .code()
            .unwrap_or_else(|| panic!("the supervisor was killed: {out:?}")),
        header: lines.next().unwrap_or_default().to_string(),
        events: lines.map(str::to_string).collect(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `argv` under the tracer with `root` as root and working directory.
fn trace(root: &Path, argv: &[&str]) -> Traced {
    let (mut c, out) = command(root, argv);
    let output = c.output().expect("run cairn-trace");
    let t = collect(output, &out);
    assert_eq!(t.header, "cairn-trace 1", "{t:#?}");
    t
}

fn python(root: &Path, code: &str) -> Traced {
    let t = trace(root, &["python3", "-c", code]);
    assert_eq!(t.code, 0, "{t:#?}");
    t
}

fn sh(root: &Path, script: &str) -> Traced {
    trace(root, &["sh", "-c", script])
}

#[test]
fn a_python_open_is_a_read() {
    let r = root();
    write(r.path(), "data.csv", "a,b\n");
    let t = python(r.path(), "open('data.csv').read()");
    t.assert_has(&["read 1 data.csv"]);
}

#[test]
fn an_import_reads_the_module_next_to_the_script() {
    let r = root();
    write(r.path(), "analysis/helper.py", "X = 1\n");
    write(
        r.path(),
        "analysis/x.py",
        "import helper\nprint(helper.X)\n",
    );
    let t = trace(r.path(), &["python3", "analysis/x.py"]);
    assert_eq!((t.code, t.stdout.as_str()), (0, "1\n"), "{t:#?}");
    t.assert_has(&[
        "read 1 analysis/x.py",
        "read 1 analysis/helper.py",
        "list 1 analysis",
    ]);
}

#[test]
fn a_shell_cat_is_a_read_and_its_exec_is_seen() {
    let r = root();
    write(r.path(), "data.txt", "hello");
    write(r.path(), "run.sh", "#!/bin/sh\ncat data.txt\n");
    std::fs::set_permissions(
        r.path().join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let t = sh(r.path(), "./run.sh");
    assert_eq!((t.code, t.stdout.as_str()), (0, "hello"), "{t:#?}");
    t.assert_has(&["exec 1 run.sh", "read 1 run.sh", "read 1 data.txt"]);
}

#[test]
fn subprocesses_and_threads_are_followed() {
    let r = root();
    for f in ["sub.txt", "thread.txt", "vfork.txt"] {
        write(r.path(), f, f);
    }
    let t = python(
        r.path(),
        "import subprocess, sys, threading, os\n\
         subprocess.run([sys.executable, '-c', \"open('sub.txt').read()\"], check=True)\n\
         th = threading.Thread(target=lambda: open('thread.txt').read()); th.start(); th.join()\n\
         pid = os.posix_spawnp('cat', ['cat', 'vfork.txt'], os.environ)\n\
         os.waitpid(pid, 0)\n",
    );
    t.assert_has(&["read 1 sub.txt", "read 1 thread.txt", "read 1 vfork.txt"]);
}

#[test]
fn an_exec_from_a_thread_is_followed() {
    let r = root();
    write(r.path(), "data.txt", "x");
    let t = python(
        r.path(),
        "import os, threading, time\n\
         threading.Thread(target=lambda: os.execv('/bin/sh', ['sh', '-c', 'cat data.txt'])).start()\n\
         time.sleep(30)\n",
    );
    t.assert_has(&["read 1 data.txt"]);
}

#[test]
fn an_mmap_read_is_a_read() {
    let r = root();
    write(r.path(), "m.bin", "0123456789");
    let t = python(
        r.path(),
        "import mmap\n\
         with open('m.bin', 'rb') as f:\n    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n\
         assert m[:4] == b'0123'\n",
    );
    t.assert_has(&["read 1 m.bin"]);
}

#[test]
fn a_read_through_a_symlink_records_the_link_and_its_target() {
    let r = root();
    write(r.path(), "data/real.txt", "x");
    std::os::unix::fs::symlink("data/real.txt", r.path().join("link.txt")).unwrap();
    std::os::unix::fs::symlink("data", r.path().join("dirlink")).unwrap();
    let t = python(
        r.path(),
        "open('link.txt').read(); open('dirlink/real.txt').read()",
    );
    t.assert_has(&[
        "read 1 link.txt",
        "read 1 data/real.txt",
        "read 1 dirlink/real.txt",
    ]);
}

#[test]
fn dot_dot_after_a_symlink_goes_where_the_kernel_goes() {
    let r = root();
    std::fs::create_dir_all(r.path().join("deep/inner")).unwrap();
    std::os::unix::fs::symlink("deep/inner", r.path().join("lnk")).unwrap();
    let t = python(
        r.path(),
        "import os; assert not os.path.exists('lnk/../nope')",
    );
    t.assert_has(&["stat 0 deep/nope"]);
    assert!(!t.events.contains("stat\t0\tnope"), "{t:#?}");
}

#[test]
fn relative_paths_follow_chdir_and_directory_descriptors() {
    let r = root();
    write(r.path(), "sub/f.txt", "x");
    write(r.path(), "d/g.txt", "y");
    let t = python(
        r.path(),
        "import os\n\
         fd = os.open('d', os.O_RDONLY)\n\
         os.close(os.open('g.txt', os.O_RDONLY, dir_fd=fd))\n\
         try: os.stat('missing', dir_fd=fd)\n\
         except FileNotFoundError: pass\n\
         os.chdir('sub'); open('f.txt').read(); os.path.exists('../nope')\n",
    );
    t.assert_has(&[
        "stat 1 d",
        "read 1 d/g.txt",
        "stat 0 d/missing",
        "stat 1 sub",
        "read 1 sub/f.txt",
        "stat 0 nope",
    ]);
}

#[test]
fn probes_of_missing_files_record_absence() {
    let r = root();
    let t = python(r.path(), "import os; assert not os.path.exists('nope.py')");
    t.assert_has(&["stat 0 nope.py"]);
    let t = sh(r.path(), "test -f missing.txt; [ -e gone ] || true");
    assert_eq!(t.code, 0, "{t:#?}");
    t.assert_has(&["stat 0 missing.txt", "stat 0 gone"]);
    let t = sh(r.path(), "cat absent.csv 2>/dev/null");
    t.assert_has(&["read 0 absent.csv"]);
}

#[test]
fn listing_a_directory_is_a_list() {
    let r = root();
    write(r.path(), "a/1", "");
    write(r.path(), "b/2", "");
    let t = python(r.path(), "import os; os.listdir('a')");
    t.assert_has(&["list 1 a"]);
    let t = sh(r.path(), "ls b >/dev/null; ls >/dev/null");
    t.assert_has(&["list 1 b", "list 1 "]);
}

#[test]
fn a_file_written_then_read_is_a_write_then_a_read() {
    let r = root();
    write(r.path(), "old.txt", "old");
    write(r.path(), "trunc.txt", "old");
    let t = python(
        r.path(),
        "open('out.txt', 'w').write('x'); open('out.txt').read()\n\
         open('old.txt', 'a').write('more'); open('trunc.txt', 'w').write('new')\n",
    );
    // An append keeps what was there; a truncation does not.
    t.assert_has(&[
        "write 0 out.txt",
        "read 1 out.txt",
        "write 1 old.txt",
        "read 1 old.txt",
        "write 1 trunc.txt",
    ]);
    assert!(!t.events.contains("read\t1\ttrunc.txt"), "{t:#?}");
    let t = sh(
        r.path(),
        "mkdir made && mv old.txt made/moved.txt && rm out.txt && ln -s x made/l",
    );
    assert_eq!(t.code, 0, "{t:#?}");
    t.assert_has(&[
        "write 0 made",
        "write 1 old.txt",
        "read 1 old.txt",
        "write 0 made/moved.txt",
        "write 1 out.txt",
        "write 0 made/l",
    ]);
}

#[test]
fn odd_names_are_escaped() {
    let r = root();
    write(r.path(), "a\tb\nc\\d", "x");
    let t = python(r.path(), "open('a\\tb\\nc\\\\d').read()");
    t.assert_has(&["read 1 a\\tb\\nc\\\\d"]);
}

#[test]
fn long_paths_are_read_whole() {
    let r = root();
    let long = format!(
        "{}/{}.txt",
        vec!["d".repeat(200); 4].join("/"),
        "f".repeat(200)
    );
    write(r.path(), &long, "x");
    let t = python(r.path(), &format!("open({long:?}).read()"));
    t.assert_has(&[&format!("read 1 {long}")]);
}

#[test]
fn paths_outside_the_root_are_not_recorded() {
    let r = root();
    let elsewhere = root();
    write(elsewhere.path(), "secret.txt", "x");
    write(r.path(), "in.txt", "x");
    let outside = elsewhere.path().join("secret.txt");
    let t = python(
        r.path(),
        &format!(
            "open({:?}).read(); open('/etc/hostname').read(); open('../{}/secret.txt').read(); open('in.txt').read()",
            outside.to_str().unwrap(),
            elsewhere.path().file_name().unwrap().to_str().unwrap(),
        ),
    );
    t.assert_has(&["read 1 in.txt"]);
    t.assert_lacks("secret");
    t.assert_lacks("hostname");
    for e in &t.events {
        let path = e.splitn(3, '\t').nth(2).unwrap();
        assert!(!path.starts_with('/'), "{e}");
    }
}

#[test]
fn exit_codes_and_signals_pass_through() {
    let r = root();
    assert_eq!(sh(r.path(), "exit 3").code, 3);
    assert_eq!(sh(r.path(), "kill -9 $$").code, 137);
    assert_eq!(sh(r.path(), "kill -TERM $$").code, 143);
    let t = trace(r.path(), &["no-such-program-anywhere"]);
    assert_eq!(t.code, 127, "{t:#?}");
    assert!(t.stderr.contains("no-such-program-anywhere"), "{t:#?}");
}

#[test]
fn a_child_killed_mid_run_and_one_left_running_end_cleanly() {
    let r = root();
    write(r.path(), "after.txt", "x");
    let start = Instant::now();
    let t = sh(
        r.path(),
        "sleep 30 & kill -9 $!; wait; cat after.txt >/dev/null; (sleep 600; touch late.txt) & exit 0",
    );
    assert_eq!(t.code, 0, "{t:#?}");
    assert!(start.elapsed() < Duration::from_secs(20), "{t:#?}");
    t.assert_has(&["read 1 after.txt"]);
    assert!(!r.path().join("late.txt").exists());
}

#[test]
fn a_child_killed_inside_a_traced_call_is_survived() {
    let r = root();
    // A FIFO blocks an open inside the call until the process is killed.
    let status = Command::new("mkfifo")
        .arg(r.path().join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    write(r.path(), "after.txt", "x");
    let t = python(
        r.path(),
        "import os, platform, signal, time\n\
         pid = os.fork()\n\
         if pid == 0:\n    open('fifo').read(); os._exit(0)\n\
         openat = '257' if platform.machine() == 'x86_64' else '56'\n\
         while open(f'/proc/{pid}/syscall').read().split()[0] != openat: time.sleep(0.01)\n\
         time.sleep(0.2); os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)\n\
         open('after.txt').read()\n",
    );
    t.assert_has(&["read 1 fifo", "read 1 after.txt"]);
}

#[test]
fn sigterm_is_passed_to_the_program() {
    let r = root();
    let (mut c, out) = command(
        r.path(),
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; touch ready; while :; do sleep 0.1; done",
        ],
    );
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !r.path().join("ready").exists() {
        assert!(Instant::now() < deadline, "the program never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let t = collect(child.wait_with_output().unwrap(), &out);
    assert_eq!(t.code, 7, "{t:#?}");
}

/// A seccomp filter (for bubblewrap's `--seccomp`) that fails the system
/// call numbered `nr` with EPERM.
pub(crate) fn deny_filter(nr: u32) -> Vec<u8> {
    let insns: [(u16, u8, u8, u32); 4] = [
        (0x20, 0, 0, 0),               // ld nr
        (0x15, 0, 1, nr),              // jeq nr
        (0x06, 0, 0, 0x0005_0000 | 1), // ret ERRNO(EPERM)
        (0x06, 0, 0, 0x7fff_0000),     // ret ALLOW
    ];
    insns
        .iter()
        .flat_map(|&(code, jt, jf, k)| {
            let mut b = code.to_ne_bytes().to_vec();
            b.extend([jt, jf]);
            b.extend(k.to_ne_bytes());
            b
        })
        .collect()
}

fn bwrap(root: &Path, trace_dir: &Path, extra: &str, argv: &str) -> (Traced, PathBuf) {
    // The sandbox of the local executor, in short: the host read-only, the
    // root at /workspace, fresh /proc, /dev and /tmp, new namespaces.
    let mut host = String::new();
    for entry in std::fs::read_dir("/").unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if matches!(name.as_str(), "proc" | "dev" | "tmp" | "workspace") {
            continue;
        }
        let path = format!("/{name}");
        host += &match std::fs::read_link(&path) {
            Ok(target) => format!(" --symlink {} {path}", target.display()),
            Err(_) => format!(" --ro-bind {path} {path}"),
        };
    }
    let script = format!(
        "exec bwrap{host} --dev /dev --proc /proc --tmpfs /tmp \
         --bind \"$ROOT\" /workspace --ro-bind \"$SUP\" /cairn-trace --bind \"$OUT\" /trace \
         --chdir /workspace --unshare-net --unshare-pid --unshare-ipc --unshare-uts \
         --die-with-parent {extra} -- /cairn-trace --root /workspace --out /trace/t -- {argv}"
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("ROOT", root)
        .env("SUP", supervisor())
        .env("OUT", trace_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("bwrap: command not found"),
        "the bubblewrap test needs bwrap (see .ci/install-deps): {out:?}"
    );
    let path = trace_dir.join("t");
    (collect(out, &path), path)
}

#[test]
fn in_the_bubblewrap_sandbox_it_traces() {
    let r = root();
    let traces = root();
    write(r.path(), "data.txt", "x");
    let (t, _) = bwrap(
        r.path(),
        traces.path(),
        "",
        "python3 -c \"import os; open('data.txt').read(); os.path.exists('/workspace/nope')\"",
    );
    assert_eq!((t.code, t.header.as_str()), (0, "cairn-trace 1"), "{t:#?}");
    t.assert_has(&["read 1 data.txt", "stat 0 nope"]);
}

#[test]
fn where_ptrace_is_refused_the_program_runs_untraced() {
    let r = root();
    let traces = root();
    let ptrace = if cfg!(target_arch = "aarch64") {
        117
    } else {
        101
    };
    std::fs::write(traces.path().join("filter.bpf"), deny_filter(ptrace)).unwrap();
    let (t, _) = bwrap(
        r.path(),
        traces.path(),
        "--seccomp 9 9<\"$OUT/filter.bpf\"",
        "sh -c 'echo ran > ran.txt; exit 5'",
    );
    assert_eq!(t.code, 5, "{t:#?}");
    assert!(
        t.header
            .starts_with("untraced\tPTRACE_TRACEME: Operation not permitted"),
        "{t:#?}"
    );
    assert!(t.events.is_empty(), "{t:#?}");
    assert_eq!(
        std::fs::read_to_string(r.path().join("ran.txt")).unwrap(),
        "ran\n"
    );
}

#[test]
fn in_a_container_with_the_default_seccomp_profile_it_traces_as_pid_1() {
    let r = root();
    let traces = root();
    write(r.path(), "data.txt", "hi");
    // The container runs as another user, as the docker executor's do.
    for dir in [r.path(), traces.path()] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    }
    let image = format!("{}:v1", crate::docker::busybox());
    let start = Instant::now();
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--user", "1000:1000"])
        .arg("-v")
        .arg(format!("{}:/workspace", r.path().display()))
        .arg("-v")
        .arg(format!("{}:/trace", traces.path().display()))
        .arg("-v")
        .arg(format!("{}:/cairn-trace:ro", supervisor().display()))
        .args(["-w", "/workspace", "--entrypoint", "/cairn-trace", &image])
        .args(["--root", "/workspace", "--out", "/trace/t", "--"])
        .args([
            "sh",
            "-c",
            "sleep 600 & head -c 12 /proc/1/cmdline; echo; cat data.txt; test -f nope; ls sub 2>/dev/null; echo x > new.txt; exit 4",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("docker: {e} (this test needs Docker, see .ci/install-deps)"));
    let t = collect(out, &traces.path().join("t"));
    assert_eq!((t.code, t.header.as_str()), (4, "cairn-trace 1"), "{t:#?}");
    // The supervisor is PID 1, and the background sleep did not keep the
    // container alive.
    assert!(t.stdout.starts_with("/cairn-trace\nhi"), "{t:#?}");
    assert!(start.elapsed() < Duration::from_secs(60), "{t:#?}");
    t.assert_has(&[
        "read 1 data.txt",
        "stat 0 nope",
        "stat 0 sub",
        "write 0 new.txt",
    ]);
}

#[test]
fn where_process_vm_readv_is_refused_paths_are_peeked() {
    let r = root();
    let traces = root();
    write(r.path(), "a-name-longer-than-one-word.txt", "x");
    let nr = if cfg!(target_arch = "aarch64") {
        270
    } else {
        310
    };
    std::fs::write(traces.path().join("filter.bpf"), deny_filter(nr)).unwrap();
    let (t, _) = bwrap(
        r.path(),
        traces.path(),
        "--seccomp 9 9<\"$OUT/filter.bpf\"",
        "cat a-name-longer-than-one-word.txt",
    );
    assert_eq!((t.code, t.header.as_str()), (0, "cairn-trace 1"), "{t:#?}");
    t.assert_has(&["read 1 a-name-longer-than-one-word.txt"]);
}

#[test]
fn without_proc_the_program_runs_untraced() {
    let r = root();
    let traces = root();
    let (t, _) = bwrap(
        r.path(),
        traces.path(),
        "--tmpfs /proc",
        "sh -c 'echo ran > ran.txt; exit 2'",
    );
    assert_eq!(t.code, 2, "{t:#?}");
    assert!(
        t.header.starts_with("untraced\t/proc is not mounted"),
        "{t:#?}"
    );
    assert!(r.path().join("ran.txt").exists());
}

#[test]
fn where_seccomp_is_refused_the_program_runs_untraced() {
    let r = root();
    let traces = root();
    // The filter is installed with prctl, which this sandbox refuses.
    let prctl = if cfg!(target_arch = "aarch64") {
        167
    } else {
        157
    };
    std::fs::write(traces.path().join("filter.bpf"), deny_filter(prctl)).unwrap();
    let (t, _) = bwrap(
        r.path(),
        traces.path(),
        "--seccomp 9 9<\"$OUT/filter.bpf\"",
        "sh -c 'cat /dev/null; echo ran > ran.txt; exit 6'",
    );
    assert_eq!(t.code, 6, "{t:#?}");
    assert!(
        t.header
            .starts_with("untraced\tprctl(PR_SET_NO_NEW_PRIVS): Operation not permitted"),
        "{t:#?}"
    );
    assert!(t.events.is_empty(), "{t:#?}");
    assert!(r.path().join("ran.txt").exists());
}

#[test]
fn in_a_container_that_refuses_ptrace_it_runs_untraced_as_pid_1() {
    let r = root();
    let traces = root();
    let profile = traces.path().join("seccomp.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let image = format!("{}:v1", crate::docker::busybox());
    let start = Instant::now();
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none"])
        .arg("--security-opt")
        .arg(format!("seccomp={}", profile.display()))
        .arg("-v")
        .arg(format!("{}:/workspace", r.path().display()))
        .arg("-v")
        .arg(format!("{}:/trace", traces.path().display()))
        .arg("-v")
        .arg(format!("{}:/cairn-trace:ro", supervisor().display()))
        .args(["-w", "/workspace", "--entrypoint", "/cairn-trace", &image])
        .args(["--root", "/workspace", "--out", "/trace/t", "--"])
        .args(["sh", "-c", "sleep 600 & echo ran > ran.txt; exit 9"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("docker: {e} (this test needs Docker, see .ci/install-deps)"));
    let t = collect(out, &traces.path().join("t"));
    assert_eq!(t.code, 9, "{t:#?}");
    assert!(
        t.header
            .starts_with("untraced\tPTRACE_TRACEME: Operation not permitted"),
        "{t:#?}"
    );
    assert!(t.events.is_empty(), "{t:#?}");
    assert!(r.path().join("ran.txt").exists());
    assert!(start.elapsed() < Duration::from_secs(60), "{t:#?}");
}

/// `int 0x80` from a 64-bit program is the 32-bit ABI, whose calls the
/// supervisor does not decode: the trace must not pass for complete.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_call_of_another_abi_makes_the_trace_untraced() {
    let r = root();
    write(r.path(), "data.txt", "x");
    let (mut c, out) = command(
        r.path(),
        &[
            "python3",
            "-c",
            "import ctypes, mmap, os\n\
             code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])  # mov eax, getpid; int 0x80; ret\n\
             m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n\
             m.write(code)\n\
             f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))\n\
             assert f() == os.getpid()\n\
             open('data.txt').read()\n",
        ],
    );
    let t = collect(c.output().unwrap(), &out);
    assert_eq!(t.code, 0, "{t:#?}");
    assert!(
        t.header
            .starts_with("untraced\ta program made system calls of another ABI"),
        "{t:#?}"
    );
    assert!(t.events.is_empty(), "{t:#?}");
}
