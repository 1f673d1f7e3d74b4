//! HTTP-dates (RFC 9110, section 5.6.7) and the civil calendar arithmetic behind them.
//!
//! All three formats a recipient must accept are read:
//!
//! - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
//! - RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit year, see [`parse_http_date`])
//! - asctime: `Sun Nov  6 08:49:37 1994`
//!
//! Reading is a little lenient where that cannot change the meaning: names are matched without
//! regard to case, runs of spaces count as one, a one-digit day is accepted, the weekday is not
//! checked against the date, and the zone may be `GMT`, `UTC`, `UT`, `Z`, `+0000` or `-0000`
//! (any other zone is rejected rather than guessed). Years run from 1 to 9999; dates before
//! 1970 give negative unix times.

/// Seconds in one day.
const SECS_PER_DAY: i64 = 86_400;

/// Days from 0001-01-01 to 1970-01-01 in the proleptic Gregorian calendar.
const DAYS_TO_UNIX_EPOCH: i64 = 719_162;

/// Days before the first of each month in a common year.
const DAYS_BEFORE_MONTH: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const WEEKDAYS_LONG: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to `year-month-day` (month 1..=12, day 1..=31), negative before 1970.
///
/// `year` must lie within a few hundred million years of today so nothing overflows; every
/// caller bounds it far tighter.
pub(crate) fn days_from_unix_epoch(year: i64, month: u32, day: u32) -> i64 {
    let y = year - 1;
    let days_before_year = 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400);
    let month_index = (month.clamp(1, 12) - 1) as usize;
    let leap_day = i64::from(month > 2 && is_leap(year));
    days_before_year + DAYS_BEFORE_MONTH[month_index] + leap_day + i64::from(day)
        - 1
        - DAYS_TO_UNIX_EPOCH
}

/// The calendar year containing the unix time `secs`.
pub(crate) fn year_of(secs: i64) -> i64 {
    let days = secs.div_euclid(SECS_PER_DAY);
    // 146097 days make 400 Gregorian years; the estimate is off by at most one either way.
    let mut year = 1970 + (days.saturating_mul(400)).div_euclid(146_097);
    while days_from_unix_epoch(year, 1, 1) > days {
        year -= 1;
    }
    while days_from_unix_epoch(year + 1, 1, 1) <= days {
        year += 1;
    }
    year
}

/// `1` to `max_len` ASCII digits as a number.
fn digits(s: &str, min_len: usize, max_len: usize) -> Option<u32> {
    if s.len() < min_len || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

fn month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

fn is_weekday(s: &str) -> bool {
    let s = s.strip_suffix(',').unwrap_or(s);
    WEEKDAYS
        .iter()
        .chain(WEEKDAYS_LONG.iter())
        .any(|d| d.eq_ignore_ascii_case(s))
}

fn is_gmt(s: &str) -> bool {
    ["gmt", "utc", "ut", "z", "+0000", "-0000"]
        .iter()
        .any(|z| z.eq_ignore_ascii_case(s))
}

/// `HH:MM:SS` as seconds into the day. A leap second (`:60`) is accepted.
fn time_of_day(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h = digits(parts.next()?, 2, 2)?;
    let m = digits(parts.next()?, 2, 2)?;
    let sec = digits(parts.next()?, 2, 2)?;
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec))
}

fn unix_secs(year: i64, month: u32, day: u32, time: i64) -> Option<i64> {
    if !(1..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_unix_epoch(year, month, day) * SECS_PER_DAY + time)
}

/// RFC 9110's rule for a two-digit year: the year with those last two digits that is not
/// more than 50 years after `reference_year`.
fn full_year(two_digits: u32, reference_year: i64) -> i64 {
    let century = reference_year - reference_year.rem_euclid(100);
    let year = century + i64::from(two_digits);
    if year > reference_year + 50 {
        year - 100
    } else {
        year
    }
}

