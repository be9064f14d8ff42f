//! Hostile and huge inputs, generated here rather than committed: each must give a
//! clear error or a correct result, never a panic. (Their speed is checked by hand in
//! release builds; timings are not asserted here.)

use serde_json::Value;

use crate::support::check_json;

/// A deterministic stream of pseudo-random bytes (xorshift64).
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn action(name: &str, run: &str, needs: &[String], output: &str) -> String {
    format!(
        "  {name}:\n    run: {run}\n    needs: [{}]\n    outputs:\n      highly_sensitive:\n        x: {output}\n",
        needs.join(", ")
    )
}

fn first_error(out: &crate::support::Output) -> String {
    out.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn binary_garbage() {
    for seed in 1..=8 {
        let out = check_json(garbage(64 * 1024, seed));
        out.assert_no_crash();
        assert_eq!(out.code, 1);
        let message = first_error(&out);
        assert!(
            message.contains("UTF-8") || message.contains("binary"),
            "{message}"
        );
    }
    // Valid UTF-8, but control characters.
    let out = check_json("version: 5\nactions:\n  a\u{1}: {}\n");
    assert_eq!(out.code, 1);
    assert!(
        first_error(&out).contains("#x0001"),
        "{}",
        first_error(&out)
    );
}

#[test]
fn printable_garbage_is_a_yaml_or_shape_error() {
    for seed in 1..=8 {
        let alphabet = b" abc:-[]{}\n\t'\"#&*!|>%@,?";
        let text: String = garbage(16 * 1024, seed)
            .into_iter()
            .map(|b| char::from(alphabet[usize::from(b) % alphabet.len()]))
            .collect();
        let out = check_json(text);
        out.assert_no_crash();
        assert_eq!(out.code, 1);
        assert!(!first_error(&out).is_empty());
    }
}

#[test]
fn ten_megabytes() {
    // 2,000 actions, each with a large config: about 10 MB of YAML.
    let payload = format!("[{}]", vec!["\"item-with-some-text\""; 200].join(", "));
    let mut yaml = String::from("version: 5\nactions:\n");
    for i in 0..2_000 {
        yaml.push_str(&format!(
            "  a{i}:\n    run: python:v2 a{i}.py\n    config: {{items: {payload}, n: {i}}}\n    outputs:\n      moderately_sensitive:\n        x: output/a{i}.csv\n"
        ));
        yaml.push_str(&format!("# {}\n", "-".repeat(500)));
    }
    assert!(yaml.len() > 10_000_000, "{}", yaml.len());
    let out = check_json(&yaml);
    assert_eq!(out.code, 0, "{}", &out.stdout[..out.stdout.len().min(2000)]);
    let json = out.json();
    assert_eq!(json["actions"].as_array().unwrap().len(), 2_000);
    let argv = &json["plan"]["a1999"]["argv"];
    assert_eq!(argv[2], "--config");
    assert!(
        argv[3]
            .as_str()
            .unwrap()
            .ends_with("\"item-with-some-text\"], \"n\": 1999}")
    );
}

#[test]
fn ten_thousand_actions_in_a_chain() {
    let mut yaml = String::from("version: 5\nactions:\n");
    for i in 0..10_000 {
        let needs = if i == 0 {
            vec![]
        } else {
            vec![format!("a{}", i - 1)]
        };
        yaml.push_str(&action(
            &format!("a{i}"),
            &format!("python:v2 a{i}.py"),
            &needs,
            &format!("output/a{i}.csv"),
        ));
    }
    let out = check_json(&yaml);
    assert_eq!(out.code, 0);
    let json = out.json();
    assert_eq!(json["actions"].as_array().unwrap().len(), 10_000);
    assert_eq!(json["plan"]["a9999"]["needs"], serde_json::json!(["a9998"]));
}

#[test]
fn ten_thousand_actions_in_a_cycle_and_ten_thousand_errors() {
    let mut yaml = String::from("version: 5\nactions:\n");
    for i in 0..10_000 {
        let needs = vec![format!("a{}", (i + 1) % 10_000)];
        yaml.push_str(&action(
            &format!("a{i}"),
            &format!("python:v2 a{i}.py"),
            &needs,
            &format!("output/a{i}.csv"),
        ));
    }
    let out = check_json(&yaml);
    assert_eq!(out.code, 1);
    let errors = out.json()["errors"].as_array().unwrap().clone();
    assert_eq!(errors.len(), 1);
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("`needs` of action a0 makes a cycle: a0 -> a1 -> a2"),
        "{}",
        &message[..100]
    );
    assert!(message.contains("a9999 -> a0 ("));

    // Every action wrong the same way: one error each, all reported.
    let bad = yaml.replace("run: python:v2", "run: python");
    let out = check_json(&bad);
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["errors"].as_array().unwrap().len(), 10_000);
    let out = crate::support::check_human(&bad);
    assert_eq!(out.stderr.matches(": error: ").count(), 10_000);
}

