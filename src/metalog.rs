//! `metadata/<action>.log`: the action's output followed by a trailer in the
//! OpenSAFELY format (status, ids, exit code, times, outputs with levels).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

/// The facts printed after an action's own output.
pub struct Trailer<'a> {
    pub status: &'a str,
    pub derivation: Option<&'a cairn_store::Digest>,
    pub image: &'a str,
    pub image_id: &'a str,
    pub executor: &'a str,
    pub exit_code: Option<i32>,
    pub created_at: i64,
    pub completed_at: i64,
    pub commit: Option<&'a str>,
    pub dirty: bool,
    pub outputs: Vec<(String, String)>,
    pub level4: Vec<(String, String)>,
    pub workspace: Option<&'a Path>,
}

impl Trailer<'_> {
    pub fn render(&self) -> String {
        let mut s = String::from("\n\n");
        let _ = writeln!(s, "status: {}", self.status);
        if let Some(d) = self.derivation {
            let _ = writeln!(s, "derivation_id: {}", d.short());
            let _ = writeln!(s, "derivation: {}", d.to_hex());
        }
        let _ = writeln!(s, "image: {}", self.image);
        let _ = writeln!(s, "docker_image_id: {}", self.image_id);
        let _ = writeln!(s, "executor: {}", self.executor);
        if let Some(code) = self.exit_code {
            let _ = writeln!(s, "exit_code: {code}");
        }
        let _ = writeln!(s, "created_at: {}", iso8601(self.created_at));
        let _ = writeln!(s, "completed_at: {}", iso8601(self.completed_at));
        if let Some(c) = self.commit {
            let dirty = if self.dirty {
                " (with uncommitted changes)"
            } else {
                ""
            };
            let _ = writeln!(s, "commit: {c}{dirty}");
        }
        if let Some(w) = self.workspace {
            let _ = writeln!(s, "workspace: {}", w.display());
        }
        s.push_str("\noutputs:\n");
        s.push_str(&table(&self.outputs, "(no outputs)"));
        if !self.level4.is_empty() {
            s.push_str("\nInvalid moderately_sensitive outputs:\n");
            s.push_str(&table(&self.level4, ""));
        }
        s
    }
}

/// `  path  - value` lines with the paths padded to one width.
pub fn table(rows: &[(String, String)], empty: &str) -> String {
    if rows.is_empty() {
        return format!("  {empty}\n");
    }
    let width = rows
        .iter()
        .map(|(p, _)| p.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(p, v)| format!("  {p:<width$}  - {v}\n"))
        .collect()
}

/// Writes `metadata/<action>.log` atomically.
pub fn write(project_dir: &Path, action: &str, log: &[u8], trailer: &Trailer) -> Result<()> {
    let dir = project_dir.join("metadata");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    std::io::Write::write_all(&mut tmp, log)?;
    std::io::Write::write_all(&mut tmp, trailer.render().as_bytes())?;
    let path = log_path(project_dir, action);
    tmp.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn log_path(project_dir: &Path, action: &str) -> std::path::PathBuf {
    project_dir.join("metadata").join(format!("{action}.log"))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds.
pub fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn outputs_are_tabulated_like_opensafely() {
        let t = table(
            &[
                ("output/input.csv".into(), "highly_sensitive".into()),
                ("logs/a.log".into(), "moderately_sensitive".into()),
            ],
            "",
        );
        assert_eq!(
            t,
            "  output/input.csv  - highly_sensitive\n  logs/a.log        - moderately_sensitive\n"
        );
    }
}
