//! Dates and times as the reference's loader reads them: ruamel's timestamp pattern for
//! plain scalars, and the ranges of Python's `date` and `datetime`, which its
//! constructor applies (so `2020-02-30` is an error, not a string).

use super::Resolved;

/// The resolver's timestamp pattern: `YYYY-MM-DD`, or `YYYY-M-D` with a time
/// (`[Tt]` or blanks, `H:MM:SS`, an optional fraction and zone).
pub fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    if b.len() == 10 && (0..4).all(digit) && b[4] == b'-' && digit(5) && digit(6) && b[7] == b'-' {
        return digit(8) && digit(9);
    }
    parse_timestamp(text).is_some_and(|t| t.time.is_some())
}

/// The fields of ruamel's timestamp pattern.
struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    /// Hour, minute, second, and the zone's offset in minutes.
    time: Option<(u32, u32, u32, Option<i64>)>,
}

/// `min` to `max` ASCII digits at the start of `rest`, consumed.
fn number(rest: &mut &str, min: usize, max: usize) -> Option<u32> {
    let n = rest
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if n < min {
        return None;
    }
    let value = rest[..n].parse().ok()?;
    *rest = &rest[n..];
    Some(value)
}

fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let mut rest = text;
    let year = number(&mut rest, 4, 4)?;
    rest = rest.strip_prefix('-')?;
    let month = number(&mut rest, 1, 2)?;
    rest = rest.strip_prefix('-')?;
    let day = number(&mut rest, 1, 2)?;
    if rest.is_empty() {
        return Some(Timestamp {
            year,
            month,
            day,
            time: None,
        });
    }
    rest = match rest.strip_prefix(['T', 't']) {
        Some(r) => r,
        None => {
            let r = rest.trim_start_matches([' ', '\t']);
            if r.len() == rest.len() {
                return None;
            }
            r
        }
    };
    let hour = number(&mut rest, 1, 2)?;
    rest = rest.strip_prefix(':')?;
    let minute = number(&mut rest, 2, 2)?;
    rest = rest.strip_prefix(':')?;
    let second = number(&mut rest, 2, 2)?;
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let zone_text = rest.trim_start_matches([' ', '\t']);
    let zone = if zone_text.is_empty() {
        if !rest.is_empty() {
            return None;
        }
        None
    } else if zone_text == "Z" {
        Some(0)
    } else {
        let negative = zone_text.starts_with('-');
        rest = zone_text.strip_prefix(['-', '+'])?;
        let hours = number(&mut rest, 1, 2)?;
        let minutes = match rest.strip_prefix(':') {
            Some(r) => {
                rest = r;
                number(&mut rest, 2, 2)?
            }
            None => 0,
        };
        if !rest.is_empty() {
            return None;
        }
        let offset = i64::from(hours) * 60 + i64::from(minutes);
        Some(if negative { -offset } else { offset })
    };
    Some(Timestamp {
        year,
        month,
        day,
        time: Some((hour, minute, second, zone)),
    })
}

/// ruamel's `construct_yaml_timestamp`: Python's `date` or `datetime`, whose ranges
/// refuse `2020-02-30`, hour 24 or a zone a day away.
pub fn construct_timestamp(text: &str) -> Result<Resolved, String> {
    let bad = || {
        format!(
            "{text:?} is not a valid date or time, which the reference's YAML loader \
             reads it as; quote it to keep it as text"
        )
    };
    let t = parse_timestamp(text).ok_or_else(bad)?;
    let leap = t.year % 4 == 0 && (t.year % 100 != 0 || t.year % 400 == 0);
    let days = match t.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if t.year == 0 || t.day == 0 || t.day > days {
        return Err(bad());
    }
    if let Some((hour, minute, second, zone)) = t.time
        && (hour > 23 || minute > 59 || second > 59 || zone.is_some_and(|z| z.abs() >= 24 * 60))
    {
        return Err(bad());
    }
    Ok(Resolved::Timestamp {
        date_only: t.time.is_none(),
    })
}
