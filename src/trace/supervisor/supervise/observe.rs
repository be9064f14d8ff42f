//! What a stopped call means: its path arguments resolved at entry, and at
//! its exit (or at the death of its caller) the events it gives.

use std::ffi::{CStr, c_char, c_int};
use std::os::unix::ffi::OsStrExt;

use super::{Tracee, Tracer};
use crate::calls::{self, Call, Dir, Flags};
use crate::paths::{Link, join, proc_link};
use crate::record::Op;
use crate::sys::*;

/// A system call seen at entry whose result decides what is recorded.
#[derive(Clone, Copy)]
pub(super) enum Pending {
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

impl Tracer {
    pub(super) fn record(&mut self, op: Op, existed: bool, abs: &[u8]) {
        if let Some(rel) = self.root.relative(abs) {
            self.events.add(op, existed, rel);
        }
    }

    /// Resolves a path argument into `self.abs`; true if it is inside the root.
    fn resolve(&mut self, pid: c_int, dir: Dir, args: &[u64; 6], ptr: u64, flags: u64) -> bool {
        // Unreadable or too long (the call fails too), or NULL (utimensat
        // on a descriptor, whose open was recorded).
        if !self.mem.string(pid, ptr, &mut self.string) {
            return false;
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
        if let Some(end) = after_last_dotdot(&self.string) {
            self.physical_dotdot(end);
        }
        self.root.relative(&self.abs).is_some()
    }

    /// The kernel takes `..` from where a symlink led, not lexically: the
    /// part of the path up to its last `..` is resolved on the disk (when it
    /// exists; otherwise the lookup fails there and the lexical path stays).
    fn physical_dotdot(&mut self, end: usize) {
        let mut raw = Vec::new();
        if self.string.first() != Some(&b'/') {
            raw.extend_from_slice(&self.base);
            raw.push(b'/');
        }
        raw.extend_from_slice(&self.string[..end]);
        let mut real = Vec::new();
        if canonical(&raw, &mut real) {
            let tail = &self.string[end..];
            let tail = &tail[tail.iter().take_while(|&&b| b == b'/').count()..];
            join(&real, tail, &mut self.abs);
        }
    }

    fn pend(&mut self, pid: c_int, pending: Pending) {
        let t = self.tracees.entry(pid).or_default();
        t.pending = Some(pending);
        t.path.clear();
        t.path.extend_from_slice(&self.abs);
    }

    pub(super) fn entry(&mut self, pid: c_int) {
        let Some(regs) = regs(pid) else { return };
        if regs.foreign {
            self.foreign = true;
        } else if let Some(call) = calls::lookup(regs.nr) {
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
                    // Without O_TRUNC what it held is kept (appended to,
                    // overwritten in part, or read back): its content counts.
                    if existed && flags & O_TRUNC == 0 {
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
                // The old name's content lives on under the new one.
                if self.resolve(pid, odir, a, a[usize::from(old)], 0) {
                    let existed = exists(&self.abs, false);
                    self.record_abs(Op::Write, existed);
                    if existed {
                        self.record_abs(Op::Read, true);
                    }
                }
                if self.resolve(pid, ndir, a, a[usize::from(new)], 0) {
                    let existed = exists(&self.abs, false);
                    self.record_abs(Op::Write, existed);
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
    pub(super) fn exit(&mut self, pid: c_int) {
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

    /// A tracee died inside a call: what the path was is read from the disk.
    pub(super) fn killed_mid_call(&mut self, t: &Tracee) {
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

/// Where the last `..` component of `path` ends, if it has one.
fn after_last_dotdot(path: &[u8]) -> Option<usize> {
    let mut end = None;
    let mut start = 0;
    for part in path.split(|&b| b == b'/') {
        if part == b".." {
            end = Some(start + 2);
        }
        start += part.len() + 1;
    }
    end
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
