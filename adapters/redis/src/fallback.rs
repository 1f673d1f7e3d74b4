//! What a [`crate::RedisStore`] does when Redis is lost mid-run ([`OnOutage`]), and the
//! local limiter it falls back to: each key's quotas cut to a declared [`Share`], reserved
//! by `headway-core`'s `Tiers` on this process's monotonic clock.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use headway_core::{Quota, QuotaError, Tiers};
use headway_engine::{SharedError, SharedSlot};

/// What a process's part of a quota is while it goes on without Redis: `numerator /
/// denominator` of each quota's rate (and of its burst, at least one request), for example
/// `1/4` for one of four processes sharing the quota.
///
/// ```
/// use headway_redis::Share;
///
/// let share: Share = "1/4".parse().unwrap();
/// assert_eq!(share, Share::one_of(4).unwrap());
/// assert!("5/4".parse::<Share>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    numerator: u32,
    denominator: u32,
}

/// Why a [`Share`] could not be built: it must be a fraction `a/b` with `1 <= a <= b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareError(String);

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid share {:?}: expected a fraction a/b with 1 <= a <= b, like 1/4",
            self.0
        )
    }
}

impl std::error::Error for ShareError {}

impl Share {
    /// `numerator / denominator` of each quota; `None` unless `1 <= numerator <=
    /// denominator`.
    pub fn new(numerator: u32, denominator: u32) -> Option<Share> {
        (numerator >= 1 && numerator <= denominator).then_some(Share {
            numerator,
            denominator,
        })
    }

    /// One of `processes` equal parts; `None` for zero processes.
    pub fn one_of(processes: u32) -> Option<Share> {
        Share::new(1, processes)
    }

    /// The numerator.
    pub fn numerator(&self) -> u32 {
        self.numerator
    }

    /// The denominator.
    pub fn denominator(&self) -> u32 {
        self.denominator
    }

    /// `quota` cut to this share: the same limit over a period `denominator / numerator`
    /// times longer (rounded up, the safe side), and the burst cut likewise (rounded down,
    /// at least 1).
    ///
    /// ```
    /// use headway_core::Quota;
    /// use headway_redis::Share;
    ///
    /// let q: Quota = "100/s burst 8".parse().unwrap();
    /// let part = Share::one_of(4).unwrap().of(q).unwrap();
    /// assert_eq!(part.emission_interval_ns(), 40_000_000);
    /// assert_eq!(part.burst(), 2);
    /// ```
    pub fn of(&self, quota: Quota) -> Result<Quota, QuotaError> {
        let (num, den) = (u64::from(self.numerator), u64::from(self.denominator));
        let period = quota
            .period_ns()
            .checked_mul(den)
            .ok_or(QuotaError::Overflow)?
            .div_ceil(num);
        let burst = (u64::from(quota.burst()) * num / den).max(1);
        // At most the quota's own burst, which is a u32.
        let burst = u32::try_from(burst).map_err(|_| QuotaError::Overflow)?;
        Quota::from_nanos(quota.limit(), period)?.with_burst(burst)
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

impl FromStr for Share {
    type Err = ShareError;

    /// `a/b`, or a whole `1` for the full quota.
    fn from_str(s: &str) -> Result<Share, ShareError> {
        let bad = || ShareError(s.to_string());
        let t = s.trim();
        let (a, b) = t.split_once('/').unwrap_or((t, "1"));
        let a = a.trim().parse().map_err(|_| bad())?;
        let b = b.trim().parse().map_err(|_| bad())?;
        Share::new(a, b).ok_or_else(bad)
    }
}

/// What a [`crate::RedisStore`] does with a request when Redis cannot be reached (or does
/// not answer within the store's timeout) after it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnOutage {
    /// The request fails with [`SharedError::Unavailable`] (the client's
    /// `ClientError::Shared`) and nothing is sent: the quota is never exceeded, and work
    /// stops until Redis is back.
    #[default]
    Fail,
    /// The process goes on alone at this share of each quota, on a local limiter, and
    /// checks in the background whether Redis is back; once it is, reservations go to
    /// Redis again. Declare the share so that the processes' shares add up to at most the
    /// quota (`1/N` for N processes). What it costs: the processes no longer space their
    /// requests against one another, so the sum of their shares arrives unevenly, and a
    /// server that allows no burst may answer some requests 429 during the outage and just
    /// after it (the local turns taken before Redis came back are not known to Redis).
    Local(Share),
}

/// Why an [`OnOutage`] could not be read from text: it must be `fail`, `share:N` (one of
/// `N` equal parts) or `share:A/B`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnOutageError {
    /// Neither `fail` nor `share:...`.
    Unknown(String),
    /// `share:` followed by no valid share.
    Share(ShareError),
}

impl fmt::Display for OnOutageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnOutageError::Unknown(s) => write!(
                f,
                "unknown outage behaviour {s:?}: expected fail, share:N (a quota / N each) \
                 or share:A/B"
            ),
            OnOutageError::Share(e) => write!(f, "share: {e}"),
        }
    }
}

