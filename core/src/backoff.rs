//! Exponential backoff with jitter, capped per delay, per number of retries and in total time.
//!
//! A [`Backoff`] is an immutable policy; [`Backoff::start`] gives the per-request state
//! [`Retrying`], which is `Copy`, allocation-free, and deterministic given its seed: the same
//! policy, seed and sequence of server waits always yield the same delays, on every target.
//!
//! # Delays
//!
//! Let `n` be the number of retries already granted (0 before the first retry), `base` and
//! `cap` the policy's base delay and per-delay cap, and `ceiling = min(cap, base * 2^n)`
//! (saturating). The delay before retry `n + 1` is, by [`Jitter`] kind (the definitions of
//! the well-known AWS analysis "Exponential Backoff and Jitter"):
//!
//! | jitter | delay |
//! |---|---|
//! | [`Jitter::None`] | `ceiling` |
//! | [`Jitter::Full`] | uniform in `[0, ceiling]` |
//! | [`Jitter::Equal`] | uniform in `[ceiling / 2, ceiling]` (integer halving, rounded down) |
//! | [`Jitter::Decorrelated`] | `min(cap, uniform in [base, 3 * prev])`, `prev` starting at `base` |
//!
//! Each jittered delay takes exactly one draw from the [`SplitMix64`] generator seeded with the
//! seed given to [`Backoff::start`]; [`Jitter::None`] takes none. A uniform draw in `[lo, hi]`
//! is `lo + ((x * (hi - lo + 1)) >> 64)` computed in 128 bits, where `x` is the generator's next
//! output (when `hi - lo + 1` would be 2^64 the draw is `x` itself).
//!
//! # Server waits
//!
//! [`Retrying::next_delay`] takes the server's own wait (a `Retry-After`, already parsed and
//! clamped by the caller). When present it replaces the computed delay for that retry and is
//! returned as is, even above the per-delay cap: retrying sooner than the server asked only
//! earns another refusal. It still counts as a retry and towards the total time. The computed
//! delay is drawn anyway, so the jitter sequence, and `prev` for [`Jitter::Decorrelated`], do not
//! depend on whether the server sent a wait.
//!
//! # Stopping
//!
//! `next_delay` returns `None`, and keeps returning `None`, once `max_attempts` retries have
//! been granted or when the next delay would take the sum of granted delays past
//! `max_total_ns`. A delay that would overflow `u64` also stops.
//!
//! ```
//! use headway_core::backoff::{Backoff, Jitter};
//!
//! const MS: u64 = 1_000_000;
//! let policy = Backoff::new(100 * MS, 1_000 * MS)
//!     .unwrap()
//!     .with_jitter(Jitter::None)
//!     .with_max_attempts(4);
//! let mut retry = policy.start(42);
//! assert_eq!(retry.next_delay(None), Some(100 * MS));
//! assert_eq!(retry.next_delay(Some(2_000 * MS)), Some(2_000 * MS)); // Retry-After wins
//! assert_eq!(retry.next_delay(None), Some(400 * MS));
//! assert_eq!(retry.next_delay(None), Some(800 * MS));
//! assert_eq!(retry.next_delay(None), None); // four retries granted
//! assert_eq!(retry.attempts(), 4);
//! assert_eq!(retry.elapsed_ns(), 3_300 * MS);
//! ```

use core::fmt;
use core::str::FromStr;

/// How a computed delay is randomised. See the [module documentation](self) for the formulas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// No randomness: `min(cap, base * 2^n)`. Clients that failed together retry together, so
    /// use it only when a single client talks to a server.
    None,
    /// Uniform in `[0, min(cap, base * 2^n)]`: the default, and the kind that spreads a crowd
    /// of clients the most.
    #[default]
    Full,
    /// Uniform in the upper half of `[0, min(cap, base * 2^n)]`: never retries almost at once.
    Equal,
    /// `min(cap, uniform in [base, 3 * previous delay])`: grows with the previous delay rather
    /// than with the retry count.
    Decorrelated,
}

