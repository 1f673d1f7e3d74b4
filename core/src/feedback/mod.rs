//! What an HTTP response means: a [`Verdict`] for the request and [`Feedback`] for its key.
//!
//! [`interpret`] is a pure function of the status, the headers, the local wall clock and
//! [`Options`]. It reads no clock and allocates nothing, so every adapter (tokio, the browser,
//! Node, an embedded client) makes the same decision from the same response.
//!
//! ```
//! use headway_core::feedback::{interpret, Options, RetryReason, Verdict};
//!
//! let headers = [("Retry-After", "5"), ("X-RateLimit-Remaining", "0")];
//! let i = interpret(429, &headers, 1_767_225_600_000, &Options::default());
//! assert_eq!(
//!     i.verdict,
//!     Verdict::Retry { after_ns: Some(5_000_000_000), reason: RetryReason::RateLimited }
//! );
//! assert_eq!(i.feedback.pause_ns, Some(5_000_000_000));
//! assert_eq!(i.feedback.remaining, Some(0));
//! ```
//!
//! # Time
//!
//! Every wait is a count of nanoseconds **from now**; the caller adds it to its own monotonic
//! `now`. The wall clock is needed only to read epochs and HTTP-dates. For that, the
//! *reference* instant is the response's `Date` header when it is present and parses to a date
//! not before 1970; otherwise it is `wall_ms`, the local unix time in milliseconds. Measuring a
//! server's epoch against the server's own `Date` means a skewed local clock cannot turn a reset
//! into a negative or an endless wait. `Date` has whole seconds: when `wall_ms` falls in the
//! very second `Date` names, the clocks agree and `wall_ms` (which says where in that second we
//! are) is the reference, so an epoch reset is not read up to a second too long. Dates and epochs at or before the reference give a wait
//! of zero.
//!
//! # Verdicts
//!
//! | status | verdict | `after_ns` |
//! |---|---|---|
//! | 429 | `Retry`, [`RetryReason::RateLimited`] | `Retry-After`; else the reset (whatever `remaining` says, or without one); else `None` |
//! | 503 | `Retry`, [`RetryReason::Unavailable`] | `Retry-After`; else the reset when remaining is 0; else `None` |
//! | 500, 502, 504, 408 | `Retry`, [`RetryReason::ServerError`] | `Retry-After`; else `None` |
//! | anything else (1xx, 2xx, 3xx, other 4xx and 5xx) | `Done` | |
//!
//! `after_ns: None` means the server gave no hint and the caller uses its backoff. When the
//! server's wait is longer than [`Options::max_wait_ns`], a retryable status gives
//! [`Verdict::TooLong`] carrying that wait (saturated at `u64::MAX`) instead of a retry, so a
//! client fails with the server's reason rather than sleeping for years.
//!
//! A 429 is the server refusing this request: any reset it names is when it will take the
//! next one, even when a `remaining` above zero comes with it (the count of another window,
//! or of a tier the headers do not name, was the one that ran out) and even with no
//! `remaining` at all (Discord's `X-RateLimit-Reset-After` alone). A 503 is an overload, not
//! a quota: its reset counts only when nothing remains.
//!
//! 408 (Request Timeout) is retried with the transient server errors: the server gave up
//! before it received the whole request, so nothing was processed and resending is safe even
//! for a non-idempotent method. Other statuses, including 501 and the other 4xx, are handed to
//! the caller: repeating the request would give the same answer.
//!
//! # Feedback
//!
//! [`Feedback`] is what the key's limiter learns from the response, on **any** status:
//!
//! - `pause_ns`: admit nothing on this key for this long: `Retry-After` (which beats every other
//!   hint) on the statuses it pauses a key on, 429, 503, 3xx and 403 (see
//!   [`retry_after_pauses_key`] for why those and no others); else the reset on a 429 or when
//!   the remaining quota is 0. Clamped to `max_wait_ns`.
//! - `retry_after_ns`: `Retry-After` alone, on any status (a 5xx's spaces its own retry).
//! - `limit`, `remaining`, `reset_ns`: the current window (`reset_ns` is the server's value,
//!   saturated but not clamped, so pacing over a long window stays exact).
//! - `policies`: quotas learned from `RateLimit-Policy`, up to [`MAX_TIERS`].
//!
//! # Headers understood
//!
//! Names are matched without regard to case. For each of `limit`, `remaining` and `reset`, the
//! first source below that gives a usable value wins:
//!
//! 1. `RateLimit`, IETF draft-ietf-httpapi-ratelimit-headers -08 and later: a list of service
//!    limit items such as `"default";r=50;t=30`. With several items the most constraining one is
//!    used (lowest `r`; on a tie, longest `t`), and its limit is the `q` of the same-named item
//!    in `RateLimit-Policy`. An item whose policy counts another unit than requests (`qu`,
//!    draft -09 and later: `content-bytes`, `concurrent-requests`, or any unit the client
//!    cannot count) is skipped: its `r` and `t` say nothing about when the next request may
//!    go. `t` is read as a delay in seconds in every version: -08 defines it as the time until
//!    the window resets, -10 and later as the time until more quota is available; either way
//!    no request on an exhausted item goes before it, and with `r` left, pacing spreads them
//!    over it (slower than -10 strictly allows, never faster). `pk`, the partition key of -10
//!    and later, names the server's partition (a user, a token) and is opaque to the client:
//!    an item with one is read like any other, and the key it applies to is the one the
//!    response came back on. Draft -07's dictionary form, `limit=100, remaining=50, reset=5`,
//!    is read when there is no -08 item.
//! 2. Draft -06: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (delta seconds).
//! 3. `X-RateLimit-Limit`, `X-RateLimit-Remaining`, and `X-RateLimit-Reset-After` (always delta
//!    seconds, decimals allowed, as Discord sends it) before `X-RateLimit-Reset` (GitHub's
//!    epoch seconds, Discord's epoch seconds with decimals, Reddit's delta seconds).
//! 4. `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining`, `X-Rate-Limit-Reset` (X/Twitter, Okta:
//!    epoch seconds).
//! 5. `X-RateLimit-Limit-Requests`, `X-RateLimit-Remaining-Requests`,
//!    `X-RateLimit-Reset-Requests` (OpenAI; the reset is a duration such as `6m0s`). The
//!    `-Tokens` pair counts tokens, a unit the client cannot count before the response: it
//!    is ignored.
//! 6. `X-Shopify-Shop-Api-Call-Limit: 32/40` (Shopify's leaky bucket, used/size): limit 40,
//!    remaining 8. It names no reset; a full bucket's 429 carries `Retry-After`.
//!
//! Vendor headers that name a scope rather than a count (Discord's `X-RateLimit-Bucket`,
//! `X-RateLimit-Global`, `X-RateLimit-Scope`; GitHub's `X-RateLimit-Resource` and
//! `X-RateLimit-Used`; Reddit's `X-Ratelimit-Used`) are not read: a key is one server, so a
//! global or shared limit already applies to every request the key sends, and the wait
//! comes from `Retry-After` or the reset.
//!
//! `Retry-After` is delay-seconds or an HTTP-date (IMF-fixdate, RFC 850 with RFC 9110's
//! 50-year rule for two-digit years, or asctime; see [`parse_http_date`]).
//!
//! `RateLimit-Policy` gives the quotas: every -08 item `"name";q=100;w=60` (parameters in any
//! order, unknown ones ignored) and every -07 item `100;w=60`. The draft gives `w` no default,
//! so an item without a window teaches nothing and is skipped, as are items with `q=0`, `w=0`,
//! or a `qu` quota unit other than `requests`. A quota above `u32::MAX` is read as `u32::MAX`
//! (slower than allowed, never faster). When `RateLimit-Policy` yields nothing, items with a
//! `w` in `RateLimit-Limit` (the form of early drafts, `10, 10;w=1, 50;w=60`) are used. A
//! learned quota's burst comes from what the server shows it takes back to back: an -08
//! policy whose same-named `RateLimit` item says `r` requests remain took this one and has
//! room for `r` more, a burst of at least `r + 1`. The quota takes a burst of `r` (at least 1,
//! at most `q`): one request of the server's burst stays in hand for the jitter between a
//! send and its arrival, which a client that used all of it would meet as 429s once the burst
//! is spent. Without such an item the burst is 1 (evenly spaced requests, which no server
//! policy rejects). A key keeps the largest burst it was shown (see
//! [`crate::key::KeyMachine::on_response`]).
//!
//! Problem-details bodies (-09 and later) are not read: the interpretation sees the status
//! and the headers only, and every server that sends such a body also sends the headers.
//!
//! # Reading values
//!
//! Counts (limit, remaining, `r`, `q`) are non-negative decimal numbers whose whole part fits
//! in `u64`; a fraction is dropped (Reddit's `598.0` is 598, `0.9` is 0). Waits (resets
//! and `Retry-After`) accept, in this order:
//!
//! 1. A bare decimal number, digits with an optional fraction (`5`, `1.5`,
//!    `1470173023.123`), read with integer arithmetic, rounding down to the nanosecond.
//!    **Epoch-vs-delta rule:** a bare number v: v >= 1e12 -> epoch milliseconds; v >= 1e9 ->
//!    epoch seconds; otherwise delta seconds. Epochs are measured against the Date header if
//!    present, else wall_ms; epochs in the past give 0. (1e9 seconds is almost 32 years, so no
//!    real delta is that long, and 1e12 seconds since 1970 is beyond the year 30000.) The one
//!    exception is `X-RateLimit-Reset-After`, whose bare numbers are always delta seconds.
//! 2. A duration with units, as in Go: `6m0s`, `1s`, `12ms`, `1.5s` (see
//!    [`parse_duration`](crate::duration::parse_duration)).
//! 3. An HTTP-date, measured against the reference instant.
//! 4. For a comma-joined value (a header sent twice and combined), its first member, when that
//!    is a number or a duration.
//!
//! `Retry-After` is read the same way, so `Retry-After: 1.5` is one and a half seconds (the RFC
//! asks for an integer; fractional values are accepted as meant) and an epoch there is read as
//! an epoch rather than as a wait of decades.
//!
//! # Bad input
//!
//! A server is not trusted. An unusable value (empty, garbage, negative like `-5`, `1e309`,
//! `NaN`, `inf`, non-ASCII digits, an invalid or zoned date) is ignored as if the header were
//! absent. A value too large to represent (`99999999999999999999`, a date in the year 9999)
//! saturates to `u64::MAX` nanoseconds rather than overflowing. No wait is ever negative, there
//! is no floating point anywhere, and nothing panics; property tests feed arbitrary text to
//! every header to hold that. When several entries share a name, [`Headers::get`] decides which
//! one is read (the first, for slices); header values that are not valid UTF-8 should be passed
//! as absent.
//!
//! Work is linear in the size of the headers, and nothing is allocated: only the first 64
//! members of a `RateLimit` list are read, and only the first 64 of a `RateLimit-Policy`
//! are searched for the policy one of them names (learned quotas are the first
//! [`MAX_TIERS`] usable items). A megabyte-long field of a hundred thousand items costs a
//! bounded number of passes over it, not one per item.

