//! The docker executor against the real Docker engine. The images are built
//! here, once per test process, from the host's static busybox, under names
//! unique to the process, and removed when it exits.

use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::study::{Study, names};

/// Image references (and ids) this process created, removed at exit.
static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The repository prefix of this process's images.
fn prefix() -> String {
    format!("cairn-it-{}", std::process::id())
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e} (the docker tests need Docker)"));
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

extern "C" fn remove_images() {
    let created = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|e| e.into_inner()));
    if !created.is_empty() {
        let _ = Command::new("docker")
            .args(["rmi", "--force"])
            .args(&created)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Builds a busybox image tagged `reference`; `extra` goes at the end of
/// its Dockerfile (to make an image with another id). Returns its id.
fn build(reference: &str, extra: &str) -> String {
    static CLEANUP: OnceLock<()> = OnceLock::new();
    CLEANUP.get_or_init(|| {
        // SAFETY: registers a plain function to run at exit.
        unsafe {
            libc::atexit(remove_images);
        }
    });
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", ctx.path().join("busybox"))
        .expect("/bin/busybox (Debian's busybox-static, see .ci/install-deps)");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN [\"/bin/mkdir\", \"-m\", \"1777\", \"/tmp\"]\n{extra}\n"
        ),
    )
    .unwrap();
    let out = Command::new("docker")
        .args(["build", "--quiet", "--tag", reference])
        .arg(ctx.path())
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .expect("docker build (the docker tests need Docker)");
    assert!(out.status.success(), "docker build {reference}: {out:?}");
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", reference])
        .trim()
        .to_string();
    CREATED
        .lock()
        .unwrap()
        .extend([reference.to_string(), id.clone()]);
    id
}

/// The shared busybox image's repository (without tag), built once.
pub(crate) fn busybox() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let repo = format!("{}/busybox", prefix());
        build(&format!("{repo}:v1"), "");
        repo
    })
}

/// A study whose actions run in busybox images (`busybox:v1` mapped to this
/// process's image), with the docker executor chosen in `cairn.toml`.
fn study(actions: &str, extra_toml: &str) -> Study {
    let s = Study::new();
    s.write(
        "project.yaml",
        &format!("version: \"4.0\"\nactions:\n{actions}"),
    );
    s.write(
        "cairn.toml",
        &format!(
            "[executor]\nkind = \"docker\"\n[images.busybox]\ndocker = \"{}\"\n{extra_toml}",
            busybox()
        ),
    );
    s.commit("a study");
    s
}

/// One action writing `output/<name>.txt` with a shell command.
fn action(name: &str, image: &str, script: &str, needs: &[&str]) -> String {
    format!(
        "  {name}:\n    run: {image} sh -c '{script}'\n    needs: [{}]\n    outputs:\n      moderately_sensitive:\n        out: output/{name}.txt\n",
        needs.join(", ")
    )
}

fn realisation_executor(s: &Study, action: &str) -> String {
    let shown = s.cairn(&["show", action, "--format", "json"]);
    assert_eq!(shown.code, 0, "{shown:?}");
    let doc: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    doc["realisation"]["executor"]
        .as_str()
        .unwrap_or_else(|| panic!("no executor in {shown:?}"))
        .to_string()
}

