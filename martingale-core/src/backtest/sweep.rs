//! Parameter sweeps: many bot variants over one candle series, on all cores.
//!
//! A [`Grid`] names bot-file fields by dotted path (`take_profit.percent`,
//! `price_deviation`, `fees.maker`; paths without a top-level section mean
//! `strategy.`) and the values to try; its combinations are the cartesian
//! product, enumerated in a fixed order. [`sweep`] runs each combination's
//! backtest (fast mode, no fills or equity kept) with rayon and returns one
//! row of metrics per combination: memory grows with combinations plus
//! candles, never with their product. A progress callback sees each
//! completed row; a cancel flag stops the sweep between backtests.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::{backtest, BacktestOptions, Candles, Metrics, Mode};
use crate::config::BotFile;

/// A sweep that cannot start.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SweepError {
    /// An axis has no values.
    #[error("axis `{0}` has no values")]
    EmptyAxis(String),
    /// The number of combinations overflows.
    #[error("too many combinations")]
    TooLarge,
}

/// Axes of a parameter grid.
///
/// ```
/// use martingale_core::backtest::sweep::Grid;
/// use serde_json::json;
///
/// let grid = Grid::new()
///     .axis("take_profit.percent", [json!("1"), json!("1.5"), json!("2")])
///     .axis("max_safety_orders", [json!(4), json!(6)]);
/// assert_eq!(grid.len(), 6);
/// assert_eq!(grid.params(5).unwrap()["take_profit.percent"], json!("2"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    axes: Vec<(String, Vec<Value>)>,
}

impl Grid {
    /// An empty grid (one combination: the base bot).
    pub fn new() -> Grid {
        Grid::default()
    }

    /// Adds an axis.
    pub fn axis(mut self, path: impl Into<String>, values: impl IntoIterator<Item = Value>) -> Grid {
        self.axes.push((path.into(), values.into_iter().collect()));
        self
    }

    /// The axes.
    pub fn axes(&self) -> &[(String, Vec<Value>)] {
        &self.axes
    }

    /// Number of combinations.
    pub fn len(&self) -> usize {
        self.axes.iter().try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len())).unwrap_or(usize::MAX)
    }

    /// True when an axis has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values of combination `i` (the last axis varies fastest).
    pub fn params(&self, mut i: usize) -> Option<serde_json::Map<String, Value>> {
        if i >= self.len() {
            return None;
        }
        let mut out = serde_json::Map::new();
        for (path, values) in self.axes.iter().rev() {
            out.insert(path.clone(), values[i % values.len()].clone());
            i /= values.len();
        }
        Some(out)
    }

    /// The bot of combination `i`: `base` with its values set, validated.
    pub fn bot(&self, base: &BotFile, i: usize) -> Result<BotFile, String> {
        let params = self.params(i).ok_or_else(|| format!("no combination {i}"))?;
        let mut doc = serde_json::to_value(base).map_err(|e| e.to_string())?;
        for (path, value) in params {
            set_path(&mut doc, &path, value)?;
        }
        let bot: BotFile = serde_json::from_value(doc).map_err(|e| e.to_string())?;
        bot.validate().map_err(|e| e.to_string())?;
        Ok(bot)
    }
}

fn set_path(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    if !matches!(parts.first(), Some(&("strategy" | "market" | "fees" | "fill"))) {
        parts.insert(0, "strategy");
    }
    let mut node = doc;
    for (k, part) in parts.iter().enumerate() {
        let obj = node.as_object_mut().ok_or_else(|| format!("`{path}`: `{part}` is not inside an object"))?;
        if k + 1 == parts.len() {
            obj.insert((*part).to_string(), value);
            return Ok(());
        }
        node = obj.entry((*part).to_string()).or_insert_with(|| Value::Object(Default::default()));
    }
    Ok(())
}

/// One combination's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// Combination index.
    pub index: usize,
    /// Its values, by path.
    pub params: serde_json::Map<String, Value>,
    /// Metrics, or why this combination could not run.
    pub outcome: Result<Metrics, String>,
}

/// Everything a sweep produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// Completed rows, in combination order.
    pub rows: Vec<SweepRow>,
    /// True when the cancel flag stopped the sweep (rows are then partial).
    pub cancelled: bool,
}

