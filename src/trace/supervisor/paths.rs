//! Paths as a tracee names them, made absolute and checked against the root.
//! Strings are copied out of the tracee's memory; relative paths are resolved
//! against its working directory or a directory descriptor as the kernel sees
//! them in `/proc`, so nothing about a process needs to be remembered.

use std::ffi::{c_char, c_int, c_void};

use crate::sys::{IoVec, PTRACE_PEEKDATA, errno, process_vm_readv, ptrace, readlink};

const PATH_MAX: usize = 4096;
const PAGE: u64 = 4096;

/// Copies strings out of tracees.
pub struct Memory {
    /// `process_vm_readv` is refused in some sandboxes; then words are peeked.
    vm_readv: bool,
}

impl Memory {
    pub fn new() -> Self {
        Memory { vm_readv: true }
    }

    /// Reads the NUL-terminated string at `addr` into `out` (without the NUL).
    pub fn string(&mut self, pid: c_int, addr: u64, out: &mut Vec<u8>) -> bool {
        out.clear();
        if addr == 0 {
            return false;
        }
        if self.vm_readv {
            match self.string_vm(pid, addr, out) {
                Ok(found) => return found,
                Err(e) if e == libc_enosys() || e == libc_eperm() => self.vm_readv = false,
                Err(_) => return false,
            }
        }
        out.clear();
        self.string_peek(pid, addr, out)
    }

    /// Reads a short piece first (most paths are short), then page by page,
    /// never across a page boundary: a string that ends just before an
    /// unmapped page is still read whole.
    fn string_vm(&self, pid: c_int, mut addr: u64, out: &mut Vec<u8>) -> Result<bool, i32> {
        let mut buf = [0u8; PAGE as usize];
        let mut most = 256;
        while out.len() < PATH_MAX {
            let len = ((PAGE - addr % PAGE) as usize).min(most);
            most = PAGE as usize;
            let local = IoVec {
                base: buf.as_mut_ptr() as *mut c_void,
                len,
            };
            let remote = IoVec {
                base: addr as *mut c_void,
                len,
            };
            // SAFETY: the kernel writes at most `len` bytes into `buf`.
            let n = unsafe { process_vm_readv(pid, &local, 1, &remote, 1, 0) };
            if n <= 0 {
                return Err(errno());
            }
            let got = &buf[..n as usize];
            if let Some(end) = got.iter().position(|&b| b == 0) {
                out.extend_from_slice(&got[..end]);
                return Ok(true);
            }
            out.extend_from_slice(got);
            addr += n as u64;
        }
        Ok(false)
    }

    fn string_peek(&self, pid: c_int, mut addr: u64, out: &mut Vec<u8>) -> bool {
        while out.len() < PATH_MAX {
            let Some(word) = peek(pid, addr) else {
                return false;
            };
            for b in word.to_ne_bytes() {
                if b == 0 {
                    return true;
                }
                out.push(b);
            }
            addr += 8;
        }
        false
    }

    /// Reads one word (e.g. `open_how.flags`).
    pub fn word(&mut self, pid: c_int, addr: u64) -> Option<u64> {
        let mut word = 0u64;
        let local = IoVec {
            base: &mut word as *mut u64 as *mut c_void,
            len: 8,
        };
        let remote = IoVec {
            base: addr as *mut c_void,
            len: 8,
        };
        // SAFETY: the kernel writes at most 8 bytes into `word`.
        let n = unsafe { process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        if n == 8 { Some(word) } else { peek(pid, addr) }
    }
}

fn peek(pid: c_int, addr: u64) -> Option<u64> {
    // PEEKDATA returns the word itself, so an error shows only in errno.
    // SAFETY: errno is thread-local; PEEKDATA writes no memory of ours.
    unsafe {
        *errno_location() = 0;
        let v = ptrace(
            PTRACE_PEEKDATA,
            pid,
            addr as *mut c_void,
            std::ptr::null_mut::<c_void>(),
        );
        (v != -1 || errno() == 0).then_some(v as u64)
    }
}

unsafe extern "C" {
    #[link_name = "__errno_location"]
    fn errno_location() -> *mut c_int;
}

fn libc_enosys() -> i32 {
    38
}

fn libc_eperm() -> i32 {
    1
}

/// One of a process's links in `/proc`.
pub enum Link {
    Cwd,
    Exe,
    Fd(i64),
}

/// Reads `/proc/PID/{cwd,exe,fd/N}` into `out`; false if it is not there.
pub fn proc_link(pid: c_int, link: Link, out: &mut Vec<u8>) -> bool {
    let mut name = [0u8; 64];
    let mut w = Writer {
        buf: &mut name,
        len: 0,
    };
    w.put(b"/proc/");
    w.num(i64::from(pid));
    match link {
        Link::Cwd => w.put(b"/cwd"),
        Link::Exe => w.put(b"/exe"),
        Link::Fd(fd) => {
            w.put(b"/fd/");
            w.num(fd);
        }
    }
    w.put(b"\0");
    out.clear();
    out.resize(PATH_MAX, 0);
    // SAFETY: `name` is NUL-terminated; readlink writes at most PATH_MAX bytes.
    let n = unsafe {
        readlink(
            name.as_ptr() as *const c_char,
            out.as_mut_ptr() as *mut c_char,
            PATH_MAX,
        )
    };
    if n <= 0 || n as usize >= PATH_MAX {
        out.clear();
        return false;
    }
    out.truncate(n as usize);
    out.first() == Some(&b'/')
}

struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &[u8]) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    fn num(&mut self, n: i64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut n = n.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}

