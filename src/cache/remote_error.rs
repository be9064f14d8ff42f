//! `RemoteError`: why a remote cache could not be used. Every one of them
//! degrades to a warning and a local run; none is ever a failed run.

use std::fmt;
use std::io;

/// What went wrong talking to the remote cache, and at which URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// The URL of the request that failed (never carries the token).
    pub url: String,
    pub failure: Failure,
}

/// The kinds of failure a caller may want to tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing answers: connection refused, host unknown, network down.
    Unreachable(String),
    /// The server did not answer (or stopped sending) within the time limit.
    Timeout(String),
    /// The server answered with a status cairn cannot use (401, 403, 5xx…).
    Status(u16),
    /// What came back is not a well-formed HTTP response: not HTTP at all,
    /// a body shorter than declared, a connection closed mid-answer.
    Garbage(String),
    /// A body longer than cairn accepts for it.
    TooLarge { limit: u64 },
    /// The URL is not one cairn can talk to.
    BadUrl(String),
    /// The local store could not take or give what was transferred.
    Local(String),
}

impl RemoteError {
    pub(crate) fn new(url: impl Into<String>, failure: Failure) -> RemoteError {
        RemoteError {
            url: url.into(),
            failure,
        }
    }

    /// Classifies an error of the HTTP client.
    pub(crate) fn from_ureq(url: &str, e: ureq::Error) -> RemoteError {
        use ureq::Error as E;
        let failure = match e {
            E::StatusCode(s) => Failure::Status(s),
            E::Timeout(t) => Failure::Timeout(t.to_string()),
            E::BodyStalled => Failure::Timeout("the body stalled".into()),
            E::Io(e) => return RemoteError::from_io(url, &e),
            E::HostNotFound => Failure::Unreachable("host not found".into()),
            E::ConnectionFailed => Failure::Unreachable("connection failed".into()),
            E::BodyExceedsLimit(limit) => Failure::TooLarge { limit },
            E::Protocol(p) => Failure::Garbage(format!("not a valid HTTP response ({p})")),
            E::LargeResponseHeader(..) => Failure::Garbage("response headers too large".into()),
            E::BadUri(s) => Failure::BadUrl(s),
            E::Http(h) => Failure::BadUrl(h.to_string()),
            other => Failure::Garbage(other.to_string()),
        };
        RemoteError::new(url, failure)
    }

    /// Classifies an I/O error on the connection.
    pub(crate) fn from_io(url: &str, e: &io::Error) -> RemoteError {
        use io::ErrorKind as K;
        // The client wraps its own errors in io::Error while a body is read.
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
            return RemoteError::from_ureq(url, clone_ureq(inner));
        }
        let failure = match e.kind() {
            K::ConnectionRefused => Failure::Unreachable("connection refused".into()),
            K::TimedOut | K::WouldBlock => Failure::Timeout(e.to_string()),
            K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                Failure::Garbage(format!("the connection closed mid-answer ({e})"))
            }
            K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown | K::AddrNotAvailable => {
                Failure::Unreachable(e.to_string())
            }
            _ => Failure::Garbage(e.to_string()),
        };
        RemoteError::new(url, failure)
    }

    /// A short machine-readable name of the failure's kind.
    pub fn kind(&self) -> &'static str {
        match self.failure {
            Failure::Unreachable(_) => "unreachable",
            Failure::Timeout(_) => "timeout",
            Failure::Status(_) => "status",
            Failure::Garbage(_) => "garbage",
            Failure::TooLarge { .. } => "too-large",
            Failure::BadUrl(_) => "bad-url",
            Failure::Local(_) => "local",
        }
    }

    /// The HTTP status, for [`Failure::Status`].
    pub fn status(&self) -> Option<u16> {
        match self.failure {
            Failure::Status(s) => Some(s),
            _ => None,
        }
    }
}

/// `ureq::Error` is not `Clone`; the variants classified above are rebuilt.
fn clone_ureq(e: &ureq::Error) -> ureq::Error {
    use ureq::Error as E;
    match e {
        E::StatusCode(s) => E::StatusCode(*s),
        E::Timeout(t) => E::Timeout(*t),
        E::BodyStalled => E::BodyStalled,
        E::HostNotFound => E::HostNotFound,
        E::ConnectionFailed => E::ConnectionFailed,
        E::BodyExceedsLimit(n) => E::BodyExceedsLimit(*n),
        E::Io(io) => E::Io(io::Error::new(io.kind(), io.to_string())),
        other => E::Io(io::Error::other(other.to_string())),
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "remote cache {}: ", self.url)?;
        match &self.failure {
            Failure::Unreachable(why) => write!(f, "{why}; is the server up and the URL right?"),
            Failure::Timeout(why) => write!(f, "no answer in time ({why})"),
            Failure::Status(401) => f.write_str(
                "HTTP 401 Unauthorized: the server wants a token; name the environment \
                 variable holding it with `token-env` under [remote] in cairn.toml, and set it",
            ),
            Failure::Status(403) => f.write_str(
                "HTTP 403 Forbidden: the token is not allowed to do this; check the token \
                 and the server's permissions",
            ),
            Failure::Status(s) if *s >= 500 => {
                write!(f, "HTTP {s}: the server failed; try again later")
            }
            Failure::Status(s) => write!(f, "HTTP {s}: not an answer cairn can use"),
            Failure::Garbage(why) => write!(f, "garbled answer: {why}"),
            Failure::TooLarge { limit } => write!(f, "answer larger than {limit} bytes"),
            Failure::BadUrl(why) => write!(f, "unusable URL: {why}"),
            Failure::Local(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for RemoteError {}
