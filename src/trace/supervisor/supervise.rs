//! The supervisor's loop: every stop of every tracee, until the program
//! exits and its descendants are reaped.

mod observe;

use std::collections::HashMap;
use std::ffi::c_int;

use crate::paths::{Link, Memory, Root, proc_link};
use crate::record::{Events, Op};
use crate::sys::*;
use observe::Pending;

/// What the program's side of the fork said, one line per step: `T` (traced,
/// about to stop), `U<reason>` (ptrace refused), `S<reason>` (seccomp
/// refused), `E<errno>` (exec failed). The pipe closes at exec.
pub struct Report {
    fd: c_int,
    read_all: bool,
    pub untraced: Option<String>,
    pub exec_error: Option<i32>,
}

impl Report {
    pub fn new(fd: c_int) -> Self {
        Report {
            fd,
            read_all: false,
            untraced: None,
            exec_error: None,
        }
    }

    fn read_line(&mut self) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        loop {
            let mut b = 0u8;
            // SAFETY: reads one byte into `b`.
            let n = unsafe { read(self.fd, (&mut b as *mut u8).cast(), 1) };
            if n < 0 && errno() == EINTR {
                continue;
            }
            if n <= 0 {
                self.read_all = true;
                return (!line.is_empty()).then_some(line);
            }
            if b == b'\n' {
                return Some(line);
            }
            line.push(b);
        }
    }

    fn take(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(&line[1..]).into_owned();
        match line[0] {
            b'U' | b'S' => self.untraced = Some(text),
            b'E' => self.exec_error = text.parse().ok(),
            _ => {}
        }
    }

    /// The first line's kind (blocks until the child has said it).
    pub fn first(&mut self) -> Option<u8> {
        let line = self.read_line()?;
        self.take(&line);
        line.first().copied()
    }

    /// Reads the rest; returns at once once the child has exec'd or exited.
    pub fn finish(&mut self) {
        while !self.read_all {
            if let Some(line) = self.read_line() {
                self.take(&line);
            }
        }
    }
}

pub struct Outcome {
    pub code: i32,
    pub events: Events,
}

fn exit_code(status: c_int) -> i32 {
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}

fn wait_any(status: &mut c_int) -> Result<c_int, i32> {
    loop {
        // SAFETY: waitpid writes the status into `status`.
        let pid = unsafe { waitpid(-1, status, WALL) };
        if pid >= 0 {
            return Ok(pid);
        }
        let e = errno();
        if e != EINTR {
            return Err(e);
        }
    }
}

/// As PID 1 (in a container) everything left in the namespace is ours to
/// end; elsewhere only what we trace is, and the caller ends the rest.
fn kill_orphans() {
    // SAFETY: getpid and kill take no pointers.
    unsafe {
        if getpid() == 1 {
            kill(-1, SIGKILL);
        }
    }
}

/// Runs the program without tracing: wait for it, reap what is ours.
pub fn untraced(main: c_int, report: &mut Report) -> Outcome {
    let mut status = 0;
    let mut code = 125;
    while let Ok(pid) = wait_any(&mut status) {
        if pid == main && (status & 0x7f) != 0x7f {
            code = exit_code(status);
            kill_orphans();
        }
    }
    report.finish();
    Outcome {
        code,
        events: Events::new(),
    }
}

#[derive(Default)]
struct Tracee {
    /// Its first stop (the SIGSTOP of a new tracee) has been seen.
    started: bool,
    pending: Option<Pending>,
    /// The pending call's absolute path.
    path: Vec<u8>,
}

pub struct Tracer {
    root: Root,
    main: c_int,
    mem: Memory,
    events: Events,
    tracees: HashMap<c_int, Tracee>,
    /// Reused buffers: the string read, a base directory, a resolved path.
    string: Vec<u8>,
    base: Vec<u8>,
    abs: Vec<u8>,
    second: Vec<u8>,
    main_execd: bool,
    /// A call of another ABI was seen: what it touched is unknown.
    foreign: bool,
}

const OPTIONS: usize = (PTRACE_O_TRACESYSGOOD
    | PTRACE_O_TRACEFORK
    | PTRACE_O_TRACEVFORK
    | PTRACE_O_TRACECLONE
    | PTRACE_O_TRACEEXEC
    | PTRACE_O_TRACESECCOMP
    | PTRACE_O_EXITKILL) as usize;

impl Tracer {
    pub fn new(root: Root, main: c_int) -> Self {
        Tracer {
            root,
            main,
            mem: Memory::new(),
            events: Events::new(),
            tracees: HashMap::new(),
            string: Vec::with_capacity(4096),
            base: Vec::with_capacity(4096),
            abs: Vec::with_capacity(4096),
            second: Vec::with_capacity(4096),
            main_execd: false,
            foreign: false,
        }
    }

