//! Randomly generated studies, edited at random: after every edit cairn
//! reruns exactly the actions whose observations changed to something never
//! realised before (and those whose inputs' content did), the project's
//! outputs are what a model of the scripts says they must be, and a full
//! `-f` rerun of the final tree gives the same outputs. No false cache hit,
//! ever.
//!
//! `CAIRN_RANDOM_STUDIES` sets how many studies (default 200);
//! `CAIRN_RANDOM_SEED` replays one seed.

use std::collections::{BTreeMap, BTreeSet};

use crate::study::{Study, names};

/// SplitMix64: small, seedable, good enough to pick edits.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const DIRS: [&str; 3] = ["d0", "d1", "d2"];
const FILES: [&str; 4] = ["f0", "f1", "f2", "f3"];

fn data_paths() -> Vec<String> {
    DIRS.iter()
        .flat_map(|d| FILES.iter().map(move |f| format!("{d}/{f}")))
        .collect()
}

/// One action: what its `/bin/sh` script reads, probes and lists.
struct Action {
    reads: Vec<String>,
    probes: Vec<String>,
    lists: Vec<String>,
    need: Option<usize>,
}

impl Action {
    fn name(i: usize) -> String {
        format!("a{i}")
    }

    fn script(&self, i: usize) -> String {
        let mut s = String::from("mkdir -p output\n{\n:\n");
        for r in &self.reads {
            s += &format!("echo 'R {r}'; cat {r} 2>/dev/null || echo MISSING\n");
        }
        for p in &self.probes {
            s += &format!("echo 'P {p}'; test -f {p} && echo yes || echo no\n");
        }
        for l in &self.lists {
            s += &format!("echo 'L {l}'; ls {l} 2>/dev/null || echo NODIR\n");
        }
        if let Some(k) = self.need {
            s += &format!("echo N; cat output/a{k}.txt\n");
        }
        s += &format!("}} > output/a{i}.txt\n");
        s
    }

    /// What the script writes, given the sources and the upstream output.
    fn output(&self, files: &BTreeMap<String, String>, upstream: Option<&String>) -> String {
        let mut out = String::new();
        for r in &self.reads {
            out += &format!("R {r}\n");
            out += files.get(r).map_or("MISSING\n", String::as_str);
        }
        for p in &self.probes {
            out += &format!(
                "P {p}\n{}\n",
                if files.contains_key(p) { "yes" } else { "no" }
            );
        }
        for l in &self.lists {
            out += &format!("L {l}\n");
            let names = listing(files, l);
            if names.is_empty() {
                out += "NODIR\n";
            }
            for n in names {
                out += &format!("{n}\n");
            }
        }
        if let Some(up) = upstream {
            out += "N\n";
            out += up;
        }
        out
    }

    /// What the action observes, as cairn values it: the content (or
    /// absence) of what it reads or probes, the names in what it lists,
    /// and its input's content.
    fn observed(&self, files: &BTreeMap<String, String>, upstream: Option<&String>) -> String {
        let mut o = String::new();
        for p in self.reads.iter().chain(&self.probes) {
            o += &format!("{p}={:?};", files.get(p));
        }
        for l in &self.lists {
            o += &format!("{l}/={:?};", listing(files, l));
        }
        o += &format!("in={upstream:?}");
        o
    }
}

