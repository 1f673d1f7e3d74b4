//! What the CLI tests share: running the `headway` binary and reading what it wrote.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

pub const HEADWAY: &str = env!("CARGO_BIN_EXE_headway");

/// Starts the binary with `args`, every stream piped, killed if the test drops it.
pub fn spawn_headway(args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(HEADWAY)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the headway binary starts")
}

/// Runs the binary with `args`, feeding `stdin`, and gives up after `limit`.
pub async fn headway(args: &[&str], stdin: &str, limit: Duration) -> Output {
    let mut child = spawn_headway(args);
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
pub fn headway_sync(args: &[&str]) -> Output {
    Command::new(HEADWAY)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the headway binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn json_lines(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}
