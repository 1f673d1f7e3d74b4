//! Memory under key churn: a million distinct keys through Headway's keyed `Limiter` (the
//! engine's, one quota of 10/s) and, side by side, through governor's keyed limiter
//! (DashMap), each in a process of its own so that neither sees the other's heap.
//!
//! ```text
//! cargo run --release -p headway-benches --bin key_churn [KEYS]
//! ```
//!
//! Each run: a million keys each take one request with no time passing (so every one is
//! within its interval at the peak: all active); then the churn stops, time passes, and
//! 1,000 keys keep being used, one request each per interval, for 500 intervals. Printed
//! for each: live heap bytes (a counting allocator) and RSS before, at the peak and after;
//! bytes per key held at the peak; keys held after; and RSS after the C allocator was
//! asked to give free pages back (`malloc_trim`, glibc), since a freed heap is not always
//! returned to the system at once. Governor never drops a key by itself: it is given its
//! documented `retain_recent()` and `shrink_to_fit()` after the churn; Headway's limiter
//! sweeps on its own as keys are used. Virtual clocks on both sides: no time is measured.

use std::alloc::{GlobalAlloc, Layout, System};
use std::num::NonZeroU32;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use headway_core::Quota;
use headway_engine::testing::FakeRuntime;
use headway_engine::{Limiter, Runtime};

/// Live heap bytes, kept by [`Counting`].
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes it has handed out and not had back.
struct Counting;

// SAFETY: every call goes to the system allocator unchanged; only a count is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic; no other memory is published through it.
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Relaxed: as in `alloc`.
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Relaxed: as in `alloc`.
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            // Relaxed: as in `alloc`.
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Keys that stay in use after the churn.
const ACTIVE: u64 = 1_000;
/// Intervals they are used for.
const ROUNDS: u64 = 500;
/// The quota's interval: 10/s.
const INTERVAL: Duration = Duration::from_millis(100);

/// Resident set size, bytes (from /proc/self/status; 0 where there is none).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Asks glibc to return free heap pages to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim takes a plain integer and only releases free memory.
    unsafe {
        malloc_trim(0);
    }
}

/// No allocator to ask elsewhere.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

/// One measurement: live heap bytes, RSS, keys held.
#[derive(Debug, Clone, Copy)]
struct Point {
    live: u64,
    rss: u64,
    keys: u64,
}

fn point(keys: usize) -> Point {
    Point {
        // Relaxed: a statistic read on the thread that did the work.
        live: LIVE.load(Ordering::Relaxed) as u64,
        rss: rss(),
        keys: keys as u64,
    }
}

/// The four points of one run: before, at the peak, after, after trimming.
type Run = [Point; 4];

fn headway(keys: u64) -> Run {
    let rt = FakeRuntime::new();
    let lim: Limiter<u64, FakeRuntime> = Limiter::builder(rt.clone())
        .quota(Quota::per_second(10).expect("a valid quota"))
        .build()
        .expect("a valid limiter");
    let before = point(lim.key_count());
    for k in 0..keys {
        drop(lim.try_acquire(&k).expect("a fresh key admits one"));
    }
    let peak = point(lim.key_count());
    rt.advance(1_000_000_000);
    for _ in 0..ROUNDS {
        for k in 0..ACTIVE {
            drop(lim.try_acquire(&(keys + k)).expect("one per interval"));
        }
        rt.advance(INTERVAL.as_nanos() as u64);
    }
    let after = point(lim.key_count());
    trim();
    let trimmed = point(lim.key_count());
    assert!(rt.now_ns() > 0);
    [before, peak, after, trimmed]
}

