//! Unit tests for [`interpret`], one group per header form and rule.

use super::*;
use crate::NANOS_PER_MILLI;

const S: u64 = NANOS_PER_SEC;
/// 2026-01-01T00:00:00Z.
const NOW_MS: u64 = 1_767_225_600_000;
const MAX: u64 = 600 * S;

fn run(status: u16, headers: &[(&str, &str)]) -> Interpretation {
    interpret(status, headers, NOW_MS, &Options::default())
}

fn retry(after_ns: Option<u64>, reason: RetryReason) -> Verdict {
    Verdict::Retry { after_ns, reason }
}

fn quotas(p: &Policies) -> std::vec::Vec<(u32, u64)> {
    p.iter().map(|q| (q.limit(), q.period_ns())).collect()
}

#[test]
fn statuses() {
    for s in [
        200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422, 501, 505, 599, 0, 999,
    ] {
        assert_eq!(
            run(s, &[("Retry-After", "5")]).verdict,
            Verdict::Done,
            "{s}"
        );
    }
    assert_eq!(run(429, &[]).verdict, retry(None, RetryReason::RateLimited));
    assert_eq!(run(503, &[]).verdict, retry(None, RetryReason::Unavailable));
    for s in [500, 502, 504, 408] {
        assert_eq!(
            run(s, &[]).verdict,
            retry(None, RetryReason::ServerError),
            "{s}"
        );
        assert_eq!(
            run(s, &[("Retry-After", "3")]).verdict,
            retry(Some(3 * S), RetryReason::ServerError)
        );
    }
}

#[test]
fn retry_after_seconds_and_the_statuses_it_pauses_on() {
    let i = run(429, &[("Retry-After", "5")]);
    assert_eq!(i.verdict, retry(Some(5 * S), RetryReason::RateLimited));
    assert_eq!(i.feedback.pause_ns, Some(5 * S));
    for status in [301, 302, 307, 403, 429, 503] {
        let f = run(status, &[("retry-after", "7")]).feedback;
        assert_eq!(f.pause_ns, Some(7 * S), "{status}");
    }
    for status in [200, 204, 400, 404, 408, 500, 502, 504] {
        let f = run(status, &[("retry-after", "7")]).feedback;
        assert_eq!(
            (f.pause_ns, f.retry_after_ns),
            (None, Some(7 * S)),
            "{status}"
        );
    }
    assert_eq!(
        run(503, &[("RETRY-AFTER", "1.5")]).verdict,
        retry(Some(1_500_000_000), RetryReason::Unavailable)
    );
    assert_eq!(run(429, &[("Retry-After", "0")]).feedback.pause_ns, Some(0));
}

#[test]
fn retry_after_dates_against_the_date_header() {
    let date = "Thu, 01 Jan 2026 00:00:00 GMT";
    for ra in [
        "Thu, 01 Jan 2026 00:00:30 GMT",
        "Thursday, 01-Jan-26 00:00:30 GMT",
        "Thu Jan  1 00:00:30 2026",
    ] {
        // Local clock an hour behind, an hour ahead, exact: the Date header decides.
        for wall in [NOW_MS - 3_600_000, NOW_MS + 3_600_000, NOW_MS] {
            let i = interpret(
                429,
                &[("Date", date), ("Retry-After", ra)],
                wall,
                &Options::default(),
            );
            assert_eq!(
                i.verdict,
                retry(Some(30 * S), RetryReason::RateLimited),
                "{ra}"
            );
        }
    }
    // Without a Date header the local clock is the reference.
    let ra = [("Retry-After", "Thu, 01 Jan 2026 00:00:30 GMT")];
    assert_eq!(run(429, &ra).feedback.pause_ns, Some(30 * S));
    // A date in the past waits zero, never a negative time.
    let past = [("Retry-After", "Wed, 31 Dec 2025 00:00:00 GMT")];
    assert_eq!(
        run(429, &past).verdict,
        retry(Some(0), RetryReason::RateLimited)
    );
    let ancient = [("Retry-After", "Thu, 01 Jan 1900 00:00:00 GMT")];
    assert_eq!(run(429, &ancient).feedback.pause_ns, Some(0));
}

