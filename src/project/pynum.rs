//! Python's number conversions that the reference validator leans on: `float()`, `int()`
//! and `repr(float)`, reimplemented so cairn reads `version: "3.0"` or
//! `population_size: " 10_000 "` exactly as the OpenSAFELY `pipeline` library does.
//!
//! Integers are kept as decimal strings: Python's are unbounded, and a `config` value
//! such as `12345678901234567890123` must reach `--config` digit for digit.

/// Python's `str.isspace()` for one character (`\s` in a `str` regex).
///
/// Rust's `char::is_whitespace` is the Unicode `White_Space` property; Python also
/// counts the ASCII separators U+001C..U+001F.
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `float(s)` for a string, or `None` where Python raises `ValueError`.
pub fn py_float(s: &str) -> Option<f64> {
    let s = s.trim_matches(py_isspace);
    let (negative, body) = split_sign(s);
    let lower = body.to_ascii_lowercase();
    let magnitude = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            let digits = strip_underscores(body)?;
            if !is_decimal_float(&digits) {
                return None;
            }
            digits.parse::<f64>().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Python's `int(s)` for a string (base 10), as a normalised decimal string.
pub fn py_int(s: &str) -> Option<String> {
    let s = s.trim_matches(py_isspace);
    let (negative, body) = split_sign(s);
    let digits = strip_underscores(body)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(normalise_decimal(negative, &digits))
}

/// Python's `int(x)` for a float: truncation towards zero, `None` for NaN and infinities.
pub fn float_to_int(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let t = f.trunc();
    if t.abs() < 9.0e15 {
        return Some(format!("{}", t as i64));
    }
    // An f64 this large is an integer: mantissa * 2^exponent, computed exactly.
    let bits = t.abs().to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let mut digits = to_digits(mantissa);
    for _ in 0..exponent {
        mul_small(&mut digits, 2, 0);
    }
    let text: String = digits.iter().rev().map(|d| char::from(b'0' + d)).collect();
    Some(normalise_decimal(t < 0.0, &text))
}

/// Python's `repr(float)`: the shortest string that reads back to the same value,
/// in exponent form below 1e-4 and from 1e16 (`1e+16`, `1.5e-05`).
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Between 1e-4 and 1e16 Python prints plain digits, as Rust's `{}` does.
    if f == 0.0 || (1e-4..1e16).contains(&f.abs()) {
        let mut s = format!("{f}");
        if !s.contains('.') {
            s.push_str(".0");
        }
        return s;
    }
    // Rust's `{:e}` gives the same shortest round-trip digits; only the layout differs.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let point = exp + 1; // digits before the decimal point
    let body = if !(-4 < point && point <= 16) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{first}{frac}e{esign}{:02}", exp.abs())
    } else if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Digits in `radix` (2..=16, already validated) to a decimal string.
pub fn radix_to_decimal(negative: bool, digits: &str, radix: u32) -> String {
    let mut out = vec![0u8];
    for c in digits.chars() {
        let d = c.to_digit(radix).expect("caller validated the digits");
        mul_small(&mut out, radix, d);
    }
    let text: String = out.iter().rev().map(|d| char::from(b'0' + d)).collect();
    normalise_decimal(negative, &text)
}

/// Strips leading zeros and a negative sign on zero.
pub fn normalise_decimal(negative: bool, digits: &str) -> String {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else if negative {
        format!("-{trimmed}")
    } else {
        trimmed.into()
    }
}

fn split_sign(s: &str) -> (bool, &str) {
    if let Some(rest) = s.strip_prefix('-') {
        (true, rest)
    } else {
        (false, s.strip_prefix('+').unwrap_or(s))
    }
}

/// Python allows single underscores between digits (`1_000`), nowhere else.
fn strip_underscores(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'_' {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + 1).copied();
            if !before.is_some_and(|c| c.is_ascii_digit())
                || !after.is_some_and(|c| c.is_ascii_digit())
            {
                return None;
            }
        }
    }
    Some(s.replace('_', ""))
}

/// `digits [. digits] [e [sign] digits]` or `. digits [...]`: what Python's float
/// grammar accepts once the sign and special names are handled.
fn is_decimal_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return false;
    }
    match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && all_digits(e)
        }
    }
}

/// Little-endian decimal digits of `n`.
fn to_digits(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while n > 0 {
        out.push((n % 10) as u8);
        n /= 10;
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

/// `digits = digits * factor + add`, digits little-endian decimal.
fn mul_small(digits: &mut Vec<u8>, factor: u32, add: u32) {
    let mut carry = add;
    for d in digits.iter_mut() {
        let v = u32::from(*d) * factor + carry;
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    while carry > 0 {
        digits.push((carry % 10) as u8);
        carry /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_parses_like_python() {
        let cases: &[(&str, Option<f64>)] = &[
            ("3", Some(3.0)),
            ("3.0", Some(3.0)),
            (" 3.5\n", Some(3.5)),
            ("+2", Some(2.0)),
            ("-1", Some(-1.0)),
            ("1e3", Some(1000.0)),
            ("1E-2", Some(0.01)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1_0", Some(10.0)),
            ("Infinity", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("1e400", Some(f64::INFINITY)),
            ("three", None),
            ("", None),
            (".", None),
            ("1_", None),
            ("_1", None),
            ("1__0", None),
            ("1e", None),
            ("0x10", None),
            ("3 .0", None),
        ];
        for (input, expected) in cases {
            assert_eq!(py_float(input), *expected, "float({input:?})");
        }
        assert!(py_float("nan").unwrap().is_nan());
        assert!(py_float("-NaN").unwrap().is_nan());
    }

    #[test]
    fn int_parses_like_python() {
        let cases: &[(&str, Option<&str>)] = &[
            ("10000", Some("10000")),
            (" 007 ", Some("7")),
            ("-0", Some("0")),
            ("+12", Some("12")),
            ("1_000", Some("1000")),
            ("99999999999999999999999", Some("99999999999999999999999")),
            ("1.5", None),
            ("lots", None),
            ("", None),
            ("1e3", None),
        ];
        for (input, expected) in cases {
            assert_eq!(py_int(input).as_deref(), *expected, "int({input:?})");
        }
    }

    #[test]
    fn float_repr_matches_python() {
        let cases: &[(f64, &str)] = &[
            (3.0, "3.0"),
            (3.5, "3.5"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.0, "0.0"),
            (-2.5, "-2.5"),
            (1.0 / 3.0, "0.3333333333333333"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e300, "1e+300"),
            (f64::INFINITY, "inf"),
        ];
        for (input, expected) in cases {
            assert_eq!(float_repr(*input), *expected, "repr({input})");
        }
    }

    #[test]
    fn int_of_float_truncates_exactly() {
        assert_eq!(float_to_int(1.9).as_deref(), Some("1"));
        assert_eq!(float_to_int(-1.9).as_deref(), Some("-1"));
        assert_eq!(float_to_int(1e16).as_deref(), Some("10000000000000000"));
        assert_eq!(float_to_int(1e20).as_deref(), Some("100000000000000000000"));
        assert_eq!(float_to_int(f64::NAN), None);
    }

    #[test]
    fn radix_conversion() {
        assert_eq!(radix_to_decimal(false, "ff", 16), "255");
        assert_eq!(radix_to_decimal(true, "17", 8), "-15");
        assert_eq!(
            radix_to_decimal(false, "ffffffffffffffffffff", 16),
            "1208925819614629174706175"
        );
    }
}
