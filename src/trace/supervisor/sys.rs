//! The few C library functions and kernel constants the supervisor needs.
//! It is linked statically against the C library, so these are plain
//! `extern "C"` declarations; no crate stands between it and the kernel.

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

unsafe extern "C" {
    pub fn fork() -> c_int;
    pub fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    pub fn ptrace(request: c_int, ...) -> c_long;
    pub fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    pub fn kill(pid: c_int, sig: c_int) -> c_int;
    pub fn raise(sig: c_int) -> c_int;
    pub fn prctl(option: c_int, ...) -> c_int;
    pub fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    pub fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
    pub fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    pub fn close(fd: c_int) -> c_int;
    pub fn _exit(status: c_int) -> !;
    pub fn getpid() -> c_int;
    pub fn readlink(path: *const c_char, buf: *mut c_char, size: usize) -> isize;
    pub fn realpath(path: *const c_char, resolved: *mut c_char) -> *mut c_char;
    pub fn process_vm_readv(
        pid: c_int,
        local: *const IoVec,
        liovcnt: c_ulong,
        remote: *const IoVec,
        riovcnt: c_ulong,
        flags: c_ulong,
    ) -> isize;
    pub fn signal(sig: c_int, handler: usize) -> usize;
}

#[repr(C)]
pub struct IoVec {
    pub base: *mut c_void,
    pub len: usize,
}

pub const SIGHUP: c_int = 1;
pub const SIGINT: c_int = 2;
pub const SIGKILL: c_int = 9;
pub const SIGPIPE: c_int = 13;
pub const SIGTERM: c_int = 15;
pub const SIGSTOP: c_int = 19;
pub const SIGTRAP: c_int = 5;
pub const SIG_DFL: usize = 0;

pub const ENOENT: i64 = 2;
pub const EINTR: i32 = 4;
pub const EIO: i32 = 5;
pub const ENOTDIR: i64 = 20;
/// The kernel's "restart this system call" results, never seen by a program.
pub const ERESTART_FIRST: i64 = 512;
pub const ERESTART_LAST: i64 = 516;

pub const O_WRONLY: u64 = 0o1;
pub const O_ACCMODE: u64 = 0o3;
pub const O_CREAT: u64 = 0o100;
pub const O_TRUNC: u64 = 0o1000;
#[cfg(target_arch = "x86_64")]
pub const O_DIRECTORY: u64 = 0o200000;
#[cfg(target_arch = "aarch64")]
pub const O_DIRECTORY: u64 = 0o40000;
pub const O_PATH: u64 = 0o10000000;
pub const O_CLOEXEC: c_int = 0o2000000;

pub const AT_FDCWD: i64 = -100;
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
pub const AT_EMPTY_PATH: u64 = 0x1000;

pub const PR_SET_NO_NEW_PRIVS: c_int = 38;
pub const PR_SET_SECCOMP: c_int = 22;
pub const SECCOMP_MODE_FILTER: c_ulong = 2;

pub const PTRACE_TRACEME: c_int = 0;
pub const PTRACE_PEEKDATA: c_int = 2;
pub const PTRACE_CONT: c_int = 7;
pub const PTRACE_DETACH: c_int = 17;
pub const PTRACE_SYSCALL: c_int = 24;
pub const PTRACE_SETOPTIONS: c_int = 0x4200;
pub const PTRACE_GETEVENTMSG: c_int = 0x4201;
pub const PTRACE_GETSIGINFO: c_int = 0x4202;
#[cfg(target_arch = "aarch64")]
pub const PTRACE_GETREGSET: c_int = 0x4204;
#[cfg(target_arch = "x86_64")]
pub const PTRACE_GETREGS: c_int = 12;

pub const PTRACE_O_TRACESYSGOOD: c_ulong = 0x1;
pub const PTRACE_O_TRACEFORK: c_ulong = 0x2;
pub const PTRACE_O_TRACEVFORK: c_ulong = 0x4;
pub const PTRACE_O_TRACECLONE: c_ulong = 0x8;
pub const PTRACE_O_TRACEEXEC: c_ulong = 0x10;
pub const PTRACE_O_TRACESECCOMP: c_ulong = 0x80;
pub const PTRACE_O_EXITKILL: c_ulong = 0x100000;

pub const PTRACE_EVENT_FORK: c_int = 1;
pub const PTRACE_EVENT_VFORK: c_int = 2;
pub const PTRACE_EVENT_CLONE: c_int = 3;
pub const PTRACE_EVENT_EXEC: c_int = 4;
pub const PTRACE_EVENT_SECCOMP: c_int = 7;

pub const WALL: c_int = 0x40000000;

/// The calling thread's last error number.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The seccomp architecture of the supervisor's own system calls.
#[cfg(target_arch = "x86_64")]
pub const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
pub const AUDIT_ARCH: u32 = 0xc000_00b7;

const PTRACE_GET_SYSCALL_INFO: c_int = 0x420e;
const SYSCALL_INFO_ENTRY: u8 = 1;
const SYSCALL_INFO_EXIT: u8 = 2;
const SYSCALL_INFO_SECCOMP: u8 = 3;

/// A system call's number, arguments and (at its exit) result.
pub struct Regs {
    pub nr: u64,
    pub args: [u64; 6],
    pub ret: i64,
    /// Made with another ABI (a 32-bit program, `int 0x80`, x32): the
    /// number and arguments mean something else.
    pub foreign: bool,
}

