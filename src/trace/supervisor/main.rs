//! `cairn-trace`: cairn's tracer, a static supervisor that runs a command and
//! records which paths inside a root directory it and every process it
//! started opened, executed, stat'ed, probed or listed.
//!
//! ```text
//! cairn-trace --root DIR --out FILE -- PROGRAM ARGS...
//! ```
//!
//! The program is found on `PATH` and runs with this process's stdin, stdout,
//! stderr and environment. A seccomp-BPF filter makes only the file-system
//! system calls stop for ptrace (see `calls`); every fork, vfork, clone and
//! exec is followed. When the program exits, whatever it left running is
//! killed, FILE is written (format in `record`; it appears whole, by
//! rename, or not at all), and the supervisor exits
//! with the program's status, or 128+N if signal N killed it. SIGINT,
//! SIGTERM and SIGHUP are passed on to the program. If ptrace, seccomp or
//! `/proc` is unavailable, the program runs untraced and FILE says why; so it
//! does if a program makes calls of another ABI, which are not decoded. The supervisor's
//! own errors exit 125, a program that cannot be run 126 or 127.
//!
//! It is built on its own, statically, by cairn's build script, and uses
//! nothing but `std` and the C library it is linked with, so that it runs in
//! any container image.

mod calls;
mod paths;
mod record;
mod supervise;
mod sys;

use std::ffi::{CString, OsString, c_int};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicI32, Ordering};

use sys::*;

/// The program's pid, for the signal handler.
static MAIN_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: c_int) {
    let pid = MAIN_PID.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            kill(pid, sig);
        }
    }
}

struct Args {
    root: OsString,
    out: OsString,
    argv: Vec<CString>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let (mut root, mut out) = (None, None);
    loop {
        let Some(arg) = args.next() else {
            return Err("missing `-- PROGRAM`".into());
        };
        match arg.as_bytes() {
            b"--root" => root = args.next(),
            b"--out" => out = args.next(),
            b"--" => break,
            other => {
                return Err(format!(
                    "unknown argument {:?}",
                    String::from_utf8_lossy(other)
                ));
            }
        }
    }
    let argv: Vec<CString> = args
        .map(|a| {
            CString::new(a.into_vec()).map_err(|_| "an argument contains a NUL byte".to_string())
        })
        .collect::<Result<_, _>>()?;
    if argv.is_empty() {
        return Err("missing PROGRAM after `--`".into());
    }
    Ok(Args {
        root: root.ok_or("missing --root DIR")?,
        out: out.ok_or("missing --out FILE")?,
        argv,
    })
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("cairn-trace: {msg}");
    std::process::exit(125);
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        fail(format!(
            "{e}\nusage: cairn-trace --root DIR --out FILE -- PROGRAM ARGS..."
        ))
    });
    let canonical = std::fs::canonicalize(&args.root)
        .unwrap_or_else(|e| fail(format!("root {}: {e}", args.root.to_string_lossy())));
    let cwd = std::env::current_dir().unwrap_or_else(|e| fail(format!("working directory: {e}")));
    let root = paths::Root::new(
        args.root.as_bytes(),
        cwd.as_os_str().as_bytes(),
        canonical.as_os_str().as_bytes(),
    );
    // FILE appears complete or not at all: it is written as FILE.partial
    // and renamed. That is opened first, so that a FILE that cannot be
    // written stops the run before the program does anything.
    let mut partial = args.out.clone();
    partial.push(".partial");
    let mut out = std::fs::File::create(&partial)
        .unwrap_or_else(|e| fail(format!("{}: {e}", partial.to_string_lossy())));

    let mut fds = [0 as c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { pipe2(fds.as_mut_ptr(), O_CLOEXEC) } != 0 {
        fail(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        // SAFETY: `forward` only calls kill.
        unsafe {
            signal(sig, forward as *const () as usize);
        }
    }
    // SAFETY: the supervisor has one thread, so the child may do anything.
    let pid = unsafe { fork() };
    if pid < 0 {
        fail(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        child(fds[1], &args.argv);
    }
    MAIN_PID.store(pid, Ordering::Relaxed);
    // SAFETY: the write end belongs to the child now.
    unsafe {
        close(fds[1]);
    }
    let mut report = supervise::Report::new(fds[0]);
    let traced = report.first() == Some(b'T');
    let outcome = if traced {
        supervise::Tracer::new(root, pid).run(&mut report)
    } else {
        supervise::untraced(pid, &mut report)
    };
    let written = outcome
        .events
        .write(&mut out, report.untraced.as_deref())
        .and_then(|()| std::fs::rename(&partial, &args.out));
    if let Err(e) = written {
        eprintln!("cairn-trace: writing {}: {e}", args.out.to_string_lossy());
    }
    if let Some(e) = report.exec_error {
        eprintln!(
            "cairn-trace: {}: {}",
            args.argv[0].to_string_lossy(),
            std::io::Error::from_raw_os_error(e)
        );
    }
    std::process::exit(outcome.code);
}

/// The program's side of the fork: ask to be traced, wait for the
/// supervisor, install the filter, exec. Each step's outcome goes to the
/// supervisor over `report` as one line (`supervise::Report`).
fn child(report: c_int, argv: &[CString]) -> ! {
    let say = |msg: &[u8]| {
        // SAFETY: writes `msg` to our end of the pipe.
        unsafe {
            write(report, msg.as_ptr().cast(), msg.len());
        }
    };
    // SAFETY: restoring default dispositions; the Rust runtime ignores
    // SIGPIPE, and an ignored signal would stay ignored across exec.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_DFL);
        }
    }
    // Relative paths are resolved through /proc: without it a trace would
    // miss them, and a trace that misses something must not be written.
    if std::fs::read_link("/proc/self/cwd").is_err() {
        say(b"U/proc is not mounted, so paths cannot be resolved\n");
    } else {
        trace_me(&say);
    }
    let mut ptrs: Vec<*const std::ffi::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `ptrs` is a NULL-terminated array of C strings.
    unsafe {
        execvp(ptrs[0], ptrs.as_ptr());
    }
    let e = errno();
    say(format!("E{e}\n").as_bytes());
    // SAFETY: leaves without running the parent's atexit handlers.
    unsafe { _exit(if e == ENOENT as i32 { 127 } else { 126 }) }
}

/// Asks to be traced, waits for the supervisor, installs the filter.
fn trace_me(say: &dyn Fn(&[u8])) {
    // SAFETY: PTRACE_TRACEME takes no pointers.
    let traced = unsafe {
        ptrace(
            PTRACE_TRACEME,
            0,
            std::ptr::null_mut::<std::ffi::c_void>(),
            std::ptr::null_mut::<std::ffi::c_void>(),
        )
    } == 0;
    if traced {
        say(b"T\n");
        // SAFETY: stops until the supervisor has set its options.
        unsafe {
            raise(SIGSTOP);
        }
        if let Err(reason) = calls::install_filter() {
            say(format!("S{reason}\n").as_bytes());
        }
    } else {
        let e = std::io::Error::last_os_error();
        say(format!("UPTRACE_TRACEME: {e}\n").as_bytes());
    }
}
