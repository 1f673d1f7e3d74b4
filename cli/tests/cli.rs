//! The `headway` binary end to end, against an in-process mock API on loopback.

use std::time::Duration;

use headway_mock::{Faults, MockConfig, MockServer, Route};
use serde_json::Value;

mod common;

use common::{headway, headway_sync, json_lines, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_at_the_servers_rate_is_in_order_and_never_rejected() {
    // 100/s with a burst of 50, as many as there are requests: the server cannot reject any
    // of them however they bunch on a loaded machine. That the client keeps to 100/s (its
    // own burst is 1) is checked from the server's clock instead: the 50th request cannot be
    // sent before 49 intervals of 10 ms have passed since the first, so the last admission
    // comes at least 490 ms after the server started. Load only makes it later.
    let server = MockServer::start(
        MockConfig::new().route("/", Route::gcra(100, Duration::from_secs(1), 50)),
    )
    .await
    .expect("mock starts");
    let urls: Vec<String> = (1..=50)
        .map(|i| server.url_for(&format!("/items/{i}")))
        .collect();
    let output = headway(
        &["fetch", "--rate", "100/s", "--concurrency", "10"],
        &(urls.join("\n") + "\n"),
        Duration::from_secs(60),
    )
    .await;
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        text(&output.stderr)
    );
    // Every URL answered exactly once, in input order, at the first attempt.
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 50);
    for (line, url) in lines.iter().zip(&urls) {
        assert_eq!(line["url"], url.as_str(), "input order: {line}");
        assert_eq!(line["status"], 200, "{line}");
        assert_eq!(line["error"], Value::Null, "{line}");
        assert_eq!(line["attempts"], 1, "{line}");
        assert!(line["waited_ms"].is_u64(), "{line}");
    }
    // The server saw exactly the requests the client reports: 50, none rejected.
    let stats = server.stats().total;
    assert_eq!(stats.rejected, 0, "the server rejected requests: {stats:?}");
    assert_eq!(stats.faulted, 0, "{stats:?}");
    assert_eq!(stats.admitted, 50);
    let last = stats.last_admitted_ms.unwrap();
    assert!(
        last >= 490.0,
        "50 requests at 100/s all admitted by {last} ms"
    );
    let stderr = text(&output.stderr);
    assert!(stderr.contains("50 URLs"), "summary: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_gets_its_record_in_order() {
    let server = MockServer::start(MockConfig::new())
        .await
        .expect("mock starts");
    let input = format!(
        "# a comment\n\n{a}\nnot a url\n   \nftp://example.com/x\n{b}\n{long}\n{c}\n",
        a = server.url_for("/a"),
        b = server.url_for("/b"),
        c = server.url_for("/c"),
        long = "x".repeat(70_000),
    );
    let output = headway(
        &["fetch", "--retries", "0"],
        &input,
        Duration::from_secs(30),
    )
    .await;
    // Three lines are not URLs that can be fetched: the run says so in its exit status.
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("3 of 6 URLs failed"), "{stderr}");
    let lines = json_lines(&output);
    let urls: Vec<&str> = lines.iter().map(|l| l["url"].as_str().unwrap()).collect();
    assert_eq!(urls.len(), 6, "{lines:?}");
    assert_eq!(urls[0], server.url_for("/a"));
    assert_eq!(urls[1], "not a url");
    assert_eq!(urls[2], "ftp://example.com/x");
    assert_eq!(urls[3], server.url_for("/b"));
    assert!(urls[4].starts_with("xxxx"));
    assert_eq!(urls[5], server.url_for("/c"));
    for i in [0, 3, 5] {
        assert_eq!(lines[i]["status"], 200, "{}", lines[i]);
    }
    for i in [1, 2, 4] {
        assert_eq!(lines[i]["status"], Value::Null, "{}", lines[i]);
        assert_eq!(lines[i]["attempts"], 0, "{}", lines[i]);
        assert!(lines[i]["error"].is_string(), "{}", lines[i]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_5xx_fails_the_run_and_a_404_does_not() {
    // Requests 2, 4, 6, ... answer 503; nothing is retried.
    let route = Route::unlimited().faults(Faults::new().fail_every(1, 1, 503));
    let server = MockServer::start(MockConfig::new().route("/", route))
        .await
        .expect("mock starts");
    let args = ["fetch", "--retries", "0", "--concurrency", "1"];
    let input = |paths: &[&str]| {
        let urls: Vec<String> = paths.iter().map(|p| server.url_for(p)).collect();
        urls.join("\n") + "\n"
    };
    let limit = Duration::from_secs(30);
    let output = headway(&args, &input(&["/a", "/b"]), limit).await;
    let statuses: Vec<Value> = json_lines(&output)
        .iter()
        .map(|l| l["status"].clone())
        .collect();
    assert_eq!(statuses, [200, 503]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    // A 404 is the server's answer: not a failure of the run.
    server.set_config(MockConfig::new()).expect("config");
    let output = headway(&args, &input(&["/__nothing_here"]), limit).await;
    assert_eq!(json_lines(&output)[0]["status"], 404);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    let cases: &[&[&str]] = &[
        &["fetch", "--rate", "0/s"],
        &["fetch", "--rate", "abc"],
        &["fetch", "--max-wait", "forever"],
        &["fetch", "--timeout", "10"],
        &["fetch", "--burst", "5"],
        &["fetch", "--rate", "10/s burst 2", "--burst", "3"],
        &["fetch", "--concurrency", "0"],
        &["fetch", "--bogus"],
        &["frobnicate"],
        &["demo", "--items", "0"],
        &[],
    ];
    for args in cases {
        let output = headway_sync(args);
        assert_eq!(output.status.code(), Some(2), "headway {args:?}");
        assert!(
            !output.stderr.is_empty(),
            "headway {args:?} says nothing on stderr"
        );
        assert!(output.stdout.is_empty(), "headway {args:?} wrote to stdout");
    }
}

#[test]
fn unreadable_input_exits_2() {
    let missing = "/nonexistent/headway/urls.txt";
    let output = headway_sync(&["fetch", "--input", missing]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(missing) && stderr.contains("cannot read input"),
        "{stderr}"
    );

    let dir = std::env::temp_dir();
    let output = headway_sync(&["fetch", "--input", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("directory"));
}

#[test]
fn help_shows_the_usage() {
    let output = headway_sync(&["fetch", "--help"]);
    assert!(output.status.success());
    let help = text(&output.stdout);
    for flag in [
        "--rate",
        "--burst",
        "--concurrency",
        "--retries",
        "--max-wait",
        "--timeout",
        "--input",
        "--output",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

/// The counts a `headway demo` run prints.
#[derive(Debug)]
struct DemoCounts {
    sent: u64,
    seen_429: u64,
    rejected: u64,
    injected_503: u64,
    retries: u64,
    ok: u64,
    failed: u64,
}

/// The numbers on the summary line that starts with `label`, in order.
fn numbers(stdout: &str, label: &str) -> Vec<u64> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"));
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect()
}

/// Runs `headway demo` with `args` and reads its summary.
async fn demo(args: &[&str]) -> DemoCounts {
    let output = headway(args, "", Duration::from_secs(120)).await;
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        text(&output.stderr)
    );
    let one = |label: &str| match numbers(&stdout, label)[..] {
        [n] => n,
        ref other => panic!("{label:?}: {other:?} in:\n{stdout}"),
    };
    let two = |label: &str| match numbers(&stdout, label)[..] {
        [a, b] => (a, b),
        ref other => panic!("{label:?}: {other:?} in:\n{stdout}"),
    };
    let (seen_429, rejected) = two("429s ");
    let (ok, failed) = two("results ");
    let counts = DemoCounts {
        sent: one("requests sent "),
        seen_429,
        rejected,
        injected_503: one("503s "),
        retries: one("retries "),
        ok,
        failed,
    };
    let line = stdout
        .lines()
        .find(|l| l.starts_with("429s"))
        .expect("a 429 line");
    assert!(
        line.contains("seen by the client") && line.contains("rejected by the server"),
        "{line}"
    );
    // 200 items: the outage starts at 1 s, half of the ideal 2 s, and a 503 comes after
    // every 50 requests.
    assert!(
        stdout.contains("a 1 s outage at 1.0 s (429, Retry-After: 1)")
            && stdout.contains("a 503 after every 50 requests"),
        "{stdout}"
    );
    counts
}

/// What holds for any run of the demo on 200 items, however loaded the machine: every item
/// is fetched, every attempt is one the server counted (200 admitted, the 429s, the 503s),
/// every attempt after an item's first is a retry, the client saw each 429 the server sent,
/// and at least one request met the outage (200 admissions at 100/s with a burst of 10 take
/// at least 1.9 s, so the client is still sending when the outage starts at 1 s). The
/// outage's requests are consecutive on the server and, with at most 10 in flight when the
/// first 429 pauses the key, fewer than 51: they can take the place of at most one of the
/// 503s, which come at requests 51, 102, 153...
fn assert_demo_counts(c: &DemoCounts) {
    assert_eq!((c.ok, c.failed), (200, 0), "{c:?}");
    assert_eq!(c.sent, 200 + c.rejected + c.injected_503, "{c:?}");
    assert_eq!(c.retries, c.sent - 200, "{c:?}");
    assert_eq!(c.seen_429, c.rejected, "{c:?}");
    assert!(c.rejected >= 1, "no request met the outage: {c:?}");
    let due = c.sent / 51;
    assert!(
        c.injected_503 == due || c.injected_503 + 1 == due,
        "{due} 503s due: {c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_a_summary_with_the_429_count() {
    let counts = demo(&["demo", "--items", "200"]).await;
    assert_demo_counts(&counts);
}

/// One request at a time, paced at the learned 100/s (burst 1): the server's burst of 10 can
/// never reject one, since no two are ever in flight together, and the one request that meets
/// the outage pauses the key for its `Retry-After` of 1 s from when its 429 arrived, which is
/// past the end of the outage. So exactly one 429, and three or four 503s (four unless the
/// outage's request was one of 51, 102 or 153).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_one_at_a_time_meets_the_outage_exactly_once() {
    let counts = demo(&["demo", "--items", "200", "--concurrency", "1"]).await;
    assert_demo_counts(&counts);
    assert_eq!((counts.seen_429, counts.rejected), (1, 1), "{counts:?}");
    assert!((3..=4).contains(&counts.injected_503), "{counts:?}");
    assert_eq!(counts.sent, 201 + counts.injected_503, "{counts:?}");
}