#[test]
fn a_local_clock_in_the_dates_second_says_where_in_that_second_we_are() {
    // NOW_MS is 2026-01-01T00:00:00Z; the reset is at 00:01:00.
    let h = [
        ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ("X-RateLimit-Reset", "1767225660"),
        ("X-RateLimit-Remaining", "0"),
    ];
    let reset = |wall| {
        interpret(200, &h, wall, &Options::default())
            .feedback
            .reset_ns
    };
    // 700 ms into the Date's second: the reset is 59.3 s away, not 60 s.
    assert_eq!(reset(NOW_MS + 700), Some(59_300_000_000));
    assert_eq!(reset(NOW_MS), Some(60 * S));
    // A local clock outside that second is skewed (by however little): Date alone decides.
    assert_eq!(reset(NOW_MS + 1_000), Some(60 * S));
    assert_eq!(reset(NOW_MS - 1), Some(60 * S));
}

#[test]
fn unusable_date_header_falls_back_to_the_wall_clock() {
    for date in [
        "garbage",
        "",
        "Thu, 01 Jan 1960 00:00:00 GMT",
        "Thu, 01 Jan 2026 00:00:00 PST",
    ] {
        let h = [
            ("Date", date),
            ("X-RateLimit-Reset", "1767225660"),
            ("X-RateLimit-Remaining", "0"),
        ];
        assert_eq!(run(200, &h).feedback.reset_ns, Some(60 * S), "{date:?}");
    }
}

#[test]
fn too_long() {
    let i = run(429, &[("Retry-After", "601")]);
    assert_eq!(i.verdict, Verdict::TooLong { wait_ns: 601 * S });
    assert_eq!(i.feedback.pause_ns, Some(MAX));
    assert_eq!(
        run(429, &[("Retry-After", "600")]).verdict,
        retry(Some(MAX), RetryReason::RateLimited)
    );
    let far = [("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")];
    assert_eq!(
        run(503, &far).verdict,
        Verdict::TooLong { wait_ns: u64::MAX }
    );
    let huge = [("Retry-After", "99999999999999999999")];
    assert_eq!(
        run(500, &huge).verdict,
        Verdict::TooLong { wait_ns: u64::MAX }
    );
    assert_eq!(run(200, &huge).verdict, Verdict::Done);
    assert_eq!(run(200, &huge).feedback.pause_ns, None);
    // A 403 is handed back, and the key pauses for at most max_wait.
    assert_eq!(run(403, &huge).verdict, Verdict::Done);
    assert_eq!(run(403, &huge).feedback.pause_ns, Some(MAX));
    // A custom limit.
    let opts = Options::new(Duration::from_secs(1));
    let i = interpret(429, &[("Retry-After", "2")], NOW_MS, &opts);
    assert_eq!(i.verdict, Verdict::TooLong { wait_ns: 2 * S });
    assert_eq!(i.feedback.pause_ns, Some(S));
    assert_eq!(Options::new(Duration::MAX).max_wait_ns, u64::MAX);
}

#[test]
fn hostile_retry_after_is_ignored() {
    for bad in [
        "", " ", "-5", "-0", "1e309", "NaN", "inf", "-inf", "abc", "５", "1 2", "\u{0}", "0x10",
    ] {
        let i = run(429, &[("Retry-After", bad)]);
        assert_eq!(i.verdict, retry(None, RetryReason::RateLimited), "{bad:?}");
        assert_eq!(i.feedback.pause_ns, None, "{bad:?}");
    }
    assert_eq!(
        run(429, &[("Retry-After", "  5  ")]).feedback.pause_ns,
        Some(5 * S)
    );
    assert_eq!(
        run(429, &[("Retry-After", "5, 7")]).feedback.pause_ns,
        Some(5 * S)
    );
}

