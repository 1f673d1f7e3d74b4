//! The `headway-mock` binary: its one stdout line, shortcut flags, exit codes and signals.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::get_json;

const BIN: &str = env!("CARGO_BIN_EXE_headway-mock");

/// Starts the binary and returns it with the URL from its first line.
fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim_end()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(line.ends_with('\n'));
    (child, url)
}

#[tokio::test]
async fn serves_with_shortcut_flags_until_terminated() {
    let (mut child, url) = spawn(&[
        "--policy",
        "gcra",
        "--limit",
        "2",
        "--period-ms",
        "60000",
        "--burst",
        "2",
        "--headers",
        "ietf08",
        "--retry-after",
        "seconds",
    ]);
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = client.get(format!("{url}/x")).send().await.expect("send");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(r.headers()["ratelimit"], "\"default\";r=0;t=30");
            assert_eq!(r.headers()["retry-after"], "30");
        }
    }
    assert_eq!(statuses, vec![200, 200, 429]);
    let stats: serde_json::Value = get_json(&client, format!("{url}/__stats")).await;
    assert_eq!(stats["total"]["admitted"], 2);

    #[cfg(unix)]
    {
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = child.wait().expect("wait");
        assert_eq!(exit.code(), Some(0));
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn config_from_a_file() {
    let path =
        std::env::temp_dir().join(format!("headway-mock-config-{}.json", std::process::id()));
    std::fs::write(
        &path,
        r#"{"routes": {"/a": {"policy": {"fixed_window": {"limit": 1, "window_ms": 60000}}}}}"#,
    )
    .expect("write");
    let (mut child, url) = spawn(&["--config", &format!("@{}", path.display())]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let statuses: Vec<u16> = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut v = Vec::new();
        for p in ["/a", "/a", "/b"] {
            v.push(
                client
                    .get(format!("{url}{p}"))
                    .send()
                    .await
                    .expect("send")
                    .status()
                    .as_u16(),
            );
        }
        v
    });
    assert_eq!(statuses, vec![200, 429, 200]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bad_config_exits_with_2() {
    for args in [
        vec!["--config", "{ nope"],
        vec![
            "--config",
            r#"{"default": {"policy": {"gcra": {"limit": 0, "period_ms": 1}}}}"#,
        ],
        vec!["--config", "@/nonexistent/headway.json"],
        vec!["--policy", "gcra", "--burst", "0"],
        vec!["--port", "70000"],
        vec!["--frobnicate"],
    ] {
        let out = Command::new(BIN).args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