impl Jitter {
    /// The lower-case name used in configuration and the conformance files: `"none"`,
    /// `"full"`, `"equal"` or `"decorrelated"`.
    ///
    /// ```
    /// use headway_core::backoff::Jitter;
    /// assert_eq!(Jitter::Decorrelated.as_str(), "decorrelated");
    /// assert_eq!("Equal".parse::<Jitter>(), Ok(Jitter::Equal));
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
        }
    }
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Jitter {
    type Err = BackoffError;

    /// Parses a jitter name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Jitter, BackoffError> {
        [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ]
        .into_iter()
        .find(|j| j.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or(BackoffError::UnknownJitter)
    }
}

/// Why a backoff policy was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffError {
    /// The base delay was 0: every computed delay would be 0 and nothing would back off.
    ZeroBase,
    /// The base delay was larger than the per-delay cap.
    BaseAboveMax,
    /// A jitter name was not one of `none`, `full`, `equal`, `decorrelated`.
    UnknownJitter,
}

impl fmt::Display for BackoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackoffError::ZeroBase => "backoff base delay must be greater than 0",
            BackoffError::BaseAboveMax => "backoff base delay must not exceed the maximum delay",
            BackoffError::UnknownJitter => "unknown jitter (use none, full, equal or decorrelated)",
        })
    }
}

impl core::error::Error for BackoffError {}

/// A retry pacing policy: exponential growth from `base_ns`, capped per delay, randomised by a
/// [`Jitter`] kind, limited in retries and in total time.
///
/// [`Backoff::default()`] is base 100 ms, per-delay cap 30 s, 5 retries, 5 minutes in total,
/// [`Jitter::Full`]:
///
/// - 100 ms is about one round trip to a distant server: shorter retries mostly meet the same
///   failure, longer ones waste the user's time on a transient blip.
/// - 5 retries at full jitter wait at most 0.1 + 0.2 + 0.4 + 0.8 + 1.6 = 3.1 s in total from
///   the computed delays, so an interactive request gives up within seconds; the 30 s cap only
///   matters when more retries are configured.
/// - 5 minutes in total bounds what servers' own waits (`Retry-After`) can add up to.
/// - Full jitter spreads a crowd of clients that failed at the same moment uniformly over the
///   whole window, which in the AWS analysis gave the least total work and about the shortest
///   completion time of the kinds compared; it is also the simplest to reason about.
///
/// ```
/// use headway_core::backoff::{Backoff, Jitter};
///
/// let policy = Backoff::default();
/// assert_eq!(policy.base_ns(), 100_000_000);
/// assert_eq!(policy.jitter(), Jitter::Full);
/// assert!(Backoff::new(0, 1).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    base_ns: u64,
    max_delay_ns: u64,
    max_attempts: u32,
    max_total_ns: u64,
    jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base_ns: Backoff::DEFAULT_BASE_NS,
            max_delay_ns: Backoff::DEFAULT_MAX_DELAY_NS,
            max_attempts: Backoff::DEFAULT_MAX_ATTEMPTS,
            max_total_ns: Backoff::DEFAULT_MAX_TOTAL_NS,
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// The default base delay: 100 ms.
    pub const DEFAULT_BASE_NS: u64 = 100_000_000;
    /// The default per-delay cap: 30 s.
    pub const DEFAULT_MAX_DELAY_NS: u64 = 30_000_000_000;
    /// The default number of retries: 5 (so at most 6 requests in all).
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
    /// The default total of all delays: 5 minutes.
    pub const DEFAULT_MAX_TOTAL_NS: u64 = 300_000_000_000;

    /// A policy growing from `base_ns` and capped at `max_delay_ns` per delay, with the
    /// default jitter, retry count and total time (see [`Backoff::default`]).
    ///
    /// Fails when `base_ns` is 0 or larger than `max_delay_ns`.
    pub const fn new(base_ns: u64, max_delay_ns: u64) -> Result<Backoff, BackoffError> {
        if base_ns == 0 {
            return Err(BackoffError::ZeroBase);
        }
        if base_ns > max_delay_ns {
            return Err(BackoffError::BaseAboveMax);
        }
        Ok(Backoff {
            base_ns,
            max_delay_ns,
            max_attempts: Backoff::DEFAULT_MAX_ATTEMPTS,
            max_total_ns: Backoff::DEFAULT_MAX_TOTAL_NS,
            jitter: Jitter::Full,
        })
    }

    /// [`Backoff::new`] with [`Duration`](core::time::Duration)s, the type the adapters'
    /// builders take: delays grow from `base` and are capped at `max_delay` each (both
    /// saturated at `u64::MAX` nanoseconds).
    ///
    /// ```
    /// use core::time::Duration;
    /// use headway_core::backoff::Backoff;
    /// let policy = Backoff::from_delays(Duration::from_millis(250), Duration::from_secs(10))
    ///     .unwrap()
    ///     .with_max_total(Duration::from_secs(60));
    /// assert_eq!(policy.base_ns(), 250_000_000);
    /// assert_eq!(policy.max_delay_ns(), 10_000_000_000);
    /// assert_eq!(policy.max_total_ns(), 60_000_000_000);
    /// assert!(Backoff::from_delays(Duration::ZERO, Duration::from_secs(1)).is_err());
    /// ```
    pub fn from_delays(
        base: core::time::Duration,
        max_delay: core::time::Duration,
    ) -> Result<Backoff, BackoffError> {
        Backoff::new(saturating_ns(base), saturating_ns(max_delay))
    }

    /// [`Backoff::with_max_total_ns`] with a [`Duration`](core::time::Duration).
    #[must_use]
    pub fn with_max_total(self, max_total: core::time::Duration) -> Backoff {
        self.with_max_total_ns(saturating_ns(max_total))
    }

    /// The same policy with another jitter kind.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// The same policy allowing at most `retries` retries (0: never retry).
    #[must_use]
    pub const fn with_max_attempts(mut self, retries: u32) -> Backoff {
        self.max_attempts = retries;
        self
    }

    /// The same policy allowing at most `max_total_ns` of delays in all, server waits included.
    #[must_use]
    pub const fn with_max_total_ns(mut self, max_total_ns: u64) -> Backoff {
        self.max_total_ns = max_total_ns;
        self
    }

    /// The base delay, in nanoseconds.
    pub const fn base_ns(&self) -> u64 {
        self.base_ns
    }

    /// The cap on one computed delay, in nanoseconds.
    pub const fn max_delay_ns(&self) -> u64 {
        self.max_delay_ns
    }

    /// The most retries granted.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The cap on the sum of all delays, in nanoseconds.
    pub const fn max_total_ns(&self) -> u64 {
        self.max_total_ns
    }

    /// The jitter kind.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The retry state of one request, its randomness seeded with `seed`.
    ///
    /// Adapters seed each request differently (a counter mixed with the time or an address),
    /// so that clients and requests do not share a sequence; tests pass a fixed seed.
    pub const fn start(&self, seed: u64) -> Retrying {
        Retrying {
            policy: *self,
            rng: SplitMix64::new(seed),
            attempts: 0,
            elapsed_ns: 0,
            prev_ns: self.base_ns,
            stopped: false,
        }
    }
}

