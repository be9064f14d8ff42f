//! What a job's end means for the action: Slurm's final state, the node's
//! outcome file and the tail of the job's log, turned into an outcome with a
//! message a user can act on, or a resubmission.

use super::spec::NodeOutcome;
use super::watch::JobEnd;
use crate::exec::Outcome;
use crate::exec::engine::{human_size, parse_size};

/// What to do about an ended job.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Done(Outcome),
    /// The job was lost through no fault of the action (node failure,
    /// preemption): submit it again, once.
    Resubmit(String),
}

/// What slurmstepd writes into the job's output when it kills a job over
/// its memory limit (`JobAcctGatherParams=OverMemoryKill`, or a cgroup OOM).
const MEMORY_KILL_MARKS: &[&str] = &[
    "Exceeded job memory limit",
    "exceeded memory limit",
    "oom-kill event",
];

pub fn judge(
    job: &str,
    end: &JobEnd,
    node: Option<NodeOutcome>,
    log_tail: &str,
    cancelled_by_us: bool,
) -> Verdict {
    let on = end
        .node
        .as_deref()
        .map(|n| format!(" on node {n}"))
        .unwrap_or_default();
    let done = |exit_code: i32, message: String| {
        Verdict::Done(Outcome {
            exit_code,
            message: Some(message),
        })
    };
    let killed = end.signal.map_or(1, |s| 128 + s);
    let state = end.state.as_str();
    if state == "OUT_OF_MEMORY" || MEMORY_KILL_MARKS.iter().any(|m| log_tail.contains(m)) {
        let limit = end
            .memory
            .as_deref()
            .and_then(parse_size)
            .map(human_size)
            .unwrap_or_else(|| "unknown".into());
        return done(137, format!("Job ran out of memory (limit was {limit})"));
    }
    match state {
        "TIMEOUT" => {
            let limit = end.time_limit.as_deref().unwrap_or("unknown");
            return done(killed, format!("Job exceeded its time limit of {limit}"));
        }
        "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL" => {
            return Verdict::Resubmit(format!("Slurm job {job} ended {state}{on}"));
        }
        "CANCELLED" if cancelled_by_us => return done(130, "Cancelled by user".into()),
        "CANCELLED" => {
            return done(
                killed,
                format!(
                    "Slurm job {job} was cancelled{on} by someone other than this cairn run (scancel, or an administrator)"
                ),
            );
        }
        "DEADLINE" => return done(killed, format!("Slurm job {job} passed its deadline{on}")),
        _ => {}
    }
    if let Some(o) = node {
        return Verdict::Done(Outcome {
            exit_code: o.exit_code,
            message: o.message,
        });
    }
    let mut message = format!("Slurm job {job} ended {state}{on}");
    if let Some(r) = &end.reason {
        message.push_str(&format!(" ({r})"));
    }
    message.push_str(" before cairn on the node reported how the action ended");
    let last = crate::exec::engine::last_line(log_tail);
    if !last.is_empty() {
        message.push_str(&format!(": {last}"));
    }
    done(end.exit_code.filter(|c| *c != 0).unwrap_or(killed), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(state: &str) -> JobEnd {
        JobEnd {
            state: state.into(),
            node: Some("n1".into()),
            time_limit: Some("00:01:00".into()),
            memory: Some("50M".into()),
            signal: Some(9),
            ..JobEnd::default()
        }
    }

    fn message(v: Verdict) -> String {
        match v {
            Verdict::Done(o) => o.message.unwrap_or_default(),
            Verdict::Resubmit(m) => format!("resubmit: {m}"),
        }
    }

    #[test]
    fn slurm_states_become_messages() {
        let node = NodeOutcome {
            exit_code: 3,
            message: None,
            node: "n1".into(),
        };
        for (state, node, log, by_us, expected) in [
            (
                "OUT_OF_MEMORY",
                None,
                "",
                false,
                "Job ran out of memory (limit was 50.00MB)",
            ),
            (
                "FAILED",
                None,
                "slurmstepd-n1: error: Exceeded job memory limit\n",
                false,
                "Job ran out of memory (limit was 50.00MB)",
            ),
            (
                "TIMEOUT",
                None,
                "",
                false,
                "Job exceeded its time limit of 00:01:00",
            ),
            (
                "NODE_FAIL",
                None,
                "",
                false,
                "resubmit: Slurm job 7 ended NODE_FAIL on node n1",
            ),
            (
                "PREEMPTED",
                None,
                "",
                false,
                "resubmit: Slurm job 7 ended PREEMPTED on node n1",
            ),
            ("CANCELLED", None, "", true, "Cancelled by user"),
            (
                "CANCELLED",
                None,
                "",
                false,
                "Slurm job 7 was cancelled on node n1 by someone other than this cairn run (scancel, or an administrator)",
            ),
            ("FAILED", Some(node.clone()), "", false, ""),
            (
                "FAILED",
                None,
                "boom\n",
                false,
                "Slurm job 7 ended FAILED on node n1 before cairn on the node reported how the action ended: boom",
            ),
        ] {
            assert_eq!(
                message(judge("7", &end(state), node, log, by_us)),
                expected,
                "{state}"
            );
        }
    }

    #[test]
    fn the_action_exit_code_comes_from_the_node() {
        let o = NodeOutcome {
            exit_code: 3,
            message: None,
            node: "n1".into(),
        };
        assert_eq!(
            judge("7", &end("FAILED"), Some(o), "", false),
            Verdict::Done(Outcome {
                exit_code: 3,
                message: None
            })
        );
    }
}
