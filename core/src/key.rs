//! [`KeyMachine`]: everything one key decides, as a plain state machine.
//!
//! One key (an origin such as `https://api.example.com`, or any name a caller limits by) has
//! quotas in force and where they came from, the state of each of their tiers, a pause set by
//! the server, the probe of a key whose quota is unknown, an in-flight count and cap, and a
//! circuit breaker. A driver holds a `KeyMachine` under one lock and makes one call per
//! event, passing `now` in; the machine never reads a clock and never allocates (its tier
//! storage, [`TierBuf`], is the driver's choice).
//!
//! The questions and events:
//! - [`KeyMachine::ready_at`]: when may `n` cells go (never before the pause), or never;
//!   [`KeyMachine::plan_on`] the same for a request queued behind others;
//! - [`KeyMachine::may_send`] and [`KeyMachine::commit`]: an admission takes its cells and an
//!   in-flight slot; [`KeyMachine::release`] gives the slot back;
//! - [`KeyMachine::on_response`] and [`KeyMachine::on_failure`]: what came back, with the
//!   core's [`Interpretation`], teaches quotas, pauses the key, and paces it;
//! - [`KeyMachine::plan_waiter`], [`KeyMachine::turn`] and [`KeyMachine::hear`]: the turns
//!   of a FIFO queue of waiters in front of the key, the key's circuit breaker among them
//!   (see [`Turn`]);
//! - [`KeyMachine::breaker`]: the key's circuit breaker.
//!
//! The quotas in force are the configured ones *and* the learned ones (from
//! `RateLimit-Policy`), each a tier, so the stricter always applies: a client told 20/s by
//! its caller and 10/s by its server goes at 10/s. A learned quota that a configured one
//! already keeps the client within (no higher rate, no larger burst than the learned window
//! allows) is not installed, so it cannot take a configured burst away. Without either,
//! `remaining`/`reset` give a pacing tier: what remains may go at once (the server's count,
//! less what is on its way there), then one request per reset (the next window), and a server that answers nothing but bare 429s has its rate found from them
//! (additive increase, multiplicative decrease).
//!
//! ```
//! use headway_core::key::{InlineTiers, KeyMachine, KeyPolicy};
//! use headway_core::Quota;
//!
//! // Without a safety margin, admissions go exactly on the quota.
//! let policy = KeyPolicy { margin: None, ..KeyPolicy::default() };
//! let mut key: KeyMachine<InlineTiers> =
//!     KeyMachine::new(&[Quota::per_second(2).unwrap()], &policy).unwrap();
//! assert_eq!(key.ready_at(1, 0), Ok(0));
//! key.commit(1, 0);
//! assert_eq!(key.ready_at(1, 0), Ok(500_000_000));
//! // A key that sends to a server probes it first; the default margin (150 us to begin
//! // with) then keeps arrivals from landing early. (A key that never sent anything, only a
//! // caller's own admissions, goes exactly on the quota: it has no jitter to cover.)
//! let mut key: KeyMachine<InlineTiers> =
//!     KeyMachine::new(&[Quota::per_second(2).unwrap()], &KeyPolicy::default()).unwrap();
//! key.probe_if_unknown();
//! key.commit(1, 0);
//! assert_eq!(key.ready_at(1, 0), Ok(500_150_000));
//! ```

use crate::backoff::SplitMix64;
use crate::breaker::{BreakerError, CircuitBreaker};
use crate::feedback::{retry_after_pauses_key, Interpretation, RetryReason, Verdict};
use crate::gcra::{plan, Impossible};
use crate::quota::Quota;
use crate::tiers::{Schedule, TiersError, MAX_TIERS};

mod turn;
pub use turn::{Refused, Turn, Waiter};

/// The slowest rate rejections alone can teach: one request a minute.
const DISCOVERED_MAX_INTERVAL_NS: u64 = 60 * crate::NANOS_PER_SEC;

/// Whether a key has heard from its server, and whether it is sending one request to find
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contact {
    /// Nothing heard yet.
    Unheard,
    /// Nothing heard yet, and one request at a time until something is.
    Probing,
    /// A response or a failure came back.
    Heard,
    /// The latest response said the server has room for more than one request now
    /// (`remaining` of 2 or more): it absorbs the jitter between send and arrival, so no
    /// margin is needed.
    HeardWithRoom,
}

/// A key's switches, in one byte (a key with one tier fits in 128 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flags(u8);

impl Flags {
    /// It learns quotas and pacing from response headers ([`KeyPolicy::learn`]).
    const LEARN: u8 = 1;
    /// Its configured tiers are enforced by a store shared with other processes
    /// ([`KeyMachine::share_configured`]): known, but not spaced here.
    const SHARED: u8 = 2;

    fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }
}

/// One tier of a key: a quota and its theoretical arrival time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    quota: Quota,
    tat: u64,
}

impl Tier {
    /// A fresh tier for `quota`.
    pub const fn new(quota: Quota) -> Tier {
        Tier { quota, tat: 0 }
    }

    /// The tier's quota.
    pub const fn quota(&self) -> Quota {
        self.quota
    }

    fn timing(&self) -> (u64, u64) {
        (self.quota.emission_interval_ns(), self.quota.tolerance_ns())
    }
}

/// Storage for a key's tiers: inline ([`InlineTiers`], no allocation) or, with the `alloc`
/// feature, a boxed slice sized to the tiers in force (what a keyed store holding many keys wants).
pub trait TierBuf {
    /// The tiers, in order.
    fn tiers(&self) -> &[Tier];
    /// The tiers, to update their state.
    fn tiers_mut(&mut self) -> &mut [Tier];
    /// Replaces the quotas (at most [`MAX_TIERS`]): tier `i` keeps its state if it existed.
    fn replace(&mut self, quotas: &[Quota]);
}

/// Up to [`MAX_TIERS`] tiers inline: no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineTiers {
    tiers: [Tier; MAX_TIERS],
    len: usize,
}

/// What fills the unused slots of an [`InlineTiers`]; never read as a tier.
const UNUSED: Tier = match Quota::from_nanos(1, 1) {
    Ok(quota) => Tier::new(quota),
    Err(_) => panic!("1 per nanosecond is a quota"),
};

impl Default for InlineTiers {
    fn default() -> InlineTiers {
        InlineTiers {
            tiers: [UNUSED; MAX_TIERS],
            len: 0,
        }
    }
}

impl TierBuf for InlineTiers {
    fn tiers(&self) -> &[Tier] {
        &self.tiers[..self.len]
    }

    fn tiers_mut(&mut self) -> &mut [Tier] {
        &mut self.tiers[..self.len]
    }

    fn replace(&mut self, quotas: &[Quota]) {
        let len = quotas.len().min(MAX_TIERS);
        for (i, quota) in quotas[..len].iter().enumerate() {
            let tat = if i < self.len { self.tiers[i].tat } else { 0 };
            self.tiers[i] = Tier { quota: *quota, tat };
        }
        for slot in &mut self.tiers[len..] {
            *slot = UNUSED;
        }
        self.len = len;
    }
}

