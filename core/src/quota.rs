//! [`Quota`]: how many requests a period allows, and how many may go back to back.

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use crate::duration::{parse_duration, unit_nanos};

/// `limit` requests per `period`, with up to `burst` requests back to back.
///
/// Under the generic cell rate algorithm this is an emission interval `T = period / limit`
/// (rounded **up** to a whole nanosecond, so rounding can only make the client slower, never
/// faster than allowed) and a tolerance `tau = T * (burst - 1)`. In any window of length `w`
/// at most `floor(w / T) + burst` requests conform.
///
/// The default burst is 1: requests are spaced evenly, which no server policy (fixed window,
/// sliding window or GCRA) can reject. Raise it with [`Quota::with_burst`] when the server is
/// known to tolerate bursts.
///
/// ```
/// use core::time::Duration;
/// use headway_core::Quota;
///
/// let q = Quota::per_minute(100).unwrap();
/// assert_eq!(q.emission_interval(), Duration::from_millis(600));
///
/// let q: Quota = "30000/h burst 10".parse().unwrap();
/// assert_eq!((q.limit(), q.burst()), (30000, 10));
/// assert!("0/s".parse::<Quota>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    limit: u32,
    period_ns: u64,
    burst: u32,
    t_ns: u64,
}

/// Why a quota could not be built. Every bad configuration is caught at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaError {
    /// `limit` was 0: nothing could ever be sent.
    ZeroLimit,
    /// `period` was 0: the rate would be infinite.
    ZeroPeriod,
    /// `burst` was 0: nothing could ever be sent.
    ZeroBurst,
    /// The period, or `T * (burst - 1)`, does not fit in `u64` nanoseconds.
    Overflow,
    /// A quota string was not of the form `<limit>/<period>[ burst <n>]`.
    Syntax,
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaError::ZeroLimit => "quota limit must be at least 1",
            QuotaError::ZeroPeriod => "quota period must be longer than zero",
            QuotaError::ZeroBurst => "quota burst must be at least 1",
            QuotaError::Overflow => "quota period or burst is too large",
            QuotaError::Syntax => {
                "quota must look like \"100/min\", \"10/s\", \"30000/h burst 10\" or \"5/250ms\""
            }
        })
    }
}

impl core::error::Error for QuotaError {}

impl Quota {
    /// `limit` requests per `period_ns` nanoseconds, burst 1.
    pub const fn from_nanos(limit: u32, period_ns: u64) -> Result<Quota, QuotaError> {
        if limit == 0 {
            return Err(QuotaError::ZeroLimit);
        }
        if period_ns == 0 {
            return Err(QuotaError::ZeroPeriod);
        }
        let t_ns = period_ns.div_ceil(limit as u64);
        Ok(Quota {
            limit,
            period_ns,
            burst: 1,
            t_ns,
        })
    }

    /// `limit` requests per `period`, burst 1.
    pub fn new(limit: u32, period: Duration) -> Result<Quota, QuotaError> {
        let ns = u64::try_from(period.as_nanos()).map_err(|_| QuotaError::Overflow)?;
        Quota::from_nanos(limit, ns)
    }

    /// `limit` requests per second.
    pub const fn per_second(limit: u32) -> Result<Quota, QuotaError> {
        Quota::from_nanos(limit, 1_000_000_000)
    }

    /// `limit` requests per minute.
    pub const fn per_minute(limit: u32) -> Result<Quota, QuotaError> {
        Quota::from_nanos(limit, 60_000_000_000)
    }

    /// `limit` requests per hour.
    pub const fn per_hour(limit: u32) -> Result<Quota, QuotaError> {
        Quota::from_nanos(limit, 3_600_000_000_000)
    }

    /// `limit` requests per day.
    pub const fn per_day(limit: u32) -> Result<Quota, QuotaError> {
        Quota::from_nanos(limit, 86_400_000_000_000)
    }

    /// The same rate with up to `burst` requests back to back.
    pub const fn with_burst(self, burst: u32) -> Result<Quota, QuotaError> {
        if burst == 0 {
            return Err(QuotaError::ZeroBurst);
        }
        if self.t_ns.checked_mul(burst as u64 - 1).is_none() {
            return Err(QuotaError::Overflow);
        }
        Ok(Quota { burst, ..self })
    }

    /// Rebuilds a quota from its stored parts (the parts of a quota that was valid).
    pub(crate) const fn from_parts(limit: u32, period_ns: u64, burst: u32, t_ns: u64) -> Quota {
        Quota {
            limit,
            period_ns,
            burst,
            t_ns,
        }
    }

    /// Requests allowed per period.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The period, in nanoseconds.
    pub const fn period_ns(&self) -> u64 {
        self.period_ns
    }

    /// The period.
    pub const fn period(&self) -> Duration {
        Duration::from_nanos(self.period_ns)
    }

