//! The report page's HTML: inline CSS and SVG, nothing fetched.

use std::fmt::Write as _;

use super::svg::{self, Node};
use super::{ActionView, Page};
use crate::timestamp::{duration, iso8601};

/// `text` with `& < > " '` escaped for HTML text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root { --fg:#111827; --muted:#4b5563; --line:#e5e7eb; --bg:#ffffff; --panel:#f9fafb;
  --ok:#166534; --ok-bg:#dcfce7; --warn:#92400e; --warn-bg:#fef3c7; --bad:#991b1b; --bad-bg:#fee2e2;
  --off:#374151; --off-bg:#f3f4f6; --alt:#9a3412; --alt-bg:#ffedd5; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color:var(--fg); background:var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header { border-bottom: 1px solid var(--line); padding-bottom: 12px; margin-bottom: 20px; }
header .kicker { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .06em; }
h1 { font-size: 26px; margin: 2px 0 6px; }
h2 { font-size: 19px; margin: 28px 0 10px; }
h3 { font-size: 16px; margin: 0; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 10px 24px; margin: 0; }
dl.summary div { border-left: 3px solid var(--line); padding-left: 10px; }
dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
dd { margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 13px; font-weight: 600; white-space: nowrap; }
.fresh, .reproducible { color: var(--ok); background: var(--ok-bg); }
.stale { color: var(--warn); background: var(--warn-bg); }
.never_run, .unverified { color: var(--off); background: var(--off-bg); }
.differs { color: var(--bad); background: var(--bad-bg); }
.could_not_run { color: var(--alt); background: var(--alt-bg); }
.graph-box { border: 1px solid var(--line); border-radius: 8px; background: var(--panel); padding: 12px; overflow-x: auto; }
svg.graph { display: block; max-width: 100%; height: auto; font-family: inherit; }
svg .edge { fill: none; stroke: #6b7280; stroke-width: 1.5; }
svg .node rect { stroke-width: 1.5; }
svg .node.fresh rect { fill: var(--ok-bg); stroke: var(--ok); }
svg .node.stale rect { fill: var(--warn-bg); stroke: var(--warn); }
svg .node.never_run rect { fill: var(--off-bg); stroke: #9ca3af; stroke-dasharray: 5 4; }
svg .node.differs rect { stroke: var(--bad); stroke-width: 3; }
svg .node text.name { font-size: 13px; font-weight: 600; fill: var(--fg); }
svg .node text.label { font-size: 11.5px; fill: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; font-size: 13px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
table.jobs td:first-child a { font-weight: 600; color: inherit; }
.job { border: 1px solid var(--line); border-radius: 8px; margin: 14px 0; padding: 14px 16px; break-inside: avoid; }
.job .head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 10px; margin-bottom: 8px; }
.job .id { color: var(--muted); }
.job dl.summary { grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); margin-bottom: 10px; }
.hash { overflow-wrap: anywhere; color: var(--muted); }
td.num { text-align: right; white-space: nowrap; }
.note { color: var(--muted); font-size: 13px; }
ul.diffs { margin: 6px 0 0; padding-left: 20px; }
pre.yaml { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px; overflow-x: auto; white-space: pre-wrap; }
footer { margin-top: 32px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); padding-top: 10px; }
a { color: #1d4ed8; }
@media (max-width: 700px) { main { padding: 14px; } }
@media print {
  @page { size: A4; margin: 14mm; }
  body { font-size: 10.5pt; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  main { max-width: none; padding: 0; }
  .graph-box { overflow: visible; }
  h2 { break-after: avoid; }
  .job, tr, .graph-box { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  pre.yaml { font-size: 9pt; }
}
"#;

/// The whole page.
pub fn render(page: &Page) -> String {
    let mut out = String::new();
    let title = format!("{}: {}", page.project_name, page.requested.join(", "));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body><main>",
        escape(&title)
    );
    header(&mut out, page);
    graph(&mut out, page);
    jobs_table(&mut out, page);
    out.push_str("<h2>Jobs</h2>");
    for a in &page.actions {
        job(&mut out, a);
    }
    let _ = writeln!(
        out,
        "<h2 id=\"project-yaml\">project.yaml</h2><pre class=\"yaml\">{}</pre>",
        escape(&page.project_yaml)
    );
    let _ = write!(
        out,
        "<footer>Generated by cairn {} at {}. Identifiers are the first 16 base32 characters of each action's derivation id; a derivation records everything that can change an action's outputs.</footer></main></body></html>",
        env!("CARGO_PKG_VERSION"),
        page.generated_at
    );
    out
}

fn header(out: &mut String, page: &Page) {
    let times: Vec<(i64, i64)> = page
        .actions
        .iter()
        .filter_map(|a| a.realisation.as_ref())
        .map(|(r, _)| (r.started_at, r.finished_at))
        .collect();
    let started = times.iter().map(|t| t.0).min();
    let finished = times.iter().map(|t| t.1).max();
    let all_ok = page.actions.iter().all(|a| a.status() == "succeeded");
    let (overall, class) = if all_ok {
        ("succeeded", "fresh")
    } else if page.actions.iter().any(|a| a.status() == "succeeded") {
        ("partially succeeded", "stale")
    } else {
        ("not run", "never_run")
    };
    let verified: Vec<&str> = page
        .actions
        .iter()
        .filter_map(|a| {
            a.verified
                .as_ref()
                .filter(|(_, c)| *c)
                .map(|(v, _)| v.status.as_str())
        })
        .collect();
    let reproducible = verified.iter().filter(|s| **s == "reproducible").count();
    let _ = write!(
        out,
        "<header><div class=\"kicker\">Job request</div><h1>{}</h1><span class=\"badge {class}\" id=\"request-status\">{overall}</span></header>",
        escape(&page.project_name)
    );
    out.push_str("<dl class=\"summary\">");
    let mut item = |k: &str, v: String| {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    };
    item(
        "Requested actions",
        page.requested
            .iter()
            .map(|a| format!("<code>{}</code>", escape(a)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    item("Backend", escape(&page.backend));
    let commit = page
        .request
        .as_ref()
        .and_then(|r| r.commit.clone())
        .or_else(|| page.commit.clone());
    item(
        "Branch",
        page.branch
            .as_deref()
            .map(escape)
            .unwrap_or_else(|| "—".into()),
    );
    item(
        "Commit",
        commit
            .map(|c| format!("<code class=\"hash\">{}</code>", escape(&c)))
            .unwrap_or_else(|| "—".into()),
    );
    item(
        "Force run dependencies",
        match &page.request {
            Some(r) if r.force_run_dependencies => "yes".into(),
            Some(_) => "no".into(),
            None => "unknown (no run recorded here)".into(),
        },
    );
    item(
        "Requested",
        page.request
            .as_ref()
            .map(|r| escape(&r.requested_at))
            .unwrap_or_else(|| "—".into()),
    );
    item(
        "Started",
        started.map(iso8601).unwrap_or_else(|| "—".into()),
    );
    item(
        "Finished",
        finished.map(iso8601).unwrap_or_else(|| "—".into()),
    );
    item(
        "Runtime",
        match (started, finished) {
            (Some(s), Some(f)) => duration(f - s),
            _ => "—".into(),
        },
    );
    item(
        "Verified",
        if verified.is_empty() {
            "not verified (<code>cairn verify</code>)".into()
        } else {
            format!(
                "{reproducible} of {} actions reproducible",
                page.actions.len()
            )
        },
    );
    out.push_str("</dl>");
}

fn graph(out: &mut String, page: &Page) {
    let nodes: Vec<Node> = page
        .actions
        .iter()
        .map(|a| Node {
            name: &a.name,
            needs: a.needs.iter().map(String::as_str).collect(),
            class: match (a.status_class(), a.verified.as_ref()) {
                (c, Some((v, true))) if v.status == "differs" => match c {
                    "fresh" => "fresh differs",
                    "stale" => "stale differs",
                    _ => "never_run differs",
                },
                (c, _) => c,
            },
            label: match a.verified.as_ref().filter(|(_, c)| *c) {
                Some((v, _)) => format!("{} · {}", a.status(), v.status),
                None => a.status().to_string(),
            },
        })
        .collect();
    out.push_str("<h2>Pipeline</h2><div class=\"graph-box\">");
    out.push_str(&svg::render(&nodes));
    out.push_str("<div class=\"legend\"><span class=\"badge fresh\">succeeded</span><span class=\"badge stale\">outdated</span><span class=\"badge never_run\">not run</span><span class=\"badge differs\">red outline: verify found differences</span></div></div>");
}

fn jobs_table(out: &mut String, page: &Page) {
    out.push_str("<h2>Summary</h2><table class=\"jobs\"><thead><tr><th>Action</th><th>Status</th><th>Identifier</th><th>Started</th><th>Finished</th><th>Runtime</th><th>Verify</th></tr></thead><tbody>");
    for a in &page.actions {
        let (started, finished, runtime) = timeline(a);
        let _ = write!(
            out,
            "<tr data-action=\"{name}\"><td><a href=\"#action-{name}\">{name}</a></td><td><span class=\"badge {class}\">{status}</span></td><td><code class=\"identifier\">{id}</code></td><td>{started}</td><td>{finished}</td><td>{runtime}</td><td>{verify}</td></tr>",
            name = escape(&a.name),
            class = a.status_class(),
            status = a.status(),
            id = escape(a.id.as_deref().unwrap_or("—")),
            verify = verify_badge(a),
        );
    }
    out.push_str("</tbody></table>");
}

fn timeline(a: &ActionView) -> (String, String, String) {
    match &a.realisation {
        Some((r, _)) => (
            iso8601(r.started_at),
            iso8601(r.finished_at),
            duration(r.finished_at - r.started_at),
        ),
        None => ("—".into(), "—".into(), "—".into()),
    }
}

fn verify_badge(a: &ActionView) -> String {
    match &a.verified {
        Some((v, current)) => {
            let class = v.status.replace(' ', "_");
            let older = if *current {
                ""
            } else {
                " <span class=\"note\">(an earlier version)</span>"
            };
            format!(
                "<span class=\"badge {class}\" title=\"verified {}\">{}</span>{older}",
                escape(&v.verified_at),
                escape(&v.status)
            )
        }
        None => "<span class=\"badge unverified\">not verified</span>".into(),
    }
}

fn job(out: &mut String, a: &ActionView) {
    let name = escape(&a.name);
    let _ = write!(
        out,
        "<section class=\"job\" id=\"action-{name}\"><div class=\"head\"><h3>{name}</h3><span class=\"badge {}\">{}</span><code class=\"id\">{}</code>{}</div>",
        a.status_class(),
        a.status(),
        escape(a.id.as_deref().unwrap_or("—")),
        verify_badge(a)
    );
    let (started, finished, runtime) = timeline(a);
    out.push_str("<dl class=\"summary\">");
    let mut item = |k: &str, v: String| {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    };
    // cairn creates a job when it starts it: created is the start.
    item("Created", started.clone());
    item("Started", started);
    item("Finished", finished);
    item("Runtime", runtime);
    if let Some((r, current)) = &a.realisation {
        item(
            "Backend",
            format!("{} on {}", escape(&r.executor), escape(&r.host)),
        );
        item(
            "Commit",
            match &r.commit {
                Some(c) => format!(
                    "<code class=\"hash\">{}</code>{}",
                    escape(c),
                    if r.dirty { " (work tree dirty)" } else { "" }
                ),
                None => "—".into(),
            },
        );
        item(
            "Realisation",
            format!(
                "<code>{}</code>{}",
                r.key().short(),
                if *current {
                    ""
                } else {
                    " (last run; not current)"
                }
            ),
        );
        item("Needs", needs(a));
    } else {
        item("Needs", needs(a));
    }
    out.push_str("</dl>");
    if let Some((v, _)) = &a.verified {
        if !v.differing.is_empty() {
            out.push_str(
                "<div class=\"note\">Verify found differences in:</div><ul class=\"diffs\">",
            );
            for f in &v.differing {
                let _ = write!(out, "<li><code>{}</code></li>", escape(f));
            }
            out.push_str("</ul>");
        }
        if let Some(reason) = &v.reason {
            let _ = write!(
                out,
                "<div class=\"note\">Verify could not run it: {}</div>",
                escape(reason)
            );
        }
    }
    match &a.realisation {
        Some((r, _)) if !r.outputs.files.is_empty() => {
            out.push_str("<table class=\"outputs\"><thead><tr><th>Output</th><th>Privacy level</th><th>Size</th><th>BLAKE3</th></tr></thead><tbody>");
            for (path, e) in &r.outputs.files {
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td><code class=\"hash\">{}</code></td></tr>",
                    escape(path),
                    escape(&e.level),
                    size(e.size),
                    e.object.to_hex()
                );
            }
            out.push_str("</tbody></table>");
        }
        _ => out.push_str("<div class=\"note\">No outputs recorded.</div>"),
    }
    out.push_str("</section>");
}

fn needs(a: &ActionView) -> String {
    if a.needs.is_empty() {
        return "—".into();
    }
    a.needs
        .iter()
        .map(|n| format!("<a href=\"#action-{0}\">{0}</a>", escape(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `812 B`, `61.2 KiB`, `3.4 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_sizes() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(size(812), "812 B");
        assert_eq!(size(62_668), "61.2 KiB");
        assert_eq!(size(3 << 20), "3.0 MiB");
    }
}