/// Tiers on the heap, exactly as many as there are (a key map's keys pay for what they use).
/// Changing how many there are allocates a new slice; the limiter paths never do.
#[cfg(feature = "alloc")]
impl TierBuf for alloc::boxed::Box<[Tier]> {
    fn tiers(&self) -> &[Tier] {
        self
    }

    fn tiers_mut(&mut self) -> &mut [Tier] {
        self
    }

    fn replace(&mut self, quotas: &[Quota]) {
        let quotas = &quotas[..quotas.len().min(MAX_TIERS)];
        if quotas.len() != self.len() {
            let old = core::mem::take(self);
            *self = quotas
                .iter()
                .enumerate()
                .map(|(i, quota)| Tier {
                    quota: *quota,
                    tat: old.get(i).map_or(0, |t| t.tat),
                })
                .collect();
            return;
        }
        for (tier, quota) in self.iter_mut().zip(quotas) {
            tier.quota = *quota;
        }
    }
}

/// Where a key's quotas came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaSource {
    /// No quota: the key is limited only by pauses and in-flight caps until one is learned.
    None,
    /// Configured by the caller (learned quotas, if any, apply too).
    Configured,
    /// Learned from the server's `RateLimit-Policy` or pacing headers.
    Learned,
}

/// A circuit breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker. Default 5.
    pub failure_threshold: u32,
    /// How long it stays open before a probe, in nanoseconds. Default 10 s.
    pub open_for_ns: u64,
}

impl Default for BreakerPolicy {
    fn default() -> BreakerPolicy {
        BreakerPolicy {
            failure_threshold: 5,
            open_for_ns: 10 * crate::NANOS_PER_SEC,
        }
    }
}

impl BreakerPolicy {
    /// Opens after `failure_threshold` failures in a row and stays open for `open_for`
    /// (saturated at `u64::MAX` nanoseconds, some 584 years) before a probe: the same
    /// settings as the fields, with the [`Duration`](core::time::Duration) the adapters'
    /// builders take everywhere else.
    ///
    /// ```
    /// use core::time::Duration;
    /// use headway_core::key::BreakerPolicy;
    /// let policy = BreakerPolicy::new(3, Duration::from_secs(30));
    /// assert_eq!(policy.failure_threshold, 3);
    /// assert_eq!(policy.open_for(), Duration::from_secs(30));
    /// assert_eq!(policy.open_for_ns, 30_000_000_000);
    /// assert_eq!(BreakerPolicy::new(1, Duration::MAX).open_for_ns, u64::MAX);
    /// ```
    pub fn new(failure_threshold: u32, open_for: core::time::Duration) -> BreakerPolicy {
        BreakerPolicy {
            failure_threshold,
            open_for_ns: u64::try_from(open_for.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// How long the breaker stays open before a probe.
    pub fn open_for(&self) -> core::time::Duration {
        core::time::Duration::from_nanos(self.open_for_ns)
    }
}

/// What every key of a limiter shares: its caps and how it reads its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Requests in flight on one key. Default: no cap.
    pub max_in_flight: Option<u32>,
    /// The key's circuit breaker, or none. Default: [`BreakerPolicy::default`].
    pub breaker: Option<BreakerPolicy>,
    /// Learn quotas and pacing from response headers. Default true.
    pub learn: bool,
    /// The most jitter added to a server's pause (at most a 32nd of the pause, and never
    /// past `max_wait_ns`), so that many clients do not return at the same instant while
    /// one client comes back almost at once. Default 25 ms.
    pub pause_jitter_max_ns: u64,
    /// The longest wait a caller accepts, in nanoseconds. Default 10 minutes.
    pub max_wait_ns: u64,
    /// The safety margin added to the spacing of every admission, for the jitter between a
    /// client's send and its arrival at the server, or none (admissions exactly on the
    /// quota). Default: [`MarginPolicy::default`].
    pub margin: Option<MarginPolicy>,
}

impl Default for KeyPolicy {
    fn default() -> KeyPolicy {
        KeyPolicy {
            max_in_flight: None,
            breaker: Some(BreakerPolicy::default()),
            learn: true,
            pause_jitter_max_ns: 25 * crate::NANOS_PER_SEC / 1_000,
            max_wait_ns: crate::feedback::Options::DEFAULT_MAX_WAIT_NS,
            margin: Some(MarginPolicy::default()),
        }
    }
}

/// The adaptive safety margin of a key that talks to a server.
///
/// A client plans each admission from its actual send, but what the server counts is the
/// arrival, and the time from one to the other varies (scheduling, the connection pool, the
/// network): against a server that tolerates no burst, two requests sent exactly one
/// interval apart can arrive a little less than one interval apart and draw a 429. So each
/// admission that leaves a tier with no request to spare (always, on a tier that tolerates no
/// burst) pushes that tier's schedule out by the margin as well; a tier with room absorbs
/// the jitter itself and goes exactly on its quota, and so does every tier while the
/// server's latest success said it has room for more than one request (`remaining` of 2 or
/// more). The margin adapts to
/// what the server says: a 429 on a key whose quota is known (the client was on schedule,
/// so the quota is right and the spacing was not) doubles it, up to `max_ns`; every
/// `narrow_after` successes in a row take an eighth off it, down to `floor_ns`.
///
/// The margin is absolute, not a fraction of the interval, because the jitter it covers is:
/// about the same tens to hundreds of microseconds at 10 and at 1,000 requests per second.
/// Where one request's response comes back before the next is due (the usual case against
/// a strict quota), the response itself bounds when the server counted it, and
/// [`KeyMachine::on_response`] moves the schedule by whatever the margin did not cover; the
/// margin is then what protects requests that overlap.
///
/// ```
/// use headway_core::key::MarginPolicy;
/// let m = MarginPolicy::default();
/// assert_eq!(m.initial_ns, 150_000);
/// assert!(m.floor_ns <= m.initial_ns && m.initial_ns <= m.max_ns);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarginPolicy {
    /// The margin a key starts with. Default 150 us.
    pub initial_ns: u32,
    /// The least it narrows to. Default 100 us.
    pub floor_ns: u32,
    /// The most it widens to. Default 20 ms.
    pub max_ns: u32,
    /// Successes in a row that narrow it by an eighth. Default 1,000.
    pub narrow_after: u16,
}

impl Default for MarginPolicy {
    fn default() -> MarginPolicy {
        MarginPolicy {
            initial_ns: 150_000,
            floor_ns: 100_000,
            max_ns: 20_000_000,
            narrow_after: 1_000,
        }
    }
}

/// Why a key could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// More quotas than [`MAX_TIERS`].
    Tiers(TiersError),
    /// An in-flight cap of zero would never admit anything.
    ZeroInFlight,
    /// The breaker settings are inconsistent.
    Breaker(BreakerError),
    /// The margin settings are inconsistent: they need `floor_ns <= initial_ns <= max_ns`
    /// and `narrow_after >= 1`.
    Margin,
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyError::Tiers(e) => e.fmt(f),
            KeyError::ZeroInFlight => f.write_str("in-flight cap must be at least 1"),
            KeyError::Breaker(e) => write!(f, "circuit breaker: {e}"),
            KeyError::Margin => {
                f.write_str("margin: needs floor <= initial <= max and narrow_after of at least 1")
            }
        }
    }
}