/// Parses an HTTP-date into unix seconds (negative before 1970).
///
/// `reference_secs` (unix seconds) is used only to place RFC 850's two-digit years: a year that
/// would be more than 50 years after the reference's year is taken as the most recent past year
/// with the same last two digits, as RFC 9110 requires. Returns `None` for anything that is not
/// a valid date in one of the three formats.
///
/// ```
/// use headway_core::feedback::parse_http_date;
/// assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 0), Some(784_111_777));
/// assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 1_767_225_600), Some(784_111_777));
/// assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994", 0), Some(784_111_777));
/// assert_eq!(parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT", 0), None);
/// ```
pub fn parse_http_date(value: &str, reference_secs: i64) -> Option<i64> {
    let mut tokens = [""; 6];
    let mut count = 0;
    for token in value.split_ascii_whitespace() {
        if count == tokens.len() {
            return None;
        }
        tokens[count] = token;
        count += 1;
    }
    match count {
        // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
        6 => {
            let [weekday, day, mon, year, time, zone] = tokens;
            if !is_weekday(weekday) || !is_gmt(zone) {
                return None;
            }
            let year = i64::from(digits(year, 4, 4)?);
            unix_secs(year, month(mon)?, digits(day, 1, 2)?, time_of_day(time)?)
        }
        // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`
        4 => {
            let [weekday, date, time, zone, _, _] = tokens;
            if !is_weekday(weekday) || !is_gmt(zone) {
                return None;
            }
            let mut parts = date.split('-');
            let day = digits(parts.next()?, 1, 2)?;
            let mon = month(parts.next()?)?;
            let year_text = parts.next()?;
            if parts.next().is_some() {
                return None;
            }
            let year = match year_text.len() {
                2 => full_year(digits(year_text, 2, 2)?, year_of(reference_secs)),
                _ => i64::from(digits(year_text, 4, 4)?),
            };
            unix_secs(year, mon, day, time_of_day(time)?)
        }
        // asctime: `Sun Nov  6 08:49:37 1994`
        5 => {
            let [weekday, mon, day, time, year, _] = tokens;
            if !is_weekday(weekday) || weekday.ends_with(',') {
                return None;
            }
            let year = i64::from(digits(year, 4, 4)?);
            unix_secs(year, month(mon)?, digits(day, 1, 2)?, time_of_day(time)?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_anchors() {
        assert_eq!(days_from_unix_epoch(1970, 1, 1), 0);
        assert_eq!(days_from_unix_epoch(2000, 3, 1), 11_017);
        assert_eq!(days_from_unix_epoch(1969, 12, 31), -1);
        assert_eq!(
            days_from_unix_epoch(2026, 1, 1) * SECS_PER_DAY,
            1_767_225_600
        );
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(-1), 1969);
        assert_eq!(year_of(1_767_225_600), 2026);
        assert_eq!(year_of(1_767_225_599), 2025);
        assert_eq!(year_of(951_782_400), 2000); // 2000-02-29
    }

    #[test]
    fn three_formats() {
        let t = 784_111_777;
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 0), Some(t));
        assert_eq!(
            parse_http_date("sun,  06 NOV 1994 08:49:37 utc", 0),
            Some(t)
        );
        assert_eq!(parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT", 0), Some(t));
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 0),
            Some(t)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-1994 08:49:37 GMT", 0),
            Some(t)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994", 0), Some(t));
        assert_eq!(parse_http_date("Sun Nov 06 08:49:37 1994", 0), Some(t));
    }

    #[test]
    fn two_digit_years_follow_the_fifty_year_rule() {
        let in_2026 = 1_767_225_600;
        // 2070 is 44 years after 2026: kept in this century.
        let y70 = parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT", in_2026).unwrap();
        assert_eq!(year_of(y70), 2070);
        // 2076 is exactly 50 years on: not *more* than 50, so kept.
        let y76 = parse_http_date("Wednesday, 01-Jan-76 00:00:00 GMT", in_2026).unwrap();
        assert_eq!(year_of(y76), 2076);
        // 2077 would be 51 years on: the previous century instead.
        let y77 = parse_http_date("Saturday, 01-Jan-77 00:00:00 GMT", in_2026).unwrap();
        assert_eq!(year_of(y77), 1977);
        let y26 = parse_http_date("Thursday, 01-Jan-26 00:00:00 GMT", in_2026).unwrap();
        assert_eq!(y26, in_2026);
    }

    #[test]
    fn extremes_and_invalid_dates() {
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT", 0),
            Some(253_402_300_799)
        );
        assert_eq!(
            parse_http_date("Mon, 01 Jan 0001 00:00:00 GMT", 0),
            Some(-62_135_596_800)
        );
        assert_eq!(
            parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT", 0),
            Some(-1)
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT", 0),
            Some(1_709_164_800)
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 2023 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 0000 08:49:37 GMT",
            "Sun, 06 Nov 10000 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sunday, 06-Nov-94-1 08:49:37 GMT",
            "Sun, Nov  6 08:49:37 1994",
            "Sun, ０６ Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad, 0), None, "{bad:?}");
        }
    }
}
