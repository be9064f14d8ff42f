//! The slurm executor against a real single-node Slurm cluster (see
//! `slurm_cluster.rs`), started once for all these tests.

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::slurm_cluster::cluster;
use crate::study::{Ran, Study, names, pipeline, ran};

/// `cairn ARGS --executor slurm --format json` on the test cluster.
fn slurm(s: &Study, args: &[&str]) -> Ran {
    ran(command(s, args).output().unwrap())
}

fn command(s: &Study, args: &[&str]) -> Command {
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--executor", "slurm", "--format", "json"]);
    let mut c = s.command(&a);
    c.env("SLURM_CONF", &cluster().conf).stdin(Stdio::null());
    c
}

/// The message of `action`'s final event.
fn message(r: &Ran, action: &str) -> String {
    r.events()
        .into_iter()
        .find(|e| e["event"] == "action" && e["action"] == action)
        .and_then(|e| e["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no final event for {action}: {r:?}"))
}

/// The executor recorded in `action`'s realisation.
fn built_by(s: &Study, action: &str) -> String {
    let shown = s.cairn(&["show", action]);
    assert_eq!(shown.code, 0, "{shown:?}");
    shown
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("executor").map(str::to_string))
        .unwrap_or_else(|| panic!("no executor in {shown:?}"))
        .trim_start_matches([' ', '=', ':'])
        .trim_matches('"')
        .to_string()
}

/// A study of one action `name` running the Python code `code`, which
/// writes `output/<name>.txt`; `toml` is its `cairn.toml`.
fn one_action(name: &str, code: &str, toml: &str) -> Study {
    let s = Study::new();
    s.write(
        "project.yaml",
        &format!(
            "version: \"4.0\"\nactions:\n  {name}:\n    run: python:v2 analysis/{name}.py\n    outputs:\n      moderately_sensitive:\n        out: output/{name}.txt\n"
        ),
    );
    s.write(&format!("analysis/{name}.py"), code);
    s.write("cairn.toml", toml);
    s.commit("one action");
    s
}

/// A name no other test (or test process) uses, for jobs this test finds
/// in the shared queue.
fn unique(name: &str) -> String {
    format!("{name}_{}", std::process::id())
}

#[test]
fn the_cluster_starts_quickly() {
    let c = cluster();
    assert!(
        c.startup < Duration::from_secs(20),
        "the test cluster took {:?} to start (logs in {})",
        c.startup,
        c.dir.display()
    );
    let partitions = c.query("sinfo", &["--noheader", "--format=%P"]);
    assert_eq!(
        partitions.split_whitespace().collect::<Vec<_>>(),
        [
            format!("{}*", c.partition),
            c.fragile.to_string(),
            "urgent".into()
        ]
    );
}

