//! `Remote`: a cache on any HTTP server that stores files (`HEAD`, `GET`,
//! `PUT` of paths under one base URL), through a blocking client.
//!
//! The client never follows redirects (a redirect could carry the token to
//! another host, and a cache has no reason to move), never decompresses, and
//! treats every status itself: 2xx is success, 404/410 is absence, anything
//! else is a [`RemoteError`] naming the URL and the status.

use std::io::Read;
use std::time::Duration;

use super::remote_error::{Failure, RemoteError};

/// How long cairn waits on a remote before giving up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To resolve the host and open a connection.
    pub connect: Duration,
    /// For any one read or write on the connection, and for the response
    /// to start once a request is sent. A large object transfers for as
    /// long as it makes progress.
    pub io: Duration,
    /// For a whole exchange that is not an object transfer (`HEAD`, a
    /// record's `GET` or `PUT`): a server trickling bytes cannot hold a
    /// run up for longer.
    pub call: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            io: Duration::from_secs(30),
            call: Duration::from_secs(60),
        }
    }
}

impl Timeouts {
    /// Connect and I/O limits of `d`, and three times that for a whole
    /// small exchange (tests, and impatient users).
    pub fn all(d: Duration) -> Timeouts {
        Timeouts {
            connect: d,
            io: d,
            call: d * 3,
        }
    }
}

/// Records and other bodies read into memory are refused beyond this.
pub const MAX_GET: u64 = 64 << 20;

/// A remote cache at one base URL.
#[derive(Clone)]
pub struct Remote {
    /// The base URL, ending in `/`.
    base: String,
    /// The `Authorization` header value, if a token was given.
    auth: Option<String>,
    agent: ureq::Agent,
    max_get: u64,
    call: Duration,
    pub(crate) parallel: usize,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Remote")
            .field("base", &self.base)
            .field("token", &self.auth.is_some())
            .finish()
    }
}

impl Remote {
    /// A remote at `url` (`http://…`; `https://` needs cairn built with the
    /// `https` feature), sending `token` as a bearer token when given.
    pub fn new(
        url: &str,
        token: Option<String>,
        timeouts: Timeouts,
    ) -> Result<Remote, RemoteError> {
        let url = url.trim();
        let scheme_ok =
            url.starts_with("http://") || (cfg!(feature = "https") && url.starts_with("https://"));
        if !scheme_ok {
            let why = if url.starts_with("https://") {
                "https needs cairn built with the `https` feature; use an http:// URL \
                 or rebuild with `--features https`"
            } else {
                "a remote cache URL starts with http://"
            };
            return Err(RemoteError::new(url, Failure::BadUrl(why.into())));
        }
        let base = if url.ends_with('/') {
            url.to_string()
        } else {
            format!("{url}/")
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(Some(timeouts.connect))
            .timeout_connect(Some(timeouts.connect))
            .timeout_recv_response(Some(timeouts.io))
            .timeout_per_read(Some(timeouts.io))
            .timeout_per_write(Some(timeouts.io))
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Remote {
            base,
            auth: token
                .filter(|t| !t.is_empty())
                .map(|t| format!("Bearer {t}")),
            agent: config.into(),
            max_get: MAX_GET,
            call: timeouts.call,
            parallel: 8,
        })
    }

    /// The same remote with at most `n` transfers at once.
    pub fn with_parallelism(mut self, n: usize) -> Remote {
        self.parallel = n.max(1);
        self
    }

    /// The same remote, refusing bodies read by [`Remote::get`] beyond `limit` bytes.
    pub fn with_max_get(mut self, limit: u64) -> Remote {
        self.max_get = limit;
        self
    }

    /// The full URL of `rel` (a relative path such as `cas/<hex>`).
    pub fn url(&self, rel: &str) -> String {
        format!("{}{}", self.base, rel)
    }

    /// Whether `rel` exists on the server.
    pub fn head(&self, rel: &str) -> Result<bool, RemoteError> {
        let url = self.checked_url(rel)?;
        let mut req = self.agent.head(&url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let resp = req
            .config()
            .timeout_per_call(Some(self.call))
            .build()
            .call()
            .map_err(|e| RemoteError::from_ureq(&url, e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 | 410 => Ok(false),
            s => Err(RemoteError::new(url, Failure::Status(s))),
        }
    }

    /// The content of `rel`, or `None` if the server does not have it. A
    /// body beyond the size limit ([`MAX_GET`] unless changed) is an error.
    pub fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let limit = self.max_get;
        self.get_with(rel, Some(limit), true, |url, body, _len| {
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes)
                .map_err(|e| RemoteError::from_io(url, &e))?;
            Ok(bytes)
        })
    }