use core::time::Duration;

use crate::{Quota, MAX_TIERS, NANOS_PER_SEC};

mod date;
mod fields;
mod value;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

pub use date::parse_http_date;
pub use value::{EPOCH_MILLIS_THRESHOLD, EPOCH_SECONDS_THRESHOLD};

use fields::{members, unquote, Member};
use value::{Bare, Reference};

/// Header lookup by name, without regard to ASCII case.
///
/// Implemented for slices and arrays of `(name, value)` pairs (`&str` or anything that is
/// `AsRef<str>`), where the first match wins, so tests and embedders need no allocation.
/// Adapters implement it over their own header maps. On a slice, the inherent `get(usize)`
/// takes precedence in method syntax, so call it as `Headers::get(slice, name)`.
///
/// ```
/// use headway_core::feedback::Headers;
/// let h = [("Retry-After", "5"), ("retry-after", "6")];
/// assert_eq!(h.get("RETRY-AFTER"), Some("5"));
/// assert_eq!(Headers::get(&h[..], "date"), None);
/// ```
pub trait Headers {
    /// The value of the header `name` (any case), or `None` if it is absent.
    fn get(&self, name: &str) -> Option<&str>;
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for [(K, V)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Headers for [(K, V); N] {
    fn get(&self, name: &str) -> Option<&str> {
        Headers::get(&self[..], name)
    }
}

impl<H: Headers + ?Sized> Headers for &H {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
}

/// How responses are interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Options {
    /// The longest wait the client accepts, in nanoseconds. A retryable response whose server
    /// wait is longer gives [`Verdict::TooLong`]; every wait in [`Feedback`] is clamped to it.
    /// Default: 10 minutes.
    pub max_wait_ns: u64,
}

impl Options {
    /// The default longest wait: 10 minutes.
    pub const DEFAULT_MAX_WAIT_NS: u64 = 600 * NANOS_PER_SEC;

