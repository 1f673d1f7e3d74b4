//! The progress bar on standard error: shown only when standard error is a terminal, so logs
//! and pipes get nothing but the final summary.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A progress bar for `total` items (or a counter when the total is unknown), with the rate
/// and, when the total is known, the time left. Hidden unless standard error is a terminal.
pub fn bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if total.is_some() {
        "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} {rate:>9} ETA {eta:>4} {msg}"
    } else {
        "{spinner} {elapsed_precise} {pos} done {rate:>9} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        let style = style
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1}/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
