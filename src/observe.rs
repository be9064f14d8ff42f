//! Observation sets: what an action saw of its sources, read off a
//! [`SourceTree`] (the files its workspace held when it started).
//!
//! The tracer says which paths an action looked at and how; the values come
//! from the tree, never from the trace, so a file the action wrote before
//! reading it counts as what the path held at the start. The same functions
//! give the values of a recorded path set against the current sources, which
//! is how a cached realisation is found without running anything.

use std::collections::BTreeSet;

use cairn_store::{Digest, Kind, Look, ObservationSet, Observed, PathSet};

use crate::sources::{SourceFile, SourceTree};
use crate::trace::{Op, Trace};

/// What `path` holds in `tree`, for an action that read, stat'ed or probed it.
pub fn read_value(tree: &SourceTree, path: &str) -> Observed {
    if let Some(f) = file(tree, path) {
        return file_value(f);
    }
    if is_dir(tree, path) {
        Observed::Dir
    } else {
        Observed::Absent
    }
}

/// What `path` lists as in `tree`, for an action that listed it.
pub fn list_value(tree: &SourceTree, path: &str) -> Observed {
    if let Some(f) = file(tree, path) {
        return file_value(f);
    }
    let names = children(tree, path);
    if names.is_empty() && !path.is_empty() {
        return Observed::Absent;
    }
    let mut h = Kind::Listing.hasher();
    for n in &names {
        h.update(n.as_bytes());
        h.update(b"\0");
    }
    Observed::Listing(Digest::from(h.finalize()))
}

/// The value of each path of `set` in `tree`: the observation set an action
/// with that path set would have now.
pub fn observe(tree: &SourceTree, set: &PathSet) -> ObservationSet {
    ObservationSet {
        read: set
            .read
            .iter()
            .map(|p| (p.clone(), read_value(tree, p)))
            .collect(),
        listed: set
            .listed
            .iter()
            .map(|p| (p.clone(), list_value(tree, p)))
            .collect(),
        untraced: set.untraced,
    }
}

/// Reduces a trace to the action's observation set: every path it looked
/// at, valued from `tree`, except those `covered` says its derivation
/// already accounts for (the outputs of the actions it needs, and paths
/// its own output patterns match, which are never sources while those
/// patterns are in its derivation).
pub fn reduce(trace: &Trace, tree: &SourceTree, covered: &dyn Fn(&str) -> bool) -> ObservationSet {
    let mut set = ObservationSet::default();
    for e in &trace.events {
        if covered(&e.path) {
            continue;
        }
        match e.op {
            Op::List => {
                set.listed
                    .entry(e.path.clone())
                    .or_insert_with(|| list_value(tree, &e.path));
            }
            _ => {
                set.read
                    .entry(e.path.clone())
                    .or_insert_with(|| read_value(tree, &e.path));
            }
        }
    }
    set
}

/// The observation set of an action that could not be traced: every
/// visible file read and every directory listed, which is sound (any
/// change to the sources misses) and coarse.
pub fn everything(tree: &SourceTree) -> ObservationSet {
    let mut set = ObservationSet {
        untraced: true,
        ..ObservationSet::default()
    };
    let mut dirs: BTreeSet<&str> = BTreeSet::from([""]);
    for f in &tree.files {
        set.read.insert(f.path.clone(), file_value(f));
        let mut p = f.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            dirs.insert(parent);
            p = parent;
        }
    }
    for d in dirs {
        set.listed.insert(d.to_string(), list_value(tree, d));
    }
    set
}

/// What changed among what `action` observed (`old`) in `tree`, one line
/// each: `analysis/lib.R changed (read by anCASE)`.
pub fn changes(action: &str, old: &ObservationSet, tree: &SourceTree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, look, before) in old.iter() {
        let now = match look {
            Look::Read => read_value(tree, path),
            Look::List => list_value(tree, path),
        };
        if now == before {
            continue;
        }
        let shown = if path.is_empty() { "." } else { path };
        out.push(match (look, before, now) {
            (Look::List, _, _) => {
                format!("the listing of {shown}/ changed ({action} listed it)")
            }
            (_, Observed::Absent, _) => format!("{shown} appeared ({action} looked for it)"),
            (_, _, Observed::Absent) => format!("{shown} was removed (read by {action})"),
            (_, Observed::File(_), Observed::Executable(_)) => {
                format!("{shown} became executable (read by {action})")
            }
            (_, Observed::Executable(_), Observed::File(_)) => {
                format!("{shown} is no longer executable (read by {action})")
            }
            _ => format!("{shown} changed (read by {action})"),
        });
    }
    out
}

fn file_value(f: &SourceFile) -> Observed {
    if f.executable {
        Observed::Executable(f.digest)
    } else {
        Observed::File(f.digest)
    }
}

/// The file at `path`, by binary search (the tree is sorted by path).
fn file<'t>(tree: &'t SourceTree, path: &str) -> Option<&'t SourceFile> {
    tree.files
        .binary_search_by(|f| f.path.as_str().cmp(path))
        .ok()
        .map(|i| &tree.files[i])
}