    /// Options with the given longest wait.
    pub const fn new(max_wait: Duration) -> Options {
        Options {
            max_wait_ns: crate::duration::saturating_nanos(max_wait),
        }
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_wait_ns: Options::DEFAULT_MAX_WAIT_NS,
        }
    }
}

/// Whether a `Retry-After` on a response with this status pauses the key (every request to
/// the same server), rather than at most the retry of the request it came with: 429, 503, a
/// redirect (3xx), or 403.
///
/// RFC 9110 gives `Retry-After` a meaning on 503 and on redirects, and RFC 6585 on 429: the
/// server asks for time before the next request. GitHub, among others, answers a request that
/// trips a secondary rate limit with a 403 carrying `Retry-After`, and a client that keeps
/// sending meanwhile is the one the server ends up banning; a 403 that is a plain denial
/// carries no `Retry-After`, so honouring one costs nothing there. On every other status the
/// header is not a statement about the server's capacity: on a success (2xx) the server did
/// the work; on another 4xx the request itself is at fault; on 500, 502, 504 and 408 it spaces
/// out the retry of that one request ([`Verdict::Retry`]'s `after_ns`) and nothing else, so a
/// stray or hostile value on one failing endpoint cannot stall every other request.
///
/// ```
/// use headway_core::feedback::retry_after_pauses_key;
/// assert!(retry_after_pauses_key(429) && retry_after_pauses_key(503));
/// assert!(retry_after_pauses_key(403) && retry_after_pauses_key(301));
/// assert!(!retry_after_pauses_key(200) && !retry_after_pauses_key(404));
/// assert!(!retry_after_pauses_key(500));
/// ```
pub const fn retry_after_pauses_key(status: u16) -> bool {
    matches!(status, 300..=399 | 403 | 429 | 503)
}

