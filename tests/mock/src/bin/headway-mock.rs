//! `headway-mock`: runs the mock rate-limited API as a standalone process.
//!
//! Prints exactly one line, `listening on http://127.0.0.1:PORT`, then serves until SIGTERM or
//! SIGINT. Bad arguments or configuration exit with status 2; a failure to listen with 1.

use std::io::Write;
use std::process::ExitCode;

use headway_mock::{
    Gcra, HeaderStyle, MockConfig, MockServer, Policy, RetryAfterStyle, ServerOptions, Window,
};

const USAGE: &str = "\
usage: headway-mock [--port P] [--config JSON|@FILE] [--static DIR]
                    [--policy gcra|fixed_window|sliding_window|unlimited]
                    [--limit N] [--period-ms MS] [--window-ms MS] [--burst N]
                    [--headers none|x_ratelimit_epoch|x_ratelimit_delta|ietf06|ietf07|ietf08]
                    [--retry-after seconds|http_date|none]
                    [--date-skew-ms MS] [--delay-ms MS]

--config sets the whole configuration (the JSON format of POST /__config).
--policy, --limit, --period-ms, --window-ms, --burst, --headers, --retry-after and --delay-ms
change the default route (the one for paths no configured prefix matches).
Defaults for --policy: limit 100, period/window 1000 ms, burst 1.";

/// Parsed command line.
#[derive(Debug, Default)]
struct Args {
    port: Option<u16>,
    config: Option<String>,
    static_dir: Option<String>,
    policy: Option<String>,
    limit: Option<u64>,
    period_ms: Option<u64>,
    window_ms: Option<u64>,
    burst: Option<u64>,
    headers: Option<String>,
    retry_after: Option<String>,
    date_skew_ms: Option<i64>,
    delay_ms: Option<u64>,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args::default();
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => args.port = Some(number(&flag, &value()?)?),
            "--config" => args.config = Some(value()?),
            "--static" => args.static_dir = Some(value()?),
            "--policy" => args.policy = Some(value()?),
            "--limit" => args.limit = Some(number(&flag, &value()?)?),
            "--period-ms" => args.period_ms = Some(number(&flag, &value()?)?),
            "--window-ms" => args.window_ms = Some(number(&flag, &value()?)?),
            "--burst" => args.burst = Some(number(&flag, &value()?)?),
            "--headers" => args.headers = Some(value()?),
            "--retry-after" => args.retry_after = Some(value()?),
            "--date-skew-ms" => args.date_skew_ms = Some(number(&flag, &value()?)?),
            "--delay-ms" => args.delay_ms = Some(number(&flag, &value()?)?),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(args))
}

/// Reads a snake_case enum name (hyphens accepted) through its serde form.
fn enum_value<T: serde::de::DeserializeOwned>(flag: &str, value: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(value.replace('-', "_")))
        .map_err(|_| format!("{flag}: unknown value {value:?}"))
}

fn build_config(args: &Args) -> Result<MockConfig, String> {
    let mut config = match &args.config {
        None => MockConfig::new(),
        Some(text) => {
            let json = match text.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| format!("--config: cannot read {path}: {e}"))?,
                None => text.clone(),
            };
            MockConfig::from_json(&json).map_err(|e| format!("--config: {e}"))?
        }
    };
    let route = &mut config.default_route;
    let limit = args.limit.unwrap_or(100);
    let period_ms = args.period_ms.or(args.window_ms).unwrap_or(1000);
    let window_ms = args.window_ms.or(args.period_ms).unwrap_or(1000);
    if let Some(policy) = &args.policy {
        route.policy = match policy.replace('-', "_").as_str() {
            "unlimited" => Policy::Unlimited,
            "gcra" => Policy::Gcra(Gcra {
                limit,
                period_ms,
                burst: args.burst.unwrap_or(1),
                name: None,
            }),
            "fixed_window" => Policy::FixedWindow(Window { limit, window_ms }),
            "sliding_window" => Policy::SlidingWindow(Window { limit, window_ms }),
            other => return Err(format!("--policy: unknown policy {other:?}")),
        };
    } else if args.limit.is_some()
        || args.period_ms.is_some()
        || args.window_ms.is_some()
        || args.burst.is_some()
    {
        return Err("--limit, --period-ms, --window-ms and --burst need --policy".into());
    }
    if let Some(h) = &args.headers {
        route.headers = enum_value::<HeaderStyle>("--headers", h)?;
    }
    if let Some(r) = &args.retry_after {
        route.retry_after = enum_value::<RetryAfterStyle>("--retry-after", r)?;
    }
    if let Some(d) = args.delay_ms {
        route.faults.delay_ms = d;
    }
    if let Some(skew) = args.date_skew_ms {
        config.date_skew_ms = skew;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("headway-mock: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("headway-mock: {e}");
            return ExitCode::from(2);
        }
    };
    let mut options = ServerOptions::new();
    options.port = args.port;
    options.static_dir = args.static_dir.map(Into::into);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("headway-mock: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let server = match MockServer::start_with(config, options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("headway-mock: {e}");
                return ExitCode::from(1);
            }
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "listening on {}", server.url())
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::from(1);
        }
        drop(out);
        wait_for_signal().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<MockConfig, String> {
        let parsed = parse_args(list.iter().map(|s| s.to_string()))?.ok_or("help")?;
        build_config(&parsed)
    }

    #[test]
    fn shortcut_flags_set_the_default_route() {
        let c = args(&[
            "--policy",
            "gcra",
            "--limit=100",
            "--period-ms",
            "1000",
            "--burst",
            "1",
            "--headers",
            "ietf08",
            "--retry-after",
            "http-date",
        ])
        .unwrap();
        assert_eq!(
            c.default_route.policy,
            Policy::Gcra(Gcra {
                limit: 100,
                period_ms: 1000,
                burst: 1,
                name: None
            })
        );
        assert_eq!(c.default_route.headers, HeaderStyle::Ietf08);
        assert_eq!(c.default_route.retry_after, RetryAfterStyle::HttpDate);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(args(&["--port", "x"]).is_err());
        assert!(args(&["--port"]).is_err());
        assert!(args(&["--nope"]).is_err());
        assert!(args(&["--config", "{"]).is_err());
        assert!(args(&["--config", "@/nonexistent/file.json"]).is_err());
        assert!(args(&["--policy", "gcra", "--limit", "0"]).is_err());
        assert!(args(&["--policy", "bucket"]).is_err());
        assert!(args(&["--limit", "5"]).is_err());
        assert!(args(&["--headers", "ietf99"]).is_err());
    }
}
