//! Kubernetes resource quantities (`resource.Quantity`): parsing, exact comparison, integer
//! views for scheduling and quota arithmetic, and the canonical string form.
//!
//! The grammar is the one documented on `k8s.io/apimachinery/pkg/api/resource.Quantity`:
//!
//! ```text
//! <quantity>        ::= <signedNumber><suffix>
//! <signedNumber>    ::= <number> | <sign><number>
//! <sign>            ::= "+" | "-"
//! <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//! <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//! <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>   (an integer exponent)
//! ```
//!
//! Values are held exactly in nano-units (10⁻⁹), the finest precision Kubernetes keeps:
//! anything finer is rounded away from zero so that a tiny non-zero request never becomes
//! zero. As in Kubernetes, `DecimalSI` and `BinarySI` values are capped at 2⁶³−1 units.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;
/// Kubernetes caps SI quantities at the largest int64, in whole units.
const MAX_SI_NANOS: i128 = (i64::MAX as i128) * NANO;
/// Decimal digits that surely fit an i128 (its max is about 1.7·10³⁸).
const MAX_I128_DIGITS: usize = 38;

/// Which suffix family a quantity was written in; the canonical form keeps the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of 1000 (`m`, `k`, `M`, ...) or no suffix.
    DecimalSI,
    /// Powers of 1024 (`Ki`, `Mi`, ...).
    BinarySI,
    /// Scientific notation (`1e3`).
    DecimalExponent,
}

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The empty string.
    #[error("quantity must not be empty")]
    Empty,
    /// The number part or the overall shape is wrong.
    #[error(
        "invalid quantity {0:?}: quantities must match the regular expression \
         '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format(String),
    /// The number is fine but the suffix is not one of the known ones.
    #[error("invalid quantity {input:?}: unable to parse quantity's suffix {suffix:?}")]
    Suffix {
        /// The whole input.
        input: String,
        /// The unrecognised suffix.
        suffix: String,
    },
    /// A scientific-notation value too large to represent.
    #[error("invalid quantity {0:?}: value is out of range")]
    OutOfRange(String),
}

/// A resource quantity. Equality, ordering and hashing are by numeric value, so `1Gi` equals
/// `1073741824`, as `Quantity.Cmp` does in Kubernetes.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

