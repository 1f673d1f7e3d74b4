//! The command line: subcommands, flags and the parsers that turn bad values into usage
//! errors (exit code 2) before anything runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use headway_core::duration::parse_duration;
use headway_redis::OnOutage;
use headway_tokio::Quota;

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "headway",
    version,
    about = "Fetch URLs exactly as fast as the server allows, and no faster.",
    long_about = "Fetch URLs exactly as fast as the server allows, and no faster.\n\n\
        Without a configured rate, Headway learns the quota from the server's rate-limit \
        headers (RateLimit-Policy, RateLimit, X-RateLimit-*) and honours Retry-After for \
        every request to that server at once.",
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch URLs (one a line) and write one JSON line per URL, in input order.
    #[command(after_help = FETCH_AFTER_HELP)]
    Fetch(FetchArgs),
    /// Fetch from an embedded rate-limited API on loopback and report how close to the
    /// allowed rate Headway went.
    Demo(DemoArgs),
}

const FETCH_AFTER_HELP: &str = "\
Input: one URL a line; blank lines and lines starting with # are skipped.
Output: one JSON object a line, in input order:
  {\"url\":\"https://api.example.com/items/1\",\"status\":200,\"attempts\":1,\"waited_ms\":0,\"error\":null}
status is null when no response came back; error then says why (invalid URL, connection
refused, timeout, wait longer than --max-wait, ...). Bodies are read and discarded.

Exit status: 0 when every URL was answered (a 4xx is an answer), 3 when every line was
processed but some URLs failed (an error line, or a final 429 or 5xx once retries ran out),
2 for bad flags or unreadable input, 1 when the output could not be written or opened,
130 when interrupted (Ctrl-C, SIGINT).

Interrupted: the URLs in progress are dropped, every line already written stays whole, and a
summary goes to stderr; run the same command again with --resume to fetch the rest.
--resume (needs --output): URLs with an answer in the output file (a status other than 429
or 5xx) are skipped; the other lines are dropped from the file and its new lines come after
the kept ones.

Examples:
  headway fetch --rate 100/min < urls.txt > results.jsonl
  headway fetch --rate \"5000/h\" --burst 10 --input urls.txt --output results.jsonl
  headway fetch --input urls.txt            # learn the rate from the server's headers
  headway fetch -j 4 --rate 10/s -i urls.txt -o out.jsonl --resume
                                            # carry on where an interrupted run stopped
  headway fetch --rate 100/min --redis redis://10.0.0.5:6379 --input part1.txt
                                            # one 100/min across every such process
  headway fetch --rate 100/min --redis redis://10.0.0.5:6379 --redis-fallback share:3 -i part1.txt
                                            # one of 3 such processes: 100/min / 3 each
                                            # while Redis is away, shared again once back";

/// Flags of `headway fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Requests allowed per period, like 100/min, 10/s, 5000/h or 1/1.5s
    /// [default: learned from the server's headers]
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<String>,
    /// Requests that may go back to back within the rate (needs --rate)
    #[arg(long, value_name = "N", requires = "rate",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: Option<u32>,
    /// Requests in flight at most
    #[arg(long, short = 'j', visible_short_alias = 'c', value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Retries per URL after a 429, a 5xx or a connection error
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,
    /// Retries each host may spend, as a percentage of its successes (0-100; "off": no
    /// budget, every URL may use all its --retries)
    #[arg(long, value_name = "PERCENT", default_value = "20", value_parser = parse_budget)]
    pub retry_budget: Budget,
    /// Retries per second each host may spend whatever its successes, so that a run that
    /// starts in an outage still retries
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub retry_floor: u32,
    /// Failures in a row (no response, a 5xx) that open a host's circuit breaker: its URLs
    /// then wait, within --max-wait, while one probe at a time checks it is back (0: no breaker)
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub breaker: u32,
    /// How long an open breaker waits before its next probe
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration_arg)]
    pub breaker_open: Duration,
    /// The longest wait accepted for one URL (rate queue or server pause); a URL that would
    /// wait longer fails with an error line
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration_arg)]
    pub max_wait: Duration,
    /// Per-attempt timeout for the response headers, and again for the body (0: none)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration_arg)]
    pub timeout: Duration,
    /// Read URLs from FILE [default: standard input]
    #[arg(long, short, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Write JSON lines to FILE [default: standard output]
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Skip the URLs already answered in the --output file and add the rest to it
    #[arg(long, requires = "output")]
    pub resume: bool,
    /// Share the rate of each host with every process pointed at this Redis, like
    /// redis://127.0.0.1:6379 (needs --rate): together they go at the rate, not each
    #[arg(long, value_name = "URL", requires = "rate")]
    pub redis: Option<String>,
    /// The prefix of the Redis keys, so that unrelated jobs sharing a Redis do not share
    /// rates (needs --redis)
    #[arg(
        long,
        value_name = "NAME",
        requires = "redis",
        default_value = "headway"
    )]
    pub namespace: String,
    /// What happens to requests while --redis cannot be reached mid-run: "fail" (they fail
    /// with an error line, nothing is sent, the rate is never exceeded), "share:N" (this
    /// process goes on alone at the rate divided by N, for N processes sharing it, until
    /// Redis answers again) or "share:A/B" (A/B of the rate). A Redis unreachable at start
    /// always stops the run (exit status 1). (needs --redis)
    #[arg(
        long,
        value_name = "fail|share:N",
        requires = "redis",
        default_value = "fail"
    )]
    pub redis_fallback: OnOutage,
    /// The longest one Redis call may take before it counts as Redis lost (needs --redis)
    #[arg(long, value_name = "DURATION", requires = "redis", default_value = "1s",
          value_parser = parse_positive_duration)]
    pub redis_timeout: Duration,
}