impl std::error::Error for OnOutageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OnOutageError::Unknown(_) => None,
            OnOutageError::Share(e) => Some(e),
        }
    }
}

impl FromStr for OnOutage {
    type Err = OnOutageError;

    /// `fail` is [`OnOutage::Fail`]; `share:N` is [`OnOutage::Local`] at one of `N` equal
    /// parts (`share:4` is a quarter each, for four processes) and `share:A/B` at `A/B`.
    ///
    /// ```
    /// use headway_redis::{OnOutage, Share};
    ///
    /// assert_eq!("fail".parse(), Ok(OnOutage::Fail));
    /// assert_eq!("share:4".parse(), Ok(OnOutage::Local(Share::one_of(4).unwrap())));
    /// assert_eq!("share:2/3".parse(), Ok(OnOutage::Local(Share::new(2, 3).unwrap())));
    /// assert!("share:0".parse::<OnOutage>().is_err());
    /// assert!("local".parse::<OnOutage>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<OnOutage, OnOutageError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("fail") {
            return Ok(OnOutage::Fail);
        }
        let Some(share) = t.strip_prefix("share:") else {
            return Err(OnOutageError::Unknown(s.to_string()));
        };
        let share = share.trim();
        let parsed = if share.contains('/') {
            share.parse()
        } else {
            share
                .parse()
                .ok()
                .and_then(Share::one_of)
                .ok_or_else(|| ShareError(share.to_string()))
        };
        parsed.map(OnOutage::Local).map_err(OnOutageError::Share)
    }
}

impl fmt::Display for OnOutage {
    /// The text [`OnOutage::from_str`] reads: `fail` or `share:A/B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnOutage::Fail => f.write_str("fail"),
            OnOutage::Local(share) => write!(f, "share:{share}"),
        }
    }
}

/// The local limiter of a store with [`OnOutage::Local`], and whether Redis is lost.
pub(crate) struct Fallback {
    share: Share,
    down: AtomicBool,
    epoch: Instant,
    keys: Mutex<Keys>,
}

/// Each key's local tiers, built for the quotas they were asked for.
struct Keys {
    map: HashMap<String, (Vec<Quota>, Arc<Tiers>)>,
    /// The size at which idle keys are dropped next.
    prune_at: usize,
}

/// Keys kept before idle ones are first dropped.
const PRUNE_FROM: usize = 64;

impl Fallback {
    pub(crate) fn new(share: Share) -> Fallback {
        Fallback {
            share,
            down: AtomicBool::new(false),
            epoch: Instant::now(),
            keys: Mutex::new(Keys {
                map: HashMap::new(),
                prune_at: PRUNE_FROM,
            }),
        }
    }

    /// Whether requests go to the local limiter now.
    pub(crate) fn is_down(&self) -> bool {
        // Acquire: pairs with the Release stores in `set_down`.
        self.down.load(Ordering::Acquire)
    }

    /// Marks Redis lost (`true`) or back; returns the previous state.
    pub(crate) fn set_down(&self, down: bool) -> bool {
        // AcqRel: the flag is the only state shared through it; see `is_down`.
        self.down.swap(down, Ordering::AcqRel)
    }

    fn lock(&self) -> MutexGuard<'_, Keys> {
        // A panic elsewhere cannot leave the map half-changed: every change is one call.
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `n` cells of `key` at this process's share of `quotas`, as the store
    /// would in Redis: refused when the turn is more than `max_wait_ns` away.
    pub(crate) fn reserve(
        &self,
        key: &str,
        quotas: &[Quota],
        n: u32,
        max_wait_ns: u64,
    ) -> Result<SharedSlot, SharedError> {
        let now = headway_core::duration::saturating_nanos(self.epoch.elapsed());
        let tiers = self.tiers(key, quotas, now)?;
        let mut reservation = tiers.reserve_n(n, now).map_err(SharedError::Impossible)?;
        let wait_ns = reservation.wait_ns(now);
        if wait_ns > max_wait_ns {
            // Just made under the same call, it is the latest: it goes back.
            tiers.refund(&mut reservation);
            return Err(SharedError::WaitTooLong { wait_ns });
        }
        Ok(SharedSlot::new(wait_ns, move || {
            tiers.refund(&mut reservation);
        }))
    }

    /// Nothing on `key` is reserved locally before `for_ns` from now (a server's pause
    /// heard while the store runs on its share). A key not reserved locally yet has nothing
    /// to hold.
    pub(crate) fn pause(&self, key: &str, for_ns: u64) {
        let now = headway_core::duration::saturating_nanos(self.epoch.elapsed());
        if let Some((_, tiers)) = self.lock().map.get(key) {
            tiers.defer_until(now.saturating_add(for_ns));
        }
    }

