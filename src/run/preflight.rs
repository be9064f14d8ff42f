//! Checks made before anything runs: every script a command names is among
//! the files its action can see.

use anyhow::{Result, bail};

use crate::outputs::AllPatterns;
use crate::plan::Plan;
use crate::session::Session;

/// Extensions of the files an action's command runs as a script.
const SCRIPT_EXTENSIONS: &[&str] = &[
    "py", "R", "r", "do", "sh", "ipynb", "Rmd", "rmd", "jl", "sas", "ado",
];

/// Fails when an action of `plan` names a script it cannot see, saying
/// which file and why: not declared among its `inputs`, ignored by git, or
/// absent. Scripts that an output pattern matches (made by another action)
/// are left alone.
pub fn check(session: &Session, plan: &Plan) -> Result<()> {
    let outputs = AllPatterns::new(&session.project)?;
    for name in &plan.order {
        let action = session.action(name);
        let sources = session.sources_for(name)?;
        for arg in action.argv.iter().skip(1) {
            let path = arg.strip_prefix("./").unwrap_or(arg);
            let is_script = !path.starts_with('-')
                && !path.contains('=')
                && path.rsplit_once('.').is_some_and(|(stem, ext)| {
                    !stem.is_empty() && SCRIPT_EXTENSIONS.contains(&ext)
                });
            if !is_script || outputs.is_match(path) {
                continue;
            }
            if sources.files.iter().any(|f| f.path == path) {
                continue;
            }
            let why = if session.sources.files.iter().any(|f| f.path == path) {
                format!(
                    "it is not among the inputs declared for {name} in cairn.toml ([actions.{name}] inputs); add it there"
                )
            } else if session.sources.root.join(path).is_file() {
                if session.from_commit {
                    "it is not in the tree of the commit being built".to_string()
                } else {
                    "git ignores it (or it is in a directory cairn never copies); `git add -f` it, or change .gitignore"
                        .to_string()
                }
            } else {
                "it does not exist".to_string()
            };
            bail!("action {name} runs {path}, which it cannot see: {why}");
        }
    }
    Ok(())
}
