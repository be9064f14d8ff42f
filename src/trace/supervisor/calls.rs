//! Which system calls stop, what their arguments mean, and the seccomp-BPF
//! program that makes exactly those calls stop. Everything else runs at full
//! speed: the kernel never wakes the supervisor for a `read` or a `mmap`.

use crate::sys::{
    AT_EMPTY_PATH, AUDIT_ARCH, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prctl,
};

/// Where a relative path argument is resolved from.
#[derive(Clone, Copy)]
pub enum Dir {
    /// The process's working directory.
    Cwd,
    /// The directory file descriptor in this argument (`AT_FDCWD` allowed).
    Arg(u8),
}

/// How an `open`'s flags are passed.
#[derive(Clone, Copy)]
pub enum Flags {
    Arg(u8),
    /// `creat`: `O_CREAT | O_WRONLY | O_TRUNC`.
    Creat,
    /// `openat2`: in the `struct open_how` this argument points to.
    How(u8),
}

/// A traced system call, by the shape of its arguments.
#[derive(Clone, Copy)]
pub enum Call {
    Open {
        dir: Dir,
        path: u8,
        flags: Flags,
    },
    Exec {
        dir: Dir,
        path: u8,
        flags: Option<u8>,
    },
    /// Metadata or existence; `follow` unless the call never follows a final
    /// symlink (`lstat`), and `flags` may hold `AT_SYMLINK_NOFOLLOW`.
    Stat {
        dir: Dir,
        path: u8,
        flags: Option<u8>,
        follow: bool,
    },
    Readlink {
        dir: Dir,
        path: u8,
    },
    Chdir {
        path: u8,
    },
    /// `getdents`: the directory open as argument 0.
    List,
    /// Anything that changes a path: creation, removal, metadata.
    Write {
        dir: Dir,
        path: u8,
        flags: Option<u8>,
    },
    Rename {
        odir: Dir,
        old: u8,
        ndir: Dir,
        new: u8,
    },
    /// The old path is read (the new one gets its content), the new one written.
    Link {
        odir: Dir,
        old: u8,
        ndir: Dir,
        new: u8,
    },
}

use Call::*;
use Dir::{Arg, Cwd};