    /// `key`'s local tiers for `quotas`, made (or rebuilt for other quotas) on demand.
    fn tiers(&self, key: &str, quotas: &[Quota], now: u64) -> Result<Arc<Tiers>, SharedError> {
        let mut keys = self.lock();
        if let Some((held, tiers)) = keys.map.get(key) {
            if held == quotas {
                return Ok(Arc::clone(tiers));
            }
        }
        let cut = quotas
            .iter()
            .map(|q| self.share.of(*q))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SharedError::Unsupported(format!("{} of a quota: {e}", self.share)))?;
        let tiers = Arc::new(
            Tiers::new(&cut).map_err(|e| SharedError::Unsupported(format!("quotas: {e}")))?,
        );
        if keys.map.len() >= keys.prune_at {
            // A key whose tiers are idle is the same as a fresh one: drop it.
            keys.map.retain(|_, (_, t)| !t.is_idle(now));
            keys.prune_at = (keys.map.len() * 2).max(PRUNE_FROM);
        }
        keys.map
            .insert(key.to_string(), (quotas.to_vec(), Arc::clone(&tiers)));
        Ok(tiers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_and_cut_quotas() {
        assert_eq!("1/4".parse(), Ok(Share::one_of(4).unwrap()));
        assert_eq!(" 2 / 3 ".parse(), Ok(Share::new(2, 3).unwrap()));
        assert_eq!("1".parse(), Ok(Share::one_of(1).unwrap()));
        for bad in ["0/4", "5/4", "1/0", "x", "1/4/2", "-1/4", ""] {
            assert!(bad.parse::<Share>().is_err(), "{bad}");
        }
        assert_eq!(Share::new(3, 8).unwrap().to_string(), "3/8");
        // 100/s burst 8, a third: 100 per 3 s (30 ms apart), burst 2.
        let q: Quota = "100/s burst 8".parse().unwrap();
        let third = Share::one_of(3).unwrap().of(q).unwrap();
        assert_eq!(
            (third.emission_interval_ns(), third.burst()),
            (30_000_000, 2)
        );
        // The whole share is the quota; a small share of a small burst keeps one.
        let whole = Share::one_of(1).unwrap().of(q).unwrap();
        assert_eq!(whole.emission_interval_ns(), q.emission_interval_ns());
        assert_eq!(Share::one_of(100).unwrap().of(q).unwrap().burst(), 1);
        let huge = Quota::from_nanos(1, u64::MAX / 2).unwrap();
        assert_eq!(
            Share::one_of(4).unwrap().of(huge),
            Err(QuotaError::Overflow)
        );
    }

    #[test]
    fn outage_behaviours_parse_and_print() {
        let quarter = OnOutage::Local(Share::one_of(4).unwrap());
        assert_eq!("share:4".parse(), Ok(quarter));
        assert_eq!(" share: 1/4 ".parse(), Ok(quarter));
        assert_eq!("FAIL".parse(), Ok(OnOutage::Fail));
        for behaviour in [OnOutage::Fail, quarter] {
            assert_eq!(behaviour.to_string().parse(), Ok(behaviour));
        }
        assert!(matches!(
            "local".parse::<OnOutage>(),
            Err(OnOutageError::Unknown(_))
        ));
        for bad in ["share:", "share:0", "share:-1", "share:5/4", "share:x"] {
            let err = bad.parse::<OnOutage>().unwrap_err();
            assert!(matches!(err, OnOutageError::Share(_)), "{bad}: {err}");
            assert!(std::error::Error::source(&err).is_some());
        }
    }

    #[test]
    fn the_local_limiter_keeps_to_its_share() {
        let fallback = Fallback::new(Share::one_of(4).unwrap());
        let q = [Quota::per_second(100).unwrap()];
        // 25/s: the second turn is 40 ms after the first, the third 80 ms.
        let waits: Vec<u64> = (0..3)
            .map(|_| {
                let slot = fallback.reserve("k", &q, 1, u64::MAX).unwrap();
                let w = slot.wait_ns();
                slot.keep();
                w
            })
            .collect();
        assert!(waits[0] < 5_000_000, "{waits:?}");
        assert!(waits[1] > 30_000_000 && waits[1] <= 40_000_000, "{waits:?}");
        assert!(waits[2] > 70_000_000 && waits[2] <= 80_000_000, "{waits:?}");
        // Too long a wait reserves nothing; a dropped slot is given back.
        let refused = fallback.reserve("k", &q, 1, 1_000_000).unwrap_err();
        assert!(matches!(refused, SharedError::WaitTooLong { .. }));
        let dropped = fallback.reserve("k", &q, 1, u64::MAX).unwrap().wait_ns();
        let again = fallback.reserve("k", &q, 1, u64::MAX).unwrap();
        assert!(again.wait_ns().abs_diff(dropped) < 5_000_000);
        again.keep();
        // A pause holds the key's local turns.
        fallback.pause("k", 1_000_000_000);
        let paused = fallback.reserve("k", &q, 1, u64::MAX).unwrap();
        assert!(paused.wait_ns() > 900_000_000, "{paused:?}");
        // Other keys are their own; idle keys are dropped once there are many.
        assert!(fallback.reserve("other", &q, 1, 0).is_ok());
        for i in 0..200 {
            let fast = [Quota::from_nanos(1_000_000, 1_000_000).unwrap()];
            fallback
                .reserve(&format!("k{i}"), &fast, 1, 0)
                .unwrap()
                .keep();
        }
        assert!(fallback.lock().map.len() < 200);
    }
}