/// Flags of `headway demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Items to fetch
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub items: u32,
    /// Configure this rate on the client instead of learning it from the headers
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<String>,
    /// Requests per second the embedded API allows (GCRA, burst 10)
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub server_rate: u32,
    /// Requests in flight at most
    #[arg(long, short = 'j', visible_short_alias = 'c', value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub concurrency: u32,
}

/// Checks a quota string the way the client will read it; the string itself is kept.
fn parse_rate(s: &str) -> Result<String, String> {
    s.parse::<Quota>()
        .map(|_| s.trim().to_string())
        .map_err(|e| format!("{e}"))
}

/// `--retry-budget`: the percentage of successes each host may spend on retries, or `None`
/// for no budget (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget(pub Option<u32>);

/// Parses a retry budget: a percentage from 0 to 100, or `off`.
fn parse_budget(s: &str) -> Result<Budget, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(Budget(None));
    }
    match s.trim_end_matches('%').parse::<u32>() {
        Ok(p) if p <= 100 => Ok(Budget(Some(p))),
        _ => Err(format!(
            "{s:?} is not a percentage from 0 to 100 or \"off\""
        )),
    }
}

/// Parses `10m`, `30s`, `1.5s`, `250ms`, `1h30m` into a [`Duration`]; a bare `0` is zero
/// (no unit needed for nothing).
fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
        .map(Duration::from_nanos)
        .map_err(|e| format!("{e}"))
}

/// A [`parse_duration_arg`] that is not zero.
fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration_arg(s)? {
        d if d.is_zero() => Err("must be longer than 0".to_string()),
        d => Ok(d),
    }
}

/// The quota string handed to the client: `rate`, with ` burst N` appended when given.
pub fn quota_string(rate: &str, burst: Option<u32>) -> Result<String, String> {
    let Some(burst) = burst else {
        return Ok(rate.to_string());
    };
    if rate.contains("burst") {
        return Err(format!(
            "--rate {rate:?} already gives a burst; drop --burst or the burst in --rate"
        ));
    }
    let quota = format!("{rate} burst {burst}");
    quota
        .parse::<Quota>()
        .map(|_| quota.clone())
        .map_err(|e| format!("invalid quota {quota:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rates_and_durations() {
        assert!(parse_rate("100/min").is_ok());
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("abc").is_err());
        assert_eq!(parse_duration_arg("10m"), Ok(Duration::from_secs(600)));
        assert!(parse_duration_arg("forever").is_err());
        assert_eq!(parse_duration_arg("0"), Ok(Duration::ZERO));
        assert!(parse_duration_arg("10").is_err());
        assert_eq!(parse_budget("off"), Ok(Budget(None)));
        assert_eq!(parse_budget("25%"), Ok(Budget(Some(25))));
        assert_eq!(parse_budget("0"), Ok(Budget(Some(0))));
        assert!(parse_budget("101").is_err());
        assert_eq!(
            quota_string("100/min", Some(10)).as_deref(),
            Ok("100/min burst 10")
        );
        assert!(quota_string("100/min burst 2", Some(10)).is_err());
        assert_eq!(quota_string("10/s", None).as_deref(), Ok("10/s"));
        assert_eq!(parse_positive_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_positive_duration("0").is_err());
    }

    #[test]
    fn redis_flags() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["headway", "fetch", "--rate", "10/s"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Fetch(args) => (args.redis_fallback, args.redis_timeout),
                Command::Demo(_) => unreachable!("parsed fetch"),
            })
        };
        let redis = ["--redis", "redis://127.0.0.1:6379"];
        assert_eq!(
            parse(&redis).unwrap(),
            (OnOutage::Fail, Duration::from_secs(1))
        );
        let quarter = [&redis[..], &["--redis-fallback", "share:4"]].concat();
        assert_eq!(
            parse(&quarter).unwrap().0,
            OnOutage::Local(headway_redis::Share::one_of(4).unwrap())
        );
        for bad in [
            &["--redis-fallback", "share:0"][..],
            &["--redis-fallback", "local"],
            &["--redis-timeout", "0"],
        ] {
            let err = parse(&[&redis[..], bad].concat()).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad:?}"
            );
        }
        // Without --redis they mean nothing: a usage error, not silently ignored.
        let err = parse(&["--redis-fallback", "share:4"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }
}
