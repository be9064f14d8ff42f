//! `cargo xtask man [DIR]`: man pages generated from cairn's clap
//! definitions, `cairn.1` and one `cairn-COMMAND.1` per command.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

/// Writes the pages into `dir`; returns their file names.
pub fn write(dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = cairn::cli::Cli::command();
    let mut written = Vec::new();
    let mut page = |name: String, cmd: clap::Command| -> Result<()> {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut bytes)?;
        let file = format!("{name}.1");
        std::fs::write(dir.join(&file), bytes)?;
        written.push(file);
        Ok(())
    };
    page("cairn".into(), cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("cairn-{}", sub.get_name());
        let title: &'static str = Box::leak(name.clone().into_boxed_str());
        page(name, sub.clone().name(title))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_name_every_command_and_its_flags() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::write(dir.path()).unwrap();
        assert!(files.contains(&"cairn.1".to_string()), "{files:?}");
        assert!(files.contains(&"cairn-run.1".to_string()), "{files:?}");
        assert!(!files.iter().any(|f| f.contains("internal")), "{files:?}");
        let top = std::fs::read_to_string(dir.path().join("cairn.1")).unwrap();
        assert!(top.starts_with(".ie") || top.contains(".TH cairn"), "{top}");
        assert!(
            top.contains("cairn\\-run(1)") || top.contains("run"),
            "{top}"
        );
        let run = std::fs::read_to_string(dir.path().join("cairn-run.1")).unwrap();
        assert!(run.contains("force\\-run\\-dependencies"), "{run}");
        assert!(run.contains("Run up to N actions at once"), "{run}");
    }
}