fn governor(keys: u64) -> Run {
    use governor::clock::FakeRelativeClock;
    use governor::RateLimiter;
    let clock = FakeRelativeClock::default();
    let ten = NonZeroU32::new(10).expect("non-zero");
    let lim = RateLimiter::dashmap_with_clock(governor::Quota::per_second(ten), clock.clone());
    let before = point(lim.len());
    for k in 0..keys {
        assert!(lim.check_key(&k).is_ok(), "a fresh key admits one");
    }
    let peak = point(lim.len());
    clock.advance(Duration::from_secs(1));
    for _ in 0..ROUNDS {
        for k in 0..ACTIVE {
            assert!(lim.check_key(&(keys + k)).is_ok(), "one per interval");
        }
        clock.advance(INTERVAL);
    }
    lim.retain_recent();
    lim.shrink_to_fit();
    let after = point(lim.len());
    trim();
    let trimmed = point(lim.len());
    [before, peak, after, trimmed]
}

/// Prints a run as one line the parent reads: 12 numbers.
fn emit(run: &Run) {
    let fields: Vec<String> = run
        .iter()
        .flat_map(|p| [p.live, p.rss, p.keys])
        .map(|n| n.to_string())
        .collect();
    println!("{}", fields.join(" "));
}

/// Runs `which` in a child process and reads its points.
fn child(which: &str, keys: u64) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--child", which, &keys.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{which}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let n: Vec<u64> = text
        .split_whitespace()
        .map(|s| s.parse().map_err(|e| format!("{which}: {s:?}: {e}")))
        .collect::<Result<_, _>>()?;
    if n.len() != 12 {
        return Err(format!("{which}: expected 12 numbers, got {text:?}"));
    }
    let p = |i: usize| Point {
        live: n[3 * i],
        rss: n[3 * i + 1],
        keys: n[3 * i + 2],
    };
    Ok([p(0), p(1), p(2), p(3)])
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, which, keys] = args.as_slice() {
        if flag == "--child" {
            let Ok(keys) = keys.parse() else {
                eprintln!("not a key count: {keys}");
                return ExitCode::FAILURE;
            };
            match which.as_str() {
                "headway" => emit(&headway(keys)),
                "governor" => emit(&governor(keys)),
                other => {
                    eprintln!("unknown limiter: {other}");
                    return ExitCode::FAILURE;
                }
            }
            return ExitCode::SUCCESS;
        }
    }
    let keys = match args.first().map(|a| a.parse::<u64>()) {
        None => 1_000_000,
        Some(Ok(k)) if k > 0 => k,
        Some(_) => {
            eprintln!("usage: key_churn [KEYS]");
            return ExitCode::FAILURE;
        }
    };
    let runs = match (child("headway", keys), child("governor", keys)) {
        (Ok(h), Ok(g)) => [("headway", h), ("governor", g)],
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{keys} distinct keys at once, then {ACTIVE} keys in use for {ROUNDS} intervals");
    println!(
        "{:<9} {:>11} {:>11} {:>11} {:>10} {:>11} {:>11} {:>11} {:>11}",
        "limiter",
        "keys@peak",
        "heap/key",
        "RSS/key",
        "keys@end",
        "RSS before",
        "RSS peak",
        "RSS after",
        "RSS trimmed"
    );
    let per_key = |run: &Run| {
        let [before, peak, ..] = run;
        let held = peak.keys.max(1) as f64;
        (
            peak.live.saturating_sub(before.live) as f64 / held,
            peak.rss.saturating_sub(before.rss) as f64 / held,
        )
    };
    for (name, run) in &runs {
        let [before, peak, after, trimmed] = run;
        let (heap, rss) = per_key(run);
        println!(
            "{:<9} {:>11} {:>11.0} {:>11.0} {:>10} {:>11} {:>11} {:>11} {:>11}",
            name,
            peak.keys,
            heap,
            rss,
            after.keys,
            mb(before.rss),
            mb(peak.rss),
            mb(after.rss),
            mb(trimmed.rss)
        );
        println!(
            "{:<9} heap: {} before, {} at peak, {} after",
            "",
            mb(before.live),
            mb(peak.live),
            mb(after.live)
        );
    }
    let (h, g) = (per_key(&runs[0].1), per_key(&runs[1].1));
    println!(
        "ratio headway/governor: heap per key {:.2}, RSS per key {:.2}",
        h.0 / g.0,
        h.1 / g.1
    );
    ExitCode::SUCCESS
}
