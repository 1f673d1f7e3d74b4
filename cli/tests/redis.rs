//! Several `headway fetch` processes pointed at one Redis share each host's quota: the mock
//! API, which enforces it, rejects none of their requests, even with one process's clock an
//! hour ahead (libfaketime). A private redis-server is started for the test.

use std::process::Stdio;
use std::time::Duration;

use headway_mock::{MockConfig, MockServer, Route};
use headway_redis::testing::RedisServer;

const HEADWAY: &str = env!("CARGO_BIN_EXE_headway");

/// `headway fetch` of `urls` at 30/s through `redis`, optionally under `faketime`.
fn fetch(redis: &str, urls: String, skew: Option<&str>) -> tokio::process::Child {
    let args = [
        "fetch",
        "--rate",
        "30/s",
        "--retries",
        "0",
        "--redis",
        redis,
    ];
    let mut cmd = match skew {
        Some(skew) => {
            let mut c = tokio::process::Command::new("faketime");
            c.args(skew.split(' ')).arg(HEADWAY);
            c
        }
        None => tokio::process::Command::new(HEADWAY),
    };
    let mut child = cmd
        .args(args)
        .args(["--namespace", "cli-test"])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_one_quota_through_redis_get_no_429() {
    let redis = RedisServer::start().expect("redis-server starts");
    // The server allows 30/s with a burst of 2, the client's quota is 30/s burst 1.
    let mock =
        MockServer::start(MockConfig::new().route("/", Route::gcra(30, Duration::from_secs(1), 2)))
            .await
            .unwrap();
    let children: Vec<_> = (0..3)
        .map(|p| {
            let urls: String = (0..20)
                .map(|i| format!("{}\n", mock.url_for(&format!("/p{p}/{i}"))))
                .collect();
            fetch(&redis.url(), urls, (p == 2).then_some("-f +1h"))
        })
        .collect();
    for child in children {
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("headway finishes")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.lines().count(), 20, "{stdout}");
        assert!(
            stdout.lines().all(|l| l.contains("\"status\":200")),
            "{stdout}"
        );
    }
    let total = mock.stats().total;
    assert_eq!((total.admitted, total.rejected), (60, 0), "{total:?}");
    mock.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = fetch(&format!("redis://127.0.0.1:{port}"), String::new(), None);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("headway gives up")
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Redis unreachable") || stderr.contains("Redis did not answer"),
        "{stderr}"
    );
}