/// Why a response is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryReason {
    /// 429 Too Many Requests.
    RateLimited,
    /// 503 Service Unavailable.
    Unavailable,
    /// A transient failure: 500, 502, 504, or 408 Request Timeout.
    ServerError,
}

impl RetryReason {
    /// The reason for `status`, or `None` if that status is not retried (see the module docs).
    ///
    /// ```
    /// use headway_core::feedback::RetryReason;
    /// assert_eq!(RetryReason::of(429), Some(RetryReason::RateLimited));
    /// assert_eq!(RetryReason::of(408), Some(RetryReason::ServerError));
    /// assert_eq!(RetryReason::of(404), None);
    /// ```
    pub const fn of(status: u16) -> Option<RetryReason> {
        match status {
            429 => Some(RetryReason::RateLimited),
            503 => Some(RetryReason::Unavailable),
            408 | 500 | 502 | 504 => Some(RetryReason::ServerError),
            _ => None,
        }
    }

    /// A stable snake_case name: `"rate_limited"`, `"unavailable"` or `"server_error"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RetryReason::RateLimited => "rate_limited",
            RetryReason::Unavailable => "unavailable",
            RetryReason::ServerError => "server_error",
        }
    }
}

/// What to do with the request that got this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// A success, or a status that is not retried: hand the response to the caller.
    Done,
    /// Send the request again.
    Retry {
        /// The server's wait in nanoseconds from now, at most `max_wait_ns`: `Retry-After`, or
        /// the reset on a 429 (with any remaining count, or none) or on a 503 whose remaining
        /// quota is 0. `None`: the server gave no hint and the caller uses its backoff.
        after_ns: Option<u64>,
        /// Why the response is retried.
        reason: RetryReason,
    },
    /// The server asks for a wait longer than `max_wait_ns`: fail with this typed outcome
    /// instead of sleeping.
    TooLong {
        /// The server's wait in nanoseconds from now, saturated at `u64::MAX`.
        wait_ns: u64,
    },
}