/// `d` in nanoseconds, saturated at `u64::MAX`.
fn saturating_ns(d: core::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The retry state of one request under a [`Backoff`] policy: `Copy`, no allocation.
///
/// ```
/// use headway_core::backoff::Backoff;
///
/// let mut retry = Backoff::default().start(7);
/// let mut again = retry; // a copy replays the same sequence
/// while let Some(delay) = retry.next_delay(None) {
///     assert!(delay <= 30_000_000_000);
///     assert_eq!(again.next_delay(None), Some(delay));
/// }
/// assert_eq!(retry.attempts(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrying {
    policy: Backoff,
    rng: SplitMix64,
    attempts: u32,
    elapsed_ns: u64,
    /// The previous computed delay, for [`Jitter::Decorrelated`]; `base` at first.
    prev_ns: u64,
    stopped: bool,
}

impl Retrying {
    /// The delay before the next retry, or `None` when the attempt cap or the total-time cap
    /// is reached (and from then on).
    ///
    /// `server_wait_ns` (e.g. a parsed `Retry-After`), if `Some`, replaces the computed delay
    /// for this attempt but still counts toward the caps; it is not limited by the per-delay
    /// cap. A granted delay counts as one retry.
    pub fn next_delay(&mut self, server_wait_ns: Option<u64>) -> Option<u64> {
        if self.stopped || self.attempts >= self.policy.max_attempts {
            self.stopped = true;
            return None;
        }
        let computed = self.computed_delay();
        let delay = server_wait_ns.unwrap_or(computed);
        match self.elapsed_ns.checked_add(delay) {
            Some(total) if total <= self.policy.max_total_ns => {
                self.attempts += 1;
                self.elapsed_ns = total;
                Some(delay)
            }
            _ => {
                self.stopped = true;
                None
            }
        }
    }

