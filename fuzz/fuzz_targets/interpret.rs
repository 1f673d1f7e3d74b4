//! Response interpretation: a status, the two clocks and arbitrary header lists through
//! `feedback::interpret`. It must never panic, keep every bound of `check_bounds`, and not
//! depend on the case of header names.
#![no_main]

use headway_core::feedback::{interpret, Options};
use headway_fuzz::{check_bounds, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let r = Response::parse(data);
    let opts = Options {
        max_wait_ns: r.max_wait_ns,
    };
    let i = interpret(r.status, &r.headers[..], r.wall_ms, &opts);
    check_bounds(&i, r.status, r.max_wait_ns);
    let shouted: Vec<(String, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.as_str()))
        .collect();
    assert_eq!(interpret(r.status, &shouted[..], r.wall_ms, &opts), i);
});