impl core::error::Error for KeyError {}

/// What an event changed, for the driver: wake waiters to plan again, log a lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changed {
    /// The rate plan changed (quotas, pacing, pause, probe ended, breaker closed or
    /// opened): waiters must plan again.
    pub replan: bool,
    /// The quotas learned from the server changed.
    pub learned: bool,
    /// A pause now in force ends at this time.
    pub paused_until: Option<u64>,
}

/// One key's state and decisions; see the [module documentation](self).
#[derive(Debug)]
pub struct KeyMachine<B: TierBuf = InlineTiers> {
    tiers: B,
    configured: u8,
    learned: u8,
    pacing: bool,
    /// The pacing tier was discovered from bare 429s (no header says anything).
    discovered: bool,
    contact: Contact,
    flags: Flags,
    in_flight: u32,
    max_in_flight: u32,
    pause_until: u64,
    /// The safety margin added to every admission's spacing, in nanoseconds.
    margin_ns: u32,
    /// Successes in a row since the margin last changed.
    streak: u16,
    /// When the latest admission went.
    last_commit: u64,
    /// The earliest end the server's answers gave for the window the pacing tier counts (0:
    /// none yet). Every answer's end is at or after the true one, so a request admitted at
    /// or after it was counted in a later window.
    window_end: u64,
    /// When the request whose answer began that count was admitted: an answer to one
    /// admitted before it may be from an older window, and says nothing of this one's end.
    window_start: u64,
    /// A low estimate of the time from admission to response (0 before the first), rising
    /// slowly toward what is seen so that it follows a lasting change.
    rtt_floor_ns: u32,
    breaker: Option<CircuitBreaker>,
}

impl<B: TierBuf + Default> KeyMachine<B> {
    /// A key limited by `configured` (possibly none: then it learns from its server).
    pub fn new(configured: &[Quota], policy: &KeyPolicy) -> Result<KeyMachine<B>, KeyError> {
        if configured.len() > MAX_TIERS {
            return Err(KeyError::Tiers(TiersError::TooMany(configured.len())));
        }
        if policy.max_in_flight == Some(0) {
            return Err(KeyError::ZeroInFlight);
        }
        let breaker = policy
            .breaker
            .map(|b| CircuitBreaker::new(b.failure_threshold, b.open_for_ns))
            .transpose()
            .map_err(KeyError::Breaker)?;
        let margin_ns = match policy.margin {
            None => 0,
            Some(m)
                if m.floor_ns <= m.initial_ns && m.initial_ns <= m.max_ns && m.narrow_after > 0 =>
            {
                m.initial_ns
            }
            Some(_) => return Err(KeyError::Margin),
        };
        let mut tiers = B::default();
        tiers.replace(configured);
        Ok(KeyMachine {
            tiers,
            configured: configured.len() as u8,
            learned: 0,
            pacing: false,
            discovered: false,
            contact: Contact::Unheard,
            flags: Flags(if policy.learn { Flags::LEARN } else { 0 }),
            in_flight: 0,
            max_in_flight: policy.max_in_flight.unwrap_or(u32::MAX),
            pause_until: 0,
            margin_ns,
            streak: 0,
            last_commit: 0,
            window_end: 0,
            window_start: 0,
            rtt_floor_ns: 0,
            breaker,
        })
    }
}

