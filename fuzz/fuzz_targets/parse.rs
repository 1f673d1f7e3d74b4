//! Quota, duration and HTTP-date parsing on arbitrary text: never a panic; a quota that
//! parses is valid and reads back the same from its own `Display`; a duration that parses
//! reads back the same written in nanoseconds; a date that parses is within years 1-9999
//! (plus the leap second `23:59:60` that may end 9999).
#![no_main]

use headway_core::duration::parse_duration;
use headway_core::feedback::parse_http_date;
use headway_core::Quota;
use libfuzzer_sys::fuzz_target;

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:60Z (a leap second is accepted) in unix seconds.
const DATES: (i64, i64) = (-62_135_596_800, 253_402_300_800);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = text.parse::<Quota>() {
        assert!(
            q.limit() >= 1 && q.burst() >= 1 && q.period_ns() >= 1,
            "{text:?}"
        );
        assert!(q.emission_interval_ns() >= 1, "{text:?}");
        let shown = q.to_string();
        let again: Quota = shown.parse().unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        assert_eq!(
            (again.limit(), again.period_ns(), again.burst()),
            (q.limit(), q.period_ns(), q.burst()),
            "{text:?} shown as {shown:?}"
        );
    }
    if let Ok(ns) = parse_duration(text) {
        assert_eq!(parse_duration(&format!("{ns}ns")), Ok(ns), "{text:?}");
    }
    for reference in [0, 1_767_225_600, DATES.0, DATES.1 - 1] {
        if let Some(secs) = parse_http_date(text, reference) {
            assert!((DATES.0..=DATES.1).contains(&secs), "{text:?} -> {secs}");
        }
    }
});