impl Quantity {
    /// Parse a quantity string such as `100m`, `0.5`, `128Mi`, `1G`, `1e3` or `-1`.
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let bad = || QuantityError::Format(s.to_string());
        let (negative, rest) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_digits = &rest[..int_len];
        let mut rest = &rest[int_len..];
        let mut frac_digits = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_digits = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        // The grammar needs at least one digit: "", ".", "-" and "Mi" are not numbers.
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(bad());
        }
        let suffix = rest;
        let (base, exponent, format) = interpret_suffix(suffix).ok_or_else(|| {
            if looks_like_suffix(suffix) {
                QuantityError::Suffix {
                    input: s.to_string(),
                    suffix: suffix.to_string(),
                }
            } else {
                bad()
            }
        })?;

        // digits × 10^-frac is the number; scale it to nano-units exactly.
        let mut digits: Vec<u8> = int_digits
            .bytes()
            .chain(frac_digits.bytes())
            .map(|b| b - b'0')
            .skip_while(|d| *d == 0)
            .collect();
        let frac = frac_digits.len() as i128;
        let shift = match base {
            Base::Ten => i128::from(exponent) + 9 - frac,
            Base::Two => {
                // exponent is 10·n with n ≤ 6, so 2^exponent fits a u64.
                digits = multiply_digits(&digits, 1u64 << exponent);
                9 - frac
            }
        };
        let magnitude = match scale_digits(&digits, shift) {
            Some(m) => m,
            None if format == Format::DecimalExponent => {
                return Err(QuantityError::OutOfRange(s.to_string()))
            }
            None => MAX_SI_NANOS,
        };
        let magnitude = if format == Format::DecimalExponent {
            magnitude
        } else {
            magnitude.min(MAX_SI_NANOS)
        };
        Ok(Quantity {
            nanos: if negative { -magnitude } else { magnitude },
            format,
        })
    }

    /// Read a quantity from JSON: a string (trimmed, as Kubernetes' `UnmarshalJSON` does) or a
    /// bare number.
    pub fn from_json(v: &Value) -> Result<Self, QuantityError> {
        match v {
            Value::String(s) => Self::parse(s.trim()),
            Value::Number(n) => Self::parse(&n.to_string()),
            other => Err(QuantityError::Format(other.to_string())),
        }
    }

    /// A quantity of `milli` thousandths, printed in decimal SI (like `NewMilliQuantity`).
    pub fn from_milli(milli: i128) -> Self {
        Quantity {
            nanos: milli.saturating_mul(1_000_000),
            format: Format::DecimalSI,
        }
    }

    /// A quantity of whole units in the given format (like `NewQuantity`).
    pub fn from_value(value: i128, format: Format) -> Self {
        Quantity {
            nanos: value.saturating_mul(NANO),
            format,
        }
    }

    /// The value in thousandths, rounded away from zero like Kubernetes' `MilliValue`.
    pub fn as_milli(&self) -> i128 {
        div_away_from_zero(self.nanos, 1_000_000)
    }

    /// The value in whole units, rounded away from zero like Kubernetes' `Value`.
    pub fn as_value(&self) -> i128 {
        div_away_from_zero(self.nanos, NANO)
    }

    /// The exact value in nano-units.
    pub fn as_nanos(&self) -> i128 {
        self.nanos
    }

    /// The suffix family the quantity prints in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True for any zero quantity (`0`, `0Mi`, `-0`).
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }
}

#[derive(Clone, Copy)]
enum Base {
    Ten,
    Two,
}

/// Map a suffix to (base, exponent, format); `None` if it is not a known suffix.
fn interpret_suffix(suffix: &str) -> Option<(Base, i64, Format)> {
    let decimal = |e| Some((Base::Ten, e, Format::DecimalSI));
    let binary = |e| Some((Base::Two, e, Format::BinarySI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let e: i64 = exp.parse().ok()?;
            Some((Base::Ten, e, Format::DecimalExponent))
        }
    }
}

/// Whether an unknown suffix still has the shape Kubernetes' scanner accepts
/// (`[eEinumkKMGTP]*[-+]?[0-9]*`), which decides between "bad suffix" and "bad format".
fn looks_like_suffix(suffix: &str) -> bool {
    let letters = suffix
        .bytes()
        .take_while(|b| b"eEinumkKMGTP".contains(b))
        .count();
    let rest = &suffix[letters..];
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    rest.bytes().all(|b| b.is_ascii_digit())
}

