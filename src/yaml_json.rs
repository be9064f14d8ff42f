//! `cairn yaml-json` (hidden): cairn's YAML layer on a batch of documents, so the
//! differential test (`tests/it/yaml_diff.rs`) compares thousands of readings with the
//! reference loader's in one process.

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::json;

use crate::project;

/// Reads one JSON string per line from stdin; writes one JSON object per line.
pub fn run() -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (n, line) in stdin.lines().enumerate() {
        let line = line.context("reading stdin")?;
        let doc: String = serde_json::from_str(&line)
            .with_context(|| format!("line {} of stdin is not a JSON string", n + 1))?;
        let result = match project::yaml_data_as_json(&doc) {
            Ok(data) => json!({ "ok": data }),
            Err(message) => json!({ "error": message }),
        };
        serde_json::to_writer(&mut out, &result)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
