//! A real nginx with WebDAV `PUT`, started by a test on a free loopback port
//! with everything (config, root, logs, pid) in a temp directory, and
//! stopped by its pid when the test drops it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running nginx serving a remote cache at `/cache/`.
pub struct Nginx {
    dir: TempDir,
    port: u16,
    child: Child,
}

/// The nginx binary, or a failure that says how to install it: these tests
/// never skip.
fn nginx_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!("nginx is not installed: run .ci/install-deps (it installs Debian's nginx)")
    })
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

impl Nginx {
    /// Starts nginx; with `token`, every request to the cache must carry
    /// `Authorization: Bearer TOKEN` or gets 401.
    pub fn start(token: Option<&str>) -> Nginx {
        let binary = nginx_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("root/cache")).unwrap();
        std::fs::create_dir_all(d.join("temp")).unwrap();
        let auth = match token {
            Some(t) => format!("if ($http_authorization != \"Bearer {t}\") {{ return 401; }}"),
            None => String::new(),
        };
        // The port is free when chosen; if another process takes it before
        // nginx binds, nginx exits and the next try picks another.
        for _ in 0..5 {
            let port = free_port();
            let conf = format!(
                r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/temp/body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        root {d}/root;
        location /cache/ {{
            {auth}
            dav_methods PUT DELETE MKCOL;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"#,
                d = d.display()
            );
            std::fs::write(d.join("nginx.conf"), conf).unwrap();
            let mut child = Command::new(&binary)
                .arg("-p")
                .arg(d)
                .arg("-e")
                .arg(d.join("error.log"))
                .arg("-c")
                .arg(d.join("nginx.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Nginx { dir, port, child };
                }
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let log = std::fs::read_to_string(d.join("error.log")).unwrap_or_default();
        panic!("nginx did not start:\n{log}");
    }

    /// The remote cache's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/cache", self.port)
    }

    /// The directory the cache's files land in.
    pub fn cache_root(&self) -> PathBuf {
        self.dir.path().join("root/cache")
    }

    /// The file the server holds for `rel` (e.g. `cas/<hex>`).
    pub fn file(&self, rel: &str) -> PathBuf {
        self.cache_root().join(rel)
    }

    /// How many requests of `method` to paths starting with `prefix` (under
    /// the cache) the access log shows.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        let needle = format!("\"{method} /cache/{prefix}");
        log.lines().filter(|l| l.contains(&needle)).count()
    }

    /// The access log, for failure messages.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server (by its pid), as a crash or a restart would.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, with the same files.
    pub fn restart(&mut self) {
        self.stop();
        let d = self.dir.path();
        self.child = Command::new(nginx_binary())
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(d.join("error.log"))
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("restarting nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not restart");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Our own child, by its pid; single-process mode leaves no workers.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
