//! Dates and durations as people read them: ISO 8601 in UTC (the form
//! `metadata/<action>.log` uses), never epoch seconds.

pub use crate::metalog::iso8601;

/// `3s`, `2m 05s`, `1h 02m 03s`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_795_842_789, "2026-11-28T05:13:09Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ] {
            assert_eq!(iso8601(secs), text);
        }
        assert_eq!(duration(3), "3s");
        assert_eq!(duration(125), "2m 05s");
        assert_eq!(duration(3723), "1h 02m 03s");
    }
}
