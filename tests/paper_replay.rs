//! The README's paper command over the whole real BTC file (issue 15 item
//! 1: it used to die after deal #265 on a report for an order of a deal
//! that had just closed).

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/paper`, built by `cargo test` with the tests.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_readme_paper_command_replays_the_whole_btc_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let csv = format!("{root}/../shared/data/btcusd-coinbase-1h.csv");
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(example("paper"))
        .args(["--config", &format!("{root}/examples/bots/example.json"), "--csv", &csv, "--state"])
        .arg(state.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "paper replay failed: {stderr}");
    assert!(!stderr.contains("error") && !stderr.contains("panicked"), "{stderr}");
    let deals = stdout.lines().filter(|l| l.starts_with("deal #")).count();
    let summary = stdout.lines().find(|l| l.starts_with("closed deals ")).expect("a summary line");
    let closed: usize = summary["closed deals ".len()..].split(',').next().unwrap().trim().parse().unwrap();
    assert_eq!(closed, deals, "every closed deal is printed once");
    assert!(closed > 265, "the run stops early: {closed} deals\n{stdout}");
}