    /// Retries granted so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time left under the total-time cap, in nanoseconds.
    pub fn remaining_ns(&self) -> u64 {
        self.policy.max_total_ns.saturating_sub(self.elapsed_ns)
    }

    /// Counts `extra_ns` more toward the total-time cap (the latest retry was held longer
    /// than its delay), at most up to the cap.
    pub fn extend(&mut self, extra_ns: u64) {
        self.elapsed_ns = self
            .elapsed_ns
            .saturating_add(extra_ns)
            .min(self.policy.max_total_ns.max(self.elapsed_ns));
    }

    /// The sum of the delays granted so far, in nanoseconds.
    pub fn elapsed_ns(&self) -> u64 {
        self.elapsed_ns
    }

    /// The policy this state follows.
    pub fn policy(&self) -> &Backoff {
        &self.policy
    }

    /// The jittered delay for retry number `attempts + 1`, advancing the generator (one draw,
    /// none for [`Jitter::None`]) and `prev_ns`.
    fn computed_delay(&mut self) -> u64 {
        let Backoff {
            base_ns,
            max_delay_ns,
            ..
        } = self.policy;
        // base * 2^n, saturating: 2^n itself overflows from n = 64 on.
        let ceiling = 1u64
            .checked_shl(self.attempts)
            .and_then(|pow| base_ns.checked_mul(pow))
            .map_or(max_delay_ns, |d| d.min(max_delay_ns));
        match self.policy.jitter {
            Jitter::None => ceiling,
            Jitter::Full => self.rng.between(0, ceiling),
            Jitter::Equal => self.rng.between(ceiling / 2, ceiling),
            Jitter::Decorrelated => {
                // prev >= base always holds (it starts at base and every later value is at
                // least min(cap, base) = base), so the range is never empty.
                let upper = self.prev_ns.saturating_mul(3);
                let delay = self.rng.between(base_ns, upper).min(max_delay_ns);
                self.prev_ns = delay;
                delay
            }
        }
    }
}