impl<B: TierBuf> KeyMachine<B> {
    /// The quotas in force: configured, then learned, then the pacing tier.
    pub fn quotas(&self) -> impl Iterator<Item = Quota> + '_ {
        self.tiers.tiers().iter().map(Tier::quota)
    }

    /// Where the quotas came from.
    pub fn source(&self) -> QuotaSource {
        if self.configured > 0 {
            QuotaSource::Configured
        } else if self.learned > 0 || self.pacing {
            QuotaSource::Learned
        } else {
            QuotaSource::None
        }
    }

    /// True when a quota is configured or learned (a pacing tier alone does not count).
    pub fn has_quota(&self) -> bool {
        self.configured > 0 || self.learned > 0
    }

    /// The time before which nothing is admitted (0 when never paused).
    pub fn paused_until(&self) -> u64 {
        self.pause_until
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// The margin an admission may add now. None while the server reports room (it absorbs
    /// the jitter), and none on a key that never sent anything to a server (no probe, no
    /// answer: its admissions are a caller's own `acquire`s, with no way to a server whose
    /// jitter a margin would cover, so they go exactly on the quota).
    fn margin_now(&self) -> u64 {
        match self.contact {
            Contact::HeardWithRoom | Contact::Unheard => 0,
            Contact::Probing | Contact::Heard => u64::from(self.margin_ns),
        }
    }

    /// The safety margin added to the spacing of a tier that an admission leaves with no
    /// request to spare, in nanoseconds (0 without a [`MarginPolicy`]).
    pub fn margin_ns(&self) -> u32 {
        self.margin_ns
    }

    /// The key's circuit breaker, if it has one.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// When `n` cells may go: never before `now` or the pause; or never, when `n` exceeds a
    /// tier's burst.
    pub fn ready_at(&self, n: u32, now: u64) -> Result<u64, Impossible> {
        self.earliest(&self.schedule(), n, now)
    }

    /// A copy of the rate state, to plan queued requests on with [`KeyMachine::plan_on`].
    pub fn schedule(&self) -> Schedule {
        let mut tats = [0; MAX_TIERS];
        for (i, tier) in self.tiers.tiers().iter().enumerate() {
            tats[i] = tier.tat;
        }
        Schedule {
            tats,
            not_before: self.pause_until,
        }
    }

    /// When `n` cells would go if every request planned on `schedule` before had gone at its
    /// turn, admitting them on `schedule` then.
    pub fn plan_on(&self, schedule: &mut Schedule, n: u32, now: u64) -> Result<u64, Impossible> {
        let at = self.earliest(schedule, n, now)?;
        let margin = self.margin_now();
        let skip = self.unpaced();
        for (i, tier) in self.tiers.tiers().iter().enumerate().skip(skip) {
            let new_tat = plan(schedule.tats[i], 0, tier.timing(), n, at)?.new_tat;
            schedule.tats[i] = with_margin(new_tat, tier.timing().1, at, margin);
        }
        Ok(at)
    }

    fn earliest(&self, schedule: &Schedule, n: u32, now: u64) -> Result<u64, Impossible> {
        let mut at = now.max(schedule.not_before);
        if n == 0 {
            // The burst reported is the quotas' (the least of the tiers), as the cells and
            // tiers report it; a key without quotas has no limit on one request's cells.
            let burst = self.quotas().map(|q| q.burst()).min().unwrap_or(u32::MAX);
            return Err(Impossible { n, burst });
        }
        for (i, tier) in self.tiers.tiers().iter().enumerate().skip(self.unpaced()) {
            at = at.max(plan(schedule.tats[i], 0, tier.timing(), n, now)?.ready_at);
        }
        Ok(at)
    }

    /// True when the in-flight cap leaves room (one at a time while probing).
    pub fn may_send(&self) -> bool {
        let cap = if self.contact == Contact::Probing {
            1
        } else {
            self.max_in_flight
        };
        self.in_flight < cap
    }

    /// Admits `n` cells at `now` and takes an in-flight slot. The driver has checked
    /// [`KeyMachine::ready_at`] and [`KeyMachine::may_send`]; admitting earlier than allowed
    /// still charges every tier as if at `now`. Each tier's schedule moves by the cells'
    /// intervals plus the key's safety margin ([`MarginPolicy`]).
    pub fn commit(&mut self, n: u32, now: u64) {
        let margin = self.margin_now();
        let skip = self.unpaced();
        for tier in self.tiers.tiers_mut().iter_mut().skip(skip) {
            let (t_ns, tau_ns) = tier.timing();
            let tat = tier
                .tat
                .max(now)
                .saturating_add(u64::from(n).saturating_mul(t_ns));
            tier.tat = with_margin(tat, tau_ns, now, margin);
        }
        self.last_commit = now;
        self.in_flight = self.in_flight.saturating_add(1);
    }

    /// The request admitted (committed) at `admitted_at` went on the wire only at `sent_at`,
    /// held up on the driver's own way to it (a task to start, a connection taken from a
    /// pool, the turns of an event loop). The server counts the arrival, and the next
    /// request's way may be quicker: while it is still the latest admission, every tier it
    /// left with no request to spare moves by that delay (at most one interval each), so
    /// the next request is spaced from the send rather than from the admission. From then on
    /// the request is known by `sent_at`, which is what [`KeyMachine::hear`] is then given.
    /// A send at or before the admission, or after a later admission, changes nothing.
    ///
    /// ```
    /// use headway_core::key::{KeyMachine, KeyPolicy};
    /// use headway_core::Quota;
    ///
    /// const MS: u64 = 1_000_000;
    /// let policy = KeyPolicy { margin: None, ..KeyPolicy::default() };
    /// let mut key: KeyMachine = KeyMachine::new(&[Quota::per_second(40).unwrap()], &policy).unwrap();
    /// key.commit(1, 0);
    /// assert_eq!(key.ready_at(1, 0), Ok(25 * MS));
    /// // Admitted at 0, on the wire at 2 ms: the next goes 25 ms after the send.
    /// key.on_sent(0, 2 * MS);
    /// assert_eq!(key.ready_at(1, 0), Ok(27 * MS));
    /// ```
    pub fn on_sent(&mut self, admitted_at: u64, sent_at: u64) {
        if admitted_at != self.last_commit || sent_at <= admitted_at {
            return;
        }
        let delay = sent_at - admitted_at;
        let skip = self.unpaced();
        for tier in self.tiers.tiers_mut().iter_mut().skip(skip) {
            let (t_ns, tau_ns) = tier.timing();
            if tier.tat.saturating_sub(tau_ns) > admitted_at {
                tier.tat = tier.tat.saturating_add(delay.min(t_ns));
            }
        }
        self.last_commit = sent_at;
    }

    /// When the request admitted at `admitted_at` counts as sent, for [`KeyMachine::hear`]:
    /// the time the transport saw it go on the wire (`wire`) when that lies between the
    /// admission and `now`, the moment its outcome is known (the next request is then spaced
    /// from it, see [`KeyMachine::on_sent`]); otherwise the admission. A transport that
    /// cannot tell passes `None`; a time outside that span is a clock the key cannot trust.
    ///
    /// ```
    /// use headway_core::key::{KeyMachine, KeyPolicy};
    /// use headway_core::Quota;
    ///
    /// let policy = KeyPolicy { margin: None, ..KeyPolicy::default() };
    /// let mut key: KeyMachine = KeyMachine::new(&[Quota::per_second(40).unwrap()], &policy).unwrap();
    /// key.commit(1, 0);
    /// assert_eq!(key.sent(0, Some(2), 10), 2);
    /// assert_eq!(key.sent(0, Some(11), 10), 0, "after its answer: not believed");
    /// assert_eq!(key.sent(0, None, 10), 0);
    /// ```
    pub fn sent(&mut self, admitted_at: u64, wire: Option<u64>, now: u64) -> u64 {
        match wire.filter(|w| (admitted_at..=now).contains(w)) {
            Some(wire) => {
                self.on_sent(admitted_at, wire);
                wire
            }
            None => admitted_at,
        }
    }

    /// A request admitted by [`KeyMachine::commit`] has finished (or was never sent).
    pub fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Nothing is admitted before `until`; an earlier `until` never shortens a pause.
    pub fn pause_until(&mut self, until: u64) -> Changed {
        if until > self.pause_until {
            self.pause_until = until;
            return Changed {
                replan: true,
                learned: false,
                paused_until: Some(until),
            };
        }
        Changed::default()
    }

    /// Replaces the configured quotas at runtime (learned ones still apply), keeping state.
    pub fn set_configured(&mut self, quotas: &[Quota]) -> Result<Changed, KeyError> {
        let learned = self.learned_quotas();
        let pacing = self.pacing_quota();
        if quotas.len() + learned.len + usize::from(pacing.is_some()) > MAX_TIERS {
            return Err(KeyError::Tiers(TiersError::TooMany(quotas.len())));
        }
        self.rebuild(quotas, learned.as_slice(), pacing);
        Ok(Changed {
            replan: true,
            ..Changed::default()
        })
    }

    /// The configured quotas are enforced by a store that several processes share (each
    /// request's turn is reserved there before it comes here): they still count as the
    /// key's known quotas (a learned quota they cover is not installed, and a success that
    /// empties the server's window does not pause the key), but this machine no longer
    /// spaces admissions by them, so a request never goes later than its shared turn for a
    /// schedule only this process keeps. Learned and pacing tiers, the pause, the in-flight
    /// caps and the breaker still apply here.
    ///
    /// ```
    /// use headway_core::key::{InlineTiers, KeyMachine, KeyPolicy};
    /// use headway_core::Quota;
    ///
    /// let policy = KeyPolicy { margin: None, ..KeyPolicy::default() };
    /// let mut key: KeyMachine<InlineTiers> =
    ///     KeyMachine::new(&[Quota::per_second(2).unwrap()], &policy).unwrap();
    /// key.share_configured();
    /// key.commit(1, 0);
    /// assert_eq!(key.ready_at(1, 0), Ok(0));
    /// assert!(key.has_quota());
    /// ```
    pub fn share_configured(&mut self) {
        self.flags.0 |= Flags::SHARED;
    }

    /// How many leading tiers this machine does not space admissions by.
    fn unpaced(&self) -> usize {
        if self.flags.has(Flags::SHARED) {
            usize::from(self.configured)
        } else {
            0
        }
    }

    /// A request is about to be sent: a key that has never heard from its server sends one
    /// request at a time until the server answers. Without a quota, the first response can
    /// teach it before a whole window of requests hits it; with a margin
    /// ([`MarginPolicy`]), the first response bounds when the server counted the first
    /// request, whose way there (a new connection) is the slowest of all, so the second
    /// cannot land early behind it.
    pub fn probe_if_unknown(&mut self) {
        if self.contact == Contact::Unheard
            && (self.flags.has(Flags::LEARN) && !self.has_quota() || self.margin_ns > 0)
        {
            self.contact = Contact::Probing;
        }
    }

    /// A send on this key produced no response.
    pub fn on_failure(&mut self) -> Changed {
        self.heard_from_server()
    }

    /// A response came back at `now`, interpreted by [`crate::feedback::interpret`]:
    /// learned quotas, a pause for every waiter, pacing from `remaining`/`reset`. `rng`
    /// draws the pause's jitter.
    ///
    /// What pauses the key, for every waiter:
    /// - a `Retry-After` on 429, 503, a redirect or 403, and on no other status (see
    ///   [`retry_after_pauses_key`] for why);
    /// - a reset on a 429, with any remaining count or none;
    /// - an exhausted window (`remaining == 0` with a reset) on a retried status, or on any
    ///   response while the key has no known quota. With a known quota (configured or
    ///   learned), a successful response that leaves `remaining == 0` neither pauses the key
    ///   nor adds a pacing tier: the quota already spaces the next request, and servers that
    ///   report resets in whole seconds would otherwise stall a fast key;
    /// - a wait longer than `max_wait` on a 429 or 503 (the call fails with it): the key is
    ///   paused for the server's whole wait, so the requests behind it fail at once with what
    ///   is left of it rather than each sleeping `max_wait` to be told the same.
    ///
    /// A pause within `max_wait` never ends past `now + max_wait`: its jitter is cut to the
    /// room left below `max_wait`, so a request that queues after the response is never
    /// refused for a wait the server did not ask for.
    ///
    /// Without a known quota the headers are all there is: a pacing tier of one request per
    /// `reset` with a burst of `remaining`, counted from the server (within one window, the
    /// least room any of its answers said, less what is in flight). A server that says nothing at all (no window, no
    /// `Retry-After`) but 429 teaches a rate by its rejections instead, as the pacing tier:
    /// halved by a 429, raised by a 32nd every 16 successes in a row.
    ///
    /// `sent_at` is when the request was admitted. A response proves that the server had
    /// the request by `now`: if no request was admitted since, and the response took longer
    /// than the usual round trip by more than the margin, every tier's schedule moves by the
    /// excess (at most one of its intervals), since the server may have counted the request
    /// that late. So a request held up on its way (a busy machine, a slow connection) does
    /// not make the next one land early; see [`MarginPolicy`] for requests that overlap.
    pub fn on_response(
        &mut self,
        interp: &Interpretation,
        sent_at: u64,
        now: u64,
        policy: &KeyPolicy,
        rng: &mut SplitMix64,
    ) -> Changed {
        let room = (200..300).contains(&interp.status)
            && interp.feedback.remaining.is_some_and(|r| r >= 2);
        // With room at the server, nothing lands early: the margin has nothing to cover.
        let margin = policy.margin.as_ref().filter(|_| !room);
        self.bound_by_response(sent_at, now, margin);
        let mut changed = self.heard_from_server();
        if room {
            self.contact = Contact::HeardWithRoom;
        }
        let fb = &interp.feedback;
        if self.flags.has(Flags::LEARN) && !fb.policies.is_empty() && self.set_learned(interp, now)
        {
            changed.replan = true;
            changed.learned = true;
        }
        let has_quota = self.has_quota();
        let success = (200..300).contains(&interp.status);
        if success {
            self.streak = self.streak.saturating_add(1);
        }
        if let Some(m) = policy.margin {
            self.adapt_margin(&m, interp.status, has_quota);
        }
        let hinted = fb
            .retry_after_ns
            .filter(|_| retry_after_pauses_key(interp.status));
        let exhausted = match (fb.remaining, fb.reset_ns) {
            (Some(0), Some(reset)) if !has_quota || !matches!(interp.verdict, Verdict::Done) => {
                Some(reset.min(policy.max_wait_ns))
            }
            // A 429 with a reset waits for it, whatever count came with it.
            (_, Some(reset)) if interp.status == 429 => Some(reset.min(policy.max_wait_ns)),
            _ => None,
        };
        let pause = match (interp.verdict, hinted.or(exhausted)) {
            // The server's whole wait, beyond `max_wait`: the request that heard it fails
            // with it, and so does every request until then, at once, with what is left of
            // it (not after sleeping `max_wait` to be told again). Only the statuses whose
            // verdict wait is the key's pause (429, 503) do this; a 500's `Retry-After`
            // concerns its own retry.
            (Verdict::TooLong { wait_ns }, _)
                if matches!(
                    RetryReason::of(interp.status),
                    Some(RetryReason::RateLimited | RetryReason::Unavailable)
                ) =>
            {
                Some(now.saturating_add(wait_ns))
            }
            (_, Some(pause)) => {
                let room = policy.max_wait_ns.saturating_sub(pause);
                let cap = (pause / 32).min(policy.pause_jitter_max_ns).min(room);
                let jitter = if cap == 0 { 0 } else { rng.between(0, cap) };
                Some(now.saturating_add(pause).saturating_add(jitter))
            }
            (_, None) => None,
        };
        if let Some(until) = pause {
            let p = self.pause_until(until);
            changed.replan |= p.replan;
            changed.paused_until = p.paused_until;
        }
        if self.flags.has(Flags::LEARN) {
            // `remaining` is what the server takes before `reset`, in whatever way it counts
            // (a fixed or sliding window, a bucket): it may all go at once, and then one
            // request per `reset`. As a tier: 1 per reset with a burst of `remaining`
            // (beyond a timeline's worth, no limit at all).
            let said = match (has_quota, fb.remaining, fb.reset_ns) {
                (false, Some(r), Some(t)) if r > 0 && t > 0 => {
                    let r = u32::try_from(r).unwrap_or(u32::MAX);
                    Quota::from_nanos(1, t).and_then(|q| q.with_burst(r)).ok()
                }
                _ => None,
            };
            // The pacing tier the headers set before (not one discovered from rejections).
            let before = (self.pacing && !self.discovered)
                .then(|| self.tiers.tiers().last().copied())
                .flatten();
            let said = said.map(|q| self.in_window(q, before, sent_at, now));
            // Nothing but the status: no window, no Retry-After (a pause says when to come
            // back; discovery is for a server that says nothing at all).
            let silent =
                fb.remaining.is_none() && fb.reset_ns.is_none() && fb.retry_after_ns.is_none();
            let pacing = match said {
                None if !has_quota && silent => self.discover(interp.status, sent_at, now),
                said => {
                    self.discovered = false;
                    said
                }
            };
            if let Some(q) = pacing.filter(|_| self.discovered && interp.status == 429) {
                // A decrease drains what is in flight for one new interval.
                let p = self.pause_until(now.saturating_add(q.emission_interval_ns()));
                changed.replan |= p.replan;
                changed.paused_until = p.paused_until.or(changed.paused_until);
            }
            if pacing != self.pacing_quota() {
                let configured = self.configured_quotas();
                let learned = self.learned_quotas();
                self.rebuild(configured.as_slice(), learned.as_slice(), pacing);
                changed.replan = true;
            }
            if let (Some(q), true) = (said, self.pacing) {
                self.count_from_server(q, now);
                changed.replan = true;
            }
        }
        changed
    }

    /// True when dropping this key loses nothing at `now`: nothing in flight, no pause, nothing
    /// learned, every tier replenished, the breaker closed with no failure counted.
    pub fn is_idle(&self, now: u64) -> bool {
        self.in_flight == 0
            && self.pause_until <= now
            && self.learned == 0
            && !self.pacing
            && self.tiers.tiers().iter().all(|t| t.tat <= now)
            && self.breaker.as_ref().map_or(true, |b| {
                b.state(now)
                    == crate::breaker::BreakerState::Closed {
                        consecutive_failures: 0,
                    }
            })
    }

    /// A response to the request admitted at `sent_at` came back at `now`. With a margin,
    /// if it answers the latest admission and took longer than usual (the low estimate of
    /// the round trip; nothing before the first) by more than the margin, the request may
    /// have reached the server that much late, and the server's schedule with it: the tiers'
    /// schedules move by the excess, capped at one interval each. Every response also
    /// refines the round-trip estimate.
    fn bound_by_response(&mut self, sent_at: u64, now: u64, margin: Option<&MarginPolicy>) {
        let rtt = u32::try_from(now.saturating_sub(sent_at)).unwrap_or(u32::MAX);
        let floor = self.rtt_floor_ns;
        // 0 stands for none yet: a measured round trip is at least 1 ns.
        self.rtt_floor_ns = if floor == 0 || rtt < floor {
            rtt.max(1)
        } else {
            floor + (rtt - floor) / 64
        };
        // Without a margin, admissions go exactly on the quotas.
        let Some(m) = margin.filter(|_| self.margin_ns > 0) else {
            return;
        };
        let overlapped = sent_at != self.last_commit;
        if floor > 0 && overlapped {
            // A round trip this much slower than usual says the way there can be as slow,
            // and another request went while this one was out, which it may have been
            // overtaken by: beyond what the quotas' tolerance absorbs, the margin leans
            // toward it. (Alone on the way, the response bounds the schedule below.)
            let tolerance = self.tiers.tiers()[self.unpaced()..]
                .iter()
                .map(|t| t.timing().1)
                .min();
            let tolerance = u32::try_from(tolerance.unwrap_or(0)).unwrap_or(u32::MAX);
            let want = (rtt - floor.min(rtt))
                .saturating_sub(tolerance)
                .min(m.max_ns);
            if want > self.margin_ns {
                self.margin_ns += (want - self.margin_ns) / 16;
            }
        }
        if overlapped {
            return;
        }
        // Before any round trip is known, all of this one may have been on the way there.
        let late = u64::from(rtt.saturating_sub(floor).saturating_sub(self.margin_ns));
        if late == 0 {
            return;
        }
        let skip = self.unpaced();
        for tier in self.tiers.tiers_mut().iter_mut().skip(skip) {
            let (t_ns, tau_ns) = tier.timing();
            // Only a tier with no request to spare can be overrun by a late arrival.
            if tier.tat.saturating_sub(tau_ns) > now {
                tier.tat = tier.tat.saturating_add(late.min(t_ns));
            }
        }
    }

    /// The rate of a key whose server says nothing but 429, found from the rejections
    /// themselves (additive increase, multiplicative decrease): a 429 halves the rate it was
    /// sent at (the first one, the rate of the requests in flight over its round trip),
    /// once per decrease, since the requests already on their way when the rate was halved
    /// say nothing about the new one; every 16 successes in a row raise it by a 32nd. The
    /// rate is the pacing tier, one request per interval; `None` while nothing was learned.
    fn discover(&mut self, status: u16, sent_at: u64, now: u64) -> Option<Quota> {
        let current = self.pacing_quota().filter(|_| self.discovered);
        let interval = current.map(|q| q.emission_interval_ns());
        let next = match (status, interval) {
            (429, Some(t)) if sent_at < self.pause_until.saturating_sub(t) => t,
            (429, Some(t)) => t.saturating_mul(2),
            (429, None) => {
                let rtt = now.saturating_sub(sent_at).max(1);
                (rtt / u64::from(self.in_flight.saturating_add(1)))
                    .max(1)
                    .saturating_mul(2)
            }
            (200..=299, Some(t)) if self.streak % 16 == 0 => t - t / 33,
            (_, Some(t)) => t,
            (_, None) => return None,
        };
        if status == 429 {
            self.streak = 0;
        }
        self.discovered = true;
        Quota::from_nanos(1, next.clamp(1, DISCOVERED_MAX_INTERVAL_NS)).ok()
    }

    /// Widens the margin on a 429 while the quota is known, narrows it after a run of
    /// successes; see [`MarginPolicy`].
    fn adapt_margin(&mut self, m: &MarginPolicy, status: u16, has_quota: bool) {
        if status == 429 && has_quota {
            self.margin_ns = self
                .margin_ns
                .saturating_mul(2)
                .clamp(m.floor_ns.max(1), m.max_ns);
            self.streak = 0;
        } else if (200..300).contains(&status) && self.streak >= m.narrow_after {
            self.streak = 0;
            self.margin_ns = (self.margin_ns - self.margin_ns / 8).max(m.floor_ns);
        }
    }

    fn heard_from_server(&mut self) -> Changed {
        let was = core::mem::replace(&mut self.contact, Contact::Heard);
        Changed {
            replan: was == Contact::Probing,
            ..Changed::default()
        }
    }

    /// Installs the learned quotas of `interp`; tiers new to the key are charged at `now`
    /// for the requests already sent (the one that taught them and any still in flight).
    /// Returns whether anything changed.
    fn set_learned(&mut self, interp: &Interpretation, now: u64) -> bool {
        let mut learned = QuotaList::default();
        let configured = self.configured_quotas();
        for q in &interp.feedback.policies {
            if !configured.as_slice().iter().any(|c| covers(c, &q)) {
                learned.push(q);
            }
        }
        let room = MAX_TIERS - usize::from(self.configured);
        learned.len = learned.len.min(room);
        if learned.as_slice() == self.learned_quotas().as_slice() {
            return false;
        }
        let before = usize::from(self.configured + self.learned);
        if self.pacing {
            // Drop the pacing tier first, so that no learned tier inherits its state.
            let old = self.learned_quotas();
            self.rebuild(configured.as_slice(), old.as_slice(), None);
        }
        self.rebuild(configured.as_slice(), learned.as_slice(), None);
        // The server counted the requests already sent (the one that taught the quota, and
        // any still in flight): a tier new to the key is charged for them.
        let cells = self.in_flight.saturating_add(1);
        for tier in self.tiers.tiers_mut().iter_mut().skip(before) {
            let (t_ns, _) = tier.timing();
            tier.tat = tier
                .tat
                .max(now)
                .saturating_add(u64::from(cells).saturating_mul(t_ns));
        }
        true
    }

    fn configured_quotas(&self) -> QuotaList {
        self.slice_quotas(0, usize::from(self.configured))
    }

    fn learned_quotas(&self) -> QuotaList {
        let start = usize::from(self.configured);
        self.slice_quotas(start, start + usize::from(self.learned))
    }

    /// The pacing tier `q` an answer describes (1 per reset, a burst of the room it says),
    /// as the window counted so far allows it.
    ///
    /// Answers to requests in flight together come back in any order, and within one window
    /// an answer the server gave earlier says more room than a later one. So an answer to a
    /// request admitted (at `sent_at`) before the end on record of the window counted so far
    /// may be from that window, and its room is at most the least said in it (the burst of
    /// the tier `before`). Only a request admitted after that end was surely counted in a new
    /// window, and its answer starts the count afresh. An answer to a request admitted before
    /// the one that began the count may be from the window before, whose end it would give:
    /// it lowers the room, never the end.
    fn in_window(&mut self, q: Quota, before: Option<Tier>, sent_at: u64, now: u64) -> Quota {
        let end = now.saturating_add(q.emission_interval_ns());
        match before {
            Some(before) if sent_at < self.window_end => {
                if sent_at >= self.window_start {
                    self.window_end = self.window_end.min(end);
                }
                q.with_burst(q.burst().min(before.quota.burst()))
                    .unwrap_or(q)
            }
            _ => {
                self.window_start = sent_at;
                self.window_end = end;
                q
            }
        }
    }

    /// The server's count replaces the client's on the pacing tier `q`: its room goes now,
    /// less what is still on its way there (the server counts each once it arrives, and
    /// answers to those it counted already say less room), and the next request at the reset.
    fn count_from_server(&mut self, q: Quota, now: u64) {
        if let Some(tier) = self.tiers.tiers_mut().last_mut() {
            let on_the_way = u64::from(self.in_flight.min(q.burst()));
            tier.tat = now.saturating_add(on_the_way.saturating_mul(q.emission_interval_ns()));
        }
    }

    fn pacing_quota(&self) -> Option<Quota> {
        if self.pacing {
            self.tiers.tiers().last().map(Tier::quota)
        } else {
            None
        }
    }

    fn slice_quotas(&self, from: usize, to: usize) -> QuotaList {
        let mut out = QuotaList::default();
        for tier in &self.tiers.tiers()[from..to] {
            out.push(tier.quota);
        }
        out
    }

    fn rebuild(&mut self, configured: &[Quota], learned: &[Quota], pacing: Option<Quota>) {
        let mut all = QuotaList::default();
        for q in configured.iter().chain(learned).chain(pacing.as_ref()) {
            all.push(*q);
        }
        self.tiers.replace(all.as_slice());
        self.configured = configured.len().min(all.len) as u8;
        self.learned = learned.len().min(all.len - usize::from(self.configured)) as u8;
        self.pacing = pacing.is_some() && all.len > usize::from(self.configured + self.learned);
    }
}

