//! `cairn report`: the page, opened in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::study::pipeline;

/// Chromium, which the report tests need (`.ci/install-deps` installs it).
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(p) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join(name))
            .find(|p| p.is_file())
        {
            return p;
        }
    }
    panic!("chromium is not installed: run .ci/install-deps");
}

/// Headless Chromium on `page` with `args`; returns its stdout.
fn headless(page: &Path, args: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("starting chromium");
    assert!(out.status.success(), "chromium {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where CI keeps the screenshots: `target/`.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_report_renders_every_action_status_and_identifier() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    assert_eq!(s.cairn(&["verify", "run_all"]).code, 0);
    // describe is now outdated, and a new action has never run.
    s.write(
        "analysis/describe.py",
        "import os\nos.makedirs('output', exist_ok=True)\nopen('output/description.txt', 'w').write('3 rows\\n')\n",
    );
    let yaml = s.read("project.yaml");
    s.write(
        "project.yaml",
        &format!(
            "{yaml}  summarise:\n    run: python:v2 analysis/summarise.py\n    needs: [report]\n    outputs:\n      moderately_sensitive:\n        summary: output/summary.txt\n"
        ),
    );
    let html = s.file("report.html");
    let r = s.cairn(&["report", "run_all", "-o", html.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(&html).unwrap();
    // Self-contained: nothing is fetched.
    for fetch in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
    ] {
        assert!(!text.contains(fetch), "the page fetches something: {fetch}");
    }

    let status: Value =
        serde_json::from_str(&s.cairn(&["status", "--format", "json"]).stdout).unwrap();
    let dom = headless(&html, &["--dump-dom"]);
    let expected = [
        ("prepare", "succeeded", "reproducible"),
        ("analyse", "succeeded", "reproducible"),
        ("report", "succeeded", "reproducible"),
        ("describe", "outdated", "reproducible"),
        ("summarise", "not run", "not verified"),
    ];
    for (action, state, verified) in expected {
        let start = dom
            .find(&format!("<tr data-action=\"{action}\">"))
            .unwrap_or_else(|| panic!("no row for {action} in the rendered page"));
        let row = &dom[start..start + dom[start..].find("</tr>").unwrap()];
        assert!(row.contains(&format!(">{state}</span>")), "{action}: {row}");
        assert!(
            row.contains(&format!(">{verified}</span>")),
            "{action}: {row}"
        );
        let id = status["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action"] == action)
            .unwrap()["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "—".into());
        assert!(
            row.contains(&format!(">{id}</code>")),
            "{action} {id}: {row}"
        );
        assert!(
            dom.contains(&format!("id=\"action-{action}\"")),
            "no section for {action}"
        );
    }
    // The graph has a node per action, coloured by status.
    assert_eq!(dom.matches("<g class=\"node ").count(), 5, "{dom}");
    assert!(dom.contains("<g class=\"node stale\">"));
    assert!(dom.contains("<g class=\"node never_run\">"));
    // The request, the commit and the project.yaml.
    let head = s.git(&["rev-parse", "HEAD"]).trim().to_string();
    assert!(dom.contains(&head), "the commit is shown");
    assert!(dom.contains("<dd>main</dd>"), "the branch is shown");
    assert!(dom.contains("Force run dependencies</dt><dd>no</dd>"));
    assert!(dom.contains("summarise:"), "project.yaml is shown");
    assert!(dom.contains("output/table.csv"));
    assert!(dom.contains("moderately_sensitive"));

    let png = artifacts().join("report-screenshot.png");
    let _ = std::fs::remove_file(&png);
    headless(
        &html,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,800",
        ],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{}",
        png.display()
    );

    let pdf = artifacts().join("report-print.pdf");
    let _ = std::fs::remove_file(&pdf);
    headless(
        &html,
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
    );
    let bytes = std::fs::read(&pdf).expect("chromium printed the page");
    assert!(
        bytes.starts_with(b"%PDF") && bytes.len() > 10_000,
        "{}",
        pdf.display()
    );
}

#[test]
fn the_report_shows_what_verify_found() {
    let s = pipeline();
    assert_eq!(s.run(&["run_all"]).code, 0);
    s.write(
        "analysis/analyse.py",
        "import time\nopen('output/table.csv', 'w').write(f'total\\n{time.time_ns()}\\n')\n",
    );
    s.commit("analyse writes the time");
    assert_eq!(s.run(&["run_all", "--force"]).code, 0);
    assert_eq!(s.cairn(&["verify", "analyse"]).code, 1);
    let html = s.file("out.html");
    assert_eq!(s.cairn(&["report", "-o", html.to_str().unwrap()]).code, 0);
    let text = std::fs::read_to_string(&html).unwrap();
    let start = text.find("<tr data-action=\"analyse\">").unwrap();
    let row = &text[start..start + text[start..].find("</tr>").unwrap()];
    assert!(row.contains(">differs</span>"), "{row}");
    assert!(text.contains("<g class=\"node fresh differs\">"));
    assert!(text.contains("Verify found differences in:"));
    // Requested: the last run's request.
    assert!(text.contains("<code>run_all</code>"));
}