/// The SplitMix64 pseudo-random generator (Steele, Lea and Flood, 2014): a 64-bit counter
/// advanced by the odd constant `0x9E3779B97F4A7C15` and passed through a fixed mixing
/// function.
///
/// It is tiny, fast, accepts any seed (0 included), and passes BigCrush; it is **not**
/// cryptographic, which jitter does not need. Each output is:
///
/// ```text
/// state = state + 0x9E3779B97F4A7C15            (wrapping)
/// z = state
/// z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9      (wrapping)
/// z = (z ^ (z >> 27)) * 0x94D049BB133111EB      (wrapping)
/// output z ^ (z >> 31)
/// ```
///
/// ```
/// use headway_core::backoff::SplitMix64;
///
/// let mut rng = SplitMix64::new(0);
/// assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
/// let x = rng.between(10, 20);
/// assert!((10..=20).contains(&x));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose first output is derived from `seed`.
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `[lo, hi]` (both included; `lo` and `hi` are swapped if reversed), from one
    /// output `x`: `lo + ((x * (hi - lo + 1)) >> 64)` in 128-bit arithmetic. The bias is below
    /// `(hi - lo + 1) / 2^64`, far under anything a retry delay can show.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let x = self.next_u64();
        match (hi - lo).checked_add(1) {
            // The range is all of u64.
            None => x,
            Some(span) => {
                // (x * span) >> 64 < span, so the cast is lossless and lo + it <= hi.
                let offset = ((u128::from(x) * u128::from(span)) >> 64) as u64;
                lo + offset
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    const MS: u64 = 1_000_000;

    #[test]
    fn rejects_bad_configuration() {
        assert_eq!(Backoff::new(0, 10), Err(BackoffError::ZeroBase));
        assert_eq!(Backoff::new(11, 10), Err(BackoffError::BaseAboveMax));
        assert!(Backoff::new(10, 10).is_ok());
        assert_eq!(
            "sideways".parse::<Jitter>(),
            Err(BackoffError::UnknownJitter)
        );
    }

    #[test]
    fn jitter_names_round_trip() {
        for j in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            assert_eq!(j.as_str().parse::<Jitter>(), Ok(j));
        }
        assert_eq!(" FULL ".parse::<Jitter>(), Ok(Jitter::Full));
    }

    #[test]
    fn defaults() {
        let b = Backoff::default();
        assert_eq!(b.base_ns(), 100 * MS);
        assert_eq!(b.max_delay_ns(), 30_000 * MS);
        assert_eq!(b.max_attempts(), 5);
        assert_eq!(b.max_total_ns(), 300_000 * MS);
        assert_eq!(b.jitter(), Jitter::Full);
        assert_eq!(Backoff::new(100 * MS, 30_000 * MS), Ok(b));
    }

    #[test]
    fn splitmix_reference_outputs() {
        // First outputs for seed 0, as published with the algorithm's reference code.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn between_edges() {
        let mut rng = SplitMix64::new(1);
        for _ in 0..100 {
            assert_eq!(rng.between(5, 5), 5);
            assert!(rng.between(0, 1) <= 1);
            assert!((3..=9).contains(&rng.between(9, 3)));
        }
        let mut a = SplitMix64::new(9);
        let mut b = SplitMix64::new(9);
        assert_eq!(a.between(0, u64::MAX), b.next_u64());
    }

    #[test]
    fn no_jitter_doubles_then_caps() {
        let policy = Backoff::new(100 * MS, 1_000 * MS)
            .unwrap()
            .with_jitter(Jitter::None)
            .with_max_attempts(6);
        let mut r = policy.start(0);
        let got: Vec<_> = core::iter::from_fn(|| r.next_delay(None)).collect();
        assert_eq!(got, [100, 200, 400, 800, 1_000, 1_000].map(|d| d * MS));
        assert_eq!(r.next_delay(None), None);
    }

    #[test]
    fn total_cap_stops_and_stays_stopped() {
        let policy = Backoff::new(100 * MS, 1_000 * MS)
            .unwrap()
            .with_jitter(Jitter::None)
            .with_max_attempts(10)
            .with_max_total_ns(700 * MS);
        let mut r = policy.start(0);
        assert_eq!(r.next_delay(None), Some(100 * MS));
        assert_eq!(r.next_delay(None), Some(200 * MS));
        // 300 + 400 = 700: exactly at the cap is allowed.
        assert_eq!(r.next_delay(None), Some(400 * MS));
        assert_eq!(r.next_delay(None), None);
        // Even a zero server wait does not restart a stopped sequence.
        assert_eq!(r.next_delay(Some(0)), None);
        assert_eq!(r.attempts(), 3);
        assert_eq!(r.elapsed_ns(), 700 * MS);
    }

    #[test]
    fn zero_attempts_never_retries() {
        let mut r = Backoff::default().with_max_attempts(0).start(1);
        assert_eq!(r.next_delay(Some(0)), None);
    }

    #[test]
    fn server_wait_replaces_and_counts() {
        let policy = Backoff::new(MS, 10 * MS)
            .unwrap()
            .with_jitter(Jitter::None)
            .with_max_attempts(3)
            .with_max_total_ns(u64::MAX);
        let mut r = policy.start(0);
        assert_eq!(r.next_delay(Some(60_000 * MS)), Some(60_000 * MS));
        // The exponent still advanced: the second computed delay is 2 ms.
        assert_eq!(r.next_delay(None), Some(2 * MS));
        // An absurd server wait overflows the total: stop, no panic.
        assert_eq!(r.next_delay(Some(u64::MAX)), None);
    }

    #[test]
    fn server_waits_do_not_shift_the_jitter_sequence() {
        let policy = Backoff::default().with_max_attempts(10);
        let mut plain = policy.start(99);
        let mut mixed = policy.start(99);
        let a: Vec<_> = (0..6).map(|_| plain.next_delay(None)).collect();
        let b: Vec<_> = (0..6)
            .map(|i| mixed.next_delay(if i % 2 == 0 { Some(5 * MS) } else { None }))
            .collect();
        for i in (1..6).step_by(2) {
            assert_eq!(a[i], b[i]);
        }
    }

    #[test]
    fn huge_values_saturate() {
        let policy = Backoff::new(u64::MAX / 2, u64::MAX)
            .unwrap()
            .with_jitter(Jitter::None)
            .with_max_attempts(u32::MAX)
            .with_max_total_ns(u64::MAX);
        let mut r = policy.start(0);
        assert_eq!(r.next_delay(None), Some(u64::MAX / 2));
        assert_eq!(r.next_delay(None), None); // the total would overflow u64: stop
        for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let mut r = policy.with_jitter(jitter).start(3);
            let mut granted = 0u32;
            while r.next_delay(None).is_some() {
                granted += 1;
                assert!(granted < 1_000, "the total cap must stop the sequence");
            }
        }
        // A retry count past 64 keeps the ceiling at the cap.
        let mut r = Backoff::new(1, 1_000)
            .unwrap()
            .with_jitter(Jitter::None)
            .with_max_attempts(200)
            .with_max_total_ns(u64::MAX)
            .start(0);
        let last = core::iter::from_fn(|| r.next_delay(None)).last();
        assert_eq!(last, Some(1_000));
        assert_eq!(r.attempts(), 200);
    }

    fn jitter_strategy() -> impl Strategy<Value = Jitter> {
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated),
        ]
    }

    prop_compose! {
        fn policy_strategy()(
            base in 1u64..=10_000_000_000,
            extra in 0u64..=100_000_000_000,
            attempts in 0u32..=40,
            total in prop_oneof![Just(u64::MAX), 0u64..=1_000_000_000_000],
            jitter in jitter_strategy(),
        ) -> Backoff {
            Backoff::new(base, base + extra)
                .unwrap()
                .with_max_attempts(attempts)
                .with_max_total_ns(total)
                .with_jitter(jitter)
        }
    }

    proptest! {
        #[test]
        fn caps_hold(
            policy in policy_strategy(),
            seed in any::<u64>(),
            waits in proptest::collection::vec(proptest::option::weighted(0.2, 0u64..=100_000_000_000), 0..50),
        ) {
            let mut r = policy.start(seed);
            let mut sum = 0u64;
            let mut granted = 0u32;
            let mut stopped = false;
            for i in 0..60 {
                let wait = waits.get(i).copied().flatten();
                match r.next_delay(wait) {
                    Some(d) => {
                        prop_assert!(!stopped, "a stopped sequence restarted");
                        if wait.is_none() {
                            prop_assert!(d <= policy.max_delay_ns());
                        } else {
                            prop_assert_eq!(Some(d), wait);
                        }
                        sum += d;
                        granted += 1;
                    }
                    None => stopped = true,
                }
                prop_assert!(granted <= policy.max_attempts());
                prop_assert!(sum <= policy.max_total_ns());
                prop_assert_eq!(r.attempts(), granted);
                prop_assert_eq!(r.elapsed_ns(), sum);
            }
        }

        #[test]
        fn same_seed_same_sequence(policy in policy_strategy(), seed in any::<u64>()) {
            let mut a = policy.start(seed);
            let mut b = policy.start(seed);
            for _ in 0..50 {
                prop_assert_eq!(a.next_delay(None), b.next_delay(None));
            }
        }

        #[test]
        fn jitter_ranges(
            policy in policy_strategy(),
            seed in any::<u64>(),
        ) {
            let policy = policy.with_max_total_ns(u64::MAX);
            let (base, cap) = (policy.base_ns(), policy.max_delay_ns());
            let mut r = policy.start(seed);
            let mut prev = base;
            for n in 0..policy.max_attempts() {
                let ceiling = if n >= 64 { cap } else { base.saturating_mul(1u64 << n).min(cap) };
                let d = r.next_delay(None).unwrap();
                match policy.jitter() {
                    Jitter::None => prop_assert_eq!(d, ceiling),
                    Jitter::Full => prop_assert!(d <= ceiling),
                    Jitter::Equal => prop_assert!(ceiling / 2 <= d && d <= ceiling),
                    Jitter::Decorrelated => {
                        prop_assert!(base <= d && d <= cap.min(prev.saturating_mul(3)));
                        prev = d;
                    }
                }
            }
            prop_assert_eq!(r.next_delay(None), None);
        }
    }
}
