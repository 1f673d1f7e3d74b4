//! `headway fetch` as a Unix tool: short flags, `--timeout 0`, the documented exit codes,
//! breaker and budget flags, `--resume`, and SIGINT (a summary, whole lines, exit 130).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{headway, headway_sync, json_lines, spawn_headway, text};
use headway_mock::{Faults, MockConfig, MockHandle, MockServer, Route};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// A fresh, empty directory under the system's temporary one, for output files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("headway-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The URLs of `paths` on `server`, one a line.
fn input(server: &MockHandle, paths: &[String]) -> String {
    let urls: Vec<String> = paths.iter().map(|p| server.url_for(p)).collect();
    urls.join("\n") + "\n"
}

fn items(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("/items/{i}")).collect()
}

/// Every line of `path`, parsed (a line that is not JSON fails the test).
fn file_lines(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("output file")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// Four URLs on a server that holds each for 250 ms: one at a time they take at least 1 s,
/// whereas the default of 10 in flight would finish in about 250 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_flags_j_and_c_set_the_concurrency() {
    let route = Route::unlimited().faults(Faults::new().delay(Duration::from_millis(250)));
    let server = MockServer::start(MockConfig::new().route("/", route))
        .await
        .expect("mock starts");
    for flag in ["-j", "-c"] {
        let started = Instant::now();
        let output = headway(
            &["fetch", flag, "1"],
            &input(&server, &items(1..=4)),
            Duration::from_secs(30),
        )
        .await;
        let elapsed = started.elapsed();
        assert!(output.status.success(), "{flag}: {}", text(&output.stderr));
        assert_eq!(json_lines(&output).len(), 4);
        assert!(
            elapsed >= Duration::from_secs(1),
            "{flag} 1 ran 4 requests of 250 ms in {elapsed:?}"
        );
    }
    for flag in ["-j", "-c"] {
        let output = headway_sync(&["fetch", flag, "0"]);
        assert_eq!(output.status.code(), Some(2), "{flag} 0");
    }
}

/// A response that takes 1.5 s: `--timeout 1s` gives up on it, `--timeout 0` waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_0_means_no_timeout() {
    let route = Route::unlimited().faults(Faults::new().delay(Duration::from_millis(1500)));
    let server = MockServer::start(MockConfig::new().route("/", route))
        .await
        .expect("mock starts");
    let url = input(&server, &items(1..=1));
    let limit = Duration::from_secs(30);
    let output = headway(&["fetch", "--retries", "0", "--timeout", "1s"], &url, limit).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let line = &json_lines(&output)[0];
    assert_eq!(line["status"], Value::Null, "{line}");
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("no response within 1000 ms"),
        "{line}"
    );

    let output = headway(&["fetch", "--retries", "0", "--timeout", "0"], &url, limit).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(json_lines(&output)[0]["status"], 200);
}

/// The help promises 1 when the output cannot be written; a file that cannot even be
/// created is that case too.
#[test]
fn an_unwritable_output_exits_1_as_the_help_says() {
    let help = text(&headway_sync(&["fetch", "--help"]).stdout);
    assert!(
        help.contains("1 when the output could not be written or opened"),
        "{help}"
    );
    let dir = scratch("unwritable");
    let missing_dir = dir.join("no-such-dir").join("out.jsonl");
    for output in [missing_dir.to_str().unwrap(), dir.to_str().unwrap()] {
        let run = headway_sync(&["fetch", "--output", output]);
        assert_eq!(run.status.code(), Some(1), "-o {output}");
        assert!(
            text(&run.stderr).contains("cannot write output"),
            "{}",
            text(&run.stderr)
        );
    }
}

