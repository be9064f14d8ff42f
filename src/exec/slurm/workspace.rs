//! A workspace put back as it was before a lost job ran in it, for a
//! resubmission.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

type Stamp = (u64, i64, i64, u64);

fn stamp(m: &std::fs::Metadata) -> Stamp {
    (m.len(), m.mtime(), m.mtime_nsec(), m.ino())
}

pub fn snapshot(ws: &Path) -> Result<HashMap<PathBuf, Stamp>> {
    let mut out = HashMap::new();
    for e in walkdir::WalkDir::new(ws).min_depth(1) {
        let e = e?;
        out.insert(e.path().to_path_buf(), stamp(&e.metadata()?));
    }
    Ok(out)
}

/// Removes what the lost job added; fails if it changed what was placed.
pub fn reset(ws: &Path, placed: &HashMap<PathBuf, Stamp>) -> Result<()> {
    let mut added = Vec::new();
    let mut it = walkdir::WalkDir::new(ws).min_depth(1).into_iter();
    while let Some(e) = it.next() {
        let e = e?;
        match placed.get(e.path()) {
            None => {
                if e.file_type().is_dir() {
                    it.skip_current_dir();
                }
                added.push((e.path().to_path_buf(), e.file_type().is_dir()));
            }
            Some(s) if e.file_type().is_file() && *s != stamp(&e.metadata()?) => bail!(
                "the lost job changed {}, one of the action's inputs",
                e.path().display()
            ),
            Some(_) => {}
        }
    }
    for (p, dir) in added {
        if dir {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_lost_job_added_is_removed_and_an_input_it_changed_is_refused() {
        let ws = tempfile::tempdir().unwrap();
        let p = |r: &str| ws.path().join(r);
        std::fs::create_dir(p("analysis")).unwrap();
        std::fs::write(p("analysis/x.py"), "x").unwrap();
        let placed = snapshot(ws.path()).unwrap();
        std::fs::create_dir_all(p("output/deep")).unwrap();
        std::fs::write(p("output/deep/a.csv"), "a").unwrap();
        std::fs::write(p("analysis/new.txt"), "n").unwrap();
        reset(ws.path(), &placed).unwrap();
        assert!(!p("output").exists() && !p("analysis/new.txt").exists());
        assert_eq!(std::fs::read_to_string(p("analysis/x.py")).unwrap(), "x");

        std::fs::write(p("analysis/x.py"), "changed").unwrap();
        let err = reset(ws.path(), &placed).unwrap_err().to_string();
        assert!(err.contains("analysis/x.py"), "{err}");
    }
}
