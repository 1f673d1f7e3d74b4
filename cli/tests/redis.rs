//! Several `headway fetch` processes pointed at one Redis share each host's quota: the mock
//! API, which enforces it, rejects none of their requests, even with one process's clock an
//! hour ahead (libfaketime). Redis lost mid-run: `--redis-fallback fail` fails the URLs it
//! catches, `--redis-fallback share:N` goes on at its share. Private redis-servers are
//! started for the tests.
//!
//! Every Redis call may take up to 30 s (`--redis-timeout`) so that a loaded machine does not
//! pass for a lost Redis; a Redis that is really gone refuses the connection at once.

use std::process::{Output, Stdio};
use std::time::Duration;

use headway_mock::{MockConfig, MockHandle, MockServer, Route};
use headway_redis::testing::RedisServer;

const HEADWAY: &str = env!("CARGO_BIN_EXE_headway");

/// `headway fetch` of `urls` at `rate` through `redis`, with `extra` flags, optionally under
/// `faketime`.
fn fetch(
    redis: &str,
    rate: &str,
    extra: &[&str],
    urls: String,
    skew: Option<&str>,
) -> tokio::process::Child {
    let mut cmd = match skew {
        Some(skew) => {
            let mut c = tokio::process::Command::new("faketime");
            c.args(skew.split(' ')).arg(HEADWAY);
            c
        }
        None => tokio::process::Command::new(HEADWAY),
    };
    let mut child = cmd
        .args(["fetch", "--rate", rate, "--redis", redis])
        .args(["--namespace", "cli-test", "--redis-timeout", "30s"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("headway starts");
    let mut stdin = child.stdin.take().expect("piped");
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        stdin
            .write_all(urls.as_bytes())
            .await
            .expect("input written");
    });
    child
}

/// `n` URLs of `mock` under `/{prefix}/`, one a line.
fn urls(mock: &MockHandle, prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{}\n", mock.url_for(&format!("/{prefix}/{i}"))))
        .collect()
}

async fn finish(child: tokio::process::Child) -> Output {
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("headway finishes")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_sharing_one_quota_through_redis_get_no_429() {
    const PROCESSES: usize = 4;
    const EACH: usize = 15;
    let redis = RedisServer::start().expect("redis-server starts");
    // The server allows 30/s with a burst of 2, each client's quota is 30/s burst 1: 60
    // requests between them take about 2 s.
    let mock =
        MockServer::start(MockConfig::new().route("/", Route::gcra(30, Duration::from_secs(1), 2)))
            .await
            .unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            let urls = urls(&mock, &format!("p{p}"), EACH);
            let skew = (p == PROCESSES - 1).then_some("-f +1h");
            fetch(&redis.url(), "30/s", &["--retries", "0"], urls, skew)
        })
        .collect();
    for child in children {
        let out = finish(child).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.lines().count(), EACH, "{stdout}");
        assert!(
            stdout.lines().all(|l| l.contains("\"status\":200")),
            "{stdout}"
        );
    }
    let total = mock.stats().total;
    let all = (PROCESSES * EACH) as u64;
    assert_eq!((total.admitted, total.rejected), (all, 0), "{total:?}");
    mock.shutdown().await;
}

/// Two processes, each on its own Redis and mock, lose their Redis after their first
/// requests: the one with `--redis-fallback fail` writes an error line for each URL it
/// catches and sends nothing for them; the one with `share:1` answers every URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_mid_run_fails_urls_or_goes_on_at_the_declared_share() {
    const URLS: usize = 40;
    let (mut redis_fail, mut redis_share) =
        (RedisServer::start().unwrap(), RedisServer::start().unwrap());
    let mock = || async {
        MockServer::start(MockConfig::new().route("/", Route::gcra(20, Duration::from_secs(1), 5)))
            .await
            .unwrap()
    };
    let (mock_fail, mock_share) = (mock().await, mock().await);
    // 40 URLs at 20/s: about 2 s each.
    let failing = fetch(
        &redis_fail.url(),
        "20/s",
        &["--retries", "0", "--redis-fallback", "fail"],
        urls(&mock_fail, "f", URLS),
        None,
    );
    let sharing = fetch(
        &redis_share.url(),
        "20/s",
        &["--redis-fallback", "share:1"],
        urls(&mock_share, "s", URLS),
        None,
    );
    // Redis goes once each process has been admitted a few times through it.
    for (mock, redis) in [
        (&mock_fail, &mut redis_fail),
        (&mock_share, &mut redis_share),
    ] {
        while mock.stats().total.requests < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        redis.stop();
    }
    let before = mock_fail.stats().total.requests;

    let out = finish(failing).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert_eq!(stdout.lines().count(), URLS, "one line per URL: {stdout}");
    let failed: Vec<_> = stdout
        .lines()
        .filter(|l| !l.contains("\"status\":200"))
        .collect();
    assert!(!failed.is_empty(), "{stdout}");
    assert!(
        failed
            .iter()
            .all(|l| l.contains("\"status\":null") && l.contains("shared rate store unavailable")),
        "{failed:?}"
    );
    // Only the turns already reserved in Redis (at most one per worker) went after it.
    let after = mock_fail.stats().total.requests - before;
    assert!(after <= 10, "{after} requests sent without Redis");

    let out = finish(sharing).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), URLS, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.contains("\"status\":200")),
        "{stdout}"
    );
    assert_eq!(mock_share.stats().total.admitted, URLS as u64);
    mock_fail.shutdown().await;
    mock_share.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = fetch(
        &format!("redis://127.0.0.1:{port}"),
        "30/s",
        &["--redis-fallback", "share:4"],
        String::new(),
        None,
    );
    let out = finish(child).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Redis unreachable"), "{stderr}");
}

#[tokio::test]
async fn a_bad_fallback_is_a_usage_error() {
    for (bad, says) in [("share:0", "share"), ("local", "expected fail, share:N")] {
        let out = std::process::Command::new(HEADWAY)
            .args(["fetch", "--rate", "1/s", "--redis", "redis://127.0.0.1:1"])
            .args(["--redis-fallback", bad])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{bad}: {stderr}");
    }
}