    /// Requests that may go back to back.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// The emission interval `T`: the steady spacing between requests.
    pub const fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.t_ns)
    }

    /// `T` in nanoseconds.
    pub const fn emission_interval_ns(&self) -> u64 {
        self.t_ns
    }

    /// The tolerance `tau = T * (burst - 1)` in nanoseconds.
    pub const fn tolerance_ns(&self) -> u64 {
        // Checked when the burst was set: it does not overflow.
        self.t_ns * (self.burst as u64 - 1)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMED: &[(u64, &str)] = &[
            (86_400_000_000_000, "d"),
            (3_600_000_000_000, "h"),
            (60_000_000_000, "min"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
        ];
        write!(f, "{}/", self.limit)?;
        match NAMED.iter().find(|(ns, _)| self.period_ns % ns == 0) {
            Some(&(ns, unit)) if self.period_ns == ns => f.write_str(unit)?,
            Some(&(ns, unit)) => write!(f, "{}{}", self.period_ns / ns, unit)?,
            None => write!(f, "{}ns", self.period_ns)?,
        }
        if self.burst > 1 {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

impl FromStr for Quota {
    type Err = QuotaError;

    /// Parses `<limit>/<period>` with an optional burst: `"100/min"`, `"30000/h"`, `"10/s"`,
    /// `"5/250ms"`, `"1/1.5s"`, `"100/min burst 10"`, `"100/min;burst=10"`. The period is a
    /// bare unit (`s`, `min`, `hour`, ...) or a [duration](crate::duration).
    fn from_str(s: &str) -> Result<Quota, QuotaError> {
        let s = s.trim();
        let (rate, burst) = match s.find("burst") {
            Some(i) => (
                s[..i].trim_end().trim_end_matches([';', ',']),
                Some(s[i + "burst".len()..].trim_start().trim_start_matches('=')),
            ),
            None => (s, None),
        };
        let (limit, period) = rate.split_once('/').ok_or(QuotaError::Syntax)?;
        let limit: u32 = parse_digits(limit.trim()).ok_or(QuotaError::Syntax)?;
        let period = period.trim();
        let period_ns = match unit_nanos(period) {
            Some(ns) => ns,
            None => parse_duration(period).map_err(|e| match e {
                crate::duration::DurationError::Overflow => QuotaError::Overflow,
                _ => QuotaError::Syntax,
            })?,
        };
        let quota = Quota::from_nanos(limit, period_ns)?;
        match burst {
            None => Ok(quota),
            Some(value) => quota.with_burst(parse_digits(value.trim()).ok_or(QuotaError::Syntax)?),
        }
    }
}

/// A plain decimal `u32` (no sign, no spaces), or `None`.
fn parse_digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn constructors_reject_zero_and_overflow() {
        assert_eq!(Quota::per_second(0), Err(QuotaError::ZeroLimit));
        assert_eq!(Quota::from_nanos(1, 0), Err(QuotaError::ZeroPeriod));
        assert_eq!(
            Quota::per_second(1).unwrap().with_burst(0),
            Err(QuotaError::ZeroBurst)
        );
        assert_eq!(
            Quota::per_day(1).unwrap().with_burst(u32::MAX),
            Err(QuotaError::Overflow)
        );
        assert_eq!(
            Quota::new(1, Duration::from_secs(u64::MAX)),
            Err(QuotaError::Overflow)
        );
    }

    #[test]
    fn interval_rounds_up() {
        let q = Quota::per_second(3).unwrap();
        assert_eq!(q.emission_interval_ns(), 333_333_334);
        let q = Quota::per_minute(100).unwrap().with_burst(5).unwrap();
        assert_eq!(q.tolerance_ns(), 4 * 600_000_000);
    }

    #[test]
    fn parses_strings() {
        let cases: &[(&str, u32, u64, u32)] = &[
            ("100/min", 100, 60_000_000_000, 1),
            ("30000/h", 30000, 3_600_000_000_000, 1),
            ("10/s", 10, 1_000_000_000, 1),
            ("5/250ms", 5, 250_000_000, 1),
            ("1/1.5s", 1, 1_500_000_000, 1),
            ("100/min burst 10", 100, 60_000_000_000, 10),
            ("100/min;burst=10", 100, 60_000_000_000, 10),
            (" 7 / day ", 7, 86_400_000_000_000, 1),
        ];
        for &(s, limit, period, burst) in cases {
            let q: Quota = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(
                (q.limit(), q.period_ns(), q.burst()),
                (limit, period, burst),
                "{s}"
            );
        }
        for bad in [
            "",
            "100",
            "/s",
            "x/s",
            "-1/s",
            "10/parsec",
            "10/s burst",
            "10/s burst x",
        ] {
            assert_eq!(bad.parse::<Quota>(), Err(QuotaError::Syntax), "{bad}");
        }
        assert_eq!("0/s".parse::<Quota>(), Err(QuotaError::ZeroLimit));
        assert_eq!("1/0s".parse::<Quota>(), Err(QuotaError::ZeroPeriod));
        assert_eq!("1/s burst 0".parse::<Quota>(), Err(QuotaError::ZeroBurst));
    }

    #[test]
    fn displays_round_trip() {
        for s in [
            "100/min",
            "30000/h",
            "10/s",
            "5/250ms",
            "100/min burst 10",
            "3/7ns",
        ] {
            let q: Quota = s.parse().unwrap();
            assert_eq!(q.to_string(), s);
            assert_eq!(q.to_string().parse::<Quota>().unwrap(), q);
        }
    }
}
