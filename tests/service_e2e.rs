//! The `martingale` program as an operator runs it: users and bots added
//! with the CLI, `serve` as a child process replaying real candles on the
//! paper venue, bots paused while the others trade, the service stopped by
//! SIGTERM and killed by SIGKILL and started again. The deals in the
//! database must be the backtest's, deal for deal, exactly.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use martingale_core::backtest::{backtest, BacktestOptions, Candles};
use martingale_core::config::BotFile;
use martingale_core::engine::DealReport;
use martingale_service::records;
use martingale_service::Db;

const BIN: &str = env!("CARGO_BIN_EXE_martingale");
const CANDLES: usize = 2500;

struct Setup {
    dir: tempfile::TempDir,
    prices: PathBuf,
    candles: Candles,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/btcusd-coinbase-1h.csv");
        let text = std::fs::read_to_string(csv).expect("real data in ../shared/data (see README)");
        let head: Vec<&str> = text.lines().take(CANDLES + 1).collect();
        let prices = dir.path().join("prices.csv");
        std::fs::write(&prices, head.join("\n")).unwrap();
        let candles = Candles::from_csv(&head.join("\n")).unwrap();
        Setup { dir, prices, candles }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env("RUST_LOG", "warn").env_remove("MARTINGALE_DB");
        c.current_dir(self.dir.path()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "martingale {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn serve(&self, interval_ms: u32, to_end: bool) -> Child {
        let prices = self.prices.to_str().unwrap().to_string();
        let interval = interval_ms.to_string();
        let mut args = vec!["serve", "--prices", &prices, "--interval-ms", &interval];
        if to_end {
            args.push("--exit-at-end");
        }
        self.cmd(&args).spawn().unwrap()
    }

    /// Adds `id` for `user` from the example bot with `change` applied to its text.
    fn bot(&self, user: &str, id: &str, change: (&str, &str)) -> BotFile {
        let text = martingale_core::config::EXAMPLE_BOT_JSON.replace(change.0, change.1);
        assert!(change.0.is_empty() || text != martingale_core::config::EXAMPLE_BOT_JSON, "{change:?}");
        let path = self.dir.path().join(format!("{id}.json"));
        std::fs::write(&path, &text).unwrap();
        self.ok(&["bot", "add", path.to_str().unwrap(), "--user", user, "--id", id]);
        self.ok(&["bot", "start", id, "--user", user]);
        text.parse().unwrap()
    }

    async fn deals(&self, bot: &str) -> Vec<DealReport> {
        let db = Db::open_dir(&self.dir.path().join("martingale-data")).await.unwrap();
        let d = records::deals(&db, None, Some(bot), None).await.unwrap();
        db.close().await;
        d.into_iter().map(|d| d.report).collect()
    }

    fn backtest(&self, bot: &BotFile) -> Vec<DealReport> {
        let r = backtest(bot, &self.candles, &BacktestOptions::default()).unwrap();
        r.deals.into_iter().map(|d| d.deal).collect()
    }

