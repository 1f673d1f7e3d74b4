//! Prints the latest `core` benchmark results as a table: for each group, governor's and
//! Headway's time per check and the ratio Headway / governor (below 1.00: Headway is faster).
//!
//! ```text
//! cargo run --release -p headway-benches --bin ratios -- [--stat median|mean|slope] [DIR]
//! ```
//!
//! `DIR` is criterion's output directory (default: `$CARGO_TARGET_DIR/criterion` or the
//! workspace's `target/criterion`). The default statistic is the median, the estimate least
//! disturbed by other work sharing the machine.

use std::path::PathBuf;
use std::process::ExitCode;

use headway_benches::{default_criterion_dir, read_estimate, Statistic, FUNCTIONS, GROUPS};

/// Parses the arguments, reads every estimate and prints the table.
fn main() -> ExitCode {
    let mut statistic = Statistic::Median;
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--stat" {
            match args.next().as_deref().and_then(Statistic::parse) {
                Some(s) => statistic = s,
                None => {
                    eprintln!("--stat takes median, mean or slope");
                    return ExitCode::from(2);
                }
            }
        } else if arg == "-h" || arg == "--help" {
            println!("usage: ratios [--stat median|mean|slope] [CRITERION_DIR]");
            return ExitCode::SUCCESS;
        } else {
            dir = Some(PathBuf::from(arg));
        }
    }
    let dir = dir.unwrap_or_else(default_criterion_dir);

    println!(
        "{:<10} {:>16} {:>16} {:>18} {:>16} {:>18}",
        "group",
        "governor ns/op",
        "headway ns/op",
        "headway/governor",
        "headway-tsc ns/op",
        "headway-tsc/gov"
    );
    let mut failed = false;
    for group in GROUPS {
        let [baseline, ours, tsc] = FUNCTIONS.map(|f| read_estimate(&dir, group, f, statistic));
        match (baseline, ours, tsc) {
            (Ok(g), Ok(h), Ok(t)) => println!(
                "{group:<10} {g:>16.2} {h:>16.2} {:>18.2} {t:>16.2} {:>18.2}",
                h / g,
                t / g
            ),
            (g, h, t) => {
                for e in [g.err(), h.err(), t.err()].into_iter().flatten() {
                    eprintln!("{group}: {e}");
                }
                failed = true;
            }
        }
    }
    println!("({} of each sample's ns per check)", statistic.key());
    if failed {
        eprintln!("run `cargo bench -p headway-benches --bench core` first");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
