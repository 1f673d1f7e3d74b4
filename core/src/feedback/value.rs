//! Reading single header values: counts, and waits (delta seconds, epochs, durations, dates).

use crate::duration::{parse_duration, scale_decimal, DurationError};
use crate::{NANOS_PER_MILLI, NANOS_PER_SEC};

use super::date::parse_http_date;

/// A bare number at or above this is an epoch in milliseconds.
pub const EPOCH_MILLIS_THRESHOLD: u64 = 1_000_000_000_000;
/// A bare number at or above this (and below [`EPOCH_MILLIS_THRESHOLD`]) is an epoch in seconds.
pub const EPOCH_SECONDS_THRESHOLD: u64 = 1_000_000_000;

/// How a bare number in a wait-valued header is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bare {
    /// Always delta seconds (fields whose name says "after").
    Delta,
    /// The epoch-vs-delta rule of the module docs.
    EpochOrDelta,
}

/// The instant that epochs and HTTP-dates are measured against.
///
/// Held in `u128` nanoseconds so that instants past the year 2554 (where `u64` nanoseconds
/// end) still subtract exactly; only the resulting wait saturates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Unix time in nanoseconds.
    pub(crate) unix_ns: u128,
    /// Unix time in whole seconds, for the calendar.
    pub(crate) unix_secs: i64,
}

impl Reference {
    pub(crate) fn from_millis(ms: u64) -> Reference {
        Reference {
            unix_ns: u128::from(ms) * u128::from(NANOS_PER_MILLI),
            // u64::MAX / 1000 fits in i64.
            unix_secs: (ms / 1000) as i64,
        }
    }

    pub(crate) fn from_secs(secs: u64) -> Reference {
        Reference {
            unix_ns: u128::from(secs) * u128::from(NANOS_PER_SEC),
            unix_secs: i64::try_from(secs).unwrap_or(i64::MAX),
        }
    }

    /// Nanoseconds from the reference until the instant `unix_ns`: zero if it has passed,
    /// saturating at `u64::MAX`.
    fn until(&self, unix_ns: u128) -> u64 {
        u64::try_from(unix_ns.saturating_sub(self.unix_ns)).unwrap_or(u64::MAX)
    }
}

/// Splits `digits[.digits]`; `None` for any other shape (signs, exponents, spaces, "NaN").
pub(crate) fn decimal(s: &str) -> Option<(&str, &str)> {
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        None if all_digits(s) => Some((s, "")),
        Some((int, frac)) if all_digits(int) && all_digits(frac) => Some((int, frac)),
        _ => None,
    }
}

/// The value of ASCII digits, saturating at `u64::MAX`.
fn saturating_int(digits: &str) -> u64 {
    digits.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    })
}

/// The first member of a possibly comma-joined value, without structured-field parameters.
pub(crate) fn first_member(s: &str) -> &str {
    let s = s.split(',').next().unwrap_or(s);
    s.split(';').next().unwrap_or(s).trim()
}

/// A non-negative count (a limit or a remaining quota), rounded down.
///
/// Reads the first member of a comma-joined value (`"100, 100;w=60"` is 100). A fraction is
/// dropped (Reddit sends `x-ratelimit-remaining: 598.0`; rounding down never claims more room
/// than the server gave). Anything that is not `digits[.digits]`, or whose whole part does not
/// fit in `u64`, is unusable.
pub(crate) fn count(s: &str) -> Option<u64> {
    let (int, _) = decimal(first_member(s))?;
    int.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Shopify's call limit, `used/limit` (`"32/40"`), as `(limit, remaining)`: what is left is
/// the limit less what is used, never below zero. Both sides are plain counts.
pub(crate) fn used_of(s: &str) -> Option<(u64, u64)> {
    let (used, limit) = s.trim().split_once('/')?;
    let used = count(used.trim()).filter(|_| !used.contains(','))?;
    let limit = count(limit.trim()).filter(|_| !limit.contains(','))?;
    Some((limit, limit.saturating_sub(used)))
}

/// A bare decimal number of seconds (or an epoch, under [`Bare::EpochOrDelta`]) as a wait.
fn number_wait(int: &str, frac: &str, bare: Bare, reference: Reference) -> u64 {
    let v = saturating_int(int);
    let unit = match bare {
        Bare::EpochOrDelta if v >= EPOCH_MILLIS_THRESHOLD => NANOS_PER_MILLI,
        Bare::EpochOrDelta if v >= EPOCH_SECONDS_THRESHOLD => NANOS_PER_SEC,
        _ => return scale_decimal(int, frac, NANOS_PER_SEC).unwrap_or(u64::MAX),
    };
    // In u128, even a saturated integer part times a second cannot overflow.
    let whole = u128::from(saturating_int(int)) * u128::from(unit);
    let fraction = scale_decimal("", frac, unit).unwrap_or(0);
    reference.until(whole + u128::from(fraction))
}

/// A wait in nanoseconds from now, unclamped and saturating, or `None` if unusable.
///
/// Accepted, in this order: a bare decimal number (see [`Bare`]); a duration with units
/// (`"6m0s"`, `"1s"`, `"12ms"`; one too large for `u64` saturates); an HTTP-date, measured
/// against `reference` and floored at zero; and, for a comma-joined value, its first member
/// when that is a number or a duration.
pub(crate) fn wait(s: &str, bare: Bare, reference: Reference) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(w) = wait_number_or_duration(s, bare, reference) {
        return Some(w);
    }
    if let Some(secs) = parse_http_date(s, reference.unix_secs) {
        let target = u128::try_from(secs).unwrap_or(0) * u128::from(NANOS_PER_SEC);
        return Some(reference.until(target));
    }
    if s.contains(',') {
        let first = first_member(s);
        return wait_number_or_duration(first, bare, reference);
    }
    None
}

