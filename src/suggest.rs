//! "Did you mean …?": the closest of some names to a misspelt one.

/// The candidate closest to `name` by edit distance, if close enough to be a
/// likely typo (at most a third of the name's length, and at least one edit).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_find_their_name_and_strangers_find_none() {
        let names = ["generate_cohort", "analyse", "report"];
        for (typo, want) in [
            ("analyze", Some("analyse")),
            ("generate_cohrot", Some("generate_cohort")),
            ("reprot", Some("report")),
            ("describe", None),
            ("x", None),
        ] {
            assert_eq!(closest(typo, names), want, "{typo}");
        }
    }
}
