//! Every example ends quietly when its reader goes away (`... | head`):
//! exit code 0 and no panic message, instead of "failed printing to stdout:
//! Broken pipe". The examples are the binaries `cargo test` builds next to
//! this test (`target/<profile>/examples/`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap().join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run `cargo test` of the package or workspace (it builds the examples), \
         or `cargo build --examples` with this profile first",
        path.display()
    );
    path
}

/// Runs `name` with `args`, closes its stdout after `keep` lines, and
/// returns its exit status and stderr.
fn run_closed(name: &str, args: &[&str], keep: usize) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(example(name))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for _ in 0..keep {
        assert!(lines.next().is_some(), "{name}: fewer than {keep} lines");
    }
    drop(lines); // the reader is gone
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(300) {
            child.kill().unwrap();
            panic!("{name} did not end after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

fn assert_quiet(name: &str, args: &[&str], keep: usize) {
    let (status, stderr) = run_closed(name, args, keep);
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "{name}: {stderr}");
    assert!(status.success(), "{name}: {status}, stderr: {stderr}");
}

#[test]
fn backtest_piped_into_head_ends_quietly() {
    // `cargo run --example backtest | head -1`, and a reader that never reads.
    assert_quiet("backtest", &[], 1);
    assert_quiet("backtest", &[], 0);
}

#[test]
fn every_example_ends_quietly_on_a_closed_stdout() {
    let dir = std::env::temp_dir().join(format!("martingale-closed-pipe-{}", std::process::id()));
    let state = dir.join("state");
    let out = dir.join("fleet");
    let (state, out) = (state.to_str().unwrap(), out.to_str().unwrap());
    assert_quiet("plan", &[], 0);
    assert_quiet("plan", &["--json"], 1);
    // Closed before its first line (after it, the next line comes only
    // when a deal closes, with a synced snapshot per event before it).
    assert_quiet("paper", &["--state", state], 0);
    assert_quiet("fleet", &["--users", "2", "--bots-per-user", "2", "--candles", "300", "--out", out], 0);
    assert_quiet("audit_summary", &[state], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