/// `path` resolved against the absolute `base` (unless it is absolute), with
/// `.`, `..` and repeated slashes removed, into `out`. `..` is taken
/// lexically, as a shell's `cd` does; the caller resolves a path that has
/// one on the disk, since after a symlink the kernel's `..` differs.
pub fn join(base: &[u8], path: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if path.first() != Some(&b'/') {
        push_components(base, out);
    }
    push_components(path, out);
    if out.is_empty() {
        out.push(b'/');
    }
}

fn push_components(path: &[u8], out: &mut Vec<u8>) {
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(cut);
            }
            _ => {
                out.push(b'/');
                out.extend_from_slice(part);
            }
        }
    }
}

/// The root, under each name it may be reached by (as given and canonical).
pub struct Root {
    names: Vec<Vec<u8>>,
}

impl Root {
    pub fn new(given: &[u8], cwd: &[u8], canonical: &[u8]) -> Root {
        let mut lexical = Vec::new();
        join(cwd, given, &mut lexical);
        let mut names = vec![canonical.to_vec()];
        if lexical != canonical {
            names.push(lexical);
        }
        for n in &mut names {
            if n.as_slice() == b"/" {
                n.clear();
            }
        }
        Root { names }
    }

    /// The part of the absolute, normalised `path` under the root, without a
    /// leading `/` (empty for the root itself).
    pub fn relative<'a>(&self, path: &'a [u8]) -> Option<&'a [u8]> {
        self.names.iter().find_map(|root| {
            let rest = path.strip_prefix(root.as_slice())?;
            match rest {
                [] => Some(rest),
                [b'/', tail @ ..] => Some(tail),
                _ => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(base: &str, path: &str) -> String {
        let mut out = Vec::new();
        join(base.as_bytes(), path.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn join_normalises_lexically() {
        assert_eq!(joined("/w", "a/./b//c/"), "/w/a/b/c");
        assert_eq!(joined("/w/sub", "../x"), "/w/x");
        assert_eq!(joined("/w", "/abs/../y"), "/y");
        assert_eq!(joined("/", "../../.."), "/");
        assert_eq!(joined("/w", ""), "/w");
    }

    #[test]
    fn relative_is_under_the_root_only() {
        let root = Root::new(b"ws", b"/tmp", b"/real/ws");
        let rel = |p: &str| {
            root.relative(p.as_bytes())
                .map(|r| String::from_utf8(r.to_vec()).unwrap())
        };
        assert_eq!(rel("/real/ws/a/b").as_deref(), Some("a/b"));
        assert_eq!(rel("/tmp/ws/a").as_deref(), Some("a"));
        assert_eq!(rel("/real/ws").as_deref(), Some(""));
        assert_eq!(rel("/real/wsx/a"), None);
        assert_eq!(rel("/real"), None);
        let everything = Root::new(b"/", b"/", b"/");
        assert_eq!(everything.relative(b"/etc/x"), Some(&b"etc/x"[..]));
        assert_eq!(everything.relative(b"/"), Some(&b""[..]));
    }
}
