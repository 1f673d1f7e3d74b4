//! Parsing of human and server duration strings into nanoseconds, and the one conversion of a
//! [`Duration`] into them ([`saturating_nanos`]).
//!
//! One grammar serves configuration (`"10m"`, `"1.5s"`), quota periods (`"min"`, `"hour"`) and
//! the Go-style durations some servers send in headers (`"6m0s"`, `"12ms"`): a sequence of
//! `<decimal number><unit>` terms, summed. Units, case-insensitive:
//!
//! | unit | meaning |
//! |---|---|
//! | `ns` | nanoseconds |
//! | `us`, `µs` | microseconds |
//! | `ms` | milliseconds |
//! | `s`, `sec`, `secs`, `second`, `seconds` | seconds |
//! | `m`, `min`, `mins`, `minute`, `minutes` | minutes |
//! | `h`, `hr`, `hrs`, `hour`, `hours` | hours |
//! | `d`, `day`, `days` | days |
//!
//! ```
//! use headway_core::duration::parse_duration;
//! assert_eq!(parse_duration("6m0s"), Ok(360_000_000_000));
//! assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
//! assert_eq!(parse_duration("12ms"), Ok(12_000_000));
//! assert!(parse_duration("12").is_err()); // a unit is required
//! ```

use core::fmt;
use core::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// The string was empty (or only whitespace).
    Empty,
    /// A term had no digits, or a character that is not part of the grammar appeared.
    Malformed,
    /// A number was not followed by a known unit.
    UnknownUnit,
    /// The total does not fit in `u64` nanoseconds (about 584 years).
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DurationError::Empty => "empty duration",
            DurationError::Malformed => {
                "malformed duration (expected terms like 1h, 30s, 1.5s, 250ms)"
            }
            DurationError::UnknownUnit => "unknown duration unit (use ns, us, ms, s, m, h or d)",
            DurationError::Overflow => "duration too large",
        })
    }
}

impl core::error::Error for DurationError {}

/// `duration` in nanoseconds, the unit of every time in this crate, saturated at `u64::MAX`
/// (about 584 years, beyond any wait that matters).
///
/// ```
/// use core::time::Duration;
/// use headway_core::duration::saturating_nanos;
/// assert_eq!(saturating_nanos(Duration::from_millis(1500)), 1_500_000_000);
/// assert_eq!(saturating_nanos(Duration::MAX), u64::MAX);
/// ```
pub const fn saturating_nanos(duration: Duration) -> u64 {
    let ns = duration.as_nanos();
    if ns > u64::MAX as u128 {
        u64::MAX
    } else {
        ns as u64
    }
}

/// Nanoseconds in one unit, or `None` if `unit` is not a known unit name.
///
/// ```
/// use headway_core::duration::unit_nanos;
/// assert_eq!(unit_nanos("min"), Some(60_000_000_000));
/// assert_eq!(unit_nanos("fortnight"), None);
/// ```
pub fn unit_nanos(unit: &str) -> Option<u64> {
    const UNITS: &[(&str, u64)] = &[
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("sec", 1_000_000_000),
        ("secs", 1_000_000_000),
        ("second", 1_000_000_000),
        ("seconds", 1_000_000_000),
        ("m", 60_000_000_000),
        ("min", 60_000_000_000),
        ("mins", 60_000_000_000),
        ("minute", 60_000_000_000),
        ("minutes", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("hr", 3_600_000_000_000),
        ("hrs", 3_600_000_000_000),
        ("hour", 3_600_000_000_000),
        ("hours", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
        ("day", 86_400_000_000_000),
        ("days", 86_400_000_000_000),
    ];
    UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        .map(|&(_, nanos)| nanos)
}

/// `int_part.frac_digits` units of `unit_ns` nanoseconds, rounded down, or `None` on overflow.
///
/// `frac` holds ASCII digits; digits beyond the 18th cannot matter for a `u64` result.
pub(crate) fn scale_decimal(int_part: &str, frac: &str, unit_ns: u64) -> Option<u64> {
    let mut whole: u64 = 0;
    for b in int_part.bytes() {
        whole = whole.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    let mut total = whole.checked_mul(unit_ns)?;
    // The fraction: digits d1 d2 ... dk mean (d1..dk) / 10^k units. Accumulate with u128 so
    // an 18-digit fraction times a day in nanoseconds cannot overflow.
    let mut num: u128 = 0;
    let mut den: u128 = 1;
    for b in frac.bytes().take(18) {
        num = num * 10 + u128::from(b - b'0');
        den *= 10;
    }
    let extra = num * u128::from(unit_ns) / den;
    total = total.checked_add(u64::try_from(extra).ok()?)?;
    Some(total)
}

/// Parses a duration such as `"10m"`, `"1h30m"`, `"1.5s"` or `"6m0s"` into nanoseconds.
///
/// Whitespace between terms, and between a number and its unit, is allowed. A bare number without a unit is rejected: a caller
/// that has a default unit (seconds in HTTP headers) handles bare numbers itself.
pub fn parse_duration(s: &str) -> Result<u64, DurationError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = s;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_part = &rest[..digits_end];
        rest = &rest[digits_end..];
        let mut frac = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            frac = &after_dot[..frac_end];
            rest = &after_dot[frac_end..];
        }
        if int_part.is_empty() && frac.is_empty() {
            return Err(DurationError::Malformed);
        }
        rest = rest.trim_start();
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        if unit.is_empty() {
            return Err(DurationError::UnknownUnit);
        }
        let unit_ns = unit_nanos(unit).ok_or(DurationError::UnknownUnit)?;
        let term = scale_decimal(int_part, frac, unit_ns).ok_or(DurationError::Overflow)?;
        total = total.checked_add(term).ok_or(DurationError::Overflow)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_sum() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1d 2h"), Ok(93_600_000_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("0.5ms"), Ok(500_000));
        assert_eq!(parse_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_duration("10 MIN"), Ok(600_000_000_000));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("5"), Err(DurationError::UnknownUnit));
        assert_eq!(parse_duration("5x"), Err(DurationError::UnknownUnit));
        assert_eq!(parse_duration("-5s"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("s"), Err(DurationError::Malformed));
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow)
        );
        assert_eq!(parse_duration("600000d"), Err(DurationError::Overflow));
    }
}
