//! `martingale`: the operator's program. Argument parsing only; the work is
//! done by `martingale-service` (database, users, bots) and the library
//! crates.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use martingale_service::bots::{self, Bot, DesiredState, Request};
use martingale_service::{users, Db, DEFAULT_DATA_DIR};

mod program;
use martingale_toolkit::jobs;
use program::line;

/// Runs many users' Martingale / DCA bots from one database.
#[derive(Parser)]
#[command(name = "martingale", version, about)]
struct Cli {
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`
    /// (default: an SQLite file in --data).
    #[arg(long, global = true, env = "MARTINGALE_DB")]
    db: Option<String>,
    /// Data folder of the default SQLite database.
    #[arg(long, global = true, default_value = DEFAULT_DATA_DIR)]
    data: PathBuf,
    #[command(flatten)]
    master: program::keys::MasterKeyArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Users (accounts).
    #[command(subcommand)]
    User(UserCmd),
    /// API keys (sealed with the master key; never shown).
    #[command(subcommand)]
    Keys(program::keys::KeysCmd),
    /// Bots.
    #[command(subcommand)]
    Bot(BotCmd),
    /// Strategies whose signals fan out to their subscribers.
    #[command(subcommand)]
    Strategy(program::strategy::StrategyCmd),
    /// Subscribes a user to a strategy (its own key, bot id and sizing).
    Subscribe(program::strategy::SubscribeArgs),
    /// A user's subscriptions: pause, resume, rm, list.
    #[command(subcommand)]
    Subscription(program::strategy::SubscriptionCmd),
    /// Subscribers' trades (one per signal and subscriber).
    Trades(program::strategy::TradesArgs),
    /// Runs every active bot until SIGINT / SIGTERM.
    Serve(program::serve::ServeArgs),
    /// Sends an entry signal to a bot with `start_condition = signal`.
    Signal(Target),
    /// Each bot's status as the running service last wrote it.
    Status {
        /// Only this user's bots.
        #[arg(long)]
        user: Option<String>,
    },
    /// Closed deals.
    Deals(program::records::Filter),
    /// Orders the bots decided (deterministic client order ids), with their last known state.
    Orders(program::records::Filter),
    /// Fills the bots' engines applied.
    Fills(program::records::Filter),
    /// A bot's audit trail (JSON lines, oldest first).
    Audit {
        /// The bot id.
        id: String,
        #[command(flatten)]
        owner: Owner,
        /// How many of the last lines.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Realized P&L per bot, from the closed deals.
    Pnl(program::records::Filter),
    /// Prints a bot file's ladder: `plan [--config BOT] [--price P] [--json]`.
    Plan(JobArgs),
    /// Backtests a bot file: `backtest [--csv FILE] [--config BOT] [--json OUT] [--svg OUT] [--reference]
    /// [--stop-when-unfunded] [--user U]` (no --csv: an embedded synthetic year; --user keeps the run in the
    /// database).
    Backtest(JobArgs),
    /// The backtests kept with `backtest --user U`, newest first.
    Runs {
        #[command(flatten)]
        owner: Owner,
    },
    /// Sweeps settings over a grid: `sweep [--config BOT] [--csv FILE] --axis PATH=V1,V2,... [--top N] [--json OUT]`.
    Sweep(JobArgs),
}

/// A job's entry point.
type Job = fn(Vec<String>) -> Result<(), String>;

/// A job's own options, passed through as they are.
#[derive(Args)]
struct JobArgs {
    /// The job's options (see the command's description).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<String>,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Adds a user.
    Add {
        /// The user's name (1 to 64 characters of [A-Za-z0-9_-]).
        name: String,
    },
    /// Lists the users.
    List,
}

#[derive(Args)]
struct Owner {
    /// The owning user.
    #[arg(long)]
    user: String,
}

#[derive(Args)]
struct Target {
    /// The bot id.
    id: String,
    #[command(flatten)]
    owner: Owner,
}