/// Quotas learned from `RateLimit-Policy`: at most [`MAX_TIERS`] of them, in the order the
/// server listed them, without allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policies {
    quotas: [Option<Quota>; MAX_TIERS],
    len: usize,
}

impl Policies {
    /// No policies.
    pub const fn new() -> Policies {
        Policies {
            quotas: [None; MAX_TIERS],
            len: 0,
        }
    }

    /// Adds a quota; returns `false` (and drops it) when [`MAX_TIERS`] are already held.
    pub fn push(&mut self, quota: Quota) -> bool {
        match self.quotas.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(quota);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// How many quotas are held.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no quota is held.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th quota.
    pub fn get(&self, i: usize) -> Option<Quota> {
        self.quotas.get(i).copied().flatten()
    }

    /// The quotas, in order.
    pub fn iter(&self) -> PolicyIter<'_> {
        PolicyIter {
            inner: self.quotas.iter(),
        }
    }
}

impl Default for Policies {
    fn default() -> Policies {
        Policies::new()
    }
}

impl<'a> IntoIterator for &'a Policies {
    type Item = Quota;
    type IntoIter = PolicyIter<'a>;

    fn into_iter(self) -> PolicyIter<'a> {
        self.iter()
    }
}

/// Iterator over the quotas in [`Policies`].
#[derive(Debug, Clone)]
pub struct PolicyIter<'a> {
    inner: core::slice::Iter<'a, Option<Quota>>,
}

impl Iterator for PolicyIter<'_> {
    type Item = Quota;

    fn next(&mut self) -> Option<Quota> {
        self.inner.by_ref().flatten().next().copied()
    }
}

/// What the key's limiter learns from a response (on any status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Feedback {
    /// Admit nothing on this key for this many nanoseconds from now: `Retry-After` on a status
    /// it pauses a key on ([`retry_after_pauses_key`]), else the reset on a 429 or when the
    /// remaining quota is 0. At most `max_wait_ns`. (What a key does with it depends on the
    /// status and on what it knows: see [`crate::key::KeyMachine::on_response`].)
    pub pause_ns: Option<u64>,
    /// The `Retry-After` wait alone, whatever the status, at most `max_wait_ns`: `None` when
    /// the header is absent or unreadable.
    pub retry_after_ns: Option<u64>,
    /// Requests allowed in the current window (`RateLimit` / `RateLimit-Limit` /
    /// `X-RateLimit-Limit` / -07 `limit=` / the -08 policy's `q`).
    pub limit: Option<u64>,
    /// Requests left in the current window.
    pub remaining: Option<u64>,
    /// Nanoseconds from now until the window resets: the server's value, saturated, not
    /// clamped (spreading the remaining quota over a clamped reset would go too fast).
    pub reset_ns: Option<u64>,
    /// Quotas learned from `RateLimit-Policy`.
    pub policies: Policies,
}