#[test]
fn breaker_and_budget_flags_are_in_the_help_and_checked() {
    let help = text(&headway_sync(&["fetch", "--help"]).stdout);
    for flag in [
        "--breaker <N>",
        "--breaker-open <DURATION>",
        "--retry-budget <PERCENT>",
        "--retry-floor <N>",
        "--resume",
        "-j, --concurrency <N>",
        "[alias: -c]",
        "130 when interrupted",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    // A budget that never refills is rejected by the client's own configuration check.
    let cases: &[&[&str]] = &[
        &["fetch", "--retry-budget", "101"],
        &["fetch", "--retry-budget", "lots"],
        &["fetch", "--retry-budget", "0", "--retry-floor", "0"],
        &["fetch", "--breaker-open", "soon"],
        &["fetch", "--resume"],
    ];
    for args in cases {
        let output = headway_sync(args);
        assert_eq!(output.status.code(), Some(2), "headway {args:?}");
        assert!(!output.stderr.is_empty(), "headway {args:?}");
    }
}

/// The first request answers 200, every later one 503, one URL at a time, no retries. With
/// `--breaker 2` the second and third 503 open the breaker for an hour, so the last three
/// URLs fail without being sent (their wait is past `--max-wait`); with `--breaker 0` every
/// URL is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_flags_reach_the_client() {
    let failing = || {
        MockConfig::new().route(
            "/",
            Route::unlimited().faults(Faults::new().fail_every(1, 1_000_000, 503)),
        )
    };
    let server = MockServer::start(failing()).await.expect("mock starts");
    let urls = input(&server, &items(1..=6));
    let base = ["fetch", "-j", "1", "--retries", "0", "--max-wait", "1s"];
    let limit = Duration::from_secs(30);

    let args = [&base[..], &["--breaker", "2", "--breaker-open", "1h"]].concat();
    let output = headway(&args, &urls, limit).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    let statuses: Vec<&Value> = lines.iter().map(|l| &l["status"]).collect();
    assert_eq!(statuses[..3], [200, 503, 503]);
    for line in &lines[3..] {
        assert_eq!(line["status"], Value::Null, "{line}");
        assert_eq!(line["attempts"], 0, "{line}");
    }
    assert_eq!(server.stats().total.requests, 3);

    server.set_config(failing()).expect("config");
    server.reset();
    let args = [&base[..], &["--breaker", "0"]].concat();
    let output = headway(&args, &urls, limit).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let statuses: Vec<Value> = json_lines(&output)
        .iter()
        .map(|l| l["status"].clone())
        .collect();
    assert_eq!(statuses, [200, 503, 503, 503, 503, 503]);
    assert_eq!(server.stats().total.requests, 6);
}

/// An output file from an interrupted or partly failed run: `/a` answered (with a
/// `waited_ms` no fresh fetch could produce, to tell the kept line apart), `/b` a final 503,
/// `/c` an error line, and a torn last line. `--resume` keeps `/a`'s line as it was, fetches
/// the rest (and `/a` again for its second input line), and leaves each line once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_skips_the_urls_already_answered() {
    let server = MockServer::start(MockConfig::new())
        .await
        .expect("mock starts");
    let dir = scratch("resume");
    let out = dir.join("out.jsonl");
    let url = |p: &str| server.url_for(p);
    // No output file yet: --resume starts one.
    let fresh = dir.join("fresh.jsonl");
    let output = headway(
        &["fetch", "--resume", "-o", fresh.to_str().unwrap()],
        &input(&server, &["/first".to_string()]),
        Duration::from_secs(30),
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(file_lines(&fresh).len(), 1);
    server.reset();
    let kept = format!(
        r#"{{"url":"{}","status":200,"attempts":1,"waited_ms":987654,"error":null}}"#,
        url("/a")
    );
    let earlier = format!(
        "{kept}\n\
         {{\"url\":\"{b}\",\"status\":503,\"attempts\":6,\"waited_ms\":0,\"error\":null}}\n\
         {{\"url\":\"{c}\",\"status\":null,\"attempts\":6,\"waited_ms\":0,\"error\":\"refused\"}}\n\
         {{\"url\":\"{d}\",\"sta",
        b = url("/b"),
        c = url("/c"),
        d = url("/d"),
    );
    std::fs::write(&out, earlier).expect("earlier output");
    let paths = ["/a", "/b", "/c", "/d", "/a"].map(String::from);
    let output = headway(
        &["fetch", "--resume", "-o", out.to_str().unwrap()],
        &input(&server, &paths),
        Duration::from_secs(30),
    )
    .await;
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("4 URLs in") && stderr.contains("1 URLs skipped"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().next(),
        Some(kept.as_str())
    );
    let lines = file_lines(&out);
    let got: Vec<(&str, &Value)> = lines
        .iter()
        .map(|l| (l["url"].as_str().unwrap(), &l["status"]))
        .collect();
    let (a, b, c, d) = (url("/a"), url("/b"), url("/c"), url("/d"));
    assert_eq!(
        got,
        [
            (a.as_str(), &Value::from(200)),
            (b.as_str(), &Value::from(200)),
            (c.as_str(), &Value::from(200)),
            (d.as_str(), &Value::from(200)),
            (a.as_str(), &Value::from(200)),
        ]
    );
    assert_eq!(server.stats().total.requests, 4);
    assert!(!dir.join("out.jsonl.resume-tmp").exists());

    // Once everything is answered, a resumed run sends nothing and changes nothing.
    let before = std::fs::read_to_string(&out).unwrap();
    let output = headway(
        &["fetch", "--resume", "-o", out.to_str().unwrap()],
        &input(&server, &paths),
        Duration::from_secs(30),
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), before);
    assert_eq!(server.stats().total.requests, 4);
}