    pub fn run(mut self, report: &mut Report) -> Outcome {
        let mut status = 0;
        // The program stops itself right after PTRACE_TRACEME.
        // SAFETY: waitpid writes the status into `status`.
        while unsafe { waitpid(self.main, &mut status, WALL) } < 0 && errno() == EINTR {}
        if status & 0x7f != 0x7f {
            // A signal ended it before it could stop.
            report.finish();
            return Outcome {
                code: exit_code(status),
                events: self.events,
            };
        }
        // SAFETY: PTRACE_SETOPTIONS takes the options as its data word.
        let ok = unsafe {
            ptrace(
                PTRACE_SETOPTIONS,
                self.main,
                std::ptr::null_mut::<std::ffi::c_void>(),
                OPTIONS as *mut std::ffi::c_void,
            )
        } == 0;
        if !ok {
            // The filter it is about to install would fail its calls with
            // ENOSYS if nobody traced them: it must not run.
            // SAFETY: kill takes no pointers.
            unsafe {
                kill(self.main, SIGKILL);
            }
            crate::fail(format!(
                "PTRACE_SETOPTIONS: {}",
                std::io::Error::last_os_error()
            ));
        }
        self.tracees.insert(
            self.main,
            Tracee {
                started: true,
                ..Tracee::default()
            },
        );
        resume(PTRACE_CONT, self.main, 0);

        let mut code = None;
        while let Ok(pid) = wait_any(&mut status) {
            if status & 0x7f == 0x7f {
                if code.is_some() {
                    // The program is gone: nothing it left may run on.
                    // SAFETY: kill takes no pointers.
                    unsafe {
                        kill(pid, SIGKILL);
                    }
                    resume(PTRACE_CONT, pid, 0);
                } else {
                    self.stopped(pid, status, report);
                }
                continue;
            }
            // It exited or was killed.
            if let Some(t) = self.tracees.remove(&pid)
                && t.pending.is_some()
            {
                self.killed_mid_call(&t);
            }
            if pid == self.main {
                code = Some(exit_code(status));
                for &other in self.tracees.keys() {
                    if traced_by_us(other) {
                        // SAFETY: kill takes no pointers.
                        unsafe {
                            kill(other, SIGKILL);
                        }
                    }
                }
                kill_orphans();
            }
        }
        report.finish();
        if self.foreign && report.untraced.is_none() {
            report.untraced = Some(
                "a program made system calls of another ABI (32-bit or x32), which are not decoded"
                    .into(),
            );
        }
        Outcome {
            code: code.unwrap_or(125),
            events: self.events,
        }
    }

    fn stopped(&mut self, pid: c_int, status: c_int, report: &mut Report) {
        let sig = (status >> 8) & 0xff;
        let event = (status >> 16) & 0xff;
        if event == PTRACE_EVENT_SECCOMP {
            self.entry(pid);
        } else if sig == SIGTRAP | 0x80 {
            self.exit(pid);
        } else if sig == SIGTRAP && event != 0 {
            match event {
                PTRACE_EVENT_FORK | PTRACE_EVENT_VFORK | PTRACE_EVENT_CLONE => {
                    let new = event_msg(pid) as c_int;
                    self.tracees.entry(new).or_default();
                }
                PTRACE_EVENT_EXEC => self.exec(pid, report),
                _ => {}
            }
            self.resume(pid, 0);
        } else {
            let t = self.tracees.entry(pid).or_default();
            if sig == SIGSTOP && !t.started {
                // A new tracee's first stop, not a signal to pass on.
                t.started = true;
                self.resume(pid, 0);
            } else if is_signal_delivery(pid) {
                self.resume(pid, sig);
            } else {
                // A group stop: without PTRACE_SEIZE it cannot be kept
                // without holding the process, so stops pass through.
                self.resume(pid, 0);
            }
        }
    }

    /// Restarts a tracee so that it stops again at the end of a pending call.
    fn resume(&self, pid: c_int, sig: c_int) {
        let pending = self.tracees.get(&pid).is_some_and(|t| t.pending.is_some());
        resume(if pending { PTRACE_SYSCALL } else { PTRACE_CONT }, pid, sig);
    }

    /// An exec event: the call succeeded (its exit stop may never be seen if
    /// the tracee is resumed without PTRACE_SYSCALL).
    fn exec(&mut self, pid: c_int, report: &mut Report) {
        // A thread other than the leader that execs takes the leader's id.
        let former = event_msg(pid) as c_int;
        if former != pid
            && let Some(t) = self.tracees.remove(&former)
        {
            self.tracees.insert(pid, t);
        }
        if pid == self.main && !self.main_execd {
            self.main_execd = true;
            report.finish();
            if report.untraced.is_some() {
                // The filter was refused: trace nothing rather than all.
                self.tracees.remove(&pid);
                resume(PTRACE_DETACH, pid, 0);
                return;
            }
        }
        let Some(t) = self.tracees.get_mut(&pid) else {
            return;
        };
        if let Some(Pending::Exec) = t.pending {
            t.pending = None;
            let path = std::mem::take(&mut t.path);
            self.record(Op::Exec, true, &path);
            let mut real = std::mem::take(&mut self.second);
            if proc_link(pid, Link::Exe, &mut real) && real != path {
                self.record(Op::Exec, true, &real);
            }
            self.second = real;
            if let Some(t) = self.tracees.get_mut(&pid) {
                t.path = path;
            }
        }
    }
}

/// Whether `pid` is still one of ours: a pid whose exit went unseen may
/// have been reused by a process that is none of our business.
fn traced_by_us(pid: c_int) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    // SAFETY: getpid takes no pointers.
    let us = unsafe { getpid() };
    status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .is_some_and(|v| v.trim().parse() == Ok(us))
}