#[test]
fn reset_when_exhausted_on_429_and_503_only() {
    let h = [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "20")];
    assert_eq!(
        run(429, &h).verdict,
        retry(Some(20 * S), RetryReason::RateLimited)
    );
    assert_eq!(
        run(503, &h).verdict,
        retry(Some(20 * S), RetryReason::Unavailable)
    );
    assert_eq!(run(500, &h).verdict, retry(None, RetryReason::ServerError));
    assert_eq!(run(500, &h).feedback.pause_ns, Some(20 * S));
    let i = run(200, &h);
    assert_eq!(
        (i.verdict, i.feedback.pause_ns),
        (Verdict::Done, Some(20 * S))
    );
    // Remaining above zero: a reset is a pause on a 429 (the server refused the request
    // and says when its quota returns), not on other statuses.
    let h = [("X-RateLimit-Remaining", "1"), ("X-RateLimit-Reset", "20")];
    let i = run(429, &h);
    assert_eq!(i.verdict, retry(Some(20 * S), RetryReason::RateLimited));
    assert_eq!(
        (i.feedback.pause_ns, i.feedback.reset_ns),
        (Some(20 * S), Some(20 * S))
    );
    let i = run(503, &h);
    assert_eq!(i.verdict, retry(None, RetryReason::Unavailable));
    assert_eq!(i.feedback.pause_ns, None);
    assert_eq!(run(200, &h).feedback.pause_ns, None);
    // A reset alone on a 429.
    let i = run(429, &[("X-RateLimit-Reset-After", "2.5")]);
    assert_eq!(
        i.verdict,
        retry(Some(2_500_000_000), RetryReason::RateLimited)
    );
    // Exhausted without a reset: no hint.
    assert_eq!(
        run(429, &[("X-RateLimit-Remaining", "0")])
            .feedback
            .pause_ns,
        None
    );
    // Exhausted with a reset beyond max_wait.
    let h = [("RateLimit-Remaining", "0"), ("RateLimit-Reset", "3600")];
    let i = run(429, &h);
    assert_eq!(i.verdict, Verdict::TooLong { wait_ns: 3600 * S });
    assert_eq!(
        (i.feedback.pause_ns, i.feedback.reset_ns),
        (Some(MAX), Some(3600 * S))
    );
}

#[test]
fn retry_after_beats_every_other_hint() {
    let h = [
        ("Retry-After", "5"),
        ("RateLimit", "\"default\";r=0;t=30"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "40"),
    ];
    let i = run(429, &h);
    assert_eq!(i.verdict, retry(Some(5 * S), RetryReason::RateLimited));
    assert_eq!(i.feedback.pause_ns, Some(5 * S));
    assert_eq!(i.feedback.reset_ns, Some(30 * S));
    // A longer Retry-After also wins.
    let h = [("Retry-After", "50"), ("RateLimit", "\"d\";r=0;t=3")];
    assert_eq!(run(429, &h).feedback.pause_ns, Some(50 * S));
    // An unusable Retry-After does not hide the reset.
    let h = [("Retry-After", "soon"), ("RateLimit", "\"d\";r=0;t=3")];
    assert_eq!(run(429, &h).feedback.pause_ns, Some(3 * S));
}

#[test]
fn ietf_08_fields() {
    let h = [
        (
            "RateLimit-Policy",
            "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400",
        ),
        ("RateLimit", "\"burst\";r=50;t=30"),
    ];
    let f = run(200, &h).feedback;
    assert_eq!(
        (f.limit, f.remaining, f.reset_ns),
        (Some(100), Some(50), Some(30 * S))
    );
    assert_eq!(quotas(&f.policies), [(100, 60 * S), (1000, 86_400 * S)]);
    // Parameters in any order, unknown and vendor ones ignored, tokens as names.
    let h = [
        (
            "ratelimit-policy",
            "daily;w=86400;pk=:cHsdsRa894==:;q=1000;acme-burst=5",
        ),
        ("ratelimit", "daily;t=7;x=1;r=3"),
    ];
    let f = run(200, &h).feedback;
    assert_eq!(
        (f.limit, f.remaining, f.reset_ns),
        (Some(1000), Some(3), Some(7 * S))
    );
    assert_eq!(quotas(&f.policies), [(1000, 86_400 * S)]);
    // Several service limits: the most constraining one.
    let h = [
        ("RateLimit-Policy", "\"a\";q=10;w=1, \"b\";q=500;w=3600"),
        ("RateLimit", "\"a\";r=5;t=1, \"b\";r=0;t=1200"),
    ];
    let i = run(429, &h);
    assert_eq!(
        (i.feedback.limit, i.feedback.remaining),
        (Some(500), Some(0))
    );
    assert_eq!(i.verdict, Verdict::TooLong { wait_ns: 1200 * S });
    // r without t; name with no policy.
    let f = run(200, &[("RateLimit", "\"x\";r=9")]).feedback;
    assert_eq!((f.limit, f.remaining, f.reset_ns), (None, Some(9), None));
}

