//! A private single-node Slurm cluster for the slurm tests, built from
//! Debian's `munge`, `slurmctld`, `slurmd` and `slurm-client`: munge with its
//! own key and socket, the controller and the node daemon on free loopback
//! ports, configuration, state and logs in one temp directory, reached through
//! `SLURM_CONF`. It starts once per test process, the first time a test asks
//! for it; its daemons are children of the process, killed by pid and reaped
//! when it exits (and sent SIGKILL by the kernel if it dies first).

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The running cluster.
pub struct Cluster {
    /// Everything of the cluster: config, munge key and socket, state, logs.
    pub dir: PathBuf,
    /// `slurm.conf`, for `SLURM_CONF`.
    pub conf: PathBuf,
    /// The default partition.
    pub partition: &'static str,
    /// The default partition's node (named after the host).
    pub node: String,
    /// A partition of its own node, `fragile`, which tests that fail nodes
    /// (`scontrol update state=down`) or preempt jobs (from the partition
    /// `urgent`, on the same node) use, so that no other test's job dies.
    pub fragile: &'static str,
    /// How long starting the cluster took, until the node was idle.
    pub startup: Duration,
}

/// The daemons this process started, stopped at exit.
static DAEMONS: Mutex<Vec<Child>> = Mutex::new(Vec::new());
static CONF: OnceLock<PathBuf> = OnceLock::new();