    /// Sends `bytes` as the content of `rel`.
    pub fn put(&self, rel: &str, bytes: &[u8]) -> Result<(), RemoteError> {
        let url = self.checked_url(rel)?;
        let mut req = self.agent.put(&url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let resp = req
            .config()
            .timeout_per_call(Some(self.call))
            .build()
            .send(bytes)
            .map_err(|e| RemoteError::from_ureq(&url, e))?;
        put_status(url, resp.status().as_u16())
    }

    /// Streams `len` bytes from `body` as the content of `rel`. The length
    /// is declared up front, so a body that fails before its end (a corrupt
    /// object refusing its last bytes) never completes on the server.
    pub fn put_reader(&self, rel: &str, body: &mut dyn Read, len: u64) -> Result<(), RemoteError> {
        let url = self.checked_url(rel)?;
        let mut req = self.agent.put(&url).header("Content-Length", len);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let resp = req
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| RemoteError::from_ureq(&url, e))?;
        put_status(url, resp.status().as_u16())
    }

    /// GETs `rel` and hands its body to `read` (with the declared length, if
    /// any), reading at most `limit` bytes. `None` if the server does not
    /// have it. A `small` exchange must finish within the per-call limit; a
    /// large one only has to keep making progress.
    pub(crate) fn get_with<T>(
        &self,
        rel: &str,
        limit: Option<u64>,
        small: bool,
        read: impl FnOnce(&str, &mut dyn Read, Option<u64>) -> Result<T, RemoteError>,
    ) -> Result<Option<T>, RemoteError> {
        let url = self.checked_url(rel)?;
        let mut req = self.agent.get(&url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        if small {
            req = req.config().timeout_per_call(Some(self.call)).build();
        }
        let mut resp = req.call().map_err(|e| RemoteError::from_ureq(&url, e))?;
        match resp.status().as_u16() {
            200..=299 => {}
            404 | 410 => return Ok(None),
            s => return Err(RemoteError::new(url, Failure::Status(s))),
        }
        let body = resp.body_mut();
        let len = body.content_length();
        if let (Some(limit), Some(len)) = (limit, len)
            && len > limit
        {
            return Err(RemoteError::new(url, Failure::TooLarge { limit }));
        }
        let mut config = body.with_config();
        config = match limit {
            Some(l) => config.limit(l),
            None => config.limit(u64::MAX),
        };
        let mut reader = config.reader();
        read(&url, &mut reader, len).map(Some)
    }

    /// The URL of `rel`, which must be a plain relative path: cairn builds
    /// these from digests and ids, so anything else is a bug, refused here
    /// rather than sent.
    fn checked_url(&self, rel: &str) -> Result<String, RemoteError> {
        let ok = !rel.is_empty()
            && !rel.starts_with('/')
            && rel
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
            && rel
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
        if !ok {
            return Err(RemoteError::new(
                self.url(rel),
                Failure::BadUrl(format!("{rel:?} is not a plain relative path")),
            ));
        }
        Ok(self.url(rel))
    }
}

fn put_status(url: String, status: u16) -> Result<(), RemoteError> {
    match status {
        200..=299 => Ok(()),
        s => Err(RemoteError::new(url, Failure::Status(s))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_become_urls() {
        let r = Remote::new("http://127.0.0.1:1/c", None, Timeouts::default()).unwrap();
        assert_eq!(r.url("cas/ab"), "http://127.0.0.1:1/c/cas/ab");
        for bad in [
            "",
            "/etc/passwd",
            "cas/../x",
            "cas//x",
            "./x",
            "cas/x?y",
            "cas/x y",
            "cas/%2e",
        ] {
            let e = r.checked_url(bad).unwrap_err();
            assert_eq!(e.kind(), "bad-url", "{bad:?}");
        }
        assert!(r.checked_url("paths/abc.toml").is_ok());
    }

    #[test]
    fn only_http_urls_are_accepted_and_the_token_is_never_shown() {
        let e = Remote::new("ftp://x/", None, Timeouts::default()).unwrap_err();
        assert!(e.to_string().contains("http://"), "{e}");
        let r = Remote::new("http://h/c/", Some("tok123".into()), Timeouts::default()).unwrap();
        assert_eq!(r.url("a"), "http://h/c/a");
        assert!(!format!("{r:?}").contains("tok123"));
    }
}