/// Kernels before 5.3 lack PTRACE_GET_SYSCALL_INFO.
static NO_SYSCALL_INFO: AtomicBool = AtomicBool::new(false);

/// Reads a stopped tracee's system call; `None` if it is gone.
pub fn regs(pid: c_int) -> Option<Regs> {
    if !NO_SYSCALL_INFO.load(Ordering::Relaxed) {
        // struct ptrace_syscall_info: op, pad, arch, ip, sp, then the
        // number and arguments (entry, seccomp) or the result (exit).
        let mut info = [0u64; 11];
        // SAFETY: the kernel writes at most `size_of_val(&info)` bytes.
        let n = unsafe {
            ptrace(
                PTRACE_GET_SYSCALL_INFO,
                pid,
                std::mem::size_of_val(&info) as *mut c_void,
                info.as_mut_ptr() as *mut c_void,
            )
        };
        if n > 0 {
            let op = info[0] as u8;
            let arch = (info[0] >> 32) as u32;
            let mut regs = Regs {
                nr: 0,
                args: [0; 6],
                ret: 0,
                foreign: arch != AUDIT_ARCH,
            };
            match op {
                SYSCALL_INFO_ENTRY | SYSCALL_INFO_SECCOMP => {
                    regs.nr = info[3];
                    regs.args.copy_from_slice(&info[4..10]);
                }
                SYSCALL_INFO_EXIT => regs.ret = info[3] as i64,
                _ => return None,
            }
            regs.foreign |= x32(regs.nr);
            return Some(regs);
        }
        if errno() != EIO {
            return None;
        }
        NO_SYSCALL_INFO.store(true, Ordering::Relaxed);
    }
    legacy_regs(pid)
}

#[cfg(target_arch = "x86_64")]
fn x32(nr: u64) -> bool {
    nr & 0x4000_0000 != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn x32(_: u64) -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn legacy_regs(pid: c_int) -> Option<Regs> {
    // struct user_regs_struct: 27 words.
    let mut r = [0u64; 27];
    // SAFETY: the kernel writes exactly one user_regs_struct into `r`.
    let rc = unsafe {
        ptrace(
            PTRACE_GETREGS,
            pid,
            std::ptr::null_mut::<c_void>(),
            r.as_mut_ptr() as *mut c_void,
        )
    };
    (rc == 0).then(|| Regs {
        // orig_rax, then rdi, rsi, rdx, r10, r8, r9; rax holds the result.
        nr: r[15],
        args: [r[14], r[13], r[12], r[7], r[9], r[8]],
        ret: r[10] as i64,
        // A 32-bit code segment (`int 0x80` from 64-bit code goes unseen).
        foreign: r[17] == 0x23 || x32(r[15]),
    })
}

#[cfg(target_arch = "aarch64")]
fn legacy_regs(pid: c_int) -> Option<Regs> {
    // struct user_pt_regs: x0..x30, sp, pc, pstate.
    let mut r = [0u64; 34];
    let mut iov = IoVec {
        base: r.as_mut_ptr() as *mut c_void,
        len: std::mem::size_of_val(&r),
    };
    const NT_PRSTATUS: usize = 1;
    // SAFETY: the kernel writes at most `iov.len` bytes into `r`.
    let rc = unsafe {
        ptrace(
            PTRACE_GETREGSET,
            pid,
            NT_PRSTATUS as *mut c_void,
            &mut iov as *mut IoVec as *mut c_void,
        )
    };
    // x8 holds the number at entry; x0 is the first argument at entry and
    // the result at exit. An AArch32 task has the mode bit in pstate.
    (rc == 0).then(|| Regs {
        nr: r[8],
        args: [r[0], r[1], r[2], r[3], r[4], r[5]],
        ret: r[0] as i64,
        foreign: r[33] & 0x10 != 0,
    })
}

/// Restarts a stopped tracee with `request`, delivering `sig` (0 for none).
pub fn resume(request: c_int, pid: c_int, sig: c_int) {
    // SAFETY: no memory is passed; a vanished tracee only makes it fail.
    unsafe {
        ptrace(
            request,
            pid,
            std::ptr::null_mut::<c_void>(),
            sig as usize as *mut c_void,
        );
    }
}

/// PTRACE_GETEVENTMSG: the new child's pid, or the former thread id at exec.
pub fn event_msg(pid: c_int) -> c_ulong {
    let mut msg: c_ulong = 0;
    // SAFETY: the kernel writes one unsigned long into `msg`.
    unsafe {
        ptrace(
            PTRACE_GETEVENTMSG,
            pid,
            std::ptr::null_mut::<c_void>(),
            &mut msg as *mut c_ulong as *mut c_void,
        );
    }
    msg
}

/// Whether a stop of a tracee is a signal-delivery stop (and not a group stop).
pub fn is_signal_delivery(pid: c_int) -> bool {
    let mut info = [0u8; 128];
    // SAFETY: siginfo_t is 128 bytes.
    unsafe {
        ptrace(
            PTRACE_GETSIGINFO,
            pid,
            std::ptr::null_mut::<c_void>(),
            info.as_mut_ptr() as *mut c_void,
        ) == 0
    }
}
