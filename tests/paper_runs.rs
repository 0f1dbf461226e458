//! The `paper` example as a process: two runs on one state folder (one
//! after the other has started, or both at once) never both trade, and a
//! second run resumes where the first stopped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use martingale_core::engine::BotId;
use martingale_exchange::{replay_file, JsonFileStore, Persisted, StateStore};

/// The example binary cargo built beside this test (`target/<profile>/examples/paper`).
fn paper_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join("examples").join(format!("paper{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} missing: run through `cargo test`, which builds the examples", bin.display());
    bin
}

fn paper(state: &Path, candles: usize) -> Command {
    let mut c = Command::new(paper_bin());
    c.args(["--state", state.to_str().unwrap(), "--candles", &candles.to_string()]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Waits until the child has printed a line containing `what`; returns the lines read.
fn wait_for(child: &mut Child, what: &str) -> Vec<String> {
    let out = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        let found = line.contains(what);
        lines.push(line);
        if found {
            break;
        }
    }
    lines
}

fn refused(o: &Output) -> bool {
    let t = text(o);
    !o.status.success() && t.contains("bot paper-bot is already running") && t.contains("paper-bot.lock")
}

#[test]
fn a_second_run_on_the_same_state_refuses_to_start_staggered_and_simultaneous() {
    // Staggered: the second starts while the first is trading.
    let dir = tempfile::tempdir().unwrap();
    let mut first = paper(dir.path(), 43_200).spawn().unwrap();
    let lines = wait_for(&mut first, "replaying");
    assert!(lines.iter().any(|l| l.contains("replaying")), "{lines:?}");
    let second = paper(dir.path(), 43_200).output().unwrap();
    assert!(refused(&second), "the second run must refuse: {}", text(&second));
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("closed deals"));

    // Simultaneous: exactly one of two runs started at once trades.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (paper(dir.path(), 43_200).spawn().unwrap(), paper(dir.path(), 43_200).spawn().unwrap());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ran = [&a, &b].iter().filter(|o| o.status.success() && text(o).contains("closed deals")).count();
    let refusals = [&a, &b].iter().filter(|o| refused(o)).count();
    assert_eq!((ran, refusals), (1, 1), "a: {}\nb: {}", text(&a), text(&b));
}

#[test]
fn a_second_run_resumes_where_the_first_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let first = paper(dir.path(), 3_000).output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    let id = BotId::new("paper-bot").unwrap();
    let store = JsonFileStore::new(dir.path()).unwrap();
    let after_first = Persisted::load(&id, &store.load(&id).unwrap().unwrap()).unwrap();
    // Before the fix the second run failed: "event time ... is before the last event time".
    let second = paper(dir.path(), 6_000).output().unwrap();
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("resumed after candle 3000 of 6000"), "{}", text(&second));
    let after_second = Persisted::load(&id, &store.load(&id).unwrap().unwrap()).unwrap();
    assert!(after_second.last_time > after_first.last_time);
    assert!(after_second.engine.totals().closed_deals > after_first.engine.totals().closed_deals);
    // One audit log over both runs replays to the saved state.
    let r = replay_file(dir.path().join("paper-bot.jsonl")).unwrap();
    assert_eq!(r.engine, after_second.engine);
    assert!(t0.elapsed() < Duration::from_secs(120));
}