fn listing(files: &BTreeMap<String, String>, dir: &str) -> Vec<String> {
    let prefix = format!("{dir}/");
    files
        .keys()
        .filter_map(|p| p.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

fn subset(rng: &mut Rng, items: &[String], max: usize) -> Vec<String> {
    let n = rng.below(max + 1);
    let mut out: BTreeSet<String> = BTreeSet::new();
    for _ in 0..n {
        out.insert(rng.pick(items).clone());
    }
    out.into_iter().collect()
}

/// Outputs of every action, in order (an action needs only earlier ones).
fn outputs(actions: &[Action], files: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in actions {
        let up = a.need.map(|k| out[k].clone());
        out.push(a.output(files, up.as_ref()));
    }
    out
}

fn observations(actions: &[Action], files: &BTreeMap<String, String>) -> Vec<String> {
    let outs = outputs(actions, files);
    actions
        .iter()
        .map(|a| a.observed(files, a.need.map(|k| &outs[k])))
        .collect()
}

fn one_study(seed: u64) {
    let mut rng = Rng(seed);
    let paths = data_paths();
    let dirs: Vec<String> = DIRS.iter().map(|d| d.to_string()).collect();
    let n = 2 + rng.below(4);
    let actions: Vec<Action> = (0..n)
        .map(|i| Action {
            reads: subset(&mut rng, &paths, 3),
            probes: subset(&mut rng, &paths, 2),
            lists: subset(&mut rng, &dirs, 1),
            need: (i > 0 && rng.chance(50)).then(|| rng.below(i)),
        })
        .collect();

    let s = Study::new();
    let mut yaml = String::from("version: \"4.0\"\nactions:\n");
    for (i, a) in actions.iter().enumerate() {
        let name = Action::name(i);
        s.write(&format!("analysis/{name}.sh"), &a.script(i));
        yaml += &format!("  {name}:\n    run: sh:v1 analysis/{name}.sh\n");
        if let Some(k) = a.need {
            yaml += &format!("    needs: [a{k}]\n");
        }
        yaml +=
            &format!("    outputs:\n      moderately_sensitive:\n        out: output/{name}.txt\n");
    }
    s.write("project.yaml", &yaml);
    s.write(
        "cairn.toml",
        "[executor]\nkind = \"local\"\n[images.sh]\ncommand = [\"sh\"]\n",
    );
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut version = 0;
    for p in &paths {
        if rng.chance(50) {
            version += 1;
            files.insert(p.clone(), format!("v{version}\n"));
        }
    }
    for (p, c) in &files {
        s.write(p, c);
    }
    s.commit("a random study");

    let check = |what: &str, args: &[&str], files: &BTreeMap<String, String>| {
        let r = s.run(args);
        assert_eq!(r.code, 0, "seed {seed}, {what}: {r:?}");
        for (i, want) in outputs(&actions, files).iter().enumerate() {
            let got = s.read(&format!("output/a{i}.txt"));
            assert_eq!(&got, want, "seed {seed}, {what}: output of a{i}\n{r:?}");
        }
        r
    };
    let all: Vec<String> = (0..n).map(Action::name).collect();
    let first = check("first run", &["run_all", "-j", "2"], &files);
    assert_eq!(first.with_status("ran"), all, "seed {seed}");

    // Every observation set each action has been realised with: returning
    // to one restores that realisation instead of running.
    let mut seen: Vec<BTreeSet<String>> = observations(&actions, &files)
        .into_iter()
        .map(|o| BTreeSet::from([o]))
        .collect();
    let edits = 2 + rng.below(3);
    for e in 0..edits {
        let before = observations(&actions, &files);
        let what = match rng.below(4) {
            0 | 1 if !files.is_empty() => {
                let keys: Vec<String> = files.keys().cloned().collect();
                let p = rng.pick(&keys).clone();
                if rng.chance(70) {
                    version += 1;
                    files.insert(p.clone(), format!("v{version}\n"));
                    s.write(&p, &files[&p]);
                    format!("edit {p}")
                } else {
                    files.remove(&p);
                    std::fs::remove_file(s.file(&p)).unwrap();
                    format!("delete {p}")
                }
            }
            2 => {
                let p = rng.pick(&paths).clone();
                version += 1;
                files.insert(p.clone(), format!("v{version}\n"));
                s.write(&p, &files[&p]);
                format!("write {p}")
            }
            _ => {
                s.write(&format!("docs/note{e}.md"), "unrelated\n");
                "an unrelated file".to_string()
            }
        };
        let after = observations(&actions, &files);
        let expected: Vec<String> = (0..n)
            .filter(|i| before[*i] != after[*i] && !seen[*i].contains(&after[*i]))
            .map(Action::name)
            .collect();
        for (i, o) in after.into_iter().enumerate() {
            seen[i].insert(o);
        }
        let r = check(&what, &["run_all", "-j", "2"], &files);
        assert_eq!(
            r.with_status("ran"),
            names(&expected.iter().map(String::as_str).collect::<Vec<_>>()),
            "seed {seed}, after {what}: reruns exactly the actions whose observations changed to new ones\n{r:?}"
        );
    }
    let forced = check("a forced rerun", &["run_all", "-f", "-j", "2"], &files);
    assert_eq!(forced.with_status("ran"), all, "seed {seed}");
}

#[test]
fn random_studies_rerun_exactly_what_their_edits_affect() {
    let count: u64 = std::env::var("CAIRN_RANDOM_STUDIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seeds: Vec<u64> = match std::env::var("CAIRN_RANDOM_SEED") {
        Ok(seed) => vec![seed.parse().expect("CAIRN_RANDOM_SEED is a number")],
        Err(_) => (0..count).map(|i| 0x5eed_0000 + i).collect(),
    };
    // Four studies at a time: each run is mostly waiting on processes.
    std::thread::scope(|scope| {
        for chunk in seeds.chunks(seeds.len().div_ceil(4).max(1)) {
            scope.spawn(move || chunk.iter().for_each(|seed| one_study(*seed)));
        }
    });
}