#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
mod arch {
    use super::*;
    /// `newfstatat` and `statx` with `AT_EMPTY_PATH` are `fstat`: the file was
    /// recorded when it was opened, so they need not stop (glibc's `fstat`
    /// is one of them, and programs call it constantly). (number, flags arg)
    pub const EMPTY_PATH_OK: &[(u32, u8)] = &[(262, 3), (332, 2)];
    pub const CALLS: &[(u32, Call)] = &[
        (2, Open { dir: Cwd, path: 0, flags: Flags::Arg(1) }),
        (85, Open { dir: Cwd, path: 0, flags: Flags::Creat }),
        (257, Open { dir: Arg(0), path: 1, flags: Flags::Arg(2) }),
        (437, Open { dir: Arg(0), path: 1, flags: Flags::How(2) }),
        (4, Stat { dir: Cwd, path: 0, flags: None, follow: true }),
        (6, Stat { dir: Cwd, path: 0, flags: None, follow: false }),
        (262, Stat { dir: Arg(0), path: 1, flags: Some(3), follow: true }),
        (332, Stat { dir: Arg(0), path: 1, flags: Some(2), follow: true }),
        (21, Stat { dir: Cwd, path: 0, flags: None, follow: true }),
        (269, Stat { dir: Arg(0), path: 1, flags: None, follow: true }),
        (439, Stat { dir: Arg(0), path: 1, flags: Some(3), follow: true }),
        (191, Stat { dir: Cwd, path: 0, flags: None, follow: true }),
        (192, Stat { dir: Cwd, path: 0, flags: None, follow: false }),
        (194, Stat { dir: Cwd, path: 0, flags: None, follow: true }),
        (195, Stat { dir: Cwd, path: 0, flags: None, follow: false }),
        (89, Readlink { dir: Cwd, path: 0 }),
        (267, Readlink { dir: Arg(0), path: 1 }),
        (59, Exec { dir: Cwd, path: 0, flags: None }),
        (322, Exec { dir: Arg(0), path: 1, flags: Some(4) }),
        (78, List),
        (217, List),
        (80, Chdir { path: 0 }),
        (82, Rename { odir: Cwd, old: 0, ndir: Cwd, new: 1 }),
        (264, Rename { odir: Arg(0), old: 1, ndir: Arg(2), new: 3 }),
        (316, Rename { odir: Arg(0), old: 1, ndir: Arg(2), new: 3 }),
        (86, Link { odir: Cwd, old: 0, ndir: Cwd, new: 1 }),
        (265, Link { odir: Arg(0), old: 1, ndir: Arg(2), new: 3 }),
        (87, Write { dir: Cwd, path: 0, flags: None }),
        (263, Write { dir: Arg(0), path: 1, flags: None }),
        (84, Write { dir: Cwd, path: 0, flags: None }),
        (83, Write { dir: Cwd, path: 0, flags: None }),
        (258, Write { dir: Arg(0), path: 1, flags: None }),
        (133, Write { dir: Cwd, path: 0, flags: None }),
        (259, Write { dir: Arg(0), path: 1, flags: None }),
        (88, Write { dir: Cwd, path: 1, flags: None }),
        (266, Write { dir: Arg(1), path: 2, flags: None }),
        (76, Write { dir: Cwd, path: 0, flags: None }),
        (132, Write { dir: Cwd, path: 0, flags: None }),
        (235, Write { dir: Cwd, path: 0, flags: None }),
        (261, Write { dir: Arg(0), path: 1, flags: None }),
        (280, Write { dir: Arg(0), path: 1, flags: Some(3) }),
        (90, Write { dir: Cwd, path: 0, flags: None }),
        (268, Write { dir: Arg(0), path: 1, flags: None }),
        (452, Write { dir: Arg(0), path: 1, flags: Some(3) }),
        (92, Write { dir: Cwd, path: 0, flags: None }),
        (94, Write { dir: Cwd, path: 0, flags: None }),
        (260, Write { dir: Arg(0), path: 1, flags: Some(4) }),
    ];
}

