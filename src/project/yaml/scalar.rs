//! What a YAML scalar means: YAML 1.2 core-schema resolution of plain scalars
//! (`yes` and `on` stay strings), the core tags, and key identity for duplicate checks.

use super::events::Style;
use super::timestamp::{construct_timestamp, is_timestamp};
use super::{Node, Resolved, Scalar, Value};
use crate::project::pynum;

/// The core schema's tag prefix (`!!`).
const CORE: &str = "tag:yaml.org,2002:";

/// Resolves one scalar event, or explains why its tag cannot apply. `implicit` is
/// libyaml's `plain_implicit` (plain and untagged, or tagged `!`): the reference's
/// loader then types the scalar by its text.
pub fn resolve(
    text: String,
    style: Style,
    tag: Option<&str>,
    implicit: bool,
) -> Result<Scalar, String> {
    let quoted = style != Style::Plain || !implicit;
    let resolved = match tag.map(Tagged::of) {
        None | Some(Tagged::NonSpecific) if implicit => plain(&text)?,
        None | Some(Tagged::NonSpecific) => Resolved::Str,
        Some(Tagged::Core(suffix)) => tagged(&text, &suffix)?,
        Some(Tagged::Other(name)) => {
            return Err(format!(
                "could not determine a constructor for the tag '{name}'"
            ));
        }
    };
    Ok(Scalar {
        text,
        quoted,
        resolved,
    })
}

/// A tag, classified: `!` (a plain string), a core `!!name`, or anything else.
pub enum Tagged {
    NonSpecific,
    Core(String),
    Other(String),
}

impl Tagged {
    /// Classifies a tag as libyaml gives it, handles already expanded.
    pub fn of(tag: &str) -> Tagged {
        if tag == "!" {
            Tagged::NonSpecific
        } else if let Some(suffix) = tag.strip_prefix(CORE) {
            Tagged::Core(suffix.to_string())
        } else {
            Tagged::Other(tag.to_string())
        }
    }
}

/// How the reference's loader (ruamel, YAML 1.2) types a plain scalar: its resolver's
/// patterns, tried in its order for the scalar's first character, then its
/// constructors, which can still refuse the text (`0x_`, `2020-02-30`).
fn plain(text: &str) -> Result<Resolved, String> {
    let first = text.chars().next();
    match first {
        None => return Ok(Resolved::Null),
        Some('t' | 'T' | 'f' | 'F') => {
            return Ok(match text {
                "true" | "True" | "TRUE" => Resolved::Bool(true),
                "false" | "False" | "FALSE" => Resolved::Bool(false),
                _ => Resolved::Str,
            });
        }
        Some('~' | 'n' | 'N') => {
            return Ok(match text {
                "~" | "null" | "Null" | "NULL" => Resolved::Null,
                _ => Resolved::Str,
            });
        }
        Some('-' | '+' | '.' | '0'..='9') => {}
        _ => return Ok(Resolved::Str),
    }
    if is_float(text) {
        return construct_float(text).map(Resolved::Float);
    }
    if is_int(text) {
        return construct_int(text).map(Resolved::Int);
    }
    if is_timestamp(text) {
        return construct_timestamp(text);
    }
    Ok(Resolved::Str)
}

/// A scalar with an explicit core tag (`!!str 3`, `!!int "3"`), through the
/// reference's constructor for that tag.
fn tagged(text: &str, suffix: &str) -> Result<Resolved, String> {
    Ok(match suffix {
        "str" => Resolved::Str,
        "null" => Resolved::Null,
        "bool" => match text.to_lowercase().as_str() {
            "yes" | "y" | "true" | "on" => Resolved::Bool(true),
            "no" | "n" | "false" | "off" => Resolved::Bool(false),
            _ => return Err(bad_value(text, suffix)),
        },
        "int" => Resolved::Int(construct_int(text)?),
        "float" => Resolved::Float(construct_float(text)?),
        "timestamp" => construct_timestamp(text)?,
        "binary" => Resolved::Binary(base64_decode(text)?),
        "seq" | "map" | "set" | "omap" | "pairs" => {
            return Err(format!("the tag '!!{suffix}' cannot be used on a scalar"));
        }
        _ => {
            return Err(format!(
                "could not determine a constructor for the tag '!!{suffix}'"
            ));
        }
    })
}

fn bad_value(text: &str, suffix: &str) -> String {
    format!("the value {text:?} is not valid for the tag '!!{suffix}'")
}

fn digits_of(s: &str, radix: u32) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_digit(radix))
}

/// `[-+]?`, then the rest.
fn unsigned(text: &str) -> &str {
    text.strip_prefix(['-', '+']).unwrap_or(text)
}