/// The meaning of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interpretation {
    /// The response's status.
    pub status: u16,
    /// What to do with this request.
    pub verdict: Verdict,
    /// What the key's limiter learns.
    pub feedback: Feedback,
}

/// Every response header [`interpret`] reads, in the case servers usually send. A browser
/// app reading a cross-origin API sees only the headers the server exposes: these are the
/// ones to list in its `Access-Control-Expose-Headers`.
///
/// ```
/// use headway_core::feedback::HEADERS_READ;
/// assert!(HEADERS_READ.contains(&"Retry-After"));
/// assert!(HEADERS_READ.contains(&"RateLimit-Policy"));
/// ```
pub const HEADERS_READ: &[&str] = &[
    "Retry-After",
    "Date",
    "RateLimit",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Reset-After",
    "X-Rate-Limit-Limit",
    "X-Rate-Limit-Remaining",
    "X-Rate-Limit-Reset",
    "X-RateLimit-Limit-Requests",
    "X-RateLimit-Remaining-Requests",
    "X-RateLimit-Reset-Requests",
    "X-Shopify-Shop-Api-Call-Limit",
];

/// Interprets a response: its `status`, its `headers`, and the local unix time `wall_ms` in
/// milliseconds (used only for epochs and dates, and replaced by the response's `Date` header
/// when that parses). See the module docs for every rule.
///
/// ```
/// use headway_core::feedback::{interpret, Options, Verdict};
///
/// // GitHub: an epoch-seconds reset, measured against the server's Date header.
/// let h = [
///     ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
///     ("x-ratelimit-limit", "5000"),
///     ("x-ratelimit-remaining", "0"),
///     ("x-ratelimit-reset", "1767225630"),
/// ];
/// // The local clock is an hour fast; the server's Date wins.
/// let i = interpret(403, &h, 1_767_229_200_000, &Options::default());
/// assert_eq!(i.verdict, Verdict::Done);
/// assert_eq!(i.feedback.pause_ns, Some(30_000_000_000));
/// assert_eq!(i.feedback.limit, Some(5000));
/// ```
pub fn interpret<H: Headers + ?Sized>(
    status: u16,
    headers: &H,
    wall_ms: u64,
    opts: &Options,
) -> Interpretation {
    let max = opts.max_wait_ns;
    let reference = reference(headers, wall_ms);
    let retry_after = headers
        .get("retry-after")
        .and_then(|v| value::wait(v, Bare::EpochOrDelta, reference));
    let window = Window::read(headers, reference);
    // The reset as a wait: on a 429 whatever count came with it (the server refused this
    // request and says when its quota comes back), elsewhere only when nothing remains.
    let reset_wait = match (status, window.remaining) {
        (429, _) | (_, Some(0)) => window.reset_ns,
        _ => None,
    };
    let pause = retry_after
        .filter(|_| retry_after_pauses_key(status))
        .or(reset_wait);

    let verdict = match RetryReason::of(status) {
        None => Verdict::Done,
        Some(reason) => {
            let wait = match reason {
                RetryReason::RateLimited | RetryReason::Unavailable => pause,
                RetryReason::ServerError => retry_after,
            };
            match wait {
                Some(wait_ns) if wait_ns > max => Verdict::TooLong { wait_ns },
                after_ns => Verdict::Retry { after_ns, reason },
            }
        }
    };

    Interpretation {
        status,
        verdict,
        feedback: Feedback {
            pause_ns: pause.map(|p| p.min(max)),
            retry_after_ns: retry_after.map(|p| p.min(max)),
            limit: window.limit,
            remaining: window.remaining,
            reset_ns: window.reset_ns,
            policies: policies(headers),
        },
    }
}

