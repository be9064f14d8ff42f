//! The supervisor's loop: every stop of every tracee, until the program
//! exits and its descendants are reaped.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int};
use std::os::unix::ffi::OsStrExt;

use crate::calls::{self, Call, Dir, Flags};
use crate::paths::{Link, Memory, Root, join, proc_link};
use crate::record::{Events, Op};
use crate::sys::*;

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

/// A system call seen at entry whose result decides what is recorded.
#[derive(Clone, Copy)]
enum Pending {
    Open {
        op: Op,
    },
    /// An open for writing of a path that existed: what it resolves to.
    OpenWrite,
    Exec,
    Stat {
        follow: bool,
    },
    Readlink,
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
        }
    }

    pub fn run(mut self, report: &mut Report) -> Outcome {
        let mut status = 0;
        // The program stops itself right after PTRACE_TRACEME.
        // SAFETY: waitpid writes the status into `status`.
        while unsafe { waitpid(self.main, &mut status, WALL) } < 0 && errno() == EINTR {}
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
                    // SAFETY: kill takes no pointers.
                    unsafe {
                        kill(other, SIGKILL);
                    }
                }
                kill_orphans();
            }
        }
        report.finish();
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

    fn record(&mut self, op: Op, existed: bool, abs: &[u8]) {
        if let Some(rel) = self.root.relative(abs) {
            self.events.add(op, existed, rel);
        }
    }

    /// Resolves a path argument into `self.abs`; true if it is inside the root.
    fn resolve(&mut self, pid: c_int, dir: Dir, args: &[u64; 6], ptr: u64, flags: u64) -> bool {
        if !self.mem.string(pid, ptr, &mut self.string) && self.string.is_empty() {
            // NULL (utimensat on a descriptor) or unreadable.
            if ptr != 0 || flags & AT_EMPTY_PATH == 0 {
                return false;
            }
        }
        let dirfd = match dir {
            Dir::Cwd => AT_FDCWD,
            Dir::Arg(i) => i64::from(args[usize::from(i)] as i32),
        };
        if self.string.first() == Some(&b'/') {
            join(b"", &self.string, &mut self.abs);
        } else {
            if self.string.is_empty() && flags & AT_EMPTY_PATH == 0 {
                return false;
            }
            let link = if dirfd == AT_FDCWD {
                Link::Cwd
            } else {
                Link::Fd(dirfd)
            };
            if !proc_link(pid, link, &mut self.base) {
                return false;
            }
            join(&self.base, &self.string, &mut self.abs);
        }
        self.root.relative(&self.abs).is_some()
    }

    fn pend(&mut self, pid: c_int, pending: Pending) {
        let t = self.tracees.entry(pid).or_default();
        t.pending = Some(pending);
        t.path.clear();
        t.path.extend_from_slice(&self.abs);
    }

    fn entry(&mut self, pid: c_int) {
        let Some(regs) = regs(pid) else { return };
        if let Some(call) = calls::lookup(regs.nr) {
            self.decode(pid, call, &regs.args);
        }
        self.resume(pid, 0);
    }

    fn decode(&mut self, pid: c_int, call: Call, a: &[u64; 6]) {
        let arg = |i: Option<u8>| i.map_or(0, |i| a[usize::from(i)]);
        match call {
            Call::Open { dir, path, flags } => {
                let flags = match flags {
                    Flags::Arg(i) => a[usize::from(i)],
                    Flags::Creat => O_CREAT | O_WRONLY | O_TRUNC,
                    Flags::How(i) => self.mem.word(pid, a[usize::from(i)]).unwrap_or(0),
                };
                if !self.resolve(pid, dir, a, a[usize::from(path)], 0) {
                    return;
                }
                let writes = flags & O_ACCMODE != 0 || flags & (O_CREAT | O_TRUNC) != 0;
                if writes {
                    // What the path held before the call is what counts.
                    let existed = exists(&self.abs, false);
                    self.record_abs(Op::Write, existed);
                    if existed && flags & O_ACCMODE == O_RDWR && flags & O_TRUNC == 0 {
                        self.record_abs(Op::Read, true);
                    }
                    if existed {
                        self.pend(pid, Pending::OpenWrite);
                    }
                } else {
                    let op = if flags & (O_PATH | O_DIRECTORY) != 0 {
                        Op::Stat
                    } else {
                        Op::Read
                    };
                    self.pend(pid, Pending::Open { op });
                }
            }
            Call::Exec { dir, path, flags } => {
                if self.resolve(pid, dir, a, a[usize::from(path)], arg(flags)) {
                    self.pend(pid, Pending::Exec);
                }
            }
            Call::Stat {
                dir,
                path,
                flags,
                follow,
            } => {
                let flags = arg(flags);
                if self.resolve(pid, dir, a, a[usize::from(path)], flags) {
                    let follow = follow && flags & AT_SYMLINK_NOFOLLOW == 0;
                    self.pend(pid, Pending::Stat { follow });
                }
            }
            Call::Chdir { path } => {
                if self.resolve(pid, Dir::Cwd, a, a[usize::from(path)], 0) {
                    self.pend(pid, Pending::Stat { follow: true });
                }
            }
            Call::Readlink { dir, path } => {
                if self.resolve(pid, dir, a, a[usize::from(path)], 0) {
                    self.pend(pid, Pending::Readlink);
                }
            }
            Call::List => {
                // A descriptor that is not open fails the call: nothing seen.
                if proc_link(pid, Link::Fd(i64::from(a[0] as i32)), &mut self.abs) {
                    let abs = std::mem::take(&mut self.abs);
                    self.record(Op::List, true, &abs);
                    self.abs = abs;
                }
            }
            Call::Write { dir, path, flags } => {
                if self.resolve(pid, dir, a, a[usize::from(path)], arg(flags)) {
                    let existed = exists(&self.abs, false);
                    self.record_abs(Op::Write, existed);
                }
            }
            Call::Rename {
                odir,
                old,
                ndir,
                new,
            } => {
                for (dir, path) in [(odir, old), (ndir, new)] {
                    if self.resolve(pid, dir, a, a[usize::from(path)], 0) {
                        let existed = exists(&self.abs, false);
                        self.record_abs(Op::Write, existed);
                    }
                }
            }
            Call::Link {
                odir,
                old,
                ndir,
                new,
            } => {
                if self.resolve(pid, odir, a, a[usize::from(old)], 0) {
                    let existed = exists(&self.abs, false);
                    self.record_abs(Op::Read, existed);
                }
                if self.resolve(pid, ndir, a, a[usize::from(new)], 0) {
                    let existed = exists(&self.abs, false);
                    self.record_abs(Op::Write, existed);
                }
            }
        }
    }

    fn record_abs(&mut self, op: Op, existed: bool) {
        let abs = std::mem::take(&mut self.abs);
        self.record(op, existed, &abs);
        self.abs = abs;
    }

    /// A syscall-exit stop: the result of a pending call.
    fn exit(&mut self, pid: c_int) {
        let Some(t) = self.tracees.get_mut(&pid) else {
            resume(PTRACE_CONT, pid, 0);
            return;
        };
        let Some(pending) = t.pending.take() else {
            resume(PTRACE_CONT, pid, 0);
            return;
        };
        let path = std::mem::take(&mut t.path);
        if let Some(regs) = regs(pid) {
            self.finish(pid, pending, &path, regs.ret);
        }
        if let Some(t) = self.tracees.get_mut(&pid) {
            t.path = path;
        }
        resume(PTRACE_CONT, pid, 0);
    }

    fn finish(&mut self, pid: c_int, pending: Pending, path: &[u8], ret: i64) {
        if (-ERESTART_LAST..=-ERESTART_FIRST).contains(&ret) {
            // Interrupted; the call is made again and seen again.
            return;
        }
        let existed = ret >= 0 || !(ret == -ENOENT || ret == -ENOTDIR);
        match pending {
            Pending::Open { op } => {
                if ret < 0 {
                    self.record(op, existed, path);
                    return;
                }
                // A read through a symlink reads its target too.
                let mut real = std::mem::take(&mut self.second);
                let op = if op == Op::Read
                    && proc_link(pid, Link::Fd(ret), &mut real)
                    && is_dir(&real)
                {
                    Op::Stat
                } else {
                    op
                };
                self.record(op, true, path);
                if !real.is_empty() && real != path {
                    self.record(op, true, &real);
                }
                self.second = real;
            }
            Pending::OpenWrite => {
                let mut real = std::mem::take(&mut self.second);
                if ret >= 0 && proc_link(pid, Link::Fd(ret), &mut real) && real != path {
                    self.record(Op::Write, true, &real);
                }
                self.second = real;
            }
            Pending::Exec => self.record(Op::Exec, existed, path),
            Pending::Stat { follow } => {
                self.record(Op::Stat, existed, path);
                if ret >= 0 && follow {
                    let mut real = std::mem::take(&mut self.second);
                    if canonical(path, &mut real) && real != path {
                        self.record(Op::Stat, true, &real);
                    }
                    self.second = real;
                }
            }
            // A symlink's content is its target; anything else only
            // showed whether it was there.
            Pending::Readlink if ret >= 0 => self.record(Op::Read, true, path),
            Pending::Readlink => self.record(Op::Stat, existed, path),
        }
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

    /// A tracee died inside a call: what the path was is read from the disk.
    fn killed_mid_call(&mut self, t: &Tracee) {
        let (op, follow) = match t.pending {
            Some(Pending::Open { op }) => (op, true),
            Some(Pending::OpenWrite) | None => return,
            Some(Pending::Exec) => (Op::Exec, true),
            Some(Pending::Stat { follow }) => (Op::Stat, follow),
            Some(Pending::Readlink) => (Op::Read, false),
        };
        let existed = exists(&t.path, follow);
        self.record(op, existed, &t.path);
    }
}