/// The resolver's integer pattern: `[-+]?` then `0b[01_]+`, `0o?[0-7_]+`, `[0-9_]+` or
/// `0x[0-9a-fA-F_]+`.
fn is_int(text: &str) -> bool {
    let u = unsigned(text);
    let all =
        |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c == '_' || c.is_digit(radix));
    if let Some(rest) = u.strip_prefix("0b") {
        return all(rest, 2);
    }
    if let Some(rest) = u.strip_prefix("0x") {
        return all(rest, 16);
    }
    if let Some(rest) = u.strip_prefix("0o") {
        return all(rest, 8);
    }
    all(u, 10)
}

/// The resolver's float pattern: `[0-9][0-9_]*\.[0-9_]*([eE][-+]?[0-9]+)?`,
/// `[0-9][0-9_]*[eE][-+]?[0-9]+`, `\.[0-9_]+([eE][-+][0-9]+)?` (each signed or not),
/// `[-+]?\.(inf|Inf|INF)` and `\.(nan|NaN|NAN)`.
fn is_float(text: &str) -> bool {
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let u = unsigned(text);
    if matches!(u, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let body = |s: &str| s.chars().all(|c| c == '_' || c.is_ascii_digit());
    let (mantissa, exponent) = match u.find(['e', 'E']) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    };
    let exponent_ok = |signed_required: bool| {
        exponent.is_none_or(|e| {
            let digits = e.strip_prefix(['-', '+']);
            if signed_required && digits.is_none() {
                return false;
            }
            digits_of(digits.unwrap_or(e), 10)
        })
    };
    match mantissa.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && body(frac) && exponent_ok(true),
        Some((int, frac)) => {
            int.starts_with(|c: char| c.is_ascii_digit())
                && body(int)
                && body(frac)
                && exponent_ok(false)
        }
        None => {
            exponent.is_some()
                && mantissa.starts_with(|c: char| c.is_ascii_digit())
                && body(mantissa)
                && exponent_ok(false)
        }
    }
}

/// ruamel's `construct_yaml_int`: underscores dropped, a sign, then `0b`, `0x`, `0o` or
/// Python's `int()`.
fn construct_int(text: &str) -> Result<String, String> {
    let bad = || bad_value(text, "int");
    let s = text.replace('_', "");
    let negative = s.starts_with('-');
    let u = s.strip_prefix(['-', '+']).unwrap_or(&s);
    if s.is_empty() {
        return Err(bad());
    }
    for (prefix, radix) in [("0b", 2), ("0x", 16), ("0o", 8)] {
        if let Some(digits) = u.strip_prefix(prefix) {
            return digits_of(digits, radix)
                .then(|| pynum::radix_to_decimal(negative, digits, radix))
                .ok_or_else(bad);
        }
    }
    let int = pynum::py_int(u).ok_or_else(bad)?;
    Ok(if negative && int != "0" {
        format!("-{int}")
    } else {
        int
    })
}