/// The instant epochs and dates are measured against: the `Date` header, else `wall_ms`.
///
/// `Date` has whole seconds: the server's clock was somewhere in that second. When the local
/// clock is in the same second, the two agree, and the local clock says where in it we are
/// (without it, a reset would read up to a second long); otherwise the local clock is skewed
/// and `Date` alone decides.
fn reference<H: Headers + ?Sized>(headers: &H, wall_ms: u64) -> Reference {
    let local = Reference::from_millis(wall_ms);
    headers
        .get("date")
        .and_then(|d| parse_http_date(d, local.unix_secs))
        .and_then(|secs| u64::try_from(secs).ok())
        .map_or(local, |secs| {
            if wall_ms / 1000 == secs {
                local
            } else {
                Reference::from_secs(secs)
            }
        })
}

/// The current window as one source describes it; unknown fields are `None`.
/// The members of a `RateLimit` list read, and of a `RateLimit-Policy` list searched for
/// the policy an item names (a server sends a handful): each `RateLimit` item that would be
/// the most constraining one so far is looked up in the policy, so this bounds the work a
/// hostile server's long lists cost to a fixed number of passes over them.
const MAX_ITEMS: usize = 64;

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset_ns: Option<u64>,
}

/// `(limit, remaining, [(reset, how bare numbers read)])` header names, in priority order.
type Source = (&'static str, &'static str, &'static [(&'static str, Bare)]);

const SOURCES: [Source; 4] = [
    (
        "ratelimit-limit",
        "ratelimit-remaining",
        &[("ratelimit-reset", Bare::EpochOrDelta)],
    ),
    (
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        &[
            ("x-ratelimit-reset-after", Bare::Delta),
            ("x-ratelimit-reset", Bare::EpochOrDelta),
        ],
    ),
    (
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        &[("x-rate-limit-reset", Bare::EpochOrDelta)],
    ),
    (
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        &[("x-ratelimit-reset-requests", Bare::EpochOrDelta)],
    ),
];

impl Window {
    fn read<H: Headers + ?Sized>(headers: &H, reference: Reference) -> Window {
        let mut w = Window::from_ratelimit(headers, reference);
        for (limit, remaining, resets) in SOURCES {
            if w.limit.is_none() {
                w.limit = headers.get(limit).and_then(value::count);
            }
            if w.remaining.is_none() {
                w.remaining = headers.get(remaining).and_then(value::count);
            }
            for &(reset, bare) in resets {
                if w.reset_ns.is_none() {
                    w.reset_ns = headers
                        .get(reset)
                        .and_then(|v| value::wait(v, bare, reference));
                }
            }
        }
        if w.limit.is_none() || w.remaining.is_none() {
            let shopify = headers
                .get("x-shopify-shop-api-call-limit")
                .and_then(value::used_of);
            if let Some((limit, remaining)) = shopify {
                w.limit = w.limit.or(Some(limit));
                w.remaining = w.remaining.or(Some(remaining));
            }
        }
        w
    }

    /// The `RateLimit` field: -08 service-limit items, else the -07 dictionary.
    fn from_ratelimit<H: Headers + ?Sized>(headers: &H, reference: Reference) -> Window {
        let Some(field) = headers.get("ratelimit") else {
            return Window::default();
        };
        let mut dict = Window::default();
        // The most constraining -08 item: (remaining, reset, policy name).
        let mut best: Option<(u64, Option<u64>, &str)> = None;
        for m in members(field).take(MAX_ITEMS) {
            match m.key {
                Some(key) => {
                    if key.eq_ignore_ascii_case("limit") {
                        dict.limit = dict.limit.or_else(|| value::count(m.item));
                    } else if key.eq_ignore_ascii_case("remaining") {
                        dict.remaining = dict.remaining.or_else(|| value::count(m.item));
                    } else if key.eq_ignore_ascii_case("reset") {
                        dict.reset_ns = dict
                            .reset_ns
                            .or_else(|| value::wait(m.item, Bare::EpochOrDelta, reference));
                    }
                }
                None => {
                    let Some(r) = m.param("r").and_then(value::count) else {
                        continue;
                    };
                    let t = m
                        .param("t")
                        .and_then(|t| value::wait(t, Bare::EpochOrDelta, reference));
                    let better = match best {
                        None => true,
                        Some((br, bt, _)) => r < br || (r == br && t > bt),
                    };
                    // A limit on bytes (or any unit but requests) says nothing about when
                    // the next request may go. The policy is looked up only for an item
                    // that would be the new best, so a long `RateLimit` is not a pass over
                    // the policy for each of its items.
                    let policy = headers.get("ratelimit-policy");
                    if better && policy.map_or(true, |p| counts_requests(p, m.name())) {
                        best = Some((r, t, m.name()));
                    }
                }
            }
        }
        match best {
            Some((remaining, reset_ns, name)) => Window {
                limit: headers
                    .get("ratelimit-policy")
                    .and_then(|p| policy_quota_named(p, name)),
                remaining: Some(remaining),
                reset_ns,
            },
            None => dict,
        }
    }
}