#[test]
fn ietf_08_policy_edge_cases() {
    let f = |p: &str| quotas(&run(200, &[("RateLimit-Policy", p)]).feedback.policies);
    assert_eq!(f("\"a\";q=100"), []); // no window: nothing learned
    assert_eq!(f("\"a\";q=0;w=60"), []);
    assert_eq!(f("\"a\";q=10;w=0"), []);
    assert_eq!(f("\"a\";q=-1;w=60"), []);
    assert_eq!(f("\"a\";q=10;w=-1"), []);
    assert_eq!(f("\"a\";q=65535;qu=\"content-bytes\";w=10"), []);
    assert_eq!(f("\"a\";q=5;qu=\"requests\";w=10"), [(5, 10 * S)]);
    assert_eq!(f("\"a\";q=5;w=1.5"), [(5, 1_500_000_000)]);
    assert_eq!(f("\"a\";q=99999999999;w=1"), [(u32::MAX, S)]);
    assert_eq!(f("\"a\";q=1;w=99999999999999999999"), []);
    assert_eq!(
        f("\"a;b, c\";q=2;w=2, garbage, ;;, \"z\";q=3;w=3"),
        [(2, 2 * S), (3, 3 * S)]
    );
    let nine = "1;w=1, 2;w=1, 3;w=1, 4;w=1, 5;w=1, 6;w=1, 7;w=1, 8;w=1, 9;w=1";
    let got = f(nine);
    assert_eq!(got.len(), MAX_TIERS);
    assert_eq!(got[0], (1, S));
}

#[test]
fn ietf_07_fields() {
    let h = [
        ("RateLimit", "limit=100, remaining=50, reset=5"),
        ("RateLimit-Policy", "100;w=60, 1000;w=3600"),
    ];
    let f = run(200, &h).feedback;
    assert_eq!(
        (f.limit, f.remaining, f.reset_ns),
        (Some(100), Some(50), Some(5 * S))
    );
    assert_eq!(quotas(&f.policies), [(100, 60 * S), (1000, 3600 * S)]);
    let i = run(429, &[("RateLimit", "limit=10, remaining=0, reset=9")]);
    assert_eq!(i.verdict, retry(Some(9 * S), RetryReason::RateLimited));
    // A -07 policy with extension parameters.
    let f = run(
        200,
        &[(
            "RateLimit-Policy",
            "12;w=1;burst=1000;policy=\"leaky bucket\"",
        )],
    )
    .feedback;
    assert_eq!(quotas(&f.policies), [(12, S)]);
}

#[test]
fn ietf_06_fields() {
    let h = [
        ("RateLimit-Limit", "100"),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", "5"),
    ];
    let i = run(429, &h);
    assert_eq!(i.verdict, retry(Some(5 * S), RetryReason::RateLimited));
    assert_eq!(
        (i.feedback.limit, i.feedback.remaining),
        (Some(100), Some(0))
    );
    // Early drafts: policies inside RateLimit-Limit.
    let f = run(200, &[("RateLimit-Limit", "10, 10;w=1, 50;w=60")]).feedback;
    assert_eq!(f.limit, Some(10));
    assert_eq!(quotas(&f.policies), [(10, S), (50, 60 * S)]);
    // RateLimit-Policy takes precedence over them.
    let h = [
        ("RateLimit-Limit", "10, 10;w=1"),
        ("RateLimit-Policy", "7;w=7"),
    ];
    assert_eq!(quotas(&run(200, &h).feedback.policies), [(7, 7 * S)]);
}