#[test]
fn a_pipeline_runs_in_its_image_and_a_second_run_runs_nothing() {
    let s = study(
        &[
            action(
                "prepare",
                "busybox:v1",
                "mkdir -p output && printf \"1\\n2\\n3\\n\" > output/prepare.txt",
                &[],
            ),
            action(
                "total",
                "busybox:v1",
                "awk \"{ s += \\$1 } END { print s }\" output/prepare.txt > output/total.txt",
                &["prepare"],
            ),
            action(
                "environment",
                "busybox:v1",
                "mkdir -p output && echo $OPENSAFELY_BACKEND $PWD > output/environment.txt && echo to the log",
                &[],
            ),
        ]
        .concat(),
        "",
    );
    let first = s.run(&["run_all"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(
        first.with_status("ran"),
        names(&["environment", "prepare", "total"])
    );
    let plan = first.events().into_iter().find(|e| e["event"] == "plan");
    assert_eq!(plan.unwrap()["executor"], "docker", "{first:?}");
    assert_eq!(s.read("output/total.txt"), "6\n");
    assert_eq!(
        s.read("output/environment.txt"),
        "expectations /workspace\n"
    );
    let log = s.read("metadata/environment.log");
    assert!(log.starts_with("to the log\n"), "{log}");
    assert!(log.contains("docker_image_id: sha256:"), "{log}");
    assert_eq!(realisation_executor(&s, "total"), "docker");

    let second = s.run(&["run_all"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.with_status("ran").is_empty(), "{second:?}");
    assert_eq!(
        second.with_status("cached"),
        names(&["environment", "prepare", "total"])
    );
}

#[test]
fn a_retagged_image_reruns_its_actions_and_no_others() {
    // Images of this test's own, so that re-tagging cannot disturb others.
    let repo = format!("{}/retag", prefix());
    let first_id = build(&format!("{repo}:v2"), "");
    let s = study(
        &[
            action(
                "make",
                "python:v2",
                "mkdir -p output && echo made > output/make.txt",
                &[],
            ),
            action(
                "use",
                "python:v2",
                "cat output/make.txt > output/use.txt",
                &["make"],
            ),
            action(
                "elsewhere",
                "busybox:v1",
                "mkdir -p output && echo other > output/elsewhere.txt",
                &[],
            ),
        ]
        .concat(),
        &format!("[images.python]\ndocker = \"{repo}\"\n"),
    );
    let first = s.run(&["run_all"]);
    assert_eq!(first.code, 0, "{first:?}");

    let second_id = build(&format!("{repo}:v2"), "LABEL cairn.test=\"rebuilt\"");
    assert_ne!(first_id, second_id);
    let explained = s.cairn(&["explain", "make"]);
    assert_eq!(explained.code, 0, "{explained:?}");
    assert!(
        explained.stdout.contains(&format!(
            "image changed: python:v2 is now {second_id} (was {first_id})"
        )),
        "{explained:?}"
    );

    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    // `use` gets identical input, but its image changed too.
    assert_eq!(r.with_status("ran"), names(&["make", "use"]), "{r:?}");
    assert_eq!(r.with_status("cached"), names(&["elsewhere"]), "{r:?}");
    assert_eq!(s.read("output/use.txt"), "made\n");
}

#[test]
fn actions_have_no_network_and_their_files_belong_to_the_calling_user() {
    let s = study(
        &action(
            "probe",
            "busybox:v1",
            "mkdir -p output && ls /sys/class/net > output/probe.txt && stat -c %u:%g output/probe.txt >> output/probe.txt",
            &[],
        ),
        "",
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    // SAFETY: these calls cannot fail and have no preconditions.
    let me = unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) };
    assert_eq!(s.read("output/probe.txt"), format!("lo\n{me}\n"));
}

#[test]
fn actions_run_as_the_user_cairn_docker_user_names() {
    let s = study(
        &action(
            "owned",
            "busybox:v1",
            "mkdir -p output && id -u > output/owned.txt && stat -c %u:%g output/owned.txt >> output/owned.txt",
            &[],
        ),
        "",
    );
    let out = s
        .command(&["run", "run_all", "--format", "json"])
        .env("CAIRN_DOCKER_USER", "1234:1234")
        .output()
        .unwrap();
    let r = crate::study::ran(out);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s.read("output/owned.txt"), "1234\n1234:1234\n");
    assert!(r.stdout.contains("as user 1234:1234"), "{r:?}");
}

#[test]
fn ctrl_c_leaves_no_container_of_the_run_behind() {
    let s = study(
        &action(
            "slow",
            "busybox:v1",
            "echo begun; sleep 60; echo finished; mkdir -p output; touch output/slow.txt",
            &[],
        ),
        "",
    );
    let mut child = s
        .command(&["run", "run_all", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the action's container runs (found by its action label and
    // this study's scratch workspace).
    let deadline = Instant::now() + Duration::from_secs(60);
    let container = loop {
        let ids = docker(&[
            "ps",
            "--quiet",
            "--no-trunc",
            "--filter",
            "label=cairn.action=slow",
        ]);
        let ours = ids.split_whitespace().find(|id| {
            docker(&[
                "inspect",
                "--format",
                "{{range .Mounts}}{{.Source}}{{end}}",
                id,
            ])
            .contains(&*s.store.path().to_string_lossy())
        });
        if let Some(id) = ours {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "the container never started");
        assert!(child.try_wait().unwrap().is_none(), "cairn ended early");
        std::thread::sleep(Duration::from_millis(50));
    };
    let label = docker(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"cairn.run\"}}",
        &container,
    ]);
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let r = crate::study::ran(child.wait_with_output().unwrap());
    assert_eq!(r.code, 130, "{r:?}");
    assert!(r.stdout.contains(label.trim()), "{r:?}");
    let left = docker(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("label=cairn.run={}", label.trim()),
    ]);
    assert_eq!(left.trim(), "", "containers left behind");
    assert!(!s.exists("output/slow.txt"));
    // The action was stopped, not waited for.
    let log = s.read("metadata/slow.log");
    assert!(
        log.starts_with("begun\n")
            && !log.contains("finished")
            && log.contains("Cancelled by user"),
        "{log}"
    );
}

#[test]
fn exit_137_is_reported_as_killed_or_out_of_memory() {
    let s = study(
        &[
            action("killed", "busybox:v1", "kill -9 $$", &[]),
            action(
                "greedy",
                "busybox:v1",
                "head -c 200m /dev/zero | tail > /dev/null",
                &[],
            ),
        ]
        .concat(),
        "",
    );
    let r = s.run(&["run_all", "--continue-on-error", "--memory", "8m"]);
    assert_eq!(r.code, 1, "{r:?}");
    let message = |a: &str| {
        r.events()
            .into_iter()
            .find(|e| e["event"] == "action" && e["action"] == a)
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        message("killed"),
        "Job exited with an error: Job killed by a signal or by memory limits (exit status 137)"
    );
    assert_eq!(
        message("greedy"),
        "Job exited with an error: Job ran out of memory (limit was 8.00MB)"
    );
    assert!(s.read("metadata/greedy.log").contains("exit_code: 137"));
}

#[test]
fn a_missing_image_names_the_reference_and_how_to_get_it() {
    let absent = format!("{}/absent", prefix());
    let s = study(
        &action(
            "lost",
            "stata-mp:v1",
            "mkdir -p output && echo > output/lost.txt",
            &[],
        ),
        &format!("[images.stata-mp]\ndocker = \"{absent}\"\ncommand = [\"/bin/busybox\"]\n"),
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!("{absent}:v1 (for stata-mp:v1)"))
            && r.stderr.contains(&format!("docker pull {absent}:v1"))
            && r.stderr.contains("cairn run --pull"),
        "{r:?}"
    );

    // Left to choose, cairn runs such a project on the host, and says why.
    s.write(
        "cairn.toml",
        &s.read("cairn.toml")
            .replace("kind = \"docker\"", "kind = \"auto\""),
    );
    let auto = s.run(&["run_all"]);
    assert_eq!(auto.code, 0, "{auto:?}");
    let plan = auto.events().into_iter().find(|e| e["event"] == "plan");
    assert_eq!(plan.unwrap()["executor"], "local", "{auto:?}");
    assert!(
        auto.stdout
            .contains(&format!("Docker lacks {absent}:v1: running on the host"))
            && auto.stdout.contains("[executor] kind"),
        "{auto:?}"
    );
}

