//! Per-user and per-bot P&L from a directory of audit logs.
//!
//! ```text
//! cargo run --release --example audit_summary -- DIR [--json]
//! ```
//!
//! Every `*.jsonl` log under `DIR` is replayed through a fresh engine (the
//! replay also checks that each logged action is what the engine decides),
//! then summed per account. `--json` prints the summary as JSON.

use martingale_exchange::AuditSummary;
use martingale_toolkit::cli::{exit, flag, write_text};
use martingale_toolkit::outln;

fn run() -> Result<(), String> {
    let dir = std::env::args().nth(1).filter(|a| !a.starts_with("--")).ok_or("usage: audit_summary DIR [--json]")?;
    let summary = AuditSummary::from_dir(&dir).map_err(|e| e.to_string())?;
    if flag("--json") {
        outln!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
    } else {
        write_text(&summary.to_string());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    exit(run())
}