/// Multiply a big-endian decimal digit string by `m`, exactly.
fn multiply_digits(digits: &[u8], m: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(digits.len() + 20);
    let mut carry: u128 = 0;
    for &d in digits.iter().rev() {
        let p = u128::from(d) * u128::from(m) + carry;
        out.push((p % 10) as u8);
        carry = p / 10;
    }
    while carry > 0 {
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    out.reverse();
    out
}

/// `digits × 10^shift` as an integer, rounding a dropped fraction away from zero; `None` if
/// it does not fit an i128.
fn scale_digits(digits: &[u8], shift: i128) -> Option<i128> {
    if digits.is_empty() {
        return Some(0);
    }
    let to_int = |ds: &[u8]| -> Option<i128> {
        if ds.len() > MAX_I128_DIGITS + 1 {
            return None;
        }
        ds.iter().try_fold(0i128, |acc, d| {
            acc.checked_mul(10)?.checked_add(i128::from(*d))
        })
    };
    if shift >= 0 {
        if digits.len() as i128 + shift > MAX_I128_DIGITS as i128 + 1 {
            return None;
        }
        let mut v = to_int(digits)?;
        for _ in 0..shift {
            v = v.checked_mul(10)?;
        }
        Some(v)
    } else {
        let drop = usize::try_from(-shift).unwrap_or(usize::MAX);
        if drop >= digits.len() {
            // All significant digits are below a nano-unit: the value rounds up to 1n.
            return Some(1);
        }
        let (kept, dropped) = digits.split_at(digits.len() - drop);
        let v = to_int(kept)?;
        if dropped.iter().any(|d| *d != 0) {
            v.checked_add(1)
        } else {
            Some(v)
        }
    }
}

fn div_away_from_zero(n: i128, d: i128) -> i128 {
    let q = n / d;
    match (n % d).signum() {
        1 => q + 1,
        -1 => q - 1,
        _ => q,
    }
}

/// Remove factors of `base` from `n` (keeping its sign), returning the rest and the count.
fn remove_factors(mut n: i128, base: i128, limit: u32) -> (i128, u32) {
    let mut times = 0;
    while times < limit && n != 0 && n % base == 0 {
        n /= base;
        times += 1;
    }
    (n, times)
}

impl fmt::Display for Quantity {
    /// The canonical form, as `Quantity.String()` prints it: the largest suffix of the
    /// quantity's family that keeps the number an integer (`500m`, `1Gi`, `1536Mi`, `1k`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let binary = self.format == Format::BinarySI
            // Small and fractional binary values print in decimal to avoid rounding.
            && self.nanos.unsigned_abs() >= (1024 * NANO).unsigned_abs()
            && self.nanos % NANO == 0;
        if binary {
            let (amount, times) = remove_factors(self.nanos / NANO, 1024, 6);
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                .get(times as usize)
                .copied()
                .unwrap_or("");
            return write!(f, "{amount}{suffix}");
        }
        // Decimal: mantissa × 10^exponent with the exponent a multiple of 3.
        let (mut amount, times) = remove_factors(self.nanos, 10, u32::MAX);
        let mut exponent = times as i32 - 9;
        match exponent.rem_euclid(3) {
            1 => {
                amount *= 10;
                exponent -= 1;
            }
            2 => {
                amount *= 100;
                exponent -= 2;
            }
            _ => {}
        }
        if self.format == Format::DecimalExponent {
            return if exponent == 0 {
                write!(f, "{amount}")
            } else {
                write!(f, "{amount}e{exponent}")
            };
        }
        // Only reachable through from_milli/from_value beyond the SI cap: fold into "E".
        while exponent > 18 {
            amount *= 1000;
            exponent -= 3;
        }
        let suffix = match exponent {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        write!(f, "{amount}{suffix}")
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(deserializer)?;
        Quantity::from_json(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn canon(s: &str) -> String {
        q(s).to_string()
    }

    #[test]
    fn parses_the_documented_grammar() {
        assert_eq!(q("100m").as_milli(), 100);
        assert_eq!(q("0.5").as_milli(), 500);
        assert_eq!(q("1").as_value(), 1);
        assert_eq!(q("128Mi").as_value(), 128 * 1024 * 1024);
        assert_eq!(q("1G").as_value(), 1_000_000_000);
        assert_eq!(q("1e3").as_value(), 1000);
        assert_eq!(q("1E3").as_value(), 1000);
        assert_eq!(q("1e+3").as_value(), 1000);
        assert_eq!(q("1500e-3").as_value(), 2); // 1.5 rounds up
        assert_eq!(q("1.5Gi").as_value(), 1_610_612_736);
        assert_eq!(q("-1").as_value(), -1);
        assert_eq!(q("+2k").as_value(), 2000);
        assert_eq!(q(".5").as_milli(), 500);
        assert_eq!(q("5.").as_value(), 5);
        assert_eq!(q("1n").as_nanos(), 1);
        assert_eq!(q("3u").as_nanos(), 3000);
        assert_eq!(q("2E").as_value(), 2_000_000_000_000_000_000);
        assert_eq!(q("1Ei").as_value(), 1 << 60);
        assert_eq!(q("007").as_value(), 7);
    }

    #[test]
    fn rejects_junk() {
        assert_eq!(Quantity::parse(""), Err(QuantityError::Empty));
        for bad in [
            "1.2.3", "12XB", "Mi", ".", "-", "+", "1 ", " 1", "1e", "1Ki2", "abc", "1.1.M", "0.1mi",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            Quantity::parse("12XB"),
            Err(QuantityError::Format(ref s)) if s == "12XB"
        ));
        assert!(matches!(
            Quantity::parse("5kk"),
            Err(QuantityError::Suffix { ref suffix, .. }) if suffix == "kk"
        ));
        assert!(Quantity::parse("1e400").is_err());
        assert!(Quantity::parse("0.5Mi").is_ok());
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("1000"), "1k");
        assert_eq!(canon("1500"), "1500");
        assert_eq!(canon("100m"), "100m");
        assert_eq!(canon("0.1"), "100m");
        assert_eq!(canon("128Mi"), "128Mi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("0.5Gi"), "512Mi");
        assert_eq!(canon("0.5Ki"), "512");
        assert_eq!(canon("1Ki"), "1Ki");
        assert_eq!(canon("0.1Ki"), "102400m");
        assert_eq!(canon("-1Ki"), "-1Ki");
        assert_eq!(canon("1G"), "1G");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("1.5e3"), "1500");
        assert_eq!(canon("1e-3"), "1e-3");
        assert_eq!(canon("12e6"), "12e6");
        assert_eq!(canon("-1"), "-1");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("0Mi"), "0");
        assert_eq!(canon("-0"), "0");
        assert_eq!(canon("10000000n"), "10m");
        assert_eq!(canon("1.0"), "1");
    }

    #[test]
    fn rounds_below_nano_away_from_zero() {
        assert_eq!(q("0.0000000001").as_nanos(), 1);
        assert_eq!(canon("0.0000000001"), "1n");
        assert_eq!(q("-0.0000000001").as_nanos(), -1);
        assert_eq!(q("1.0000000001").as_nanos(), 1_000_000_001);
        // 1e-10 Ki = 1.024e-7 exactly, so 103n, not 1024n.
        assert_eq!(q("0.0000000001Ki").as_nanos(), 103);
        assert_eq!(q("1.5m").as_milli(), 2);
        assert_eq!(q("-1.5m").as_milli(), -2);
        assert_eq!(q("100m").as_value(), 1);
    }

    #[test]
    fn si_values_are_capped_like_kubernetes() {
        let max = i128::from(i64::MAX);
        assert_eq!(q("100E").as_value(), max);
        assert_eq!(
            q("99999999999999999999999999999999999999999999").as_value(),
            max
        );
        assert_eq!(q("-100Ei").as_value(), -max);
        assert_eq!(canon("100E"), "9223372036854775807");
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("100m") < q("0.2"));
        assert!(q("1Ki") > q("1k"));
        assert!(q("-1") < q("0"));
        let mut v = [q("1Gi"), q("500m"), q("2"), q("1M")];
        v.sort();
        let printed: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(printed, ["500m", "2", "1M", "1Gi"]);
    }

    #[test]
    fn json_round_trip() {
        let v: Quantity = serde_json::from_str("\"1.5Gi\"").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"1536Mi\"");
        let n: Quantity = serde_json::from_str("2").unwrap();
        assert_eq!(n.as_value(), 2);
        assert!(serde_json::from_str::<Quantity>("\"x\"").is_err());
        assert_eq!(Quantity::from_milli(250).to_string(), "250m");
        assert_eq!(
            Quantity::from_value(2048, Format::BinarySI).to_string(),
            "2Ki"
        );
    }
}