#[cfg(target_arch = "aarch64")]
#[rustfmt::skip]
mod arch {
    use super::*;
    pub const EMPTY_PATH_OK: &[(u32, u8)] = &[(79, 3), (291, 2)];
    pub const CALLS: &[(u32, Call)] = &[
        (56, Open { dir: Arg(0), path: 1, flags: Flags::Arg(2) }),
        (437, Open { dir: Arg(0), path: 1, flags: Flags::How(2) }),
        (79, Stat { dir: Arg(0), path: 1, flags: Some(3), follow: true }),
        (291, Stat { dir: Arg(0), path: 1, flags: Some(2), follow: true }),
        (48, Stat { dir: Arg(0), path: 1, flags: None, follow: true }),
        (439, Stat { dir: Arg(0), path: 1, flags: Some(3), follow: true }),
        (8, Stat { dir: Cwd, path: 0, flags: None, follow: true }),
        (9, Stat { dir: Cwd, path: 0, flags: None, follow: false }),
        (11, Stat { dir: Cwd, path: 0, flags: None, follow: true }),
        (12, Stat { dir: Cwd, path: 0, flags: None, follow: false }),
        (78, Readlink { dir: Arg(0), path: 1 }),
        (221, Exec { dir: Cwd, path: 0, flags: None }),
        (281, Exec { dir: Arg(0), path: 1, flags: Some(4) }),
        (61, List),
        (49, Chdir { path: 0 }),
        (38, Rename { odir: Arg(0), old: 1, ndir: Arg(2), new: 3 }),
        (276, Rename { odir: Arg(0), old: 1, ndir: Arg(2), new: 3 }),
        (37, Link { odir: Arg(0), old: 1, ndir: Arg(2), new: 3 }),
        (35, Write { dir: Arg(0), path: 1, flags: None }),
        (34, Write { dir: Arg(0), path: 1, flags: None }),
        (33, Write { dir: Arg(0), path: 1, flags: None }),
        (36, Write { dir: Arg(1), path: 2, flags: None }),
        (45, Write { dir: Cwd, path: 0, flags: None }),
        (88, Write { dir: Arg(0), path: 1, flags: Some(3) }),
        (53, Write { dir: Arg(0), path: 1, flags: None }),
        (452, Write { dir: Arg(0), path: 1, flags: Some(3) }),
        (54, Write { dir: Arg(0), path: 1, flags: Some(4) }),
    ];
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("cairn-trace knows the system calls of x86_64 and aarch64 Linux only");

/// The traced call with this number, if it is one.
pub fn lookup(nr: u64) -> Option<Call> {
    arch::CALLS
        .iter()
        .find(|(n, _)| u64::from(*n) == nr)
        .map(|(_, c)| *c)
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_TRACE: u32 = 0x7ff0_0000;

/// Where a jump goes, resolved once the program's length is known.
#[derive(Clone, Copy)]
enum To {
    Next,
    Skip(u8),
    Allow,
    Trace,
}

/// The filter. Every call made with another ABI (a 32-bit program, x32)
/// stops: the supervisor does not decode them, but must know they happened.
fn program() -> Vec<SockFilter> {
    let mut ops: Vec<(u16, To, To, u32)> = vec![
        (LD_W_ABS, To::Next, To::Next, 4),
        (JEQ_K, To::Next, To::Trace, AUDIT_ARCH),
        (LD_W_ABS, To::Next, To::Next, 0),
    ];
    if cfg!(target_arch = "x86_64") {
        ops.push((JSET_K, To::Trace, To::Next, 0x4000_0000));
    }
    for &(nr, flags) in arch::EMPTY_PATH_OK {
        // struct seccomp_data: nr, arch, instruction_pointer, args[6];
        // the low word of a little-endian argument.
        let arg = 16 + 8 * u32::from(flags);
        ops.push((JEQ_K, To::Next, To::Skip(2), nr));
        ops.push((LD_W_ABS, To::Next, To::Next, arg));
        ops.push((JSET_K, To::Allow, To::Trace, AT_EMPTY_PATH as u32));
    }
    for &(nr, _) in arch::CALLS {
        ops.push((JEQ_K, To::Trace, To::Next, nr));
    }
    let allow = ops.len();
    let trace = allow + 1;
    let mut out: Vec<SockFilter> = ops
        .iter()
        .enumerate()
        .map(|(i, &(code, jt, jf, k))| {
            let off = |to: To| -> u8 {
                let target = match to {
                    To::Next => i + 1,
                    To::Skip(n) => i + 1 + usize::from(n),
                    To::Allow => allow,
                    To::Trace => trace,
                };
                u8::try_from(target - i - 1).expect("filter jump fits in u8")
            };
            SockFilter {
                code,
                jt: off(jt),
                jf: off(jf),
                k,
            }
        })
        .collect();
    out.push(SockFilter {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: RET_ALLOW,
    });
    out.push(SockFilter {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: RET_TRACE,
    });
    out
}

/// Installs the filter in the calling process (inherited by all it starts).
pub fn install_filter() -> Result<(), String> {
    let prog = program();
    let fprog = SockFprog {
        len: prog.len() as u16,
        filter: prog.as_ptr(),
    };
    // SAFETY: plain prctl calls; the kernel copies the program.
    unsafe {
        if prctl(PR_SET_NO_NEW_PRIVS, 1usize, 0usize, 0usize, 0usize) != 0 {
            return Err(format!(
                "prctl(PR_SET_NO_NEW_PRIVS): {}",
                std::io::Error::last_os_error()
            ));
        }
        if prctl(
            PR_SET_SECCOMP,
            SECCOMP_MODE_FILTER,
            &fprog as *const SockFprog,
        ) != 0
        {
            return Err(format!(
                "seccomp filter: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}