    /// Waits until `bot` has at least `n` deals recorded.
    async fn wait_deals(&self, bot: &str, n: usize, serve: &mut Child) {
        let t0 = Instant::now();
        while self.deals(bot).await.len() < n {
            assert!(serve.try_wait().unwrap().is_none(), "serve ended early");
            assert!(t0.elapsed() < Duration::from_secs(120), "no {n} deals of {bot} after 2 minutes");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

fn finish(child: Child) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "serve: {}", text(&out));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_trade_pause_and_survive_sigterm_and_sigkill_like_the_backtest() {
    let s = Setup::new();
    s.ok(&["user", "add", "alice"]);
    s.ok(&["user", "add", "bob"]);
    let a1 = s.bot("alice", "a1", ("", ""));
    let a2 = s.bot("alice", "a2", ("\"percent\": \"1.5\"", "\"percent\": \"2.5\""));
    let b1 = s.bot("bob", "b1", ("\"max_safety_orders\": 5", "\"max_safety_orders\": 3"));
    let b2 = s.bot("bob", "b2", ("\"side\": \"long\"", "\"side\": \"short\""));
    // An indicator start: after each restart its gate is warmed with the
    // closes replayed before, so it opens deals where the backtest does.
    let rsi = r#""start_condition": {"indicator": "rsi", "period": 14, "below": "40"}, "take_profit""#;
    let a3 = s.bot("alice", "a3", ("\"take_profit\"", rsi));

    // Run; pause b1 once it has traded; stop the service with SIGTERM.
    let mut serve = s.serve(2, false);
    s.wait_deals("b1", 3, &mut serve).await;
    s.ok(&["bot", "pause", "b1", "--user", "bob"]);
    let paused_at = s.deals("a1").await.len();
    s.wait_deals("a1", paused_at + 5, &mut serve).await;
    signal(&serve, "-TERM");
    let out = finish(serve);
    assert!(String::from_utf8_lossy(&out.stdout).contains("deals recorded"), "{}", text(&out));
    let status = s.ok(&["status", "--user", "bob"]);
    assert!(status.lines().any(|l| l.starts_with("b1") && l.contains("paused")), "{status}");
    assert!(!status.contains("a1"), "bob sees only his bots: {status}");

    // Again, then SIGKILL in the middle of the run, three times: nothing is
    // released, and each restart takes the database over at once (its
    // owner died on this host).
    for _ in 0..3 {
        let mut serve = s.serve(2, false);
        let before = s.deals("a2").await.len();
        s.wait_deals("a2", before + 2, &mut serve).await;
        signal(&serve, "-KILL");
        let _ = serve.wait();
    }

    // The last run replays to the end of the file.
    let out = finish(s.serve(1, true));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped after"), "{}", text(&out));

    for (id, bot) in [("a1", &a1), ("a2", &a2), ("b2", &b2), ("a3", &a3)] {
        let (got, want) = (s.deals(id).await, s.backtest(bot));
        assert!(want.len() > 10, "{id}: {} deals in the backtest", want.len());
        if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
            panic!(
                "{id}: the service's deals differ from the backtest's at deal {i} of {}/{}:\n{:?}\n{:?}",
                got.len(),
                want.len(),
                got.get(i),
                want.get(i)
            );
        }
    }
    // The paused bot's deals are the backtest's up to the pause.
    let (got, want) = (s.deals("b1").await, s.backtest(&b1));
    assert!(got.len() >= 3 && got.len() < want.len(), "{} of {}", got.len(), want.len());
    assert_eq!(got[..], want[..got.len()]);
    let pnl = s.ok(&["pnl", "--user", "alice"]);
    assert!(pnl.contains("a1") && pnl.contains("a2") && pnl.contains("a3") && !pnl.contains("b1"), "{pnl}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let s = Setup::new();
    s.ok(&["user", "add", "alice"]);
    let fail = |args: &[&str]| {
        let out = s.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let bad = s.dir.path().join("bad.json");
    std::fs::write(&bad, martingale_core::config::EXAMPLE_BOT_JSON.replace("\"1.5\"", "\"-1\"")).unwrap();
    assert!(fail(&["bot", "add", bad.to_str().unwrap(), "--user", "alice", "--id", "x"]).contains("bot file"));
    assert!(fail(&["bot", "start", "x", "--user", "alice"]).contains("not found"));
    assert!(fail(&["bot", "close", "x", "--user", "alice"]).contains("not found"));
    assert!(fail(&["deals", "--user", "nobody"]).contains("not found"));
    assert!(fail(&["serve", "--prices", "/nonexistent.csv"]).contains("/nonexistent.csv"));
    let junk = s.dir.path().join("junk.csv");
    std::fs::write(&junk, "time,open\nnot,a candle\n").unwrap();
    assert!(fail(&["serve", "--prices", junk.to_str().unwrap()]).contains("junk.csv"));
    assert!(fail(&["serve", "--paper-quote=-5"]).contains("--paper-quote"));
    assert_eq!(s.ok(&["bot", "list"]).lines().count(), 1, "only the header: nothing was written");
    // A second service on the same database is refused and names the holder.
    let mut first = s.serve(50, false);
    std::thread::sleep(Duration::from_millis(800));
    let err = fail(&["serve", "--prices", s.prices.to_str().unwrap()]);
    assert!(err.contains("owned by another service process") && err.contains(&first.id().to_string()), "{err}");
    signal(&first, "-TERM");
    let _ = first.wait();
}

/// Runs an example built by `cargo test` and returns its standard output.
fn example(name: &str, args: &[&str]) -> String {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let bin = dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} missing: run through `cargo test`, which builds the examples", bin.display());
    let out = Command::new(bin).args(args).env_remove("MARTINGALE_DB").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The load examples (README figures) run and report every figure.
#[test]
fn the_load_examples_report_their_figures() {
    let stdout = example("service_load", &["--users", "3", "--bots-per-user", "2", "--candles", "30"]);
    for figure in
        ["6 bots of 3 users", "candles replayed      30", "bot-candles per s", "memory per bot", "growth per bot, day"]
    {
        assert!(stdout.contains(figure), "{figure:?} missing:\n{stdout}");
    }
    let stdout = example("service_live_load", &["--users", "3", "--bots-per-user", "2", "--seconds", "3"]);
    for figure in ["6 bots of 3 users", "bot steps per s", "price requests", "venue requests", "growth per bot, day"] {
        assert!(stdout.contains(figure), "{figure:?} missing:\n{stdout}");
    }
}

#[tokio::test]
async fn requests_are_answered() {
    let s = Setup::new();
    s.ok(&["user", "add", "carol"]);
    s.bot("carol", "c1", ("", ""));
    for bad in ["--quote=-3", "--quote=0", "--quote=abc"] {
        let out = s.cmd(&["bot", "add-funds", "c1", "--user", "carol", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("quote"), "{bad}: {}", text(&out));
    }
    let signal_start = r#""start_condition": "signal", "take_profit""#;
    s.bot("carol", "c3", ("\"take_profit\"", signal_start));
    let mut serve = s.serve(5, false);
    s.wait_deals("c1", 2, &mut serve).await;
    // The signal bot waits for its signal, then opens a deal.
    let idle = s.ok(&["status", "--user", "carol"]);
    assert!(idle.lines().any(|l| l.starts_with("c3") && l.contains(" idle ")), "{idle}");
    assert!(s.deals("c3").await.is_empty(), "no deal without a signal");
    s.ok(&["signal", "c3", "--user", "carol"]);
    let t0 = Instant::now();
    loop {
        let st = s.ok(&["status", "--user", "carol"]);
        let open = st.lines().any(|l| l.starts_with("c3") && !l.contains(" idle "));
        if open || !s.deals("c3").await.is_empty() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no deal after the signal: {st}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c3 = s.ok(&["bot", "show", "c3", "--user", "carol"]);
    assert!(c3.contains("request signal: signal sent"), "{c3}");
    s.ok(&["bot", "add-funds", "c1", "--user", "carol", "--quote", "50"]);
    s.ok(&["bot", "close", "c1", "--user", "carol"]);
    let t0 = Instant::now();
    let show = loop {
        let show = s.ok(&["bot", "show", "c1", "--user", "carol"]);
        if !show.contains(": pending") && !show.contains(": applying") {
            break show;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{show}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    signal(&serve, "-TERM");
    finish(serve);
    // Applied in order: the deal got 50 quote more (or there was none to add to), then closed.
    assert!(
        show.contains("request add_funds:50: bought 50 quote more") || show.contains("no open deal to add to"),
        "{show}"
    );
    assert!(show.contains("request close: closing the open deal") || show.contains("no open deal to close"), "{show}");
}