#[test]
fn deep_nesting() {
    for yaml in [
        "[".repeat(100_000),
        "{a: ".repeat(100_000),
        "- ".repeat(100_000) + "x\n",
    ] {
        let out = check_json(&yaml);
        out.assert_no_crash();
        assert_eq!(out.code, 1);
        let message = first_error(&out);
        assert!(message.contains("line 1"), "{message}");
    }
    let nested_config = format!(
        "version: 5\nactions:\n  a:\n    run: python:v2 a.py\n    config: {{k: {}1{}}}\n    outputs: {{highly_sensitive: {{x: a.csv}}}}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    let out = check_json(nested_config);
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn alias_bomb() {
    let mut yaml =
        String::from("version: 5\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        yaml.push_str(&format!(
            "x{i}: &x{i} [{}]\n",
            vec![format!("*x{}", i - 1); 9].join(", ")
        ));
    }
    yaml.push_str("actions: {}\n");
    let out = check_json(&yaml);
    assert_eq!(out.code, 1);
    assert!(
        first_error(&out).contains("aliases expand to more than"),
        "{}",
        first_error(&out)
    );
}

#[test]
fn unicode_action_names() {
    let names = [
        "日本語",
        "données_é",
        "🦀crab",
        "שָׁלוֹם",
        "e\u{301}tude",
        "Ωmega",
    ];
    let mut yaml = String::from("version: 5\nactions:\n");
    for (i, name) in names.iter().enumerate() {
        let needs: Vec<String> = names[..i].iter().map(|n| n.to_string()).collect();
        yaml.push_str(&action(
            name,
            &format!("python:v2 'script {name}.py'"),
            &needs,
            &format!("output/{name}.csv"),
        ));
    }
    let out = check_json(&yaml);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let json = out.json();
    let got: Vec<&str> = json["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(got, names);
    assert_eq!(
        json["plan"]["🦀crab"]["argv"],
        serde_json::json!(["python:v2", "script 🦀crab.py"])
    );
    assert_eq!(json["plan"]["Ωmega"]["needs"].as_array().unwrap().len(), 5);
}

#[test]
fn a_100_kb_run() {
    let args: Vec<String> = (0..12_000).map(|i| format!("arg{i:05}")).collect();
    let run = format!("python:v2 {}", args.join(" "));
    assert!(run.len() > 100_000);
    let yaml = format!(
        "version: 5\nactions:\n{}",
        action("a", &run, &[], "output/a.csv")
    );
    let out = check_json(&yaml);
    assert_eq!(out.code, 0);
    let argv = out.json()["plan"]["a"]["argv"].clone();
    assert_eq!(argv.as_array().unwrap().len(), 12_001);
    assert_eq!(argv[12_000], Value::from("arg11999"));

    // The same with an unclosed quote: a clear error, and a snippet that stays short.
    let broken = yaml.replace("arg05000", "'arg05000");
    let out = crate::support::check_human(&broken);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("No closing quotation"),
        "{}",
        &out.stderr[..300]
    );
    assert!(out.stderr.len() < 1_000, "{}", out.stderr.len());
}
