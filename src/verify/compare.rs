//! Comparing a reference (the record, or build 1) with rebuilds, output
//! by output: which build differs first, how, and where.

use std::collections::BTreeMap;

use anyhow::Result;

use super::rebuild::{Files, Version};
use super::{Build, FileResult, FileStatus, FirstDifference, diff};

/// Compares every output of the reference with each build's.
pub fn compare(
    reference: &Files,
    builds: &[(usize, &Files)],
    info: &[Build],
) -> Result<Vec<FileResult>> {
    let mut paths: BTreeMap<&str, &str> = reference
        .iter()
        .map(|(p, v)| (p.as_str(), v.level.as_str()))
        .collect();
    for (_, files) in builds {
        for (p, v) in files.iter() {
            paths.entry(p.as_str()).or_insert(v.level.as_str());
        }
    }
    let mut out = Vec::new();
    for (path, level) in paths {
        let r = reference.get(path);
        let mut result = FileResult {
            path: path.to_string(),
            level: level.to_string(),
            status: FileStatus::Same,
            reference: r.map(|v| v.side.clone()),
            rebuilt: None,
            build: None,
            variation: None,
            first_difference: None,
            note: None,
        };
        for (i, files) in builds {
            let b = files.get(path);
            result.rebuilt = b.map(|v| v.side.clone());
            let status = match (r, b) {
                (Some(r), _) if r.corrupt.is_some() => FileStatus::Corrupt,
                (Some(_), None) => FileStatus::OnlyReference,
                (None, Some(_)) => FileStatus::OnlyRebuilt,
                (Some(r), Some(b)) if r.side != b.side => FileStatus::Differs,
                _ => continue,
            };
            result.status = status;
            result.build = Some(*i);
            result.variation = Some(info[i - 1].description.clone());
            result.first_difference = first_difference(path, r, b)?;
            result.note = note(status, r, b);
            break;
        }
        out.push(result);
    }
    Ok(out)
}

fn first_difference(
    path: &str,
    r: Option<&Version>,
    b: Option<&Version>,
) -> Result<Option<FirstDifference>> {
    match (
        r.and_then(|v| v.content.as_deref()),
        b.and_then(|v| v.content.as_deref()),
    ) {
        (Some(a), Some(b)) => diff::first_difference(path, a, b),
        _ => Ok(None),
    }
}

fn note(status: FileStatus, r: Option<&Version>, b: Option<&Version>) -> Option<String> {
    match status {
        FileStatus::Corrupt => {
            let r = r?;
            let rebuilt = match b {
                Some(b) if b.side.hash == r.side.hash => "; the rebuild matches the record",
                _ => "",
            };
            Some(format!(
                "the stored copy {} is corrupt: it now hashes to {}{rebuilt}",
                r.content.as_ref()?.display(),
                r.corrupt?.to_hex()
            ))
        }
        FileStatus::OnlyReference => Some("not produced by the rebuild".into()),
        FileStatus::OnlyRebuilt => Some("produced by the rebuild only".into()),
        FileStatus::Differs if r?.content.is_none() => Some(
            "the recorded content is not in this store (withheld): only the hashes can be compared"
                .into(),
        ),
        FileStatus::Differs if r?.side.hash == b?.side.hash => {
            Some(format!("mode {} vs {}", r?.side.mode, b?.side.mode))
        }
        _ => None,
    }
}
