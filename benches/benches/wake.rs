//! How late the tokio adapter wakes a waiter, and what waking on time costs in CPU.
//!
//! `cargo bench -p headway-benches --bench wake` sleeps 2,000 times to deadlines 1 ms apart
//! (a 1,000-per-second schedule, as a strict server's waiters see it) with each [`Timer`],
//! and prints the lateness past the deadline (p50, p99, max) and the process CPU time per
//! 1,000 wakes. A figure, never an assertion: the machine is shared.

use std::time::{Duration, Instant};

use headway_engine::Runtime;
use headway_tokio::{Timer, TokioRuntime};

const WAKES: usize = 2_000;

/// User plus system CPU time of this process so far, from `/proc/self/stat` (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn measure(timer: Timer) -> (Vec<Duration>, Option<Duration>) {
    let rt = TokioRuntime::with_timer(timer);
    let mut late = Vec::with_capacity(WAKES);
    let cpu_before = cpu_time();
    let start = rt.now_ns() + 1_000_000;
    for i in 0..WAKES {
        let deadline = start + i as u64 * 1_000_000;
        rt.sleep_until(deadline).await;
        late.push(Duration::from_nanos(rt.now_ns().saturating_sub(deadline)));
    }
    let cpu = cpu_before.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));
    late.sort();
    (late, cpu)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!("lateness past the deadline, {WAKES} sleeps 1 ms apart; CPU per 1,000 wakes");
    println!(
        "{:<9} {:>9} {:>9} {:>9} {:>12}",
        "timer", "p50", "p99", "max", "CPU/1000"
    );
    for (name, timer) in [("precise", Timer::Precise), ("tokio", Timer::Tokio)] {
        let started = Instant::now();
        let (late, cpu) = runtime.block_on(measure(timer));
        let cpu = cpu.map_or("n/a".to_string(), |c| {
            format!("{:.1} ms", c.as_secs_f64() * 1e3 * 1_000.0 / WAKES as f64)
        });
        println!(
            "{name:<9} {:>7.1}us {:>7.1}us {:>7.1}us {cpu:>12}   ({:.2} s)",
            percentile(&late, 0.5).as_secs_f64() * 1e6,
            percentile(&late, 0.99).as_secs_f64() * 1e6,
            late[late.len() - 1].as_secs_f64() * 1e6,
            started.elapsed().as_secs_f64()
        );
    }
}
