//! What a run tells its observer as it goes: [`Event`]s sent to an
//! [`EventSink`]. The engine defines them; the terminal renderer, plain
//! lines and JSON lines are sinks that the CLI provides.

use std::time::Duration;

use cairn_store::Digest;

/// The final status of an action in a run (the JSON contract's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ran,
    Cached,
    Failed,
    DependencyFailed,
    Withheld,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ran => "ran",
            Status::Cached => "cached",
            Status::Failed => "failed",
            Status::DependencyFailed => "dependency_failed",
            Status::Withheld => "withheld",
        }
    }
}

/// An output file of an action, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub size: u64,
    /// The privacy level (`highly_sensitive`, `moderately_sensitive`, …).
    pub level: String,
}

/// One thing that happened during a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// A line for the user that is not about one action's end.
    Note(&'a str),
    /// A round of scheduling starts (the second and third only when the
    /// store could not give back an output).
    Plan {
        actions: &'a [String],
        executor: &'a str,
        round: usize,
    },
    Started {
        action: &'a str,
        id: &'a Digest,
    },
    /// An action's final status in this round.
    Finished {
        action: &'a str,
        id: Option<&'a Digest>,
        status: Status,
        message: &'a str,
        /// How long it ran, if it ran.
        elapsed: Option<Duration>,
        /// Its outputs, when known.
        outputs: &'a [OutputFile],
    },
    /// The round's actions are all finished.
    RoundEnded,
    /// `--dry-run`: what would happen to one action.
    DryRun {
        action: &'a str,
        id: Option<&'a Digest>,
        verdict: &'a str,
    },
    /// The run is over.
    Done(&'a Totals),
}

/// The closing figures of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub ok: bool,
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
    pub dependency_failed: usize,
    pub withheld: usize,
    /// Files whose content had to be read to know it: 0 for an up-to-date
    /// project whose files are settled.
    pub files_hashed: usize,
    pub elapsed: Duration,
}

/// Receives a run's events. Called from the scheduling thread only, but
/// shared with worker threads, hence `Sync`.
pub trait EventSink: Sync {
    fn event(&self, event: &Event);

    /// A note, for short.
    fn note(&self, message: &str) {
        self.event(&Event::Note(message));
    }
}
