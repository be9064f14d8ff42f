//! The arguments of a job's `sbatch`: what cairn needs, then the job's
//! resources, each from the action's `slurm = {…}`, else the command line,
//! else `[slurm]` (and, for what none of them says, the partition's defaults).

use std::path::Path;

use crate::config::{SlurmConfig, SlurmResources};
use crate::exec::SlurmOptions;

pub fn arguments(
    settings: &SlurmConfig,
    action: Option<&SlurmResources>,
    flags: &SlurmOptions,
    name: &str,
    log: &Path,
    scratch: &Path,
) -> Vec<String> {
    let r = action.cloned().unwrap_or_default();
    let s = settings;
    let mut args: Vec<String> = vec![
        "--parsable".into(),
        format!("--job-name={name}"),
        format!("--output={}", log.display()),
        // slurmstepd's own messages (a memory or time kill) follow the
        // action's output instead of overwriting it.
        "--open-mode=append".into(),
        format!("--chdir={}", scratch.display()),
        // A lost job is resubmitted by cairn, into a clean workspace.
        "--no-requeue".into(),
    ];
    let mut opt = |flag: &str, value: Option<String>| {
        if let Some(v) = value {
            args.push(format!("--{flag}={v}"));
        }
    };
    opt("partition", r.partition.or(s.partition.clone()));
    opt("account", s.account.clone());
    opt("qos", r.qos.or(s.qos.clone()));
    opt("time", r.time.or(s.time.clone()));
    let cpus = flags.cpus.map(|c| (c.ceil() as u64).max(1).to_string());
    opt("cpus-per-task", r.cpus.map(|c| c.to_string()).or(cpus));
    opt("mem", r.mem.or(flags.memory.clone()));
    args.extend(s.sbatch_args.iter().cloned());
    args.extend(r.sbatch_args);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(settings: &str, action: &str, flags: SlurmOptions, expected: &[&str]) {
        let settings: SlurmConfig = toml::from_str(settings).unwrap();
        let action: Option<SlurmResources> =
            (!action.is_empty()).then(|| toml::from_str(action).unwrap());
        let args = arguments(
            &settings,
            action.as_ref(),
            &flags,
            "cairn-a-x",
            Path::new("/w/action.log"),
            Path::new("/w"),
        );
        assert_eq!(
            &args[..6],
            [
                "--parsable",
                "--job-name=cairn-a-x",
                "--output=/w/action.log",
                "--open-mode=append",
                "--chdir=/w",
                "--no-requeue"
            ]
        );
        assert_eq!(&args[6..], expected);
    }

    #[test]
    fn an_action_overrides_the_flags_which_override_the_slurm_table() {
        let none = SlurmOptions::default;
        let flags = || SlurmOptions {
            cpus: Some(1.5),
            memory: Some("4G".into()),
        };
        check("", "", none(), &[]);
        check("", "", flags(), &["--cpus-per-task=2", "--mem=4G"]);
        check(
            "partition = \"short\"\naccount = \"epi\"\nqos = \"low\"\ntime = \"1:00:00\"\nsbatch-args = [\"--constraint=avx2\"]",
            "",
            none(),
            &[
                "--partition=short",
                "--account=epi",
                "--qos=low",
                "--time=1:00:00",
                "--constraint=avx2",
            ],
        );
        check(
            "partition = \"short\"\ntime = \"1:00:00\"\nsbatch-args = [\"--constraint=avx2\"]",
            "partition = \"long\"\ntime = \"4:00:00\"\nmem = \"32G\"\ncpus = 8\nsbatch-args = [\"--gres=gpu:1\"]",
            flags(),
            &[
                "--partition=long",
                "--time=4:00:00",
                "--cpus-per-task=8",
                "--mem=32G",
                "--constraint=avx2",
                "--gres=gpu:1",
            ],
        );
    }
}
