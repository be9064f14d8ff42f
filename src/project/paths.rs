//! The few Python path functions the reference applies to output patterns:
//! `posixpath.normpath`, `PurePosixPath` (its text, name, suffix and parent) and
//! `PureWindowsPath.is_absolute`. Pure string work: nothing here touches the disk.

/// Whether `normpath(path) == path`, without allocating in the common case.
pub fn is_normal(path: &str) -> bool {
    // No empty, `.` or `..` part: nothing for normpath to change.
    if path.split('/').all(|c| !matches!(c, "" | "." | "..")) {
        return true;
    }
    normpath(path) == path
}

/// Python's `posixpath.normpath`.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." if slashes == 0 && (comps.is_empty() || comps.last() == Some(&"..")) => {
                comps.push(comp)
            }
            ".." => {
                comps.pop();
            }
            _ => comps.push(comp),
        }
    }
    let out = format!("{}{}", "/".repeat(slashes), comps.join("/"));
    if out.is_empty() { ".".into() } else { out }
}

/// A `PurePosixPath`: its root (`""`, `"/"` or `"//"`) and its non-trivial parts.
struct PurePosix<'a> {
    root: &'static str,
    parts: Vec<&'a str>,
}

impl<'a> PurePosix<'a> {
    fn new(path: &'a str) -> PurePosix<'a> {
        let root = if path.starts_with("//") && !path.starts_with("///") {
            "//"
        } else if path.starts_with('/') {
            "/"
        } else {
            ""
        };
        let parts = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        PurePosix { root, parts }
    }

    fn text(&self, parts: &[&str]) -> String {
        let joined = format!("{}{}", self.root, parts.join("/"));
        if joined.is_empty() {
            ".".into()
        } else {
            joined
        }
    }
}

/// `str(PurePosixPath(path))`: slashes collapsed, `.` parts dropped.
pub fn pure_str(path: &str) -> String {
    let p = PurePosix::new(path);
    p.text(&p.parts)
}

/// `PurePosixPath(path).suffix`: the last `.ext` of the final part, if any.
pub fn suffix(path: &str) -> &str {
    let name = path
        .rsplit('/')
        .find(|p| !p.is_empty() && *p != ".")
        .unwrap_or("");
    match name.rfind('.') {
        Some(i) if 0 < i && i < name.len() - 1 => &name[i..],
        _ => "",
    }
}

/// `str(PurePosixPath(path).parent)`.
pub fn parent(path: &str) -> String {
    let p = PurePosix::new(path);
    let keep = p.parts.len().saturating_sub(1);
    p.text(&p.parts[..keep])
}

/// The distinct parent directories of `paths`, in first-seen order.
pub fn unique_parents<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut dirs: Vec<String> = Vec::new();
    for p in paths {
        let dir = parent(p);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// `PurePosixPath(p).is_absolute() or PureWindowsPath(p).is_absolute()`, for a path
/// without backslashes: `/x`, or a drive with a root such as `c:/x`.
pub fn is_absolute(path: &str) -> bool {
    let mut chars = path.chars();
    let first = chars.next();
    first == Some('/')
        || (first.is_some() && chars.next() == Some(':') && chars.next() == Some('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_matches_python() {
        let cases = [
            ("a/b.csv", "a/b.csv"),
            ("a//b.csv", "a/b.csv"),
            ("./a.csv", "a.csv"),
            ("a/../b.csv", "b.csv"),
            ("../a.csv", "../a.csv"),
            ("a/", "a"),
            ("/a/../../b", "/b"),
            ("//a", "//a"),
            ("///a", "/a"),
            ("", "."),
            ("..", ".."),
        ];
        for (input, expected) in cases {
            assert_eq!(normpath(input), expected, "normpath({input:?})");
        }
    }

    #[test]
    fn is_normal_agrees_with_normpath() {
        for p in [
            "a/b.csv", "a//b", "./a", "a/./b", "a/..", "../a", "/a", "//a", "a/", "", ".",
        ] {
            assert_eq!(is_normal(p), normpath(p) == p, "{p:?}");
        }
    }

    #[test]
    fn pure_posix_path_parts() {
        assert_eq!(suffix("out/x.csv"), ".csv");
        assert_eq!(suffix("out/x.csv.gz"), ".gz");
        assert_eq!(suffix("out/x.*"), ".*");
        assert_eq!(suffix("out/"), "");
        assert_eq!(suffix("out/.hidden"), "");
        assert_eq!(suffix("out/x."), "");
        assert_eq!(suffix("out/a.b/x"), "");
        assert_eq!(pure_str("out//x.dta"), "out/x.dta");
        assert_eq!(pure_str("./x"), "x");
        assert_eq!(parent("output/input.csv"), "output");
        assert_eq!(parent("input.csv"), ".");
        assert_eq!(parent("a/b/c.csv"), "a/b");
        assert_eq!(parent("/x.csv"), "/");
        assert_eq!(
            unique_parents(["a/x", "b/y", "a/z"].into_iter()),
            vec!["a", "b"]
        );
    }

    #[test]
    fn absolute_paths() {
        assert!(is_absolute("/abs.csv"));
        assert!(is_absolute("c:/x.csv"));
        assert!(is_absolute("1:/x.csv"));
        assert!(!is_absolute("c:x.csv"));
        assert!(!is_absolute("out/c:/x.csv"));
        assert!(!is_absolute("~/x.csv"));
    }
}
