//! A hostile server costs bounded work: a 1 MB `RateLimit-Policy` of 100,000 items (with a
//! `RateLimit` naming every one), 10,000 headers, and megabytes of random bytes in every
//! header the core reads are interpreted with no allocation at all, a bounded number of
//! learned tiers, and work linear in the size of the headers.
//!
//! Work is counted, not timed: the headers are handed to `interpret` through a [`Headers`]
//! that counts its lookups, the names it compares and the bytes of the values it hands out.
//! Every byte the parser reads it reads from a value handed out by a lookup, so reading a
//! field again for each of its members (quadratic work) shows in the bytes handed out. The
//! bound asserted is linear: a fixed number of passes over the input, and doubling the
//! input does not raise the work per byte.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use headway_core::feedback::{interpret, Headers, Interpretation, Options, HEADERS_READ};
use headway_core::MAX_TIERS;

/// Counts every allocation of each thread, so that a test can see that `interpret` makes
/// none (tests run on threads of their own).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // A thread being torn down has no count left to keep.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The headers of one response, counting the work done on them.
struct Counted<'a> {
    headers: &'a [(String, String)],
    lookups: Cell<u64>,
    names_compared: Cell<u64>,
    bytes_out: Cell<u64>,
}

impl Headers for Counted<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.lookups.set(self.lookups.get() + 1);
        for (i, (k, v)) in self.headers.iter().enumerate() {
            if k.eq_ignore_ascii_case(name) {
                self.names_compared
                    .set(self.names_compared.get() + i as u64 + 1);
                self.bytes_out.set(self.bytes_out.get() + v.len() as u64);
                return Some(v);
            }
        }
        self.names_compared
            .set(self.names_compared.get() + self.headers.len() as u64);
        None
    }
}

/// What interpreting `headers` cost.
#[derive(Debug, Clone, Copy)]
struct Work {
    /// Bytes of all the headers' names and values.
    input_bytes: u64,
    lookups: u64,
    names_compared: u64,
    bytes_out: u64,
    allocations: usize,
}

fn interpret_counted(status: u16, headers: &[(String, String)]) -> (Interpretation, Work) {
    let counted = Counted {
        headers,
        lookups: Cell::new(0),
        names_compared: Cell::new(0),
        bytes_out: Cell::new(0),
    };
    let opts = Options::default();
    let before = ALLOCATIONS.with(Cell::get);
    let i = interpret(status, &counted, 1_767_225_600_000, &opts);
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    let work = Work {
        input_bytes: headers
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum(),
        lookups: counted.lookups.get(),
        names_compared: counted.names_compared.get(),
        bytes_out: counted.bytes_out.get(),
        allocations,
    };
    println!("{status}: {work:?}");
    (i, work)
}

/// The lookups one interpretation makes, whatever the headers: one per header name it
/// reads, a few more for the fields it reads twice, and one per `RateLimit` item it
/// compares with its policy (at most the items it reads).
const MAX_LOOKUPS: u64 = 200;

/// Passes over the input one interpretation may make.
const MAX_PASSES: u64 = 80;

/// Checks the bounds every hostile input must keep.
fn assert_bounded(i: &Interpretation, w: &Work) {
    assert_eq!(w.allocations, 0, "interpret allocates nothing");
    assert!(i.feedback.policies.len() <= MAX_TIERS);
    assert!(w.lookups <= MAX_LOOKUPS, "{w:?}");
    assert!(w.bytes_out <= MAX_PASSES * w.input_bytes.max(1), "{w:?}");
}

/// A `RateLimit-Policy` of `n` items and a `RateLimit` with an item for each, in the order
/// that makes each item the most constraining one so far (lowest `r` last), every policy
/// counting requests.
fn policy_and_ratelimit(n: usize) -> Vec<(String, String)> {
    let mut policy = String::new();
    let mut ratelimit = String::new();
    for i in 0..n {
        if i > 0 {
            policy.push_str(", ");
            ratelimit.push_str(", ");
        }
        policy.push_str(&format!("\"p{i}\";q={};w=60", i + 1));
        ratelimit.push_str(&format!("\"p{i}\";r={};t=30", n - i));
    }
    vec![
        ("RateLimit-Policy".to_owned(), policy),
        ("RateLimit".to_owned(), ratelimit),
    ]
}

#[test]
fn a_one_megabyte_policy_of_100_000_items_is_linear_work() {
    let small = policy_and_ratelimit(50_000);
    let large = policy_and_ratelimit(100_000);
    assert!(large[0].1.len() >= 1_000_000, "{} bytes", large[0].1.len());
    let (_, w_small) = interpret_counted(429, &small);
    let (i, w_large) = interpret_counted(429, &large);
    assert_bounded(&i, &w_large);
    // Twice the items, no more work per byte of input (within 5%): linear, not quadratic.
    let per_byte = |w: &Work| w.bytes_out as f64 / w.input_bytes as f64;
    assert!(
        per_byte(&w_large) <= per_byte(&w_small) * 1.05,
        "{w_small:?} then {w_large:?}"
    );
    // What it learned is still read from what came first: the first MAX_TIERS policies.
    assert_eq!(i.feedback.policies.len(), MAX_TIERS);
    assert_eq!(i.feedback.policies.get(0).map(|q| q.limit()), Some(1));
}

#[test]
fn ten_thousand_headers_are_looked_up_a_bounded_number_of_times() {
    let mut headers: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("X-Junk-{i}"), format!("{i}")))
        .collect();
    headers.push(("Retry-After".to_owned(), "5".to_owned()));
    headers.push(("RateLimit-Policy".to_owned(), "\"d\";q=10;w=1".to_owned()));
    let (i, w) = interpret_counted(429, &headers);
    assert_bounded(&i, &w);
    assert_eq!(i.feedback.pause_ns, Some(5_000_000_000));
    assert_eq!(i.feedback.policies.len(), 1);
    // Each lookup walks the list once at most.
    assert!(
        w.names_compared <= w.lookups * headers.len() as u64,
        "{w:?}"
    );
}

/// SplitMix64: reproducible random bytes without a dependency.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

#[test]
fn a_megabyte_of_random_bytes_in_every_header_is_linear_work() {
    for (seed, status) in [(1, 429), (2, 200), (3, 503)] {
        // Random bytes as a transport that passes them on would: invalid UTF-8 replaced.
        let value = String::from_utf8_lossy(&random_bytes(1 << 20, seed)).into_owned();
        let headers: Vec<(String, String)> = HEADERS_READ
            .iter()
            .map(|n| ((*n).to_owned(), value.clone()))
            .collect();
        let (i, w) = interpret_counted(status, &headers);
        assert_bounded(&i, &w);
    }
    // Random bytes that are mostly the characters the field reader looks for.
    let alphabet = b",;=\"\\ 0123456789qrtwpu";
    let text: String = random_bytes(1 << 20, 4)
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect();
    let headers = vec![
        ("RateLimit".to_owned(), text.clone()),
        ("RateLimit-Policy".to_owned(), text),
    ];
    let (i, w) = interpret_counted(429, &headers);
    assert_bounded(&i, &w);
}