/// The cluster of this test process, started on first use.
pub fn cluster() -> &'static Cluster {
    // A cluster that does not start fails every test at once, not each
    // after its own wait.
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    let started = CLUSTER.get_or_init(|| {
        std::panic::catch_unwind(start).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match started {
        Ok(c) => c,
        Err(why) => panic!("the slurm test cluster did not start: {why}"),
    }
}

impl Cluster {
    /// A command for a Slurm client program (`squeue`, `scontrol`, …) of
    /// this cluster.
    pub fn client(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf).stdin(Stdio::null());
        c
    }

    /// The stdout of a client program, which must succeed.
    pub fn query(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .client(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(out.status.success(), "{program} {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The jobs in the queue whose name starts with `prefix`: `(id, name, state)`.
    pub fn queued(&self, prefix: &str) -> Vec<(String, String, String)> {
        self.query("squeue", &["--noheader", "--format=%i %j %T"])
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((
                    f.next()?.to_string(),
                    f.next()?.to_string(),
                    f.next()?.to_string(),
                ))
            })
            .filter(|(_, n, _)| n.starts_with(prefix))
            .collect()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("the host name")
        .trim()
        .to_string()
}

extern "C" fn stop() {
    // Cancel what tests left behind, then stop the daemons by their ids.
    if let Some(conf) = CONF.get() {
        let client = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .env("SLURM_CONF", conf)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
        };
        let _ = client("scancel", &["--partition", "debug"]);
        let _ = client("scancel", &["--partition", "fragile"]);
        let _ = client("scancel", &["--partition", "urgent"]);
        // Wait until slurmd has killed them: a job step outlives its daemon.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && client("squeue", &["--noheader"]).is_ok_and(|o| !o.stdout.is_empty())
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut daemons = std::mem::take(&mut *DAEMONS.lock().unwrap_or_else(|e| e.into_inner()));
    for d in daemons.iter_mut().rev() {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(d.id() as i32, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for d in daemons.iter_mut() {
        while d.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = d.kill();
                let _ = d.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if let Some(dir) = CONF.get().and_then(|c| c.parent()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Spawns a daemon in the foreground as a child of this process, from a
/// thread that lives as long as the process, so that the kernel's
/// parent-death signal fires when the process dies, not when a test's
/// thread ends.
fn spawn(mut cmd: Command) -> Child {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
            // Keep the thread (the daemons' parent) alive.
            loop {
                std::thread::park();
            }
        });
        Mutex::new(tx)
    });
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    keeper
        .lock()
        .unwrap()
        .send((cmd, tx))
        .expect("the keeper thread");
    rx.recv()
        .expect("the keeper thread")
        .expect("starting a daemon")
}

fn daemon(dir: &Path, program: &str, args: &[&str], log: &str) -> Command {
    let log = std::fs::File::create(dir.join(log)).unwrap();
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(dir)
        .env("SLURM_CONF", dir.join("slurm.conf"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    c
}

fn start() -> Cluster {
    let clock = Instant::now();
    for p in ["munged", "slurmctld", "slurmd", "sbatch"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .chain([PathBuf::from("/usr/sbin")])
            .any(|d| d.join(p).is_file());
        assert!(
            found,
            "{p} is not installed: the slurm tests need Debian's slurmctld, slurmd, slurm-client and munge (see .ci/install-deps)"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("cairn-slurm-")
        .tempdir()
        .unwrap()
        .keep();
    // Users other than root submit jobs too: the socket and the config
    // must be reachable by everyone; the key is root's alone.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["munge", "state", "spool", "spool/fragile"] {
        std::fs::create_dir(dir.join(d)).unwrap();
    }
    std::fs::set_permissions(dir.join("munge"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = dir.join("munge/munge.key");
    let mut bytes = [0u8; 1024];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .unwrap();
    std::fs::write(&key, bytes).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();

    let node = hostname();
    // More CPUs than the host has, so that tests waiting on long jobs (a
    // time limit takes a minute) do not hold up the others.
    let cpus = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
    let socket = dir.join("munge.socket");
    let d = dir.display();
    let conf = format!(
        "ClusterName=cairnit
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
AuthType=auth/munge
AuthInfo=socket={socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd-%n.log
# No systemd or cgroups in a container: processes are tracked by their
# parentage, memory by polling /proc every second.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=300
KillWait=2
InactiveLimit=0
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=2000 State=UNKNOWN
NodeName=fragile NodeHostname={node} NodeAddr=127.0.0.1 Port={fragile} CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
PartitionName=fragile Nodes=fragile MaxTime=INFINITE State=UP PriorityTier=1
# A job in `urgent` cancels the jobs of `fragile` it needs the CPUs of.
PartitionName=urgent Nodes=fragile MaxTime=INFINITE State=UP PriorityTier=2
",
        ctld = free_port(),
        slurmd = free_port(),
        fragile = free_port(),
        socket = socket.display(),
    );
    let conf_path = dir.join("slurm.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let _ = CONF.set(conf_path.clone());
    // SAFETY: registers a plain function to run at exit.
    unsafe {
        libc::atexit(stop);
    }

    let munged = spawn(daemon(
        &dir,
        "munged",
        &[
            "--foreground",
            "--force",
            &format!("--socket={}", socket.display()),
            &format!("--key-file={}", key.display()),
            &format!("--pid-file={d}/munge/munged.pid"),
            &format!("--log-file={d}/munge/munged.log"),
            &format!("--seed-file={d}/munge/munged.seed"),
        ],
        "munged.out",
    ));
    DAEMONS.lock().unwrap().push(munged);
    wait_for("munge's socket", &dir, || socket.exists());
    let ctld = spawn(daemon(&dir, "slurmctld", &["-D", "-i"], "slurmctld.out"));
    DAEMONS.lock().unwrap().push(ctld);
    let slurmd = spawn(daemon(&dir, "slurmd", &["-D"], "slurmd.out"));
    DAEMONS.lock().unwrap().push(slurmd);
    let fragile = spawn(daemon(
        &dir,
        "slurmd",
        &["-D", "-N", "fragile"],
        "slurmd-fragile.out",
    ));
    DAEMONS.lock().unwrap().push(fragile);

    let cluster = Cluster {
        dir: dir.clone(),
        conf: conf_path,
        partition: "debug",
        node,
        fragile: "fragile",
        startup: Duration::ZERO,
    };
    wait_for("the nodes to be idle", &dir, || {
        cluster
            .client("sinfo")
            .args(["--noheader", "--Node", "--format=%N %T"])
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| {
                let nodes: std::collections::BTreeMap<String, String> =
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .filter_map(|l| l.split_once(' '))
                        .map(|(n, st)| (n.to_string(), st.trim().to_string()))
                        .collect();
                nodes.len() == 2 && nodes.values().all(|st| st == "idle")
            })
    });
    let startup = clock.elapsed();
    eprintln!(
        "slurm test cluster in {} started in {:.2}s",
        dir.display(),
        startup.as_secs_f64()
    );
    Cluster { startup, ..cluster }
}

fn wait_for(what: &str, dir: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        if Instant::now() > deadline {
            let logs: String = [
                "munged.out",
                "slurmctld.out",
                "slurmd.out",
                "slurmd-fragile.out",
            ]
            .iter()
            .map(|l| {
                format!(
                    "--- {l}\n{}\n",
                    std::fs::read_to_string(dir.join(l)).unwrap_or_default()
                )
            })
            .collect();
            let sinfo = Command::new("sinfo")
                .env("SLURM_CONF", dir.join("slurm.conf"))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            panic!("the slurm test cluster: timed out waiting for {what}\n{sinfo}\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
