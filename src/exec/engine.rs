//! The Docker engine as cairn sees it through the `docker` CLI: whether it
//! answers, which images it has, pulls and container removal.

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long `docker version` may take before the engine counts as absent.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(5);

/// The `docker` command, with nothing on stdin.
pub fn docker() -> Command {
    let mut c = Command::new("docker");
    c.stdin(Stdio::null());
    c
}

/// The engine's version if a Docker engine answers, else why not.
pub fn engine_version() -> std::result::Result<String, String> {
    let mut cmd = docker();
    cmd.args(["version", "--format", "{{.Server.Version}}"]);
    match output_within(cmd, ENGINE_TIMEOUT) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("the `docker` command is not installed".into())
        }
        Err(e) => Err(format!("`docker version` failed: {e}")),
        Ok(None) => Err(format!(
            "`docker version` did not answer within {} s",
            ENGINE_TIMEOUT.as_secs()
        )),
        Ok(Some(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(Some(out)) => Err(format!(
            "`docker version` failed: {}",
            last_line(&String::from_utf8_lossy(&out.stderr))
        )),
    }
}

/// Runs `cmd` and collects its output, or gives up (killing it) after `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> std::io::Result<Option<Output>> {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.map(Some),
        Err(_) => {
            // SAFETY: kill has no memory-safety preconditions; the child is
            // not reaped until its waiting thread sees it exit.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            Ok(None)
        }
    }
}

/// Whether an engine answers and, if it does, the ids of those of
/// `references` it has, in one `docker image inspect` (each CLI call costs
/// tens of milliseconds, and this one is on the path of every run).
/// `Err(why)` when no engine answers.
pub fn probe(
    references: &[String],
) -> Result<std::result::Result<BTreeMap<String, String>, String>> {
    if references.is_empty() {
        return Ok(engine_version().map(|_| BTreeMap::new()));
    }
    let mut cmd = docker();
    cmd.args(["image", "inspect", "--format", "{{.Id}}"])
        .args(references);
    let out = match output_within(cmd, ENGINE_TIMEOUT) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err("the `docker` command is not installed".into()));
        }
        Err(e) => return Ok(Err(format!("`docker image inspect` failed: {e}"))),
        Ok(None) => {
            return Ok(Err(format!(
                "the Docker engine did not answer within {} s",
                ENGINE_TIMEOUT.as_secs()
            )));
        }
        Ok(Some(out)) => out,
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if out.status.success() && lines.len() == references.len() {
        let ids = references
            .iter()
            .zip(lines)
            .map(|(r, id)| (r.clone(), id.trim().to_string()))
            .collect();
        return Ok(Ok(ids));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if !no_such_image(&err) {
        return Ok(Err(last_line(&err).to_string()));
    }
    // The engine answered, without some of the images.
    if references.len() == 1 {
        return Ok(Ok(BTreeMap::new()));
    }
    image_ids(references).map(Ok)
}

fn no_such_image(stderr: &str) -> bool {
    stderr.contains("No such image") || stderr.contains("no such image")
}

/// The image ids (`sha256:…`) of the references present in the engine;
/// missing references are absent from the map.
pub fn image_ids(references: &[String]) -> Result<BTreeMap<String, String>> {
    let mut ids = BTreeMap::new();
    if references.is_empty() {
        return Ok(ids);
    }
    // One call for all: it answers in order when every image is present.
    let out = docker()
        .args(["image", "inspect", "--format", "{{.Id}}"])
        .args(references)
        .output()
        .context("running `docker image inspect`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if out.status.success() && lines.len() == references.len() {
        for (r, id) in references.iter().zip(lines) {
            ids.insert(r.clone(), id.trim().to_string());
        }
        return Ok(ids);
    }
    for r in references {
        if let Some(id) = image_id(r)? {
            ids.insert(r.clone(), id);
        }
    }
    Ok(ids)
}

/// An image's entrypoint and command (`Config.Entrypoint`, `Config.Cmd`).
pub type Entrypoint = (Vec<String>, Vec<String>);

/// The entrypoint and command of the image `image_id`.
pub fn entrypoint(image_id: &str) -> Result<Entrypoint> {
    let out = docker()
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Entrypoint}}\n{{json .Config.Cmd}}",
            image_id,
        ])
        .output()
        .context("running `docker image inspect`")?;
    if !out.status.success() {
        bail!(
            "`docker image inspect {image_id}` failed: {}",
            last_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let mut field = || -> Result<Vec<String>> {
        let line = lines.next().unwrap_or("null");
        let v: Option<Vec<String>> = serde_json::from_str(line)
            .with_context(|| format!("reading the entrypoint of {image_id}: {line}"))?;
        Ok(v.unwrap_or_default())
    };
    Ok((field()?, field()?))
}

/// The image id of `reference`, or `None` if the engine does not have it.
pub fn image_id(reference: &str) -> Result<Option<String>> {
    let out = docker()
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .output()
        .context("running `docker image inspect`")?;
    if out.status.success() {
        return Ok(Some(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if no_such_image(&err) {
        return Ok(None);
    }
    bail!(
        "`docker image inspect {reference}` failed: {}",
        last_line(&err)
    )
}

/// `docker pull REFERENCE`, its progress on stderr.
pub fn pull(reference: &str) -> Result<()> {
    eprintln!("pulling {reference}…");
    let status = docker()
        .args(["pull", "--quiet", reference])
        .stdout(Stdio::null())
        .status()
        .context("running `docker pull`")?;
    if !status.success() {
        bail!("`docker pull {reference}` failed ({status})");
    }
    Ok(())
}

/// Whether the container was killed for exceeding its memory limit.
pub fn oom_killed(container: &str) -> bool {
    docker()
        .args(["inspect", "--format", "{{.State.OOMKilled}}", container])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
}

/// The ids of every container (running or not) carrying `label`.
pub fn containers_labelled(label: &str) -> Vec<String> {
    docker()
        .args(["ps", "--all", "--quiet", "--no-trunc", "--filter"])
        .arg(format!("label={label}"))
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Force-removes containers, waiting for the engine to finish.
pub fn remove(containers: &[String]) {
    if containers.is_empty() {
        return;
    }
    let _ = docker()
        .args(["rm", "--force", "--volumes"])
        .args(containers)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A docker size (`4G`, `512m`, `1.5g`, `1000000`) in bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], s[i..].to_ascii_lowercase()),
        None => (s, String::new()),
    };
    let mult: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    (n.is_finite() && n > 0.0).then_some((n * mult as f64) as u64)
}

/// A memory limit as `opensafely run` prints it (`4.00GB`), in MB below 1 GB.
pub fn human_size(bytes: u64) -> String {
    let gb = bytes as f64 / (1u64 << 30) as f64;
    if gb >= 1.0 {
        format!("{gb:.2}GB")
    } else {
        format!("{:.2}MB", bytes as f64 / (1u64 << 20) as f64)
    }
}

pub fn last_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        for (s, b) in [
            ("4G", 4u64 << 30),
            ("4g", 4 << 30),
            ("512m", 512 << 20),
            ("512MB", 512 << 20),
            ("1.5g", 3 << 29),
            ("6m", 6 << 20),
            ("1000", 1000),
            ("10k", 10 << 10),
        ] {
            assert_eq!(parse_size(s), Some(b), "{s}");
        }
        for s in ["", "G", "4Q", "-1g", "0", "four"] {
            assert_eq!(parse_size(s), None, "{s}");
        }
    }

    #[test]
    fn limits_print_like_opensafely() {
        assert_eq!(human_size(4 << 30), "4.00GB");
        assert_eq!(human_size(6 << 20), "6.00MB");
    }
}
