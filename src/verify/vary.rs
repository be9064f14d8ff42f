//! `cairn verify --vary`: what a rebuild changes that an action must not
//! depend on, applied to the thread that starts the action (its children
//! inherit the thread's CPU affinity, UTS namespace and umask).

use std::path::PathBuf;

use serde::Serialize;

use crate::run::build::Workspace;

/// The changes in force for one build. `None`/`false`: as for `cairn run`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Variation {
    /// How many CPUs the action is given (its CPU affinity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The umask, as an octal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umask: Option<String>,
    /// The scratch workspace sits deeper, under another name, on the host.
    #[serde(skip_serializing_if = "is_false")]
    pub scratch_path: bool,
    /// Sources and inputs are created in the workspace in reverse order.
    #[serde(skip_serializing_if = "is_false")]
    pub entry_order: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The umask of a varied build: files the action creates are private.
const VARIED_UMASK: u32 = 0o077;

impl Variation {
    /// Every variation, for build number `build` of an action, as far as
    /// the executor `executor` lets cairn apply it: a container has its own
    /// CPU set, hostname and umask.
    pub fn all(build: usize, executor: &str) -> Variation {
        let host = executor == "local";
        let cpus = available_cpus();
        Variation {
            cpus: (host && cpus > 1).then_some(1),
            hostname: (host && can_set_hostname()).then(|| format!("cairn-verify-{build}")),
            umask: host.then(|| format!("{VARIED_UMASK:04o}")),
            scratch_path: true,
            entry_order: true,
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Variation::default()
    }

    /// Each variation of `self` on its own, to name the one that matters.
    pub fn singles(&self) -> Vec<Variation> {
        let mut out = Vec::new();
        let none = Variation::default;
        if let Some(c) = self.cpus {
            out.push(Variation {
                cpus: Some(c),
                ..none()
            });
        }
        if let Some(h) = &self.hostname {
            out.push(Variation {
                hostname: Some(h.clone()),
                ..none()
            });
        }
        if let Some(u) = &self.umask {
            out.push(Variation {
                umask: Some(u.clone()),
                ..none()
            });
        }
        if self.scratch_path {
            out.push(Variation {
                scratch_path: true,
                ..none()
            });
        }
        if self.entry_order {
            out.push(Variation {
                entry_order: true,
                ..none()
            });
        }
        out
    }

    /// `cpus 1 (of 2), hostname cairn-verify-2, umask 0077, scratch path, entry order`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.cpus {
            parts.push(format!("cpus {c} (of {})", available_cpus()));
        }
        if let Some(h) = &self.hostname {
            parts.push(format!("hostname {h}"));
        }
        if let Some(u) = &self.umask {
            parts.push(format!("umask {u}"));
        }
        if self.scratch_path {
            parts.push("scratch path".into());
        }
        if self.entry_order {
            parts.push("entry order".into());
        }
        if parts.is_empty() {
            "no variation".into()
        } else {
            parts.join(", ")
        }
    }

    /// How the scratch workspace is laid out.
    pub fn workspace(&self) -> Workspace {
        Workspace {
            prefix: "verify".into(),
            nested: if self.scratch_path {
                PathBuf::from("a-longer/scratch-path-for/cairn-verify")
            } else {
                PathBuf::new()
            },
            reverse_order: self.entry_order,
        }
    }

    /// Applies the CPU count, hostname and umask to the calling thread,
    /// which must be one of its own: every process it starts inherits them.
    pub fn apply_to_thread(&self) -> std::io::Result<()> {
        if let Some(umask) = &self.umask {
            // The umask is shared by a process's threads unless this one
            // takes its own copy of the file-system context first.
            check(unsafe { libc::unshare(libc::CLONE_FS) })?;
            let mask = u32::from_str_radix(umask, 8).unwrap_or(VARIED_UMASK);
            unsafe { libc::umask(mask as libc::mode_t) };
        }
        if let Some(h) = &self.hostname {
            check(unsafe { libc::unshare(libc::CLONE_NEWUTS) })?;
            check(unsafe { libc::sethostname(h.as_ptr().cast(), h.len()) })?;
        }
        if let Some(n) = self.cpus {
            let mut set = current_affinity()?;
            let mut kept = 0;
            for cpu in 0..libc::CPU_SETSIZE as usize {
                if unsafe { libc::CPU_ISSET(cpu, &set) } {
                    if kept < n {
                        kept += 1;
                    } else {
                        unsafe { libc::CPU_CLR(cpu, &mut set) };
                    }
                }
            }
            check(unsafe {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
            })?;
        }
        Ok(())
    }
}

fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn current_affinity() -> std::io::Result<libc::cpu_set_t> {
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    check(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    Ok(set)
}

/// How many CPUs cairn's actions are given by default.
pub fn available_cpus() -> usize {
    current_affinity()
        .map(|s| unsafe { libc::CPU_COUNT(&s) } as usize)
        .unwrap_or(1)
}

/// Whether this process may give a thread a hostname of its own (a UTS
/// namespace needs `CAP_SYS_ADMIN`), tried on a throwaway thread.
fn can_set_hostname() -> bool {
    std::thread::spawn(|| unsafe { libc::unshare(libc::CLONE_NEWUTS) } == 0)
        .join()
        .unwrap_or(false)
}
