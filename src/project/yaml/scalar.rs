//! What a YAML scalar means: YAML 1.2 core-schema resolution of plain scalars
//! (`yes` and `on` stay strings), the core tags, and key identity for duplicate checks.

use super::events::Style;
use super::{Resolved, Scalar};
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
    let quoted = style != Style::Plain;
    let resolved = match tag.map(Tagged::of) {
        None | Some(Tagged::NonSpecific) if implicit => plain(&text),
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

/// The core schema's implicit resolution of a plain scalar.
fn plain(text: &str) -> Resolved {
    // Only these first characters can start a null, bool, int or float.
    let may_be_special = text.bytes().next().is_none_or(|b| {
        matches!(
            b,
            b'0'..=b'9' | b'+' | b'-' | b'.' | b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F'
        )
    });
    if !may_be_special {
        return Resolved::Str;
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(int) = int(text) {
        return Resolved::Int(int);
    }
    match float(text) {
        Some(f) => Resolved::Float(f),
        None => Resolved::Str,
    }
}

/// A scalar with an explicit core tag (`!!str 3`, `!!int "3"`).
fn tagged(text: &str, suffix: &str) -> Result<Resolved, String> {
    let bad = || format!("the value {text:?} is not valid for the tag '!!{suffix}'");
    Ok(match suffix {
        "str" => Resolved::Str,
        "null" => Resolved::Null,
        "bool" => match plain(text) {
            b @ Resolved::Bool(_) => b,
            _ => return Err(bad()),
        },
        "int" => Resolved::Int(int(text).ok_or_else(bad)?),
        "float" => match plain(text) {
            Resolved::Float(f) => Resolved::Float(f),
            Resolved::Int(i) => Resolved::Float(pynum::py_float(&i).ok_or_else(bad)?),
            _ => return Err(bad()),
        },
        _ => {
            return Err(format!(
                "the tag '!!{suffix}' is not supported in project.yaml"
            ));
        }
    })
}

/// Core-schema integers: decimal, `0o` octal, `0x` hexadecimal.
fn int(text: &str) -> Option<String> {
    if let Some(hex) = text.strip_prefix("0x") {
        return (!hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| pynum::radix_to_decimal(false, hex, 16));
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return (!oct.is_empty() && oct.chars().all(|c| ('0'..='7').contains(&c)))
            .then(|| pynum::radix_to_decimal(false, oct, 8));
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pynum::normalise_decimal(negative, digits))
}

/// Core-schema floats: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` and the
/// infinities (NaN is handled with the other fixed words).
fn float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Some(if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && digits(frac),
        Some((int, frac)) => digits(int) && digits(frac),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if mantissa_ok && exponent_ok {
        text.parse().ok()
    } else {
        None
    }
}

/// Which mapping keys are "the same key" — Python's rules, since the reference builds a
/// `dict`: `1`, `1.0` and `true` collide; `1` and `"1"` do not; NaN never equals anything.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyId {
    Str(String),
    Number(String),
    Null,
}

impl KeyId {
    pub fn of(scalar: &Scalar) -> Option<KeyId> {
        Some(match &scalar.resolved {
            Resolved::Str => KeyId::Str(scalar.text.clone()),
            Resolved::Null => KeyId::Null,
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
        check("0b1", Str);
        check("1_000", Str);
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
