//! What the fuzz targets share: how an input becomes a response (status, clocks and headers),
//! and the bounds every interpretation must keep.

use headway_core::feedback::{Interpretation, RetryReason, Verdict};
use headway_core::MAX_TIERS;

/// Every header name `interpret` reads, so that arbitrary input reaches them often.
pub const NAMES: &[&str] = headway_core::feedback::HEADERS_READ;

/// A response written as text, the form of the seed corpus:
///
/// ```text
/// 429 1767225600000 600000000000
/// Retry-After: 5
/// RateLimit-Policy: "burst";q=100;w=60
/// ```
///
/// The first line is the status, the local wall clock (unix milliseconds) and `max_wait`
/// (nanoseconds); a missing or unreadable number takes a default (429, 2026-01-01, 10
/// minutes). Every further line is a header, `name: value` (a line without a colon is a
/// header with an empty value). A name of one character `0`-`9`, `a`-`h` stands for
/// [`NAMES`]`[i]`, so that short inputs reach every header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The local wall clock, unix milliseconds.
    pub wall_ms: u64,
    /// The longest wait accepted, nanoseconds.
    pub max_wait_ns: u64,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// Reads `data` as described on [`Response`]; invalid UTF-8 becomes U+FFFD.
    pub fn parse(data: &[u8]) -> Response {
        let text = String::from_utf8_lossy(data);
        let mut lines = text.split('\n');
        let mut first = lines.next().unwrap_or("").split_ascii_whitespace();
        let mut number = |default: u64| {
            first
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(default)
        };
        let status = u16::try_from(number(429)).unwrap_or(429);
        let wall_ms = number(1_767_225_600_000);
        let max_wait_ns = number(600_000_000_000);
        let headers = lines
            .map(|line| {
                let line = line.strip_suffix('\r').unwrap_or(line);
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                (short_name(name), value.trim_start().to_owned())
            })
            .collect();
        Response {
            status,
            wall_ms,
            max_wait_ns,
            headers,
        }
    }
}

/// `name`, or the header of [`NAMES`] it stands for.
fn short_name(name: &str) -> String {
    let index = match name.as_bytes() {
        [c @ b'0'..=b'9'] => Some(usize::from(c - b'0')),
        [c @ b'a'..=b'h'] => Some(usize::from(c - b'a') + 10),
        _ => None,
    };
    match index.and_then(|i| NAMES.get(i)) {
        Some(known) => (*known).to_owned(),
        None => name.to_owned(),
    }
}

/// The bounds every interpretation keeps, whatever the headers: no pause or retry wait
/// above `max_wait_ns`, `TooLong` only for a wait above it, a verdict that matches the
/// status, at most [`MAX_TIERS`] policies.
pub fn check_bounds(i: &Interpretation, status: u16, max_wait_ns: u64) {
    let f = &i.feedback;
    assert_eq!(i.status, status);
    assert!(f.pause_ns.is_none_or(|p| p <= max_wait_ns), "{i:?}");
    assert!(f.retry_after_ns.is_none_or(|p| p <= max_wait_ns), "{i:?}");
    assert!(f.policies.len() <= MAX_TIERS);
    assert_eq!(f.policies.iter().count(), f.policies.len());
    match i.verdict {
        Verdict::Done => assert!(RetryReason::of(status).is_none(), "{i:?}"),
        Verdict::Retry { after_ns, reason } => {
            assert_eq!(RetryReason::of(status), Some(reason));
            assert!(after_ns.is_none_or(|a| a <= max_wait_ns), "{i:?}");
        }
        Verdict::TooLong { wait_ns } => {
            assert!(RetryReason::of(status).is_some(), "{i:?}");
            assert!(wait_ns > max_wait_ns, "{i:?}");
        }
    }
}