fn wait_number_or_duration(s: &str, bare: Bare, reference: Reference) -> Option<u64> {
    if let Some((int, frac)) = decimal(s) {
        return Some(number_wait(int, frac, bare, reference));
    }
    match parse_duration(s) {
        Ok(ns) => Some(ns),
        Err(DurationError::Overflow) => Some(u64::MAX),
        Err(_) => None,
    }
}

/// A whole or decimal number of seconds (a policy window), or `None`.
pub(crate) fn seconds(s: &str) -> Option<u64> {
    let (int, frac) = decimal(s.trim())?;
    scale_decimal(int, frac, NANOS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NANOS_PER_SEC;
    const NOW_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn w(s: &str) -> Option<u64> {
        wait(s, Bare::EpochOrDelta, Reference::from_millis(NOW_MS))
    }

    #[test]
    fn counts() {
        assert_eq!(count("100"), Some(100));
        assert_eq!(count(" 7 "), Some(7));
        assert_eq!(count("100, 100;w=60"), Some(100));
        assert_eq!(count("0"), Some(0));
        assert_eq!(count("18446744073709551615"), Some(u64::MAX));
        assert_eq!(count("598.0"), Some(598));
        assert_eq!(count("1.99"), Some(1));
        assert_eq!(count("0.5"), Some(0));
        for bad in [
            "",
            "-1",
            "1.",
            ".5",
            "99999999999999999999.5",
            "1e3",
            "99999999999999999999",
            "NaN",
            "abc",
            "+1",
            "٣",
        ] {
            assert_eq!(count(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn used_of_limit() {
        assert_eq!(used_of("32/40"), Some((40, 8)));
        assert_eq!(used_of(" 40 / 40 "), Some((40, 0)));
        assert_eq!(used_of("50/40"), Some((40, 0)));
        for bad in [
            "", "/", "32/", "/40", "32", "a/40", "32/b", "-1/40", "1/2/3", "1,2/3",
        ] {
            assert_eq!(used_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn delta_seconds_and_decimals() {
        assert_eq!(w("5"), Some(5 * S));
        assert_eq!(w("0"), Some(0));
        assert_eq!(w("1.5"), Some(1_500_000_000));
        assert_eq!(w(" 30 "), Some(30 * S));
        assert_eq!(w("999999999"), Some(999_999_999 * S));
        assert_eq!(w("5, 10"), Some(5 * S));
    }

    #[test]
    fn epoch_thresholds() {
        // Just below 1e9: delta seconds (about 31.7 years).
        assert_eq!(w("999999999"), Some(999_999_999 * S));
        // 1e9 and above: epoch seconds, long past by 2026.
        assert_eq!(w("1000000000"), Some(0));
        assert_eq!(w("1767225660"), Some(60 * S));
        assert_eq!(w("1767225600.5"), Some(S / 2));
        // Just below 1e12: still epoch seconds, about the year 33658.
        assert_eq!(w("999999999999"), Some(u64::MAX));
        // 1e12 and above: epoch milliseconds.
        assert_eq!(w("1000000000000"), Some(0));
        assert_eq!(w("1767225601500"), Some(1_500_000_000));
        // Delta-only fields never read epochs.
        let r = Reference::from_millis(NOW_MS);
        assert_eq!(wait("1767225660", Bare::Delta, r), Some(1_767_225_660 * S));
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(w("6m0s"), Some(360 * S));
        assert_eq!(w("12ms"), Some(12_000_000));
        assert_eq!(w("1s"), Some(S));
        assert_eq!(w("600000000000h"), Some(u64::MAX));
        assert_eq!(w("Thu, 01 Jan 2026 00:01:00 GMT"), Some(60 * S));
        assert_eq!(w("Wed, 31 Dec 2025 23:00:00 GMT"), Some(0));
        assert_eq!(w("Thu, 01 Jan 1960 00:00:00 GMT"), Some(0));
        assert_eq!(w("Fri, 31 Dec 9999 23:59:59 GMT"), Some(u64::MAX));
        // Far beyond u64 nanoseconds, instants still subtract exactly.
        let r = Reference::from_secs(253_402_300_790);
        assert_eq!(
            wait("Fri, 31 Dec 9999 23:59:59 GMT", Bare::Delta, r),
            Some(9 * S)
        );
        assert_eq!(wait("253402300799", Bare::EpochOrDelta, r), Some(9 * S));
    }

    #[test]
    fn hostile_values() {
        for bad in [
            "", " ", "-5", "-0", "1e309", "NaN", "inf", "+5", "5.", ".5", "x,5", "０", "5 x",
        ] {
            assert_eq!(w(bad), None, "{bad:?}");
        }
        assert_eq!(w("99999999999999999999"), Some(u64::MAX));
        assert_eq!(w("99999999999999999999.9"), Some(u64::MAX));
        assert_eq!(
            wait(
                "99999999999999999999",
                Bare::Delta,
                Reference::from_millis(0)
            ),
            Some(u64::MAX)
        );
    }
}
