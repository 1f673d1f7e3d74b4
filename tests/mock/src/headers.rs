//! The rate-limit headers each [`HeaderStyle`] writes, and `Retry-After`.
//!
//! All values are whole seconds. Delta values (`reset`, `t`, `RateLimit-Reset`) are the quota's
//! reset rounded up; an epoch `X-RateLimit-Reset` is the `Date` clock plus the exact reset,
//! rounded up. For a multi-quota (tiered) route the single-valued styles describe the most
//! restrictive quota (least remaining, then longest reset), and the list-valued fields
//! (`RateLimit-Policy` in -07 and -08, `RateLimit` in -08) list every quota in configured order.

use crate::clock::http_date;
use crate::config::{HeaderStyle, RetryAfterStyle};
use crate::policy::{secs_ceil, Snapshot};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Header names the CORS `Access-Control-Expose-Headers` lists.
pub(crate) const EXPOSED: &str = "Retry-After, Date, RateLimit, RateLimit-Policy, \
RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, \
X-RateLimit-Reset, X-RateLimit-Reset-After";

/// The rate-limit headers for `snapshot` in `style`, with the `Date` clock at `wall_ns`.
/// Unlimited routes (no quotas) get none.
pub(crate) fn rate_limit_headers(
    style: HeaderStyle,
    snapshot: &Snapshot,
    wall_ns: u64,
) -> Vec<(&'static str, String)> {
    let Some(bind) = snapshot.binding() else {
        return Vec::new();
    };
    let reset = secs_ceil(bind.reset_ns);
    match style {
        HeaderStyle::None => Vec::new(),
        HeaderStyle::XRatelimitEpoch => vec![
            ("x-ratelimit-limit", bind.limit.to_string()),
            ("x-ratelimit-remaining", bind.remaining.to_string()),
            (
                "x-ratelimit-reset",
                secs_ceil(wall_ns.saturating_add(bind.reset_ns)).to_string(),
            ),
        ],
        HeaderStyle::XRatelimitDelta => vec![
            ("x-ratelimit-limit", bind.limit.to_string()),
            ("x-ratelimit-remaining", bind.remaining.to_string()),
            ("x-ratelimit-reset", reset.to_string()),
        ],
        HeaderStyle::Ietf06 => vec![
            ("ratelimit-limit", bind.limit.to_string()),
            ("ratelimit-remaining", bind.remaining.to_string()),
            ("ratelimit-reset", reset.to_string()),
        ],
        HeaderStyle::Ietf07 => vec![
            (
                "ratelimit",
                format!(
                    "limit={}, remaining={}, reset={}",
                    bind.limit, bind.remaining, reset
                ),
            ),
            (
                "ratelimit-policy",
                join(
                    snapshot
                        .quotas
                        .iter()
                        .map(|q| format!("{};w={}", q.limit, q.window_secs)),
                ),
            ),
        ],
        HeaderStyle::Ietf08 => vec![
            (
                "ratelimit-policy",
                join(
                    snapshot
                        .quotas
                        .iter()
                        .map(|q| format!("\"{}\";q={};w={}", q.name, q.limit, q.window_secs)),
                ),
            ),
            (
                "ratelimit",
                join(snapshot.quotas.iter().map(|q| {
                    format!(
                        "\"{}\";r={};t={}",
                        q.name,
                        q.remaining,
                        secs_ceil(q.reset_ns)
                    )
                })),
            ),
        ],
    }
}

/// The `Retry-After` value for a wait of `wait_ns`, or `None` for [`RetryAfterStyle::None`].
/// Seconds are rounded up and at least 1; a date is the `Date` clock plus the wait, rounded up.
pub(crate) fn retry_after(style: RetryAfterStyle, wait_ns: u64, wall_ns: u64) -> Option<String> {
    match style {
        RetryAfterStyle::None => None,
        RetryAfterStyle::Seconds => Some(secs_ceil(wait_ns).max(1).to_string()),
        RetryAfterStyle::HttpDate => Some(http_date(secs_ceil(wall_ns.saturating_add(wait_ns)))),
    }
}

/// `Retry-After` for a configured whole number of seconds (written as configured, even 0).
pub(crate) fn retry_after_secs(style: RetryAfterStyle, secs: u64, wall_ns: u64) -> Option<String> {
    match style {
        RetryAfterStyle::Seconds => Some(secs.to_string()),
        _ => retry_after(style, secs.saturating_mul(NANOS_PER_SEC), wall_ns),
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::QuotaView;

    const S: u64 = NANOS_PER_SEC;

    fn snap() -> Snapshot {
        Snapshot {
            quotas: vec![
                QuotaView {
                    name: "burst".into(),
                    limit: 10,
                    window_secs: 1,
                    remaining: 4,
                    reset_ns: S / 10,
                },
                QuotaView {
                    name: "hour".into(),
                    limit: 100,
                    window_secs: 3600,
                    remaining: 0,
                    reset_ns: 29 * S + 1,
                },
            ],
        }
    }

    fn get(h: &[(&'static str, String)], name: &str) -> String {
        h.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    #[test]
    fn each_style() {
        let wall = 1_000 * S + S / 2;
        let s = snap();
        assert!(rate_limit_headers(HeaderStyle::None, &s, wall).is_empty());
        let h = rate_limit_headers(HeaderStyle::XRatelimitEpoch, &s, wall);
        assert_eq!(get(&h, "x-ratelimit-limit"), "100");
        assert_eq!(get(&h, "x-ratelimit-remaining"), "0");
        assert_eq!(get(&h, "x-ratelimit-reset"), "1030");
        let h = rate_limit_headers(HeaderStyle::XRatelimitDelta, &s, wall);
        assert_eq!(get(&h, "x-ratelimit-reset"), "30");
        let h = rate_limit_headers(HeaderStyle::Ietf06, &s, wall);
        assert_eq!(get(&h, "ratelimit-limit"), "100");
        assert_eq!(get(&h, "ratelimit-reset"), "30");
        let h = rate_limit_headers(HeaderStyle::Ietf07, &s, wall);
        assert_eq!(get(&h, "ratelimit"), "limit=100, remaining=0, reset=30");
        assert_eq!(get(&h, "ratelimit-policy"), "10;w=1, 100;w=3600");
        let h = rate_limit_headers(HeaderStyle::Ietf08, &s, wall);
        assert_eq!(
            get(&h, "ratelimit-policy"),
            "\"burst\";q=10;w=1, \"hour\";q=100;w=3600"
        );
        assert_eq!(get(&h, "ratelimit"), "\"burst\";r=4;t=1, \"hour\";r=0;t=30");
        assert!(rate_limit_headers(HeaderStyle::Ietf08, &Snapshot::default(), wall).is_empty());
    }

    #[test]
    fn retry_after_styles() {
        let wall = 784_111_777 * S + S / 2;
        assert_eq!(retry_after(RetryAfterStyle::None, S, wall), None);
        assert_eq!(
            retry_after(RetryAfterStyle::Seconds, S / 100, wall).as_deref(),
            Some("1")
        );
        assert_eq!(
            retry_after(RetryAfterStyle::Seconds, 2 * S + 1, wall).as_deref(),
            Some("3")
        );
        assert_eq!(
            retry_after(RetryAfterStyle::HttpDate, 2 * S, wall).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:40 GMT")
        );
        assert_eq!(
            retry_after_secs(RetryAfterStyle::Seconds, 0, wall).as_deref(),
            Some("0")
        );
    }
}
