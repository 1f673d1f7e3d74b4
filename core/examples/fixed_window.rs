//! How a key machine fares against a simulated fixed-window server that publishes its window
//! only in `X-RateLimit-*` headers with an epoch reset in whole seconds (and a `Date` in whole
//! seconds), driven by ten concurrent workers whose requests take random, overlapping round
//! trips (0.1 to 0.6 ms each way, so answers come back out of the server's order). Virtual
//! time throughout: every figure is exact and repeatable for its seed.
//!
//! ```text
//! cargo run -p headway-core --example fixed_window
//! ```
//!
//! It prints, for 20 starting points within the first window, the time 300 requests took
//! against the ideal (100 per 2 s window: three windows' worth), and the requests the server
//! rejected, in the first window and after it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use headway_core::backoff::SplitMix64;
use headway_core::feedback::{interpret, Options};
use headway_core::key::{KeyMachine, KeyPolicy};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

/// The server: `limit` requests per window of `window` ns, windows from `start` on.
struct Server {
    limit: u64,
    window: u64,
    index: u64,
    count: u64,
    rejected_after_first: u64,
    rejected: u64,
}

impl Server {
    /// Counts a request arriving at `at` (server time = virtual time); returns the status
    /// and the headers it answers with, given the wall clock's offset from virtual time.
    fn arrive(&mut self, at: u64, wall_offset_ms: u64) -> (u16, Vec<(&'static str, String)>) {
        let index = at / self.window;
        if index != self.index {
            self.index = index;
            self.count = 0;
        }
        let end = (index + 1) * self.window;
        let wall_ns = at + wall_offset_ms * MS;
        let status = if self.count < self.limit {
            self.count += 1;
            200
        } else {
            self.rejected += 1;
            if index > 0 {
                self.rejected_after_first += 1;
            }
            429
        };
        let reset_epoch = (wall_ns + (end - at)).div_ceil(SEC);
        let mut headers = vec![
            ("Date", http_date(wall_ns / SEC)),
            ("X-RateLimit-Limit", self.limit.to_string()),
            (
                "X-RateLimit-Remaining",
                (self.limit - self.count).to_string(),
            ),
            ("X-RateLimit-Reset", reset_epoch.to_string()),
        ];
        if status == 429 {
            headers.push(("Retry-After", (end - at).div_ceil(SEC).to_string()));
        }
        (status, headers)
    }
}

/// An IMF-fixdate for unix seconds `secs` (any day: only the time of day and date matter).
fn http_date(secs: u64) -> String {
    let days = secs / 86_400;
    let tod = secs % 86_400;
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        weekdays[(days % 7) as usize],
        day,
        months[(month - 1) as usize],
        year,
        tod / 3_600,
        tod % 3_600 / 60,
        tod % 60
    )
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A worker looks for its turn.
    Try { worker: usize },
    /// A worker's request reaches the server.
    Arrive { worker: usize, sent_at: u64 },
    /// A worker's response comes back.
    Answer {
        worker: usize,
        sent_at: u64,
        status: u16,
        headers: Vec<(&'static str, String)>,
    },
}

struct Run {
    elapsed: u64,
    rejected: u64,
    rejected_after_first: u64,
}

/// Sends `items` requests through ten workers; the first starts at `start` into a window.
fn run(seed: u64, items: u64, start: u64, wall_offset_ms: u64) -> Run {
    let policy = KeyPolicy::default();
    let mut key: KeyMachine = KeyMachine::new(&[], &policy).unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut server = Server {
        limit: 100,
        window: 2 * SEC,
        index: 0,
        count: 0,
        rejected: 0,
        rejected_after_first: 0,
    };
    let mut events = BinaryHeap::new();
    for worker in 0..10 {
        events.push(Reverse((start, Event::Try { worker })));
    }
    let (mut done, mut started) = (0, 0);
    let mut busy = [false; 10];
    key.probe_if_unknown();
    let mut now = start;
    while let Some(Reverse((at, event))) = events.pop() {
        now = at;
        match event {
            Event::Try { worker } => {
                if busy[worker] || started >= items {
                    continue;
                }
                let ready = key.ready_at(1, now).unwrap();
                if ready > now || !key.may_send() {
                    // Look again at the turn (or soon, when the in-flight cap is full).
                    let again = if ready > now { ready } else { now + MS / 10 };
                    events.push(Reverse((again, Event::Try { worker })));
                    continue;
                }
                key.commit(1, now);
                busy[worker] = true;
                started += 1;
                let there = now + rng.between(100_000, 600_000);
                events.push(Reverse((
                    there,
                    Event::Arrive {
                        worker,
                        sent_at: now,
                    },
                )));
            }
            Event::Arrive { worker, sent_at } => {
                let (status, headers) = server.arrive(now, wall_offset_ms);
                let back = now + rng.between(100_000, 600_000);
                events.push(Reverse((
                    back,
                    Event::Answer {
                        worker,
                        sent_at,
                        status,
                        headers,
                    },
                )));
            }
            Event::Answer {
                worker,
                sent_at,
                status,
                headers,
            } => {
                key.release();
                let wall_ms = (now / MS) + wall_offset_ms;
                let i = interpret(status, headers.as_slice(), wall_ms, &Options::default());
                key.on_response(&i, sent_at, now, &policy, &mut rng);
                busy[worker] = false;
                if status == 429 {
                    started -= 1;
                } else {
                    done += 1;
                }
                for w in 0..10 {
                    events.push(Reverse((now, Event::Try { worker: w })));
                }
            }
        }
        if done == items {
            break;
        }
    }
    Run {
        elapsed: now - start,
        rejected: server.rejected,
        rejected_after_first: server.rejected_after_first,
    }
}

fn main() {
    let mut ratios = Vec::new();
    let (mut rejected, mut after_first) = (0, 0);
    println!("seed  start ms  elapsed ms  ideal ms  ratio  rejected (after the first window)");
    for seed in 0..20u64 {
        // 0.3 to 1.6 s into the first window, with the wall clock anywhere in its second.
        let start = 300 * MS + seed * 70 * MS;
        let offset = 1_767_225_600_000 + seed * 137;
        let r = run(seed, 300, start, offset);
        // The third window ends at 6 s: ideally the last request goes at the start of it.
        let ideal = 4 * SEC - start;
        let ratio = r.elapsed as f64 / ideal as f64;
        println!(
            "{seed:>4}  {:>8}  {:>10}  {:>8}  {ratio:>5.2}  {} ({})",
            start / MS,
            r.elapsed / MS,
            ideal / MS,
            r.rejected,
            r.rejected_after_first
        );
        ratios.push(ratio);
        rejected += r.rejected;
        after_first += r.rejected_after_first;
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio {:.2}, worst {:.2}; {rejected} rejected in all, {after_first} after the first window",
        ratios[ratios.len() / 2],
        ratios[ratios.len() - 1]
    );
}