/// The files below directory `dir` (`""`: all), a contiguous run of the
/// sorted list.
fn below<'t>(tree: &'t SourceTree, dir: &str) -> &'t [SourceFile] {
    if dir.is_empty() {
        return &tree.files;
    }
    let prefix = format!("{dir}/");
    let start = tree
        .files
        .partition_point(|f| f.path.as_str() < prefix.as_str());
    let len = tree.files[start..]
        .iter()
        .take_while(|f| f.path.starts_with(&prefix))
        .count();
    &tree.files[start..start + len]
}

fn is_dir(tree: &SourceTree, path: &str) -> bool {
    path.is_empty() || !below(tree, path).is_empty()
}

/// The names in directory `dir`, sorted; subdirectories end in `/`.
fn children(tree: &SourceTree, dir: &str) -> BTreeSet<String> {
    let skip = if dir.is_empty() { 0 } else { dir.len() + 1 };
    below(tree, dir)
        .iter()
        .map(|f| {
            let rest = &f.path[skip..];
            match rest.split_once('/') {
                Some((name, _)) => format!("{name}/"),
                None => rest.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;

    fn tree(files: &[(&str, &str)]) -> SourceTree {
        let mut files: Vec<SourceFile> = files
            .iter()
            .map(|(p, c)| SourceFile {
                path: p.to_string(),
                digest: Kind::Object.digest(c.as_bytes()),
                executable: false,
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        SourceTree {
            files,
            ..SourceTree::default()
        }
    }

    fn ev(op: Op, path: &str) -> Event {
        Event {
            op,
            path: path.into(),
            existed: true,
        }
    }

    #[test]
    fn values_come_from_the_tree() {
        let t = tree(&[("a/x.py", "1"), ("a/y/z.R", "2"), ("a-b", "3")]);
        assert_eq!(
            read_value(&t, "a/x.py"),
            Observed::File(Kind::Object.digest(b"1"))
        );
        assert_eq!(read_value(&t, "a"), Observed::Dir);
        assert_eq!(read_value(&t, "a/y"), Observed::Dir);
        assert_eq!(read_value(&t, "a/nope"), Observed::Absent);
        assert_eq!(read_value(&t, ""), Observed::Dir);
        assert_eq!(list_value(&t, "nope"), Observed::Absent);
        assert_eq!(
            children(&t, "a"),
            BTreeSet::from(["x.py".into(), "y/".into()])
        );
        assert_eq!(
            children(&t, ""),
            BTreeSet::from(["a/".into(), "a-b".into()])
        );
        let before = list_value(&t, "a");
        let t2 = tree(&[("a/x.py", "changed"), ("a/y/z.R", "2"), ("a-b", "3")]);
        assert_eq!(list_value(&t2, "a"), before, "a listing is names only");
        let t3 = tree(&[("a/x.py", "1"), ("a/w.py", "0"), ("a/y/z.R", "2")]);
        assert_ne!(list_value(&t3, "a"), before);
    }

    #[test]
    fn a_trace_reduces_to_what_the_sources_held_minus_inputs() {
        let t = tree(&[("a/x.py", "1"), ("lib.R", "2")]);
        let trace = Trace {
            untraced: None,
            events: vec![
                ev(Op::Exec, "a/x.py"),
                ev(Op::Read, "lib.R"),
                ev(Op::Stat, "new.csv"),
                ev(Op::List, "a"),
                ev(Op::Read, "output/in.csv"),
                // Written then read back: what the path held at the start.
                ev(Op::Write, "tmp.txt"),
                ev(Op::Read, "tmp.txt"),
            ],
        };
        let set = reduce(&trace, &t, &|p| p == "output/in.csv");
        assert_eq!(set.read.len(), 4);
        assert_eq!(set.read["new.csv"], Observed::Absent);
        assert_eq!(set.read["tmp.txt"], Observed::Absent);
        assert!(!set.read.contains_key("output/in.csv"));
        assert_eq!(set.listed["a"], list_value(&t, "a"));
        assert_eq!(observe(&t, &set.path_set()), set);
    }

    #[test]
    fn changes_name_the_path_and_how_it_was_seen() {
        let t = tree(&[("a/x.py", "1"), ("lib.R", "2")]);
        let trace = Trace {
            untraced: None,
            events: vec![
                ev(Op::Read, "lib.R"),
                ev(Op::Stat, "new.csv"),
                ev(Op::List, "a"),
            ],
        };
        let old = reduce(&trace, &t, &|_| false);
        assert!(changes("x", &old, &t).is_empty());
        let t2 = tree(&[
            ("a/x.py", "1"),
            ("a/y.py", "3"),
            ("lib.R", "9"),
            ("new.csv", ""),
        ]);
        assert_eq!(
            changes("x", &old, &t2),
            vec![
                "lib.R changed (read by x)",
                "new.csv appeared (x looked for it)",
                "the listing of a/ changed (x listed it)",
            ]
        );
    }

    #[test]
    fn untraced_means_everything_and_any_new_file_changes_it() {
        let t = tree(&[("a/x.py", "1"), ("b.csv", "2")]);
        let all = everything(&t);
        assert!(all.untraced);
        assert_eq!(all.read.len(), 2);
        assert_eq!(
            all.listed.keys().cloned().collect::<Vec<_>>(),
            vec!["".to_string(), "a".to_string()]
        );
        let t2 = tree(&[("a/x.py", "1"), ("b.csv", "2"), ("a/new.py", "3")]);
        assert_ne!(observe(&t2, &all.path_set()), all);
    }
}
