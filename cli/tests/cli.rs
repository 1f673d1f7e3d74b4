//! The `headway` binary end to end, against an in-process mock API on loopback.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use headway_mock::{MockConfig, MockServer, Route};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const HEADWAY: &str = env!("CARGO_BIN_EXE_headway");

/// Runs the binary with `args`, feeding `stdin`, and gives up after `limit`.
async fn headway(args: &[&str], stdin: &str, limit: Duration) -> Output {
    let mut child = tokio::process::Command::new(HEADWAY)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the headway binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let text = stdin.to_string();
    let writer = tokio::spawn(async move {
        // The binary may exit before reading everything (bad flags): ignore a broken pipe.
        let _ = input.write_all(text.as_bytes()).await;
    });
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("headway {args:?} did not finish within {limit:?}"))
        .expect("headway runs");
    let _ = writer.await;
    output
}

/// Runs the binary with no input, synchronously (for flag errors that exit at once).
fn headway_sync(args: &[&str]) -> Output {
    Command::new(HEADWAY)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the headway binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_at_the_servers_rate_is_in_order_and_never_rejected() {
    // 100/s with a tolerance of two intervals (burst 3): the client paces at exactly 100/s
    // (its own burst is 1), and the server forgives an arrival up to 20 ms early, as
    // scheduling jitter on a busy machine can make one look (a request delayed on its way,
    // the next one not). A client going faster than 100/s is still rejected.
    let server = MockServer::start(
        MockConfig::new().route("/", Route::gcra(100, Duration::from_secs(1), 3)),
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
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 50);
    for (line, url) in lines.iter().zip(&urls) {
        assert_eq!(line["url"], url.as_str(), "input order: {line}");
        assert_eq!(line["status"], 200, "{line}");
        assert_eq!(line["error"], Value::Null, "{line}");
        assert_eq!(line["attempts"], 1, "{line}");
        assert!(line["waited_ms"].is_u64(), "{line}");
    }
    let stats = server.stats().total;
    assert_eq!(stats.rejected, 0, "the server rejected requests: {stats:?}");
    assert_eq!(stats.admitted, 50);
    // Paced, not bunched: 49 intervals of 10 ms, of which the tolerance can absorb two.
    let span = stats.last_admitted_ms.unwrap() - stats.first_admitted_ms.unwrap();
    assert!(span >= 470.0, "50 requests admitted within {span} ms");
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
    assert!(output.status.success(), "{}", text(&output.stderr));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_a_summary_with_the_429_count() {
    let output = headway(&["demo", "--items", "200"], "", Duration::from_secs(120)).await;
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        text(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("429s"))
        .unwrap_or_else(|| panic!("no 429 line in:\n{stdout}"));
    assert!(
        line.contains("seen by the client") && line.contains("rejected by the server"),
        "{line}"
    );
    assert!(stdout.contains("200 ok, 0 failed"), "{stdout}");
}