/// Runs every combination of `grid` over `candles`.
///
/// `progress(done, total)` is called from worker threads after each
/// backtest; setting `cancel` stops starting new ones.
///
/// ```
/// use martingale_core::backtest::{synthetic, sweep::{sweep, Grid}, BacktestOptions};
/// use martingale_core::config::BotFile;
/// use serde_json::json;
///
/// let bot: BotFile = martingale_core::config::EXAMPLE_BOT_JSON.parse().unwrap();
/// let candles = synthetic::random_walk(3, 20_000, 60_000, 30_000.0, 0.0012);
/// let grid = Grid::new().axis("take_profit.percent", [json!("1"), json!("2")]);
/// let out = sweep(&bot, &candles, &grid, &BacktestOptions::default(), &|_, _| {}, None).unwrap();
/// assert_eq!(out.rows.len(), 2);
/// assert!(out.rows.iter().all(|r| r.outcome.is_ok()));
/// ```
pub fn sweep(
    base: &BotFile,
    candles: &Candles,
    grid: &Grid,
    opts: &BacktestOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
    cancel: Option<&AtomicBool>,
) -> Result<SweepResult, SweepError> {
    if let Some((name, _)) = grid.axes.iter().find(|(_, v)| v.is_empty()) {
        return Err(SweepError::EmptyAxis(name.clone()));
    }
    let total = grid.len();
    if total == usize::MAX {
        return Err(SweepError::TooLarge);
    }
    let opts = BacktestOptions { record_fills: false, record_equity: false, mode: Mode::Fast, ..opts.clone() };
    let done = AtomicUsize::new(0);
    let stopped = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let rows: Vec<SweepRow> = (0..total)
        .into_par_iter()
        .filter_map(|i| {
            if stopped() {
                return None;
            }
            let outcome = grid
                .bot(base, i)
                .and_then(|bot| backtest(&bot, candles, &opts).map(|r| r.metrics).map_err(|e| e.to_string()));
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            Some(SweepRow { index: i, params: grid.params(i).unwrap_or_default(), outcome })
        })
        .collect();
    Ok(SweepResult { cancelled: rows.len() < total && stopped(), rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::synthetic::random_walk;
    use serde_json::json;

    fn bot() -> BotFile {
        crate::config::EXAMPLE_BOT_JSON.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rows_equal_single_backtests_in_order() {
        let candles = random_walk(5, 30_000, 60_000, 30_000.0, 0.0012);
        let grid = Grid::new()
            .axis("take_profit.percent", [json!("1"), json!("2")])
            .axis("fees.maker", [json!("0"), json!("0.001")]);
        let out = sweep(&bot(), &candles, &grid, &BacktestOptions::default(), &|_, _| {}, None).unwrap();
        assert_eq!(out.rows.len(), 4);
        for row in &out.rows {
            let single =
                backtest(&grid.bot(&bot(), row.index).unwrap(), &candles, &BacktestOptions::default()).unwrap();
            assert_eq!(row.outcome.as_ref().unwrap(), &single.metrics);
        }
        let idx: Vec<_> = out.rows.iter().map(|r| r.index).collect();
        assert_eq!(idx, vec![0, 1, 2, 3]);
    }

    #[test]
    fn invalid_combinations_are_rows_with_errors() {
        let candles = random_walk(5, 1_000, 60_000, 30_000.0, 0.0012);
        let grid = Grid::new().axis("step_scale", [json!("1"), json!("20")]);
        let out = sweep(&bot(), &candles, &grid, &BacktestOptions::default(), &|_, _| {}, None).unwrap();
        assert!(out.rows[0].outcome.is_ok());
        assert!(out.rows[1].outcome.as_ref().unwrap_err().contains("step_scale"));
        let empty = Grid::new().axis("x", []);
        assert_eq!(
            sweep(&bot(), &candles, &empty, &BacktestOptions::default(), &|_, _| {}, None).unwrap_err(),
            SweepError::EmptyAxis("x".into())
        );
    }

    #[test]
    fn progress_and_cancel() {
        let candles = random_walk(5, 5_000, 60_000, 30_000.0, 0.0012);
        let grid = Grid::new().axis("take_profit.percent", (1..=40).map(|p| json!(p.to_string())));
        let seen = AtomicUsize::new(0);
        let out = sweep(
            &bot(),
            &candles,
            &grid,
            &BacktestOptions::default(),
            &|_, total| {
                assert_eq!(total, 40);
                seen.fetch_add(1, Ordering::Relaxed);
            },
            None,
        )
        .unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 40);
        assert!(!out.cancelled);
        let cancel = AtomicBool::new(false);
        let out = sweep(
            &bot(),
            &candles,
            &grid,
            &BacktestOptions::default(),
            &|done, _| {
                if done >= 5 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            Some(&cancel),
        )
        .unwrap();
        assert!(out.cancelled);
        assert!(out.rows.len() < 40 && out.rows.len() >= 5);
    }
}