#[test]
fn auto_chooses_docker_when_it_has_every_image() {
    let s = study(
        &action(
            "here",
            "busybox:v1",
            "mkdir -p output && echo > output/here.txt",
            &[],
        ),
        "",
    );
    s.write(
        "cairn.toml",
        &s.read("cairn.toml").replace("kind = \"docker\"\n", ""),
    );
    let r = s.run(&["run_all"]);
    assert_eq!(r.code, 0, "{r:?}");
    let plan = r.events().into_iter().find(|e| e["event"] == "plan");
    assert_eq!(plan.unwrap()["executor"], "docker", "{r:?}");
    assert!(s.exists("output/here.txt"));
}

#[test]
fn without_docker_auto_runs_on_the_host_and_docker_is_an_error() {
    let s = study(
        &action(
            "host",
            "busybox:v1",
            "mkdir -p output && echo > output/host.txt",
            &[],
        ),
        "",
    );
    s.write(
        "cairn.toml",
        &format!(
            "[images.busybox]\ndocker = \"{}\"\ncommand = [\"/bin/busybox\"]\n",
            busybox()
        ),
    );
    // A PATH with git but no docker.
    let bin = tempfile::tempdir().unwrap();
    let git = crate::study::which("git");
    std::os::unix::fs::symlink(git, bin.path().join("git")).unwrap();
    let run = |executor: &str| {
        let out = s
            .command(&["run", "run_all", "--format", "json", "--executor", executor])
            .env("PATH", bin.path())
            .output()
            .unwrap();
        crate::study::ran(out)
    };
    let docker = run("docker");
    assert_eq!(docker.code, 1, "{docker:?}");
    assert!(
        docker
            .stderr
            .contains("the docker executor needs a Docker engine, and none answers: the `docker` command is not installed"),
        "{docker:?}"
    );
    let auto = run("auto");
    assert_eq!(auto.code, 0, "{auto:?}");
    let plan = auto.events().into_iter().find(|e| e["event"] == "plan");
    assert_eq!(plan.unwrap()["executor"], "local", "{auto:?}");
}

