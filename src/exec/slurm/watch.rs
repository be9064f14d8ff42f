//! Watching submitted jobs: one thread asks `squeue` about every job of the
//! run at once, and `scontrol show job` about each one that has ended, so a
//! run of hundreds of jobs costs the controller one query per interval.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How a job ended, as Slurm tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobEnd {
    /// `COMPLETED`, `FAILED`, `TIMEOUT`, `OUT_OF_MEMORY`, …; `UNKNOWN` when
    /// the controller no longer knows the job.
    pub state: String,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub node: Option<String>,
    /// `TimeLimit` (`00:01:00`).
    pub time_limit: Option<String>,
    /// The job's memory, from its trackable resources (`50M`).
    pub memory: Option<String>,
}

/// States in which a job may still run or write.
const ACTIVE: &[&str] = &[
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "STOPPED",
    "SIGNALING",
    "STAGE_OUT",
    "RESIZING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "SPECIAL_EXIT",
    "RESV_DEL_HOLD",
];

#[derive(Default)]
struct State {
    /// Job ids being watched, with when they were submitted.
    watching: HashMap<String, Instant>,
    ended: HashMap<String, JobEnd>,
    stop: bool,
}

/// The watcher thread and the jobs it reports on.
#[derive(Default)]
pub struct Watcher {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Watcher {
    /// Waits until job `id` has ended.
    pub fn wait(&self, id: &str) -> JobEnd {
        self.start();
        let (lock, cv) = &*self.shared;
        let mut state = lock.lock().unwrap();
        state.watching.insert(id.to_string(), Instant::now());
        cv.notify_all();
        loop {
            if let Some(end) = state.ended.remove(id) {
                return end;
            }
            state = cv.wait(state).unwrap();
        }
    }

    fn start(&self) {
        let mut thread = self.thread.lock().unwrap();
        if thread.is_none() {
            let shared = self.shared.clone();
            *thread = Some(std::thread::spawn(move || watch(&shared)));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap().stop = true;
        cv.notify_all();
        if let Some(t) = self.thread.lock().unwrap().take() {
            let _ = t.join();
        }
    }
}

fn watch(shared: &(Mutex<State>, Condvar)) {
    let (lock, cv) = shared;
    let mut failing_since: Option<Instant> = None;
    loop {
        let (ids, youngest) = {
            let mut state = lock.lock().unwrap();
            while state.watching.is_empty() && !state.stop {
                state = cv.wait(state).unwrap();
            }
            if state.stop {
                return;
            }
            let youngest = state.watching.values().max().copied();
            (state.watching.keys().cloned().collect::<Vec<_>>(), youngest)
        };
        let ended: Vec<(String, JobEnd)> = match squeue(&ids) {
            Ok(states) => {
                failing_since = None;
                ids.iter()
                    .filter(|id| {
                        !states
                            .get(*id)
                            .is_some_and(|s| ACTIVE.contains(&s.as_str()))
                    })
                    .map(|id| {
                        let state = states.get(id).cloned();
                        (id.clone(), show_job(id, state))
                    })
                    .collect()
            }
            Err(why) => {
                // A controller that does not answer for a while (a restart,
                // a failover) is waited for; one that stays away ends the jobs.
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(120) {
                    ids.iter()
                        .map(|id| {
                            let end = JobEnd {
                                state: "UNKNOWN".into(),
                                reason: Some(format!("squeue has failed for 2 minutes: {why}")),
                                ..JobEnd::default()
                            };
                            (id.clone(), end)
                        })
                        .collect()
                } else {
                    Vec::new()
                }
            }
        };
        if !ended.is_empty() {
            let mut state = lock.lock().unwrap();
            for (id, end) in ended {
                state.watching.remove(&id);
                state.ended.insert(id, end);
            }
            cv.notify_all();
        }
        // Short jobs are noticed quickly; long-running ones are asked
        // about less often.
        let age = youngest.map_or(Duration::ZERO, |t| t.elapsed());
        let interval = (age / 20).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let state = lock.lock().unwrap();
        let _ = cv.wait_timeout(state, interval).unwrap();
    }
}

/// The state of each of `ids` that the controller knows.
fn squeue(ids: &[String]) -> Result<HashMap<String, String>, String> {
    let out = Command::new("squeue")
        .args(["--noheader", "--states=all", "--format=%i|%T"])
        .arg(format!("--jobs={}", ids.join(",")))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running squeue: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // Every job asked about has been purged.
        if stderr.contains("Invalid job id") {
            return Ok(HashMap::new());
        }
        return Err(stderr.trim().to_string());
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&out.stdout)))
}

