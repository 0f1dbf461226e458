//! The `martingale` program driven as a child process, as an operator would.

use std::process::{Command, Output, Stdio};

fn martingale(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_martingale"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("MARTINGALE_DB")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn users_and_bots_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ok = |args: &[&str]| {
        let o = martingale(&data, args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        out
    };
    assert!(ok(&["user", "add", "alice"]).contains("added user alice"));
    ok(&["user", "add", "bob"]);
    assert_eq!(ok(&["user", "list"]), "alice\nbob\n");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bots/example.json");
    assert!(ok(&["bot", "add", file, "--user", "alice", "--id", "a-btc"]).contains("(stopped)"));
    let list = ok(&["bot", "list"]);
    assert!(list.lines().nth(1).unwrap().starts_with("a-btc"), "{list}");
    assert!(ok(&["bot", "show", "a-btc", "--user", "alice"]).contains("\"take_profit\""));

    // Errors: named, exit code 1, nothing written.
    let fail = |args: &[&str], needle: &str| {
        let o = martingale(&data, args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    fail(&["bot", "show", "a-btc", "--user", "bob"], "bot \"a-btc\" not found");
    fail(&["bot", "add", file, "--user", "carol", "--id", "c-btc"], "user \"carol\" not found");
    fail(&["bot", "add", "/nonexistent.json", "--user", "bob", "--id", "b-btc"], "/nonexistent.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[]").unwrap();
    fail(&["bot", "add", bad.to_str().unwrap(), "--user", "bob", "--id", "b-btc"], "bot file");
    fail(&["bot", "add", file, "--user", "bob", "--id", "has space"], "bot id");
    assert_eq!(ok(&["bot", "list", "--user", "bob"]).lines().count(), 1, "only the header");
    // Usage errors are clap's (exit code 2).
    assert_eq!(martingale(&data, &["bot", "frobnicate"]).status.code(), Some(2));
    ok(&["bot", "rm", "a-btc", "--user", "alice"]);
    assert_eq!(ok(&["bot", "list"]).lines().count(), 1);
}

#[test]
fn a_corrupt_database_is_named_and_a_closed_pipe_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("martingale.db"), b"not a database at all").unwrap();
    let o = martingale(dir.path(), &["user", "list"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("martingale.db"), "{err}");

    let data = dir.path().join("ok");
    for i in 0..200 {
        assert!(martingale(&data, &["user", "add", &format!("u{i:03}")]).status.success());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_martingale"))
        .arg("--data")
        .arg(&data)
        .args(["user", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is read
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn plan_backtest_and_sweep_are_subcommands_and_need_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/btcusd-coinbase-1h.csv");
    let run = |args: &[&str]| {
        let o = martingale(&data, args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        out
    };
    // The worked example's first level and take profit.
    let plan = run(&["plan"]);
    assert!(plan.contains("43250.17") && plan.contains("43898.93"), "{plan}");
    // The example bot on the real hourly data: the figures of the README.
    let backtest = run(&["backtest", "--csv", csv, "--json", dir.path().join("bt.json").to_str().unwrap()]);
    assert!(backtest.lines().any(|l| l.starts_with("closed deals") && l.ends_with(" 488")), "{backtest}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bt.json")).unwrap()).unwrap();
    assert_eq!(doc["metrics"]["realized_pnl"], "2822.5461979498");
    let sweep = run(&["sweep", "--csv", csv, "--axis", "take_profit.percent=1,1.5", "--axis", "price_deviation=1.5"]);
    assert!(sweep.contains("2 sets over 20111 candles"), "{sweep}");
    assert!(sweep.contains("take_profit.percent=1.5") && sweep.contains("2822.5462"), "{sweep}");
    let o = martingale(&data, &["sweep", "--axis", "nope=1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("unknown field `nope`"), "{}", text(&o).1);
    assert!(!data.exists(), "the jobs opened no database");
}

#[test]
fn bot_set_changes_a_stopped_bots_settings_and_queues_a_running_bots() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ok = |args: &[&str]| {
        let o = martingale(&data, args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        out
    };
    let fail = |args: &[&str], needle: &str| {
        let o = martingale(&data, args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    ok(&["user", "add", "alice"]);
    ok(&["user", "add", "bob"]);
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bots/example.json");
    ok(&["bot", "add", file, "--user", "alice", "--id", "a-btc"]);
    let original = std::fs::read_to_string(file).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
    v["strategy"]["take_profit"]["percent"] = "2.5".into();
    v["strategy"]["cooldown_secs"] = 60.into();
    let new = write("new.json", v.to_string());
    let out = ok(&["bot", "set", &new, "a-btc", "--user", "alice"]);
    assert_eq!(out, "bot a-btc (stopped): applied at once: take_profit, cooldown_secs\n");
    assert!(ok(&["bot", "show", "a-btc", "--user", "alice"]).contains("\"2.5\""));
    // Another user's bot is not found; side, market and venue changes are refused.
    fail(&["bot", "set", &new, "a-btc", "--user", "bob"], "bot \"a-btc\" not found");
    let mut short = v.clone();
    short["strategy"]["side"] = "short".into();
    short["fees"]["asset"] = "quote".into();
    fail(&["bot", "set", &write("short.json", short.to_string()), "a-btc", "--user", "alice"], "strategy.side");
    let mut eth = v.clone();
    eth["market"]["symbol"] = "ETHUSDT".into();
    fail(&["bot", "set", &write("eth.json", eth.to_string()), "a-btc", "--user", "alice"], "market cannot change");
    // A running bot's change is queued for the service.
    ok(&["bot", "start", "a-btc", "--user", "alice"]);
    v["strategy"]["max_deals"] = 3.into();
    let out = ok(&["bot", "set", &write("third.json", v.to_string()), "a-btc", "--user", "alice"]);
    assert!(out.contains("settings change queued"), "{out}");
    assert!(ok(&["bot", "show", "a-btc", "--user", "alice"]).contains("request set: pending"));
}

#[test]
fn backtests_kept_for_a_user_are_listed_and_a_locked_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/btcusd-coinbase-1h.csv");
    let ok = |args: &[&str]| {
        let o = martingale(&data, args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        out
    };
    ok(&["user", "add", "alice"]);
    ok(&["user", "add", "bob"]);
    let kept = ok(&["backtest", "--csv", csv, "--user", "alice"]);
    assert!(kept.contains("kept as backtest run 1 of alice"), "{kept}");
    let runs = ok(&["runs", "--user", "alice"]);
    let row = runs.lines().nth(1).unwrap_or_default();
    assert!(row.contains(" 20111 ") && row.contains(" 488 ") && row.contains("2822.5461979498"), "{runs}");
    assert_eq!(ok(&["runs", "--user", "bob"]).lines().count(), 1, "bob sees none of alice's runs");
    let o = martingale(&data, &["backtest", "--csv", csv, "--user", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("user \"nobody\" not found"), "{}", text(&o).1);

    // Another process holds the database's write lock: a write waits for
    // it (5 s), then fails with the reason; nothing is written.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let db = rt.block_on(martingale_service::Db::open_dir(&data)).unwrap();
    let tx = rt.block_on(db.begin_write()).unwrap();
    let o = martingale(&data, &["user", "add", "carol"]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert!(text(&o).1.contains("database is locked"), "{}", text(&o).1);
    rt.block_on(tx.rollback()).unwrap();
    assert!(!ok(&["user", "list"]).contains("carol"));
}
