//! Property tests: arbitrary text in every header never panics, never yields a wait above
//! `max_wait`, and gives `TooLong` exactly when the server's true wait is longer.

use proptest::prelude::*;
use std::string::String;
use std::vec::Vec;

use super::date::{days_from_unix_epoch, year_of};
use super::*;

/// Every header name `interpret` reads.
const NAMES: &[&str] = HEADERS_READ;

const STATUSES: &[u16] = &[
    200, 204, 301, 400, 403, 404, 408, 429, 500, 501, 502, 503, 504,
];

/// Text that looks enough like header values to reach the deep parsing paths.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[0-9]{0,25}(\\.[0-9]{0,20})?",
        "-?[0-9]{1,12}(e[0-9]{1,4})?",
        "[0-9]{1,5}(ns|us|µs|ms|s|m|h|d)([0-9]{1,5}(ms|s|m|h))?",
        "-?[0-9]{0,21}(\\.[0-9]{0,3})? ?/ ?-?[0-9]{0,21}",
        "(\"[a-z]{0,4}\"|[a-z]{1,4}|[0-9]{1,6})(;(q|w|r|t|qu|pk|x)=[-0-9a-z\".:]{0,8}){0,5}(, ?[0-9a-z\";=]{0,12}){0,3}",
        "(limit|remaining|reset|x)=[-0-9.]{0,12}(, (limit|remaining|reset)=[-0-9]{0,12}){0,3}",
        "(Mon|Sun|Thursday|Xyz),? [0-9]{1,2}[ -](Jan|Feb|Nov|Foo)[ -][0-9]{2,5} [0-9]{1,2}:[0-9]{2}:[0-9]{2} (GMT|UTC|PST)",
        "(Sun|Mon) (Jan|Dec) {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop::sample::select(NAMES).prop_map(|n| {
                // Vary the case of the name.
                if n.len() % 2 == 0 {
                    n.to_ascii_lowercase()
                } else {
                    n.to_ascii_uppercase()
                }
            }),
            value(),
        ),
        0..8,
    )
}

fn check_bounds(i: &Interpretation, status: u16, max: u64) {
    let f = &i.feedback;
    assert!(f.pause_ns.map_or(true, |p| p <= max));
    assert!(f.policies.len() <= MAX_TIERS);
    assert_eq!(f.policies.iter().count(), f.policies.len());
    match i.verdict {
        Verdict::Done => assert!(RetryReason::of(status).is_none()),
        Verdict::Retry { after_ns, reason } => {
            assert_eq!(RetryReason::of(status), Some(reason));
            assert!(after_ns.map_or(true, |a| a <= max));
        }
        Verdict::TooLong { wait_ns } => {
            assert!(RetryReason::of(status).is_some());
            assert!(wait_ns > max);
        }
    }
}

/// Formats unix seconds as an IMF-fixdate (years 1..=9999).
fn imf_fixdate(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let year = year_of(secs);
    let mut month = 12;
    while days_from_unix_epoch(year, month, 1) > days {
        month -= 1;
    }
    let day = days - days_from_unix_epoch(year, month, 1) + 1;
    std::format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[month as usize - 1],
        year,
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_headers_are_bounded(
        status in prop::sample::select(STATUSES),
        h in headers(),
        wall_ms in prop_oneof![any::<u64>(), 0u64..4_000_000_000_000],
        max in prop_oneof![any::<u64>(), 0u64..1_000_000_000_000],
    ) {
        let i = interpret(status, &h[..], wall_ms, &Options { max_wait_ns: max });
        check_bounds(&i, status, max);
    }

    #[test]
    fn arbitrary_text_in_every_header(
        status in prop::sample::select(STATUSES),
        v in value(),
        wall_ms in any::<u64>(),
    ) {
        let h: Vec<(&str, &str)> = NAMES.iter().map(|n| (*n, v.as_str())).collect();
        let max = Options::DEFAULT_MAX_WAIT_NS;
        let i = interpret(status, &h[..], wall_ms, &Options::default());
        check_bounds(&i, status, max);
    }

    #[test]
    fn retry_after_seconds_too_long_iff_longer(
        status in prop::sample::select(STATUSES),
        secs in prop_oneof![0u64..2_000, 0u64..1_000_000_000],
        max in 0u64..4_000_000_000_000,
    ) {
        let text = std::format!("{secs}");
        let i = interpret(status, &[("Retry-After", text.as_str())], 0, &Options { max_wait_ns: max });
        let truth = secs * NANOS_PER_SEC;
        match RetryReason::of(status) {
            None => prop_assert_eq!(i.verdict, Verdict::Done),
            Some(_) if truth > max => {
                prop_assert_eq!(i.verdict, Verdict::TooLong { wait_ns: truth });
            }
            Some(reason) => prop_assert_eq!(i.verdict, Verdict::Retry { after_ns: Some(truth), reason }),
        }
        let pause = retry_after_pauses_key(status).then_some(truth.min(max));
        prop_assert_eq!(i.feedback.pause_ns, pause);
        prop_assert_eq!(i.feedback.retry_after_ns, Some(truth.min(max)));
    }

    #[test]
    fn retry_after_dates_measured_against_date(
        server in -62_135_596_800i64..253_402_300_799,
        delta in -100_000i64..100_000,
        wall_ms in any::<u64>(),
        max in 0u64..200_000_000_000_000,
    ) {
        let target = (server + delta).clamp(-62_135_596_800, 253_402_300_799);
        let date = imf_fixdate(server);
        prop_assert_eq!(parse_http_date(&date, 0), Some(server));
        let ra = imf_fixdate(target);
        let h = [("Date", date.as_str()), ("Retry-After", ra.as_str())];
        let i = interpret(429, &h, wall_ms, &Options { max_wait_ns: max });
        // Before 1970 the Date header is unusable and the wall clock is the reference.
        let reference_ns = if server >= 0 {
            server as u128 * 1_000_000_000
        } else {
            wall_ms as u128 * 1_000_000
        };
        let target_ns = target.max(0) as u128 * 1_000_000_000;
        let truth = target_ns.saturating_sub(reference_ns).min(u64::MAX as u128) as u64;
        if truth > max {
            prop_assert_eq!(i.verdict, Verdict::TooLong { wait_ns: truth });
        } else {
            prop_assert_eq!(i.verdict, Verdict::Retry { after_ns: Some(truth), reason: RetryReason::RateLimited });
        }
    }

    #[test]
    fn epoch_resets_follow_the_threshold_rule(
        v in prop_oneof![0u64..2_000_000_000, 999_000_000u64..1_001_000_000, 1_700_000_000_000u64..1_800_000_000_000, any::<u64>()],
        wall_ms in 1_000_000_000_000u64..2_000_000_000_000,
    ) {
        let text = std::format!("{v}");
        let h = [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", text.as_str())];
        let max = u64::MAX;
        let i = interpret(429, &h, wall_ms, &Options { max_wait_ns: max });
        let now_ns = wall_ms as u128 * 1_000_000;
        let sat = |x: u128| x.min(u64::MAX as u128) as u64;
        let truth = if v >= EPOCH_MILLIS_THRESHOLD {
            sat((v as u128 * 1_000_000).saturating_sub(now_ns))
        } else if v >= EPOCH_SECONDS_THRESHOLD {
            sat((v as u128 * 1_000_000_000).saturating_sub(now_ns))
        } else {
            v * NANOS_PER_SEC
        };
        prop_assert_eq!(i.feedback.reset_ns, Some(truth));
        prop_assert_eq!(i.verdict, Verdict::Retry { after_ns: Some(truth), reason: RetryReason::RateLimited });
    }
}