#[derive(Subcommand)]
enum BotCmd {
    /// Adds a bot from a bot file (JSON or TOML), validated; it starts stopped.
    Add {
        /// The bot file.
        file: PathBuf,
        /// The bot id (1 to 15 characters of [A-Za-z0-9_-]; part of every client order id).
        #[arg(long)]
        id: String,
        /// The API key label it trades with (not for paper bots).
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        owner: Owner,
    },
    /// Lists bots (every user's without --user).
    List {
        /// Only this user's bots.
        #[arg(long)]
        user: Option<String>,
    },
    /// Shows one bot and its bot file.
    Show {
        /// The bot id.
        id: String,
        #[command(flatten)]
        owner: Owner,
    },
    /// Runs the bot (the service picks it up within one polling interval).
    Start(Target),
    /// No new deals; the open deal keeps its orders and runs to its end.
    Pause(Target),
    /// Runs a paused bot again.
    Resume(Target),
    /// Stops the bot: no new deals; the open deal runs to its end, or with
    /// --cancel its resting orders are canceled and the position is left
    /// as it is.
    Stop {
        #[command(flatten)]
        target: Target,
        /// Cancel the bot's resting orders too.
        #[arg(long)]
        cancel: bool,
    },
    /// Closes the open deal now with a market order.
    Close(Target),
    /// Buys into the open deal by market (a manual safety order); its take
    /// profit follows the new average.
    AddFunds {
        #[command(flatten)]
        target: Target,
        /// Quote amount to spend (e.g. 100 for 100 USDT).
        #[arg(long)]
        quote: String,
    },
    /// Changes a bot's settings from a bot file: a stopped bot's at once; a
    /// running or paused bot's through the service (take profit, stop
    /// loss, cooldown, max deals, ... at once, the ladder from the next
    /// deal; side, venue, market and fees cannot change).
    Set {
        /// The new bot file.
        file: PathBuf,
        /// The bot id.
        id: String,
        #[command(flatten)]
        owner: Owner,
    },
    /// Removes a stopped bot (--force: whatever its state).
    Rm {
        /// The bot id.
        id: String,
        #[command(flatten)]
        owner: Owner,
        /// Remove it even if it is not stopped.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The jobs need no database: they run before one is opened.
    let job: Option<(Job, &JobArgs)> = match &cli.command {
        Command::Plan(j) => Some((jobs::plan::run, j)),
        // `--user U` keeps the run in the database: it runs below.
        Command::Backtest(j) if kept_for(&j.args).is_none() => Some((jobs::backtest::run, j)),
        Command::Sweep(j) => Some((jobs::sweep::run, j)),
        _ => None,
    };
    if let Some((run_job, j)) = job {
        return martingale_toolkit::cli::exit(run_job(j.args.clone()));
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let mut out = Vec::new();
    match rt.block_on(run(cli, &mut out)) {
        Ok(()) => {
            // A closed pipe (`martingale bot list | head`) ends quietly.
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// `--user U` among a backtest's options: the user, and the other options.
fn kept_for(args: &[String]) -> Option<(String, Vec<String>)> {
    let at = args.iter().position(|a| a == "--user")?;
    let user = args.get(at + 1)?.clone();
    let rest = args.iter().enumerate().filter(|(i, _)| *i != at && *i != at + 1).map(|(_, a)| a.clone()).collect();
    Some((user, rest))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

async fn open(cli: &Cli) -> Result<Db, String> {
    match &cli.db {
        Some(url) => Db::connect(url).await,
        None => Db::open_dir(&cli.data).await,
    }
    .map_err(|e| e.to_string())
}

async fn run(cli: Cli, out: &mut Vec<u8>) -> Result<(), String> {
    let db = open(&cli).await?;
    let e = |e: martingale_service::ServiceError| e.to_string();
    match cli.command {
        Command::User(UserCmd::Add { name }) => {
            let u = users::add(&db, &name).await.map_err(e)?;
            line(out, format!("added user {}", u.name));
        }
        Command::User(UserCmd::List) => {
            for u in users::list(&db).await.map_err(e)? {
                line(out, u.name.to_string());
            }
        }
        Command::Bot(BotCmd::Add { file, id, key, owner }) => {
            let text = std::fs::read_to_string(&file).map_err(|err| format!("{}: {err}", file.display()))?;
            let bot = bots::add(&db, &owner.user, &id, &text, key.as_deref()).await.map_err(e)?;
            line(out, format!("added bot {} for {} on {:?} {} (stopped)", bot.id, bot.account, bot.venue, bot.symbol));
        }
        Command::Bot(BotCmd::List { user }) => {
            line(out, format!("{:<16} {:<16} {:<8} {:<12} {}", "bot", "user", "venue", "symbol", "state"));
            for b in bots::list(&db, user.as_deref()).await.map_err(e)? {
                line(out, row(&b));
            }
        }
        Command::Bot(BotCmd::Show { id, owner }) => {
            let b = bots::get(&db, &owner.user, &id).await.map_err(e)?;
            line(out, row(&b));
            line(out, b.file.to_json());
            for (request, outcome) in bots::history(&db, &owner.user, &id, 10).await.map_err(e)? {
                // A settings change carries a whole bot file: named, not printed.
                let request = if request.starts_with("set:") { "set" } else { request.as_str() };
                line(out, format!("request {request}: {}", outcome.as_deref().unwrap_or("pending")));
            }
        }
        Command::Bot(BotCmd::Start(t)) => desire(&db, &t, DesiredState::Running, out).await?,
        Command::Bot(BotCmd::Resume(t)) => desire(&db, &t, DesiredState::Running, out).await?,
        Command::Bot(BotCmd::Pause(t)) => desire(&db, &t, DesiredState::Paused, out).await?,
        Command::Bot(BotCmd::Stop { target, cancel }) => {
            // The state first: a poll between the two writes must not see
            // the cancel with the bot still wanted running.
            desire(&db, &target, DesiredState::Stopped, out).await?;
            if cancel {
                bots::request(&db, &target.owner.user, &target.id, Request::CancelOrders).await.map_err(e)?;
            }
        }
        Command::Bot(BotCmd::Set { file, id, owner }) => {
            let text = std::fs::read_to_string(&file).map_err(|err| format!("{}: {err}", file.display()))?;
            match bots::set(&db, &owner.user, &id, &text).await.map_err(e)? {
                bots::SetOutcome::Saved(done) => line(out, format!("bot {id} (stopped): {done}")),
                bots::SetOutcome::Queued => line(
                    out,
                    format!(
                        "bot {id}: settings change queued (applied by the running service; `martingale bot show` \
                         tells what applied at once, what from the next deal, or why it was refused)"
                    ),
                ),
            }
        }
        Command::Bot(BotCmd::Close(t)) => {
            bots::request(&db, &t.owner.user, &t.id, Request::Close).await.map_err(e)?;
            line(out, format!("bot {}: close requested (applied by the running service)", t.id));
        }
        Command::Bot(BotCmd::AddFunds { target, quote }) => {
            let quote = rust_decimal::Decimal::from_str_exact(&quote)
                .map_err(|err| format!("--quote {quote:?}: not a decimal number ({err})"))?;
            bots::request(&db, &target.owner.user, &target.id, Request::AddFunds { quote }).await.map_err(e)?;
            line(out, format!("bot {}: add-funds {quote} requested (applied by the running service)", target.id));
        }
        Command::Backtest(j) => {
            let Some((user, args)) = kept_for(&j.args) else {
                return Err("backtest runs without a database unless --user keeps it".into());
            };
            users::get(&db, &user).await.map_err(e)?;
            let run = jobs::backtest::run_kept(args)?;
            let id =
                martingale_service::runs::record(&db, &user, &run.bot, &run.source, &run.metrics).await.map_err(e)?;
            line(out, format!("kept as backtest run {id} of {user} (`martingale runs --user {user}` lists them)"));
        }
        Command::Runs { owner } => {
            line(
                out,
                format!(
                    "{:>6} {:>14} {:>8} {:>6} {:>18}  {}",
                    "run", "created", "candles", "deals", "realized pnl", "source"
                ),
            );
            for r in martingale_service::runs::list(&db, &owner.user).await.map_err(e)? {
                line(
                    out,
                    format!(
                        "{:>6} {:>14} {:>8} {:>6} {:>18}  {}",
                        r.id, r.created_at, r.candles, r.closed_deals, r.realized_pnl, r.source
                    ),
                );
            }
        }
        Command::Plan(_) | Command::Sweep(_) => return Err("plan and sweep run without a database".into()),
        Command::Signal(t) => {
            bots::request(&db, &t.owner.user, &t.id, Request::Signal).await.map_err(e)?;
            line(out, format!("bot {}: signal queued (the running service sends it at its next interval)", t.id));
        }
        Command::Keys(cmd) => program::keys::run(&db, cmd, &cli.master, &cli.data, out).await?,
        Command::Serve(args) => program::serve::run(db.clone(), args, &cli.master, &cli.data, out).await?,
        Command::Strategy(cmd) => program::strategy::strategy(&db, cmd, out).await?,
        Command::Subscribe(a) => program::strategy::subscribe(&db, a, out).await?,
        Command::Subscription(cmd) => program::strategy::subscription(&db, cmd, out).await?,
        Command::Trades(a) => program::strategy::list(&db, &a, out).await?,
        Command::Status { user } => program::records::status(&db, user.as_deref(), out).await?,
        Command::Deals(f) => program::records::deals(&db, &f, out).await?,
        Command::Pnl(f) => program::records::pnl(&db, &f, out).await?,
        Command::Orders(f) => program::records::orders(&db, &f, out).await?,
        Command::Fills(f) => program::records::fills(&db, &f, out).await?,
        Command::Audit { id, owner, limit } => program::records::audit(&db, &owner.user, &id, limit, out).await?,
        Command::Bot(BotCmd::Rm { id, owner, force }) => {
            bots::remove(&db, &owner.user, &id, force).await.map_err(e)?;
            line(out, format!("removed bot {id}"));
        }
    }
    db.close().await;
    Ok(())
}

fn row(b: &Bot) -> String {
    format!(
        "{:<16} {:<16} {:<8} {:<12} {}",
        b.id,
        b.account,
        format!("{:?}", b.venue).to_lowercase(),
        b.symbol,
        b.desired
    )
}

async fn desire(db: &Db, t: &Target, desired: DesiredState, out: &mut Vec<u8>) -> Result<(), String> {
    let b = bots::set_desired(db, &t.owner.user, &t.id, desired).await.map_err(|e| e.to_string())?;
    line(out, format!("bot {}: {} (the running service applies it within one polling interval)", b.id, b.desired));
    Ok(())
}