/// A SIGINT in the middle of a paced run (60 URLs at 20/s): exit 130 with a summary, only
/// whole lines in the output file, in input order; then `--resume` fetches exactly the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_leaves_a_summary_and_a_file_that_resume_completes() {
    let server = MockServer::start(MockConfig::new())
        .await
        .expect("mock starts");
    let dir = scratch("sigint");
    let out = dir.join("out.jsonl");
    let paths = items(1..=60);
    let urls = input(&server, &paths);
    let args = [
        "fetch",
        "--rate",
        "20/s",
        "-j",
        "4",
        "-o",
        out.to_str().unwrap(),
    ];
    let mut child = spawn_headway(&args);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(urls.as_bytes()).await.expect("write URLs");
    drop(stdin);
    // Wait for some lines, well before the 3 s the whole run takes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let written = std::fs::read_to_string(&out).unwrap_or_default();
        if written.lines().count() >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "no output after 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().expect("still running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("headway stops after SIGINT")
        .expect("headway ran");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted after"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(
        stderr.contains("URLs in") && stderr.contains("2xx"),
        "summary: {stderr}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.ends_with('\n'), "a torn last line: {written:?}");
    let lines = file_lines(&out);
    assert!(
        (5..60).contains(&lines.len()),
        "{} lines after SIGINT",
        lines.len()
    );
    for (line, path) in lines.iter().zip(&paths) {
        assert_eq!(line["url"], server.url_for(path).as_str(), "{line}");
        assert_eq!(line["status"], 200, "{line}");
    }
    let done = lines.len();

    let output = headway(
        &[&args[..], &["--resume"]].concat(),
        &urls,
        Duration::from_secs(60),
    )
    .await;
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{} URLs in", 60 - done))
            && stderr.contains(&format!("{done} URLs skipped")),
        "{stderr}"
    );
    let mut got: Vec<String> = file_lines(&out)
        .iter()
        .map(|l| {
            assert_eq!(l["status"], 200, "{l}");
            l["url"].as_str().unwrap().to_string()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = paths.iter().map(|p| server.url_for(p)).collect();
    want.sort();
    assert_eq!(got, want, "each URL once");
}

/// `demo --help` describes the API the demo runs: the same burst as the demo prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_help_matches_the_demo() {
    let help = text(&headway_sync(&["demo", "--help"]).stdout);
    let burst = |s: &str| {
        let at = s
            .find("burst ")
            .unwrap_or_else(|| panic!("no burst in {s}"));
        s[at + 6..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    };
    let output = headway(
        &["demo", "--items", "20", "--server-rate", "1000"],
        "",
        Duration::from_secs(60),
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let api = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("API:"))
        .expect("an API line");
    assert_eq!(burst(&help), burst(api), "help:\n{help}\ndemo:\n{api}");
    assert_eq!(burst(api), "10");
}