/// Whether the -08 policy item named `name` (if any) counts requests: its `qu` (IETF -09
/// and later) is absent or `requests`.
fn counts_requests(field: &str, name: &str) -> bool {
    members(field)
        .take(MAX_ITEMS)
        .find(|m| m.key.is_none() && m.name() == name && value::count(m.item).is_none())
        .and_then(|m| m.param("qu"))
        .map_or(true, |unit| unquote(unit).eq_ignore_ascii_case("requests"))
}

/// The `q` of the -08 policy item named `name`.
fn policy_quota_named(field: &str, name: &str) -> Option<u64> {
    members(field)
        .take(MAX_ITEMS)
        .find(|m| m.key.is_none() && m.name() == name && value::count(m.item).is_none())
        .and_then(|m| m.param("q"))
        .and_then(value::count)
}

/// Quotas from `RateLimit-Policy`, or failing that from `RateLimit-Limit`.
fn policies<H: Headers + ?Sized>(headers: &H) -> Policies {
    let mut out = Policies::new();
    for name in ["ratelimit-policy", "ratelimit-limit"] {
        if let Some(field) = headers.get(name) {
            let counts = headers.get("ratelimit");
            for m in members(field) {
                let Some(quota) = policy(&m) else {
                    continue;
                };
                // Only an -08 item has a name for `RateLimit` to count it by.
                let named = value::count(m.item).is_none();
                let room = counts
                    .filter(|_| named)
                    .and_then(|c| remaining_named(c, m.name()));
                let quota = room.map_or(quota, |r| shown_burst(quota, r));
                if !out.push(quota) {
                    break;
                }
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

/// The `r` of the -08 `RateLimit` item named `name`: requests left in that policy.
fn remaining_named(field: &str, name: &str) -> Option<u64> {
    members(field)
        .take(MAX_ITEMS)
        .find(|m| m.key.is_none() && m.name() == name && value::count(m.item).is_none())
        .and_then(|m| m.param("r"))
        .and_then(value::count)
}

/// `quota` with a burst of what the server just showed less one kept in hand: `remaining`
/// (this request and `remaining` more went back to back), at least 1 and at most the quota's
/// limit (and `quota` as it is where that burst does not fit the arithmetic).
fn shown_burst(quota: Quota, remaining: u64) -> Quota {
    let burst = remaining
        .max(1)
        .min(u64::from(quota.limit()))
        .min(u64::from(u32::MAX));
    u32::try_from(burst)
        .ok()
        .and_then(|b| quota.with_burst(b).ok())
        .unwrap_or(quota)
}

/// One quota policy item: -07 `100;w=60` or -08 `"name";q=100;w=60`.
fn policy(m: &Member<'_>) -> Option<Quota> {
    if m.key.is_some() || m.item.is_empty() {
        return None;
    }
    let limit = match value::count(m.item) {
        Some(limit) => limit,
        None => {
            if let Some(unit) = m.param("qu") {
                if !unquote(unit).eq_ignore_ascii_case("requests") {
                    return None;
                }
            }
            value::count(m.param("q")?)?
        }
    };
    let window_ns = value::seconds(m.param("w")?)?;
    Quota::from_nanos(u32::try_from(limit).unwrap_or(u32::MAX), window_ns).ok()
}
