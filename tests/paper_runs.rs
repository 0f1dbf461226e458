//! The `paper` example as a process: two runs on one state folder (one
//! after the other has started, or both at once) never both trade, and a
//! second run resumes where the first stopped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use martingale_core::engine::BotId;
use martingale_exchange::{replay_file, Persisted};

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

/// Waits until the child has printed a line containing `what`; the rest of
/// its output is read on (so it never writes into a closed pipe) and comes
/// back from the returned thread.
fn wait_for(child: &mut Child, what: &str) -> std::thread::JoinHandle<String> {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(what) {
            break;
        }
    }
    assert!(seen.contains(what), "{seen}");
    std::thread::spawn(move || {
        for line in lines {
            seen.push_str(&line.unwrap());
            seen.push('\n');
        }
        seen
    })
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
    let rest = wait_for(&mut first, "replaying");
    let second = paper(dir.path(), 43_200).output().unwrap();
    assert!(refused(&second), "the second run must refuse: {}", text(&second));
    let first_out = first.wait_with_output().unwrap();
    let stdout = rest.join().unwrap();
    assert!(first_out.status.success(), "{stdout}{}", text(&first_out));
    assert!(stdout.contains("closed deals"), "{stdout}");

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
    let id = BotId::new("paper-bot").unwrap();
    let saved = |dir: &Path| {
        // The file store's layout: `<dir>/<bot>.json`.
        Persisted::load(&id, &std::fs::read_to_string(dir.join("paper-bot.json")).unwrap()).unwrap()
    };
    let t0 = Instant::now();
    // Stopped after 20,000 candles, then run on to 43,200.
    let dir = tempfile::tempdir().unwrap();
    let first = paper(dir.path(), 20_000).output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    let after_first = saved(dir.path());
    // Before the fix the second run failed: "event time 0 is before the last event time ...".
    let second = paper(dir.path(), 43_200).output().unwrap();
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("resumed after candle 20000 of 43200"), "{}", text(&second));
    let after_second = saved(dir.path());
    assert!(after_second.last_time > after_first.last_time);
    // It ends like one run over all the candles.
    let whole = tempfile::tempdir().unwrap();
    let once = paper(whole.path(), 43_200).output().unwrap();
    assert!(once.status.success(), "{}", text(&once));
    let once = saved(whole.path());
    assert!(once.engine.totals().closed_deals > 10, "{:?}", once.engine.totals());
    assert_eq!(after_second.engine.totals(), once.engine.totals());
    // One audit log over both runs replays to the saved state.
    let r = replay_file(dir.path().join("paper-bot.jsonl")).unwrap();
    assert_eq!(r.engine, after_second.engine);
    assert!(t0.elapsed() < Duration::from_secs(300));
}