/// ruamel's `construct_yaml_float`: underscores dropped, `.inf` and `.nan` in any case,
/// else Python's `float()`.
fn construct_float(text: &str) -> Result<f64, String> {
    let s = text.replace('_', "").to_lowercase();
    let negative = s.starts_with('-');
    let u = s.strip_prefix(['-', '+']).unwrap_or(&s);
    let magnitude = match u {
        ".inf" => f64::INFINITY,
        ".nan" => return Ok(f64::NAN),
        _ if s.is_empty() => return Err(bad_value(text, "float")),
        _ => pynum::py_float(u).ok_or_else(|| bad_value(text, "float"))?,
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// Python's `base64.decodebytes` (non-strict `binascii.a2b_base64`) of ASCII text, as
/// lowercase hexadecimal: characters outside the alphabet are skipped, and a complete
/// padding ends the data.
fn base64_decode(text: &str) -> Result<String, String> {
    let bad = |why: &str| format!("failed to decode base64 data: {why}");
    if !text.is_ascii() {
        return Err("failed to convert base64 data into ascii".into());
    }
    let mut out = String::new();
    let (mut quad, mut left, mut pads, mut data) = (0u32, 0u32, 0u32, 0usize);
    for b in text.bytes() {
        if b == b'=' {
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        let v = u32::from(v);
        data += 1;
        pads = 0;
        let byte = match quad {
            0 => {
                left = v;
                None
            }
            1 => Some((left << 2) | (v >> 4)),
            2 => Some(((left & 0x0f) << 4) | (v >> 2)),
            _ => Some(((left & 0x03) << 6) | v),
        };
        if quad > 0 {
            left = v;
        }
        if let Some(byte) = byte {
            out.push_str(&format!("{:02x}", byte & 0xff));
        }
        quad = (quad + 1) % 4;
    }
    match quad {
        0 => Ok(out),
        1 => Err(bad(&format!(
            "Invalid base64-encoded string: number of data characters ({data}) cannot be \
             1 more than a multiple of 4"
        ))),
        _ => Err(bad("Incorrect padding")),
    }
}

/// Which mapping keys are "the same key" — Python's rules, since the reference builds a
/// `dict`: `1`, `1.0` and `true` collide; `1` and `"1"` do not; NaN never equals anything.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyId {
    Str(String),
    Number(String),
    Timestamp(String),
    Binary(String),
    Null,
    /// A list used as a key: Python's tuple.
    Tuple(Vec<KeyId>),
}

impl KeyId {
    /// The identity of a key node: a scalar, or a list of scalars.
    pub fn of_node(node: &Node) -> Option<KeyId> {
        match &node.value {
            Value::Scalar(s) => KeyId::of(s),
            Value::Seq(items) => items
                .iter()
                .map(|i| KeyId::of(i.as_scalar()?))
                .collect::<Option<Vec<_>>>()
                .map(KeyId::Tuple),
            Value::Map(_) | Value::Set(_) => None,
        }
    }

    pub fn of(scalar: &Scalar) -> Option<KeyId> {
        Some(match &scalar.resolved {
            Resolved::Str => KeyId::Str(scalar.text.clone()),
            Resolved::Null => KeyId::Null,
            // Python compares dates by value; their text is near enough for keys.
            Resolved::Timestamp { .. } => KeyId::Timestamp(scalar.text.clone()),
            Resolved::Binary(hex) => KeyId::Binary(hex.clone()),
            Resolved::Bool(b) => KeyId::Number(if *b { "1" } else { "0" }.into()),
            Resolved::Int(i) => KeyId::Number(i.clone()),
            Resolved::Float(f) if f.is_nan() => return None,
            Resolved::Float(f) if f.fract() == 0.0 => {
                KeyId::Number(pynum::float_to_int(*f).unwrap_or_else(|| pynum::float_repr(*f)))
            }
            Resolved::Float(f) => KeyId::Number(pynum::float_repr(*f)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Resolved) {
        let got = resolve(text.into(), Style::Plain, None, true)
            .unwrap()
            .resolved;
        match (&got, &expected) {
            (Resolved::Float(a), Resolved::Float(b)) if a.is_nan() && b.is_nan() => {}
            _ => assert_eq!(got, expected, "resolving {text:?}"),
        }
    }

    #[test]
    fn core_schema() {
        use Resolved::*;
        check("", Null);
        check("~", Null);
        check("NULL", Null);
        check("nul", Str);
        check("true", Bool(true));
        check("False", Bool(false));
        check("yes", Str);
        check("on", Str);
        check("TrUe", Str);
        check("3", Int("3".into()));
        check("-007", Int("-7".into()));
        check("0x1F", Int("31".into()));
        check("0o17", Int("15".into()));
        check("0o18", Str);
        check("0b1", Int("1".into()));
        check("1_000", Int("1000".into()));
        check("0x_1f", Int("31".into()));
        check("-0b1_1", Int("-3".into()));
        check("017", Int("17".into()));
        check("685.230_15e+03", Float(685230.15));
        check("2020-01-01", Timestamp { date_only: true });
        check("2020-1-1", Str);
        check(
            "2001-12-14t21:59:43.10-05:00",
            Timestamp { date_only: false },
        );
        check("12:30", Str);
        check("3.0", Float(3.0));
        check("3.", Float(3.0));
        check(".5", Float(0.5));
        check("1e3", Float(1000.0));
        check("-.inf", Float(f64::NEG_INFINITY));
        check(".NaN", Float(f64::NAN));
        check("1.2.3", Str);
        check("v2", Str);
        check("python:v2", Str);
        check(".", Str);
        check("e3", Str);
    }

    /// Texts the reference's resolver types but its constructor then refuses.
    #[test]
    fn refused_by_the_constructor() {
        for text in [
            "0x_",
            "0b_",
            "-_",
            "._",
            "2020-02-30",
            "0000-01-01",
            "2020-01-01 24:00:00",
        ] {
            assert!(
                resolve(text.into(), Style::Plain, None, true).is_err(),
                "{text:?}"
            );
        }
        assert!(resolve("2020-02-29".into(), Style::Plain, None, true).is_ok());
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let s = resolve("3".into(), Style::DoubleQuoted, None, false).unwrap();
        assert_eq!(s.resolved, Resolved::Str);
        assert!(s.quoted);
    }

    #[test]
    fn key_identity_follows_python() {
        let key = |t: &str| KeyId::of(&resolve(t.into(), Style::Plain, None, true).unwrap());
        assert_eq!(key("1"), key("1.0"));
        assert_eq!(key("1"), key("true"));
        assert_ne!(
            key("1"),
            KeyId::of(&resolve("1".into(), Style::SingleQuoted, None, false).unwrap())
        );
        assert_eq!(key(".nan"), None);
    }
}