#[test]
fn a_pipeline_with_parallel_branches_runs_as_slurm_jobs() {
    let s = pipeline();
    let r = slurm(&s, &["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.with_status("ran"),
        names(&["analyse", "describe", "prepare", "report"])
    );
    assert_eq!(s.read("output/report.txt"), "The total is 60.\n");
    assert_eq!(s.read("output/description.txt"), "three rows\n");
    assert_eq!(built_by(&s, "report"), "slurm");
    assert!(
        s.read("metadata/report.log").contains("executor: slurm"),
        "{}",
        s.read("metadata/report.log")
    );
    let again = slurm(&s, &["run_all"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.with_status("ran").is_empty(), "{again:?}");
}

#[test]
fn what_slurm_built_is_fresh_locally_and_the_other_way_round() {
    let s = pipeline();
    let r = slurm(&s, &["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    let local = s.run(&["run_all", "--executor", "local"]);
    assert_eq!(local.code, 0, "{local:?}");
    assert!(local.with_status("ran").is_empty(), "{local:?}");

    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('still three rows\\n')\n",
    );
    let local = s.run(&["run_all", "--executor", "local"]);
    assert_eq!(local.with_status("ran"), names(&["describe"]), "{local:?}");
    let r = slurm(&s, &["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    assert_eq!(built_by(&s, "describe"), "local");
}

#[test]
fn an_edit_reruns_only_the_actions_it_affects() {
    let s = pipeline();
    assert_eq!(slurm(&s, &["run_all"]).code, 0);
    s.write(
        "analysis/analyse.py",
        "rows = open('output/data.csv').read().splitlines()[1:]\ntotal = 2 * sum(int(r.split(',')[1]) for r in rows)\nopen('output/table.csv', 'w').write(f'total\\n{total}\\n')\n",
    );
    let r = slurm(&s, &["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["analyse", "report"]), "{r:?}");
    assert_eq!(s.read("output/report.txt"), "The total is 120.\n");
}

#[test]
fn an_action_over_its_memory_limit_is_reported_out_of_memory() {
    let s = one_action(
        "greedy",
        "import time\nx = bytearray(400 * 1024 * 1024)\nx[::4096] = b'a' * len(x[::4096])\ntime.sleep(20)\nopen('output/greedy.txt', 'w').write('no')\n",
        "",
    );
    let r = slurm(&s, &["run_all", "-m", "64M"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.with_status("failed"), names(&["greedy"]));
    assert!(
        message(&r, "greedy").contains("ran out of memory (limit was 64.00MB)"),
        "{r:?}"
    );
    assert!(!s.exists("output/greedy.txt"));
}

#[test]
fn an_action_over_its_time_limit_is_reported() {
    // Slurm's time limits are whole minutes, checked every half minute or so:
    // this test takes about a minute and a half.
    let s = one_action(
        "slow",
        "import time\ntime.sleep(600)\n",
        "[actions.slow]\nslurm = { time = \"1\" }\n",
    );
    let r = slurm(&s, &["run_all"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        message(&r, "slow").contains("exceeded its time limit of 00:01:00"),
        "{r:?}"
    );
}

#[test]
fn sbatch_refusing_the_first_job_stops_the_run_before_anything_else_is_queued() {
    let s = pipeline();
    s.write(
        "cairn.toml",
        &(s.read("cairn.toml") + "[slurm]\npartition = \"no-such-partition\"\n"),
    );
    let r = slurm(&s, &["run_all", "--continue-on-error"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.with_status("ran").is_empty(), "{r:?}");
    let messages: Vec<String> = ["prepare", "describe"]
        .iter()
        .map(|a| message(&r, a))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("invalid partition specified: no-such-partition")),
        "{r:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("not submitted")),
        "{r:?}"
    );
}

#[test]
fn ctrl_c_cancels_every_job_and_records_nothing() {
    let a = unique("sleepy_a");
    let b = unique("sleepy_b");
    let s = Study::new();
    s.write(
        "project.yaml",
        &format!(
            "version: \"4.0\"\nactions:\n  {a}:\n    run: python:v2 analysis/sleep.py\n    outputs:\n      moderately_sensitive:\n        out: output/{a}.txt\n  {b}:\n    run: python:v2 analysis/sleep.py {b}\n    outputs:\n      moderately_sensitive:\n        out: output/{b}.txt\n"
        ),
    );
    s.write("analysis/sleep.py", "import time\ntime.sleep(120)\n");
    s.commit("sleepy");
    let c = cluster();
    let mut child = command(&s, &["run_all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ours = |c: &crate::slurm_cluster::Cluster| {
        let mut q = c.queued(&format!("cairn-{a}-"));
        q.extend(c.queued(&format!("cairn-{b}-")));
        q
    };
    let started = Instant::now();
    // Both queued and one running: Ctrl-C must cancel running and pending jobs.
    let ready = |q: Vec<(String, String, String)>| {
        q.len() == 2 && q.iter().any(|(_, _, st)| st == "RUNNING")
    };
    while !ready(ours(c)) {
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "the jobs never ran: {:?}\n{:?}",
                ours(c),
                ran(child.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: sending SIGINT to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let r = ran(child.wait_with_output().unwrap());
    assert_eq!(r.code, 130, "{r:?}");
    assert_eq!(ours(c), vec![], "cairn left jobs in the queue");
    assert!(!s.exists(&format!("output/{a}.txt")));
    let status = s.cairn(&["status", "--format", "json"]);
    assert_eq!(status.stdout.matches("never_run").count(), 2, "{status:?}");
}

#[test]
fn a_program_that_differs_on_the_node_is_refused() {
    // The node's environment puts another `tool` first on PATH, as a node
    // with a different installation would.
    let s = one_action("differs", "", "");
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    for (dir, word) in [(&here, "here"), (&there, "there")] {
        let tool = dir.path().join("tool");
        std::fs::write(
            &tool,
            format!("#!/bin/sh\necho {word} > output/differs.txt\n"),
        )
        .unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let path = std::env::var("PATH").unwrap();
    s.write(
        "cairn.toml",
        &format!(
            "[images.python]\ncommand = [\"tool\"]\n[slurm]\nsbatch-args = [\"--export=ALL,PATH={}:{path}\"]\n",
            there.path().display()
        ),
    );
    s.commit("a tool");
    let r = ran(command(&s, &["run_all"])
        .env("PATH", format!("{}:{path}", here.path().display()))
        .output()
        .unwrap());
    assert_eq!(r.code, 1, "{r:?}");
    let m = message(&r, "differs");
    let node = &cluster().node;
    assert!(
        m.contains(&format!("refused to run on node {node}"))
            && m.contains(&format!("{}/tool", there.path().display())),
        "{m}"
    );
    assert!(!s.exists("output/differs.txt"));
}

#[test]
fn a_job_run_as_another_user_writes_files_owned_by_that_user() {
    const NOBODY: u32 = 65534;
    let s = one_action(
        "whoami",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/whoami.txt', 'w').write(str(os.getuid()))\n",
        "",
    );
    let home = tempfile::tempdir().unwrap();
    for dir in [s.path(), s.store.path(), home.path()] {
        let out = Command::new("chown")
            .args(["-R", &format!("{NOBODY}:{NOBODY}")])
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let c = command(&s, &["run_all"]);
    let program = c.get_program().to_owned();
    let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let mut as_nobody = Command::new("setpriv");
    as_nobody
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .arg(program)
        .args(args)
        .env("SLURM_CONF", &cluster().conf)
        .env("CAIRN_STORE", s.store.path())
        .env("HOME", home.path())
        .stdin(Stdio::null());
    let r = ran(as_nobody.output().unwrap());
    assert_eq!(
        r.code,
        0,
        "{r:?}\n--- log\n{}",
        std::fs::read_to_string(s.file("metadata/whoami.log")).unwrap_or_default()
    );
    assert_eq!(s.read("output/whoami.txt"), NOBODY.to_string());
    let owner = |p: &std::path::Path| std::fs::metadata(p).unwrap().uid();
    assert_eq!(owner(&s.file("output/whoami.txt")), NOBODY);
    assert_eq!(owner(&s.file("metadata/whoami.log")), NOBODY);
}

/// Held by the tests that fail or preempt the jobs of the `fragile` node.
static FRAGILE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until a job whose name starts with `prefix`, other than those in
/// `not`, is running; returns its id.
fn running(prefix: &str, not: &[String]) -> String {
    let started = Instant::now();
    loop {
        let q = cluster().queued(prefix);
        if let Some((id, _, _)) = q
            .iter()
            .find(|(id, _, st)| st == "RUNNING" && !not.contains(id))
        {
            return id.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job {prefix}… ran: {q:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails the `fragile` node as an administrator marking it down does (its
/// jobs end `NODE_FAIL`), then waits until it is back.
fn fail_fragile_node() {
    let c = cluster();
    c.query(
        "scontrol",
        &[
            "update",
            "nodename=fragile",
            "state=down",
            "reason=cairn-test",
        ],
    );
    let started = Instant::now();
    loop {
        // Back by itself (ReturnToService=2) or by resume.
        let _ = c
            .client("scontrol")
            .args(["update", "nodename=fragile", "state=resume"])
            .output();
        let state = c.query(
            "sinfo",
            &["--noheader", "--partition=fragile", "--format=%T"],
        );
        if state.trim() == "idle" {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "fragile: {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_job_lost_with_its_node_is_resubmitted_once_then_failed() {
    let _fragile = FRAGILE.lock().unwrap_or_else(|e| e.into_inner());
    let name = unique("lost");
    let s = one_action(
        &name,
        &format!(
            "import os, time\ntime.sleep(4)\nos.makedirs('output', exist_ok=True)\nopen('output/{name}.txt', 'w').write('done')\n"
        ),
        &format!("[actions.{name}]\nslurm = {{ partition = \"fragile\" }}\n"),
    );
    let prefix = format!("cairn-{name}-");

    let child = command(&s, &["run_all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = running(&prefix, &[]);
    fail_fragile_node();
    let r = ran(child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&[&name]));
    assert!(
        r.stderr.contains(&format!(
            "note: Slurm job {first} ended NODE_FAIL on node fragile: resubmitting {name} once"
        )),
        "{r:?}"
    );
    assert_eq!(s.read(&format!("output/{name}.txt")), "done");

    let child = command(&s, &["run_all", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let once = running(&prefix, &[]);
    fail_fragile_node();
    let twice = running(&prefix, std::slice::from_ref(&once));
    fail_fragile_node();
    let r = ran(child.wait_with_output().unwrap());
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        message(&r, &name),
        format!(
            "Job exited with an error: Slurm job {twice} ended NODE_FAIL on node fragile, after it was resubmitted once (Slurm job {once} ended NODE_FAIL on node fragile)"
        )
    );
}

#[test]
fn a_job_cancelled_outside_cairn_fails_saying_so() {
    let name = unique("cancelled");
    let s = one_action(&name, "import time\ntime.sleep(120)\n", "");
    let child = command(&s, &["run_all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = running(&format!("cairn-{name}-"), &[]);
    cluster().query("scancel", &[&id]);
    let r = ran(child.wait_with_output().unwrap());
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        message(&r, &name).contains(&format!(
            "Slurm job {id} was cancelled on node {} by someone other than this cairn run",
            cluster().node
        )),
        "{r:?}"
    );
}

#[test]
fn jobs_left_by_a_cairn_that_died_are_cancelled_not_trusted() {
    let name = unique("orphan");
    // The action waits for a file outside the project (the sandbox shows
    // the host's /var read-only), so the test decides when it ends.
    let go = std::path::PathBuf::from(format!("/var/tmp/cairn-it-{name}-go"));
    let _ = std::fs::remove_file(&go);
    let s = one_action(
        &name,
        &format!(
            "import os, time\nwhile not os.path.exists({go:?}):\n    time.sleep(0.1)\nos.makedirs('output', exist_ok=True)\nopen('output/{name}.txt', 'w').write('done')\n"
        ),
        "",
    );
    let prefix = format!("cairn-{name}-");
    let mut child = command(&s, &["run_all"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let orphan = running(&prefix, &[]);
    child.kill().unwrap(); // SIGKILL: cairn cannot cancel anything
    child.wait().unwrap();
    assert_eq!(cluster().queued(&prefix).len(), 1, "the job outlives cairn");

    std::fs::write(&go, "").unwrap();
    let r = slurm(&s, &["run_all"]);
    let _ = std::fs::remove_file(&go);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&[&name]));
    assert!(
        r.stderr
            .contains(&format!("cancelling Slurm job(s) {orphan} ({prefix}")),
        "{r:?}"
    );
    let shown = cluster().query("scontrol", &["show", "job", "--oneliner", &orphan]);
    assert!(shown.contains("JobState=CANCELLED"), "{shown}");
    assert_eq!(s.read(&format!("output/{name}.txt")), "done");
}

#[test]
fn with_docker_on_the_nodes_what_slurm_built_is_fresh_for_the_docker_executor() {
    let repo = crate::docker::busybox();
    let s = Study::new();
    s.write(
        "project.yaml",
        "version: \"4.0\"\nactions:\n  boxed:\n    run: busybox:v1 sh -c 'mkdir -p output && echo in a container > output/boxed.txt'\n    outputs:\n      moderately_sensitive:\n        out: output/boxed.txt\n",
    );
    s.write(
        "cairn.toml",
        &format!("[images.busybox]\ndocker = \"{repo}\"\n[slurm]\nnode-executor = \"docker\"\n"),
    );
    s.commit("a boxed action");
    let r = slurm(&s, &["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["boxed"]));
    assert_eq!(s.read("output/boxed.txt"), "in a container\n");
    let docker = s.run(&["run_all", "--executor", "docker"]);
    assert_eq!(docker.code, 0, "{docker:?}");
    assert!(docker.with_status("ran").is_empty(), "{docker:?}");
}

#[test]
fn a_preempted_job_is_resubmitted() {
    let _fragile = FRAGILE.lock().unwrap_or_else(|e| e.into_inner());
    let name = unique("preempted");
    let s = one_action(
        &name,
        &format!(
            "import os, time\ntime.sleep(4)\nos.makedirs('output', exist_ok=True)\nopen('output/{name}.txt', 'w').write('done')\n"
        ),
        &format!("[actions.{name}]\nslurm = {{ partition = \"fragile\" }}\n"),
    );
    let prefix = format!("cairn-{name}-");
    let child = command(&s, &["run_all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = running(&prefix, &[]);
    // A job of the higher-priority partition that needs the whole node.
    cluster().query(
        "sbatch",
        &[
            "--partition=urgent",
            "--exclusive",
            "--job-name=urgent",
            "--output=/dev/null",
            "--wrap=sleep 1",
        ],
    );
    let r = ran(child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "note: Slurm job {first} ended PREEMPTED on node fragile: resubmitting {name} once"
        )),
        "{r:?}"
    );
    assert_eq!(s.read(&format!("output/{name}.txt")), "done");
}

#[test]
fn the_node_traces_what_an_action_reads_so_an_edit_reruns_only_its_readers() {
    // No declared inputs: each action can see every file, and only what it
    // was traced reading on the node makes it stale.
    let s = Study::new();
    s.write(
        "project.yaml",
        "version: \"4.0\"\nactions:\n  reads_x:\n    run: python:v2 analysis/copy.py x\n    outputs:\n      moderately_sensitive:\n        out: output/x.txt\n  reads_y:\n    run: python:v2 analysis/copy.py y\n    outputs:\n      moderately_sensitive:\n        out: output/y.txt\n",
    );
    s.write(
        "analysis/copy.py",
        "import os, sys\nos.makedirs('output', exist_ok=True)\nn = sys.argv[1]\nopen(f'output/{n}.txt', 'w').write(open(f'data/{n}.txt').read())\n",
    );
    s.write("data/x.txt", "x1\n");
    s.write("data/y.txt", "y1\n");
    s.commit("two readers");
    let r = slurm(&s, &["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["reads_x", "reads_y"]));
    s.write("data/y.txt", "y2\n");
    let r = slurm(&s, &["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.with_status("ran"), names(&["reads_y"]), "{r:?}");
    assert_eq!(s.read("output/y.txt"), "y2\n");
    let local = s.run(&["run_all", "--executor", "local"]);
    assert!(local.with_status("ran").is_empty(), "{local:?}");
}