#[test]
fn legacy_and_vendor_fields() {
    // GitHub: epoch seconds.
    let h = [
        ("X-RateLimit-Limit", "5000"),
        ("X-RateLimit-Remaining", "4999"),
        ("X-RateLimit-Reset", "1767229200"),
    ];
    let f = run(200, &h).feedback;
    assert_eq!(
        (f.limit, f.remaining, f.reset_ns),
        (Some(5000), Some(4999), Some(3600 * S))
    );
    // Discord: epoch seconds with decimals, and Reset-After preferred.
    let h = [
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "1767225601.250"),
    ];
    assert_eq!(
        run(429, &h).verdict,
        retry(Some(1_250_000_000), RetryReason::RateLimited)
    );
    let h = [
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "1767225601.250"),
        ("X-RateLimit-Reset-After", "2.5"),
    ];
    assert_eq!(run(429, &h).feedback.pause_ns, Some(2_500_000_000));
    // Epoch milliseconds.
    let h = [
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "1767225612345"),
    ];
    assert_eq!(
        run(429, &h).feedback.pause_ns,
        Some(12_345 * NANOS_PER_MILLI)
    );
    // Twitter style.
    let h = [
        ("x-rate-limit-limit", "15"),
        ("x-rate-limit-remaining", "0"),
        ("x-rate-limit-reset", "1767225900"),
    ];
    let f = run(429, &h).feedback;
    assert_eq!((f.limit, f.pause_ns), (Some(15), Some(300 * S)));
    // OpenAI: Go durations.
    let h = [
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "6m0s"),
        ("x-ratelimit-reset-tokens", "12ms"),
    ];
    let i = run(429, &h);
    assert_eq!(i.verdict, retry(Some(360 * S), RetryReason::RateLimited));
    assert_eq!(
        (i.feedback.limit, i.feedback.remaining),
        (Some(60), Some(0))
    );
    let h = [
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "12ms"),
    ];
    assert_eq!(run(429, &h).feedback.pause_ns, Some(12 * NANOS_PER_MILLI));
}

#[test]
fn sources_merge_by_priority_per_field() {
    let h = [
        ("X-RateLimit-Limit", "1"),
        ("X-RateLimit-Remaining", "2"),
        ("RateLimit-Remaining", "3"),
        ("RateLimit", "limit=4"),
        ("X-RateLimit-Reset", "9"),
    ];
    let f = run(200, &h).feedback;
    assert_eq!(
        (f.limit, f.remaining, f.reset_ns),
        (Some(4), Some(3), Some(9 * S))
    );
    // An unusable higher-priority value falls through to the next source.
    let h = [
        ("RateLimit-Remaining", "-1"),
        ("X-RateLimit-Remaining", "6"),
    ];
    assert_eq!(run(200, &h).feedback.remaining, Some(6));
}

#[test]
fn epoch_vs_delta_thresholds() {
    let reset = |v: &str| run(200, &[("X-RateLimit-Reset", v)]).feedback.reset_ns;
    assert_eq!(reset("999999999"), Some(999_999_999 * S)); // delta: 31 years, kept exact
    assert_eq!(reset("1000000000"), Some(0)); // epoch seconds, 2001: past
    assert_eq!(reset("1767225610"), Some(10 * S));
    assert_eq!(reset("999999999999"), Some(u64::MAX)); // epoch seconds, far future
    assert_eq!(reset("1000000000000"), Some(0)); // epoch ms, 2001: past
    assert_eq!(reset("1767225610000"), Some(10 * S));
    assert_eq!(reset("59"), Some(59 * S));
}