#[test]
fn inspecting_commands_take_the_executor_flag() {
    let s = crate::study::pipeline();
    let ran = s.run(&["run_all", "--executor", "local"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let local = s.cairn(&["status", "--executor", "local", "--format", "json"]);
    assert_eq!(local.code, 0, "{local:?}");
    assert_eq!(local.stdout.matches("\"fresh\"").count(), 4, "{local:?}");
    // Asked about docker, whose images this engine does not have, status
    // says so rather than answering for the host.
    for cmd in [
        &["status", "--executor", "docker"][..],
        &["explain", "report", "--executor", "docker"],
        &["show", "report", "--executor", "docker"],
    ] {
        let r = s.cairn(cmd);
        assert_ne!(r.code, 0, "{cmd:?}: {r:?}");
        assert!(
            r.stderr.contains("ghcr.io/opensafely-core/python:v2"),
            "{cmd:?}: {r:?}"
        );
    }
}

#[test]
fn in_a_container_an_edit_reruns_only_the_actions_that_looked_at_it() {
    let s = study(
        &[
            action(
                "reader",
                "busybox:v1",
                "cat data/read.txt > /dev/null; mkdir -p output; echo r > output/reader.txt",
                &[],
            ),
            action(
                "prober",
                "busybox:v1",
                "test -f data/maybe.csv; mkdir -p output; echo p > output/prober.txt",
                &[],
            ),
            action(
                "lister",
                "busybox:v1",
                "ls listed > /dev/null; mkdir -p output; echo l > output/lister.txt",
                &[],
            ),
        ]
        .concat(),
        "",
    );
    s.write("data/read.txt", "v1\n");
    s.write("listed/a.txt", "a\n");
    s.write("docs/notes.md", "notes\n");
    s.commit("data");
    let ran = |s: &Study| {
        let r = s.run(&["run_all"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(
            !r.stdout.contains("untraced"),
            "traced in the container: {r:?}"
        );
        r.with_status("ran")
    };
    assert_eq!(ran(&s), names(&["lister", "prober", "reader"]));
    s.write("docs/notes.md", "edited\n");
    assert!(ran(&s).is_empty(), "an unrelated edit reruns nothing");
    s.write("data/read.txt", "v2\n");
    assert_eq!(ran(&s), names(&["reader"]));
    s.write("data/maybe.csv", "here\n");
    assert_eq!(ran(&s), names(&["prober"]));
    s.write("listed/b.txt", "b\n");
    assert_eq!(ran(&s), names(&["lister"]));
}