/// A tier's schedule `new_tat` after an admission at `at`, plus `margin` when the admission
/// left the tier (tolerance `tau_ns`) with no request to spare; a tier with one to spare
/// absorbs the jitter itself.
fn with_margin(new_tat: u64, tau_ns: u64, at: u64, margin: u64) -> u64 {
    if new_tat.saturating_sub(tau_ns) > at {
        new_tat.saturating_add(margin)
    } else {
        new_tat
    }
}

/// True when the configured quota `c` already keeps a client within the learned one `l`: its
/// rate is no higher and its burst no larger than what `l` allows in one window. Such a
/// learned tier adds nothing but its own (conservative) spacing, so it is not installed; any
/// other learned tier applies beside the configured ones, so the stricter always wins.
fn covers(c: &Quota, l: &Quota) -> bool {
    let c_rate = u128::from(c.limit()) * u128::from(l.period_ns());
    let l_rate = u128::from(l.limit()) * u128::from(c.period_ns());
    c_rate <= l_rate && c.burst() <= l.limit()
}

/// Up to [`MAX_TIERS`] quotas on the stack, for rebuilding a key's tiers.
#[derive(Debug, Clone, Copy)]
struct QuotaList {
    quotas: [Quota; MAX_TIERS],
    len: usize,
}