#[test]
fn hostile_limits_and_resets_are_ignored() {
    for bad in [
        "",
        "-5",
        "1e309",
        "99999999999999999999",
        "NaN",
        "inf",
        "12abc",
        "٣",
        "1.",
        "1.5e3",
    ] {
        let h = [("X-RateLimit-Limit", bad), ("X-RateLimit-Remaining", bad)];
        let f = run(200, &h).feedback;
        assert_eq!((f.limit, f.remaining), (None, None), "{bad:?}");
    }
    // A fraction is dropped (Reddit's "598.0").
    let h = [
        ("X-RateLimit-Limit", "600.0"),
        ("X-RateLimit-Remaining", "1.5"),
    ];
    let f = run(200, &h).feedback;
    assert_eq!((f.limit, f.remaining), (Some(600), Some(1)));
    for bad in ["", "-5", "1e309", "NaN", "inf", "12abc", "٣"] {
        let h = [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", bad)];
        let i = run(429, &h);
        assert_eq!(i.verdict, retry(None, RetryReason::RateLimited), "{bad:?}");
        assert_eq!(i.feedback.reset_ns, None);
    }
    for bad in [
        "limit=-1, remaining=x, reset=-5",
        "\"a\";r=-1;t=5",
        "\"a\";r=1e3",
        "=;=,;,=",
        "\"unterminated;r=0;t=5",
    ] {
        let f = run(200, &[("RateLimit", bad)]).feedback;
        assert_eq!(
            (f.limit, f.remaining, f.reset_ns),
            (None, None, None),
            "{bad:?}"
        );
    }
}

#[test]
fn headers_trait() {
    let owned: std::vec::Vec<(std::string::String, std::string::String)> =
        std::vec![("Retry-After".into(), "4".into())];
    let i = interpret(429, &owned[..], NOW_MS, &Options::default());
    assert_eq!(i.feedback.pause_ns, Some(4 * S));
    let by_ref: &[(&str, &str)] = &[("retry-after", "1"), ("Retry-After", "2")];
    assert_eq!(
        interpret(429, &by_ref, NOW_MS, &Options::default())
            .feedback
            .pause_ns,
        Some(S)
    );
}

#[test]
fn policies_container() {
    let mut p = Policies::default();
    assert!(p.is_empty());
    let q = Quota::per_second(3).unwrap();
    for _ in 0..MAX_TIERS {
        assert!(p.push(q));
    }
    assert!(!p.push(q));
    assert_eq!(p.len(), MAX_TIERS);
    assert_eq!(p.get(0), Some(q));
    assert_eq!(p.get(MAX_TIERS), None);
    assert_eq!((&p).into_iter().count(), MAX_TIERS);
    assert_eq!(RetryReason::RateLimited.as_str(), "rate_limited");
    assert_eq!(RetryReason::Unavailable.as_str(), "unavailable");
    assert_eq!(RetryReason::ServerError.as_str(), "server_error");
}

#[test]
fn an_08_policy_learns_the_burst_its_remaining_count_shows() {
    let bursts = |rl: &str| -> std::vec::Vec<(u32, u32)> {
        let h = [
            (
                "RateLimit-Policy",
                "\"second\";q=10;w=1, \"minute\";q=300;w=60",
            ),
            ("RateLimit", rl),
        ];
        run(200, &h)
            .feedback
            .policies
            .iter()
            .map(|q| (q.limit(), q.burst()))
            .collect()
    };
    // This request and `r` more went back to back: burst r + 1, of which one is kept in hand.
    assert_eq!(
        bursts("\"second\";r=9;t=1, \"minute\";r=299;t=60"),
        [(10, 9), (300, 299)]
    );
    // Never above the quota, whatever the count says; an item with no count is burst 1.
    assert_eq!(bursts("\"second\";r=5000;t=1"), [(10, 10), (300, 1)]);
    assert_eq!(
        bursts("\"second\";r=0;t=1, \"minute\";r=3;t=60"),
        [(10, 1), (300, 3)]
    );
    // A count of another name, or a -07 dictionary, says nothing about these policies.
    assert_eq!(bursts("\"other\";r=9;t=1"), [(10, 1), (300, 1)]);
    assert_eq!(
        bursts("limit=10, remaining=9, reset=1"),
        [(10, 1), (300, 1)]
    );
    // -07 policies have no names to count them by.
    let h = [
        ("RateLimit-Policy", "10;w=1"),
        ("RateLimit", "\"10\";r=9;t=1"),
    ];
    let q = run(200, &h).feedback.policies.get(0).unwrap();
    assert_eq!(q.burst(), 1);
}