pub fn parse_squeue(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().split_once('|'))
        .map(|(id, state)| (id.to_string(), state.to_string()))
        .collect()
}

/// `scontrol show job` of an ended job; `squeue_state` when the controller
/// has forgotten it.
fn show_job(id: &str, squeue_state: Option<String>) -> JobEnd {
    let out = Command::new("scontrol")
        .args(["show", "job", "--oneliner", id])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => parse_show_job(&String::from_utf8_lossy(&o.stdout)),
        _ => JobEnd {
            state: squeue_state.unwrap_or_else(|| "UNKNOWN".into()),
            ..JobEnd::default()
        },
    }
}

/// Parses one line of `scontrol show job --oneliner`.
pub fn parse_show_job(line: &str) -> JobEnd {
    let fields: HashMap<&str, &str> = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let get = |k: &str| {
        fields
            .get(k)
            .filter(|v| !v.is_empty() && **v != "(null)" && **v != "None")
            .map(|v| v.to_string())
    };
    let (exit_code, signal) = match get("ExitCode").and_then(|e| {
        let (c, s) = e.split_once(':')?;
        Some((c.parse().ok()?, s.parse().ok()?))
    }) {
        Some((c, s)) => (Some(c), (s != 0).then_some(s)),
        None => (None, None),
    };
    let memory = get("TRES").and_then(|t| {
        t.split(',')
            .find_map(|kv| kv.strip_prefix("mem=").map(str::to_string))
    });
    JobEnd {
        state: get("JobState").unwrap_or_else(|| "UNKNOWN".into()),
        reason: get("Reason"),
        exit_code,
        signal,
        node: get("BatchHost").or_else(|| get("NodeList")),
        time_limit: get("TimeLimit"),
        memory,
    }
}

/// The calling user's jobs in the queue whose names cairn gives
/// (`cairn-…`): `(id, name)`.
pub fn queued_by_name() -> Vec<(String, String)> {
    let Ok(out) = Command::new("squeue")
        .args(["--me", "--noheader", "--format=%i|%j"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    parse_squeue(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .filter(|(_, name)| name.starts_with("cairn-"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scontrol() {
        let line = "JobId=3 JobName=cairn-a-x UserId=root(0) JobState=TIMEOUT Reason=TimeLimit \
                    Dependency=(null) ExitCode=0:15 RunTime=00:01:20 TimeLimit=00:01:00 \
                    NodeList=vm BatchHost=vm TRES=cpu=1,mem=50M,node=1,billing=1";
        assert_eq!(
            parse_show_job(line),
            JobEnd {
                state: "TIMEOUT".into(),
                reason: Some("TimeLimit".into()),
                exit_code: Some(0),
                signal: Some(15),
                node: Some("vm".into()),
                time_limit: Some("00:01:00".into()),
                memory: Some("50M".into()),
            }
        );
        let done = parse_show_job("JobId=1 JobState=COMPLETED Reason=None ExitCode=0:0");
        assert_eq!((done.reason, done.signal), (None, None));
    }

    #[test]
    fn reads_squeue() {
        let s = parse_squeue("1|COMPLETED\n2|RUNNING\n");
        assert_eq!(s["2"], "RUNNING");
    }
}