impl Default for QuotaList {
    fn default() -> QuotaList {
        QuotaList {
            quotas: [UNUSED.quota; MAX_TIERS],
            len: 0,
        }
    }
}

impl QuotaList {
    fn push(&mut self, q: Quota) {
        if self.len < MAX_TIERS {
            self.quotas[self.len] = q;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[Quota] {
        &self.quotas[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::{interpret, Options};

    const MS: u64 = 1_000_000;

    /// The default policy without a margin: admissions exactly on the quotas.
    fn exact() -> KeyPolicy {
        KeyPolicy {
            margin: None,
            ..KeyPolicy::default()
        }
    }

    fn answer(key: &mut KeyMachine, headers: &[(&str, &str)], now: u64) -> Changed {
        answer_with(key, 200, headers, now, &exact())
    }

    fn answer_with(
        key: &mut KeyMachine,
        status: u16,
        headers: &[(&str, &str)],
        now: u64,
        policy: &KeyPolicy,
    ) -> Changed {
        let i = interpret(status, headers, 0, &Options::default());
        key.on_response(&i, now, now, policy, &mut SplitMix64::new(0))
    }

    #[test]
    fn the_margin_spaces_admissions_widens_on_a_429_and_narrows_after_successes() {
        let margin = MarginPolicy {
            initial_ns: 200_000,
            floor_ns: 150_000,
            max_ns: 500_000,
            narrow_after: 3,
        };
        let policy = KeyPolicy {
            margin: Some(margin),
            ..exact()
        };
        let q = Quota::per_second(1_000).unwrap();
        // A key that never sent to a server (a caller's own acquires) has no jitter to cover.
        let mut own: KeyMachine = KeyMachine::new(&[q], &policy).unwrap();
        own.commit(1, 0);
        assert_eq!(own.ready_at(1, 0), Ok(MS));
        // A key sending to a server probes it first; from then on the margin spaces it.
        let mut key: KeyMachine = KeyMachine::new(&[q], &policy).unwrap();
        key.probe_if_unknown();
        key.commit(1, 0);
        assert_eq!(key.ready_at(1, 0), Ok(MS + 200_000));
        // Planned turns carry the margin too.
        let mut s = key.schedule();
        assert_eq!(key.plan_on(&mut s, 1, 0), Ok(MS + 200_000));
        assert_eq!(key.plan_on(&mut s, 1, 0), Ok(2 * MS + 400_000));
        // A 429 with the quota known doubles it, up to the maximum.
        answer_with(&mut key, 429, &[], MS, &policy);
        assert_eq!(key.margin_ns(), 400_000);
        answer_with(&mut key, 429, &[], MS, &policy);
        assert_eq!(key.margin_ns(), 500_000);
        // Three successes in a row take an eighth off; a 5xx neither widens nor resets.
        for status in [200, 200, 500, 200] {
            answer_with(&mut key, status, &[], MS, &policy);
        }
        assert_eq!(key.margin_ns(), 500_000 - 62_500);
        for _ in 0..30 {
            answer_with(&mut key, 200, &[], MS, &policy);
        }
        assert_eq!(key.margin_ns(), 150_000, "never below the floor");
        // Without a quota a 429 says nothing about jitter: the margin stays.
        let mut unknown: KeyMachine = KeyMachine::new(&[], &policy).unwrap();
        answer_with(&mut unknown, 429, &[], 0, &policy);
        assert_eq!(unknown.margin_ns(), 200_000);
    }

    #[test]
    fn a_late_send_spaces_the_next_request_from_the_wire_while_it_is_the_latest() {
        let policy = KeyPolicy {
            margin: Some(MarginPolicy::default()),
            ..exact()
        };
        let strict = Quota::per_second(40).unwrap();
        let roomy = Quota::per_second(40).unwrap().with_burst(10).unwrap();
        let mut key: KeyMachine = KeyMachine::new(&[strict, roomy], &policy).unwrap();
        // A key sending to a server probes it first (the margin spaces only such a key).
        key.probe_if_unknown();
        key.commit(1, 0);
        let margin = u64::from(key.margin_ns());
        assert_eq!(key.ready_at(1, 0), Ok(25 * MS + margin));
        // On the wire 2 ms after its admission: the strict tier moves by that much; the tier
        // with room to spare absorbs it (its next slot is free already).
        key.on_sent(0, 2 * MS);
        assert_eq!(key.ready_at(1, 0), Ok(27 * MS + margin));
        assert_eq!(key.schedule().tats[1], 25 * MS);
        // The request is now known by its send: its answer, the first round trip, is taken
        // as alone on the way, and all of it beyond the margin may have been on the way there.
        let none: &[(&str, &str)] = &[];
        let i = interpret(200, none, 0, &Options::default());
        key.on_response(&i, 2 * MS, 3 * MS, &policy, &mut SplitMix64::new(0));
        assert_eq!(key.ready_at(1, 0), Ok(28 * MS));
        // A send reported for an admission that is no longer the latest, or one reported
        // before its admission, changes nothing.
        key.commit(1, 28 * MS);
        let next = key.ready_at(1, 0);
        key.on_sent(2 * MS, 30 * MS);
        key.on_sent(28 * MS, 20 * MS);
        assert_eq!(key.ready_at(1, 0), next);
        // A delay longer than an interval moves a tier by one interval at most.
        key.on_sent(28 * MS, 200 * MS);
        assert_eq!(key.ready_at(1, 0), next.map(|t| t + 25 * MS));
    }

    #[test]
    fn a_discovered_rate_rises_by_a_32nd_every_16_successes() {
        let policy = exact();
        let mut key: KeyMachine = KeyMachine::new(&[], &policy).unwrap();
        key.commit(1, 0);
        key.release();
        let none: &[(&str, &str)] = &[];
        let bare = |status| interpret(status, none, 0, &Options::default());
        let mut rng = SplitMix64::new(0);
        let interval = |k: &KeyMachine| k.quotas().next().map(|q| q.emission_interval_ns());
        // A bare 429, 33 ms after its send, nothing else in flight: 2 x 33 ms per request.
        key.on_response(&bare(429), 0, 33 * MS, &policy, &mut rng);
        assert_eq!(interval(&key), Some(66 * MS));
        assert_eq!(key.source(), QuotaSource::Learned);
        for _ in 0..15 {
            key.on_response(&bare(200), 0, 33 * MS, &policy, &mut rng);
        }
        assert_eq!(interval(&key), Some(66 * MS), "not before 16 successes");
        key.on_response(&bare(200), 0, 33 * MS, &policy, &mut rng);
        assert_eq!(interval(&key), Some(64 * MS));
        // A response that says something (here a Retry-After) ends the discovery.
        answer(&mut key, &[("Retry-After", "1")], 0);
        assert_eq!(interval(&key), None);
    }

    #[test]
    fn inconsistent_margins_are_refused() {
        let base = MarginPolicy::default();
        for bad in [
            MarginPolicy {
                floor_ns: base.initial_ns + 1,
                ..base
            },
            MarginPolicy {
                max_ns: base.initial_ns - 1,
                ..base
            },
            MarginPolicy {
                narrow_after: 0,
                ..base
            },
        ] {
            let policy = KeyPolicy {
                margin: Some(bad),
                ..KeyPolicy::default()
            };
            assert_eq!(
                KeyMachine::<InlineTiers>::new(&[], &policy).err(),
                Some(KeyError::Margin)
            );
        }
    }

    #[test]
    fn a_late_answer_from_the_window_before_lowers_the_room_but_not_the_windows_end() {
        let mut key: KeyMachine = KeyMachine::new(&[], &exact()).unwrap();
        let heard = |key: &mut KeyMachine, remaining: &str, reset: &str, sent_at, now| {
            key.release();
            let h = [
                ("X-RateLimit-Remaining", remaining),
                ("X-RateLimit-Reset", reset),
            ];
            let i = interpret(200, &h, 0, &Options::default());
            key.on_response(&i, sent_at, now, &exact(), &mut SplitMix64::new(0));
            key.quotas().last().unwrap().burst()
        };
        // a and b go at 0; a's answer starts a window that ends by 1.01 s.
        key.commit(1, 0);
        key.commit(1, 0);
        assert_eq!(heard(&mut key, "5", "1", 0, 10 * MS), 5);
        // c, sent after that end, is in a new window that ends by 2.11 s.
        key.commit(1, 1100 * MS);
        assert_eq!(heard(&mut key, "9", "1", 1100 * MS, 1110 * MS), 9);
        // b's answer, from the window before, comes back late: it may only lower the room.
        key.commit(1, 1115 * MS);
        assert_eq!(heard(&mut key, "4", "0.5", 0, 1120 * MS), 4);
        // d, sent at 1.7 s, is still in c's window (its end was not moved to b's 1.62 s), so
        // its answer cannot raise the room again.
        key.commit(1, 1700 * MS);
        assert_eq!(heard(&mut key, "9", "1", 1700 * MS, 1710 * MS), 4);
    }

    #[test]
    fn a_learned_tier_never_inherits_the_pacing_tiers_state() {
        let mut key: KeyMachine = KeyMachine::new(&[], &exact()).unwrap();
        key.commit(1, 0);
        key.release();
        // 1 left in a second: a pacing tier of 1 per second, with that one to spend.
        answer(
            &mut key,
            &[("X-RateLimit-Remaining", "1"), ("X-RateLimit-Reset", "1")],
            0,
        );
        key.commit(1, 0);
        key.release();
        assert_eq!(key.ready_at(1, 0), Ok(1000 * MS));
        // The server then publishes 10/s: a fresh tier, charged for the request that taught
        // it (100 ms), not the pacing tier's second plus that.
        let changed = answer(&mut key, &[("RateLimit-Policy", "\"q\";q=10;w=1")], 0);
        assert!(changed.learned && changed.replan);
        assert_eq!(
            key.quotas().collect::<std::vec::Vec<_>>(),
            [Quota::per_second(10).unwrap()]
        );
        assert_eq!(key.ready_at(1, 0), Ok(100 * MS));
    }

    #[test]
    fn zero_cells_are_impossible_with_the_quotas_burst() {
        let q = Quota::per_second(10).unwrap().with_burst(3).unwrap();
        let key: KeyMachine = KeyMachine::new(&[q], &KeyPolicy::default()).unwrap();
        assert_eq!(key.ready_at(0, 0), Err(Impossible { n: 0, burst: 3 }));
    }
}