fn os(path: &[u8]) -> &std::path::Path {
    std::path::Path::new(std::ffi::OsStr::from_bytes(path))
}

/// Whether something is at `path` (a dangling symlink is something unless
/// it is followed); an error other than "not there" counts as something.
fn exists(path: &[u8], follow: bool) -> bool {
    let meta = if follow {
        std::fs::metadata(os(path))
    } else {
        std::fs::symlink_metadata(os(path))
    };
    match meta {
        Ok(_) => true,
        Err(e) => !matches!(e.raw_os_error(), Some(2) | Some(20)),
    }
}

fn is_dir(path: &[u8]) -> bool {
    std::fs::metadata(os(path)).is_ok_and(|m| m.is_dir())
}

/// `realpath(3)` of `path` into `out`.
fn canonical(path: &[u8], out: &mut Vec<u8>) -> bool {
    let mut c = Vec::with_capacity(path.len() + 1);
    c.extend_from_slice(path);
    c.push(0);
    let mut buf = [0 as c_char; 4096];
    // SAFETY: `c` is NUL-terminated; realpath writes at most PATH_MAX bytes.
    let ok = unsafe { !realpath(c.as_ptr().cast(), buf.as_mut_ptr()).is_null() };
    out.clear();
    if ok {
        // SAFETY: realpath wrote a NUL-terminated string.
        out.extend_from_slice(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes());
    }
    ok
}
