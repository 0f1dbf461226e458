//! # martingale-py
//!
//! The native part (`martingale._core`) of the `martingale` Python package.
//! Money crosses the boundary as decimal strings (never floats); bot files
//! as JSON text; results as JSON text that the Python layer turns into
//! `decimal.Decimal` values and pandas objects. Errors are converted in one
//! place (the `Error` enum) into `ValueError` subclasses. Long work runs with the
//! GIL released.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use martingale_core::backtest::{self, BacktestOptions, Candles as CoreCandles, Mode};
use martingale_core::config::BotFile;
use martingale_core::ladder;
use numpy::PyReadonlyArray1;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rust_decimal::Decimal;
use std::str::FromStr;

// Declared in module `martingale` (which re-exports them), so pickle finds
// them by name: errors cross process pools intact.
create_exception!(martingale, MartingaleError, PyValueError, "Base class of every martingale error (a ValueError).");
create_exception!(
    martingale,
    ConfigError,
    MartingaleError,
    "Invalid bot file or strategy; the message names the field and value."
);
create_exception!(martingale, CandleError, MartingaleError, "Malformed candles; the message names the row.");
create_exception!(martingale, BacktestError, MartingaleError, "A backtest could not run.");
create_exception!(martingale, EngineError, MartingaleError, "The engine refused an event; its state is unchanged.");

/// Every error of the native module, converted to Python in one place.
enum Error {
    Config(String),
    Candle(String),
    Backtest(String),
    Engine(String),
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Config(m) => ConfigError::new_err(m),
            Error::Candle(m) => CandleError::new_err(m),
            Error::Backtest(m) => BacktestError::new_err(m),
            Error::Engine(m) => EngineError::new_err(m),
        }
    }
}

fn bot_from_json(text: &str) -> Result<BotFile, Error> {
    BotFile::from_json(text).map_err(|e| Error::Config(without_position(&e.to_string())))
}

/// A JSON error message without its " at line L column C" suffix: the
/// JSON was written by the Python layer, not by the user.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_string(),
        _ => message.to_string(),
    }
}

/// Options of `run_backtest` / `run_sweep`, as JSON text from the Python
/// layer.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    initial_capital: Option<serde_json::Value>,
    #[serde(default)]
    interval_ms: Option<i64>,
    #[serde(default)]
    record_fills: Option<bool>,
    #[serde(default)]
    record_equity: Option<bool>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    periods_per_year: Option<f64>,
    #[serde(default)]
    stop_when_unfunded: Option<bool>,
}

impl Options {
    fn parse(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| Error::Config(format!("options: {}", without_position(&e.to_string()))))
    }

    /// The options of the Rust backtest; refuses a capital that is not a
    /// positive number and an unknown mode.
    fn backtest(&self) -> Result<BacktestOptions, Error> {
        let initial_capital = match &self.initial_capital {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => {
                let s = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                let c = Decimal::from_str(&s)
                    .or_else(|_| Decimal::from_scientific(&s))
                    .map_err(|_| Error::Config(format!("initial_capital = {s:?}: expected a positive number")))?;
                if c <= Decimal::ZERO {
                    return Err(Error::Config(format!(
                        "initial_capital = {c}: must be positive (or None for the funds the ladder requires)"
                    )));
                }
                Some(c)
            }
        };
        let mode = match self.mode.as_deref() {
            None | Some("fast") => Mode::Fast,
            Some("reference") => Mode::Reference,
            Some(other) => return Err(Error::Config(format!("mode = {other:?}: expected \"fast\" or \"reference\""))),
        };
        if let Some(p) = self.periods_per_year.filter(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(Error::Config(format!(
                "periods_per_year = {p}: expected a positive number (e.g. 252 for daily stock candles)"
            )));
        }
        if let Some(i) = self.interval_ms.filter(|i| *i <= 0) {
            return Err(Error::Config(format!("interval_ms = {i}: expected a positive number of milliseconds")));
        }
        Ok(BacktestOptions {
            initial_capital,
            signals: None,
            interval_ms: self.interval_ms,
            record_fills: self.record_fills.unwrap_or(true),
            record_equity: self.record_equity.unwrap_or(false),
            mode,
            periods_per_year: self.periods_per_year,
            stop_when_unfunded: self.stop_when_unfunded.unwrap_or(false),
        })
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Backtest(e.to_string()))
}

/// Validates a bot file (JSON text) and returns it normalized (JSON text).
#[pyfunction]
fn validate_bot(bot_json: &str) -> PyResult<String> {
    Ok(bot_from_json(bot_json)?.to_json())
}

/// Parses a TOML bot file and returns it as JSON text.
#[pyfunction]
fn bot_from_toml(toml_text: &str) -> PyResult<String> {
    let bot = BotFile::from_toml(toml_text).map_err(|e| Error::Config(e.to_string()))?;
    Ok(bot.to_json())
}

/// Writes a bot file (JSON text) as TOML text.
#[pyfunction]
fn bot_to_toml(bot_json: &str) -> PyResult<String> {
    Ok(bot_from_json(bot_json)?.to_toml().map_err(|e| Error::Config(e.to_string()))?)
}

/// Plans the ladder of a bot at an entry price (decimal string); returns the
/// plan as JSON text.
#[pyfunction]
fn plan(bot_json: &str, price: &str) -> PyResult<String> {
    let bot = bot_from_json(bot_json)?;
    let p0 = Decimal::from_str(price).map_err(|e| Error::Config(format!("price {price:?}: {e}")))?;
    let plan = ladder::plan(&bot.strategy, &bot.market, p0).map_err(|e| Error::Config(e.to_string()))?;
    Ok(json(&plan)?)
}

/// A validated candle series held in Rust, so repeated backtests and sweeps
/// do not convert the prices again.
#[pyclass(module = "martingale._core", frozen)]
struct Candles {
    inner: CoreCandles,
}

/// Converts float prices to exact decimals. With `decimals`, a value on
/// that grid (within 1e-7 of a grid point) is taken as the grid point;
/// anything else is read through its shortest decimal representation.
fn column(values: &[f64], decimals: Option<u32>, field: &str) -> Result<Vec<Decimal>, Error> {
    let scale = decimals.map(|d| (d, 10f64.powi(i32::try_from(d).unwrap_or(0))));
    values
        .iter()
        .enumerate()
        .map(|(row, &x)| {
            if !x.is_finite() {
                return Err(Error::Candle(format!("row {row}: {field} = {x} is not a finite number")));
            }
            if let Some((dp, mult)) = scale {
                let units = (x * mult).round();
                if (x * mult - units).abs() < 1e-7 && units.abs() < 9.0e15 {
                    return Ok(Decimal::new(units as i64, dp));
                }
            }
            Decimal::from_str(&x.to_string())
                .or_else(|_| Decimal::from_scientific(&format!("{x:e}")))
                .map_err(|_| Error::Candle(format!("row {row}: {field} = {x} is not representable")))
        })
        .collect()
}

#[pymethods]
impl Candles {
    /// Builds candles from numpy arrays (read in place, without copying):
    /// open times in ms (int64) and float64 prices; `decimals` is the price
    /// grid's number of decimal places (e.g. 2 for a 0.01 tick).
    #[new]
    #[pyo3(signature = (time, open, high, low, close, decimals=None))]
    fn new(
        py: Python<'_>,
        time: PyReadonlyArray1<'_, i64>,
        open: PyReadonlyArray1<'_, f64>,
        high: PyReadonlyArray1<'_, f64>,
        low: PyReadonlyArray1<'_, f64>,
        close: PyReadonlyArray1<'_, f64>,
        decimals: Option<u32>,
    ) -> PyResult<Self> {
        let err = |e: numpy::NotContiguousError| Error::Candle(e.to_string());
        let (t, o, h, l, c) = (
            time.as_slice().map_err(err)?,
            open.as_slice().map_err(err)?,
            high.as_slice().map_err(err)?,
            low.as_slice().map_err(err)?,
            close.as_slice().map_err(err)?,
        );
        let inner = py.allow_threads(|| -> Result<CoreCandles, Error> {
            CoreCandles::new(
                t.to_vec(),
                column(o, decimals, "open")?,
                column(h, decimals, "high")?,
                column(l, decimals, "low")?,
                column(c, decimals, "close")?,
            )
            .map_err(|e| Error::Candle(e.to_string()))
        })?;
        Ok(Candles { inner })
    }

    /// Parses CSV text in the SPEC formats.
    #[staticmethod]
    fn from_csv(py: Python<'_>, text: &str) -> PyResult<Self> {
        let inner = py.allow_threads(|| CoreCandles::from_csv(text)).map_err(|e| Error::Candle(e.to_string()))?;
        Ok(Candles { inner })
    }

    /// Builds candles from decimal strings (exact).
    #[staticmethod]
    fn from_strings(
        time: Vec<i64>,
        open: Vec<String>,
        high: Vec<String>,
        low: Vec<String>,
        close: Vec<String>,
    ) -> PyResult<Self> {
        let parse = |v: Vec<String>, field: &str| -> Result<Vec<Decimal>, Error> {
            v.iter()
                .enumerate()
                .map(|(row, s)| {
                    Decimal::from_str(s)
                        .map_err(|_| Error::Candle(format!("row {row}: {field} = {s:?} is not a number")))
                })
                .collect()
        };
        let inner = CoreCandles::new(
            time,
            parse(open, "open")?,
            parse(high, "high")?,
            parse(low, "low")?,
            parse(close, "close")?,
        )
        .map_err(|e| Error::Candle(e.to_string()))?;
        Ok(Candles { inner })
    }

    /// The seeded synthetic random walk of the Rust crate
    /// (`synthetic::random_walk`): `Candles.synthetic(42, 2_629_800, 60_000,
    /// 30_000.0, 0.0012)` is the benchmark workload W5.
    #[staticmethod]
    fn synthetic(py: Python<'_>, seed: u64, n: usize, interval_ms: i64, start: f64, vol: f64) -> Self {
        Candles { inner: py.allow_threads(|| backtest::synthetic::random_walk(seed, n, interval_ms, start, vol)) }
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Open times (ms).
    fn times(&self) -> Vec<i64> {
        self.inner.times().to_vec()
    }

    /// Open times (ms) as an int64 numpy array (one copy, no Python ints).
    fn times_array<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<i64>> {
        numpy::PyArray1::from_slice(py, self.inner.times())
    }

    /// Close prices as a float64 numpy array (the nearest float of each).
    fn closes_array<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
        let closes = self.inner.closes().iter().map(|d| d.to_string().parse::<f64>().unwrap_or(f64::NAN)).collect();
        numpy::PyArray1::from_vec(py, closes)
    }

    /// Close prices as decimal strings.
    fn closes(&self) -> Vec<String> {
        self.inner.closes().iter().map(|d| d.to_string()).collect()
    }

    /// The series as CSV text (for pickling and export).
    fn to_csv(&self) -> String {
        self.inner.to_csv()
    }

    /// Smallest time step in ms.
    fn interval_ms(&self) -> Option<i64> {
        self.inner.interval_ms()
    }

    /// Pickles as CSV text (exact decimals), for Ray or Dask workers.
    fn __reduce__(&self, py: Python<'_>) -> PyResult<(PyObject, (String,))> {
        let from_csv = py.get_type::<Candles>().getattr("from_csv")?.unbind();
        Ok((from_csv, (self.inner.to_csv(),)))
    }
}

/// Runs a backtest; `options_json` holds `initial_capital` (decimal
/// string), `interval_ms`, `record_fills`, `record_equity`, `mode`
/// (`"fast"` or `"reference"`); `signals` is an optional bool array.
/// Returns the result, held in Rust until its JSON text is asked for (a
/// notebook that reads only a few metrics does not pay for serializing
/// every deal). The GIL is released while it runs.
#[pyfunction]
#[pyo3(signature = (bot_json, candles, options_json="{}", signals=None))]
fn run_backtest(
    py: Python<'_>,
    bot_json: &str,
    candles: &Bound<'_, Candles>,
    options_json: &str,
    signals: Option<PyReadonlyArray1<'_, bool>>,
) -> PyResult<BacktestOutput> {
    let candles_ref: Py<Candles> = candles.clone().unbind();
    let candles = candles.get();
    let bot = bot_from_json(bot_json)?;
    let mut opts = Options::parse(options_json)?.backtest()?;
    opts.signals = match signals {
        Some(s) => Some(s.as_slice().map_err(|e| Error::Candle(e.to_string()))?.to_vec()),
        None => None,
    };
    let result = py
        .allow_threads(|| backtest::backtest(&bot, &candles.inner, &opts))
        .map_err(|e| Error::Backtest(e.to_string()))?;
    Ok(BacktestOutput { result, candles: candles_ref.clone_ref(py), json: std::sync::OnceLock::new() })
}

/// A backtest's result, serialized to JSON on first request; it keeps the
/// candles it ran on, to build the equity curve from the path on demand.
#[pyclass(module = "martingale._core", frozen)]
struct BacktestOutput {
    result: backtest::BacktestResult,
    candles: Py<Candles>,
    json: std::sync::OnceLock<String>,
}

#[pymethods]
impl BacktestOutput {
    /// The result as JSON text (built once).
    fn json(&self) -> PyResult<String> {
        if let Some(text) = self.json.get() {
            return Ok(text.clone());
        }
        let text = json(&self.result)?;
        Ok(self.json.get_or_init(|| text).clone())
    }

    /// The SPEC metrics as JSON text (without the deals and fills).
    fn metrics_json(&self) -> PyResult<String> {
        Ok(json(&self.result.metrics)?)
    }

    /// When equity first could not fund the next deal, as JSON text
    /// (`null` when it always could).
    fn unfunded_json(&self) -> PyResult<String> {
        Ok(json(&self.result.unfunded)?)
    }

    /// The candles the backtest ran on.
    fn candles(&self, py: Python<'_>) -> Py<Candles> {
        self.candles.clone_ref(py)
    }

    /// Equity at every close as a float64 numpy array (built from the
    /// equity path: milliseconds for millions of candles).
    fn equity_f64<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
        let candles = self.candles.get();
        let values = py.allow_threads(|| self.result.equity_curve_f64(&candles.inner));
        numpy::PyArray1::from_vec(py, values)
    }

    /// Equity at every close as exact decimal strings.
    fn equity_exact(&self, py: Python<'_>) -> Vec<String> {
        let candles = self.candles.get();
        py.allow_threads(|| self.result.equity_curve(&candles.inner).iter().map(|d| d.to_string()).collect())
    }

    /// The equity path as JSON text: `[{"start", "cash", "base"}, ...]`.
    fn equity_path_json(&self) -> PyResult<String> {
        Ok(json(&self.result.equity_path)?)
    }
}

/// Equity at every close of `candles` along an equity path (JSON text of
/// `[{"start", "cash", "base"}, ...]`): a float64 array, or exact decimal
/// strings with `exact` (for results restored from a pickle).
#[pyfunction]
fn equity_curve(py: Python<'_>, path_json: &str, candles: &Candles, exact: bool) -> PyResult<PyObject> {
    let path: Vec<backtest::EquitySegment> = serde_json::from_str(path_json)
        .map_err(|e| Error::Backtest(format!("equity path: {}", without_position(&e.to_string()))))?;
    if exact {
        let values: Vec<String> = backtest::equity_curve(&path, &candles.inner).iter().map(|d| d.to_string()).collect();
        Ok(values.into_pyobject(py)?.into_any().unbind())
    } else {
        let values = backtest::equity_curve_f64(&path, &candles.inner);
        Ok(numpy::PyArray1::from_vec(py, values).into_any().unbind())
    }
}

/// Times the pure Rust backtest call (no Python work at all), best of
/// `repeat` runs, in seconds: the baseline of the Python benchmark.
#[pyfunction]
fn time_backtest_rust(py: Python<'_>, bot_json: &str, candles: &Candles, repeat: usize) -> PyResult<f64> {
    let bot = bot_from_json(bot_json)?;
    let opts = BacktestOptions { record_fills: false, ..Default::default() };
    py.allow_threads(|| {
        let mut best = f64::MAX;
        for _ in 0..repeat.max(1) {
            let t = std::time::Instant::now();
            let r = backtest::backtest(&bot, &candles.inner, &opts).map_err(|e| Error::Backtest(e.to_string()))?;
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(r);
        }
        Ok::<f64, Error>(best)
    })
    .map_err(PyErr::from)
}

/// Runs every combination of a grid (`grid_json`: `{"axes": [[path,
/// [values...]], ...]}`) over `candles` on all cores. The sweep runs on
/// Rust threads; this thread waits with the GIL released, calls
/// `progress(done, total)` about ten times a second, and turns Ctrl-C
/// (`KeyboardInterrupt`) into a cancellation before re-raising it. Returns
/// the rows as JSON text.
#[pyfunction]
#[pyo3(signature = (bot_json, candles, grid_json, options_json="{}", progress=None))]
fn run_sweep(
    py: Python<'_>,
    bot_json: &str,
    candles: &Candles,
    grid_json: &str,
    options_json: &str,
    progress: Option<PyObject>,
) -> PyResult<String> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let bot = bot_from_json(bot_json)?;
    let grid: backtest::sweep::Grid = serde_json::from_str(grid_json)
        .map_err(|e| Error::Config(format!("grid: {}", without_position(&e.to_string()))))?;
    let opts = Options::parse(options_json)?.backtest()?;
    check_axes(&bot, &grid)?;
    let total = grid.len();
    let (done, cancel) = (AtomicUsize::new(0), AtomicBool::new(false));
    let series = &candles.inner;
    let outcome = std::thread::scope(|scope| -> PyResult<_> {
        let worker = scope.spawn(|| {
            backtest::sweep::sweep(
                &bot,
                series,
                &grid,
                &opts,
                &|d, _| {
                    done.fetch_max(d, Ordering::Relaxed);
                },
                Some(&cancel),
            )
        });
        let mut reported = usize::MAX;
        loop {
            let finished = worker.is_finished();
            let d = done.load(Ordering::Relaxed);
            if let (Some(cb), true) = (&progress, d != reported) {
                reported = d;
                if let Err(e) = cb.call1(py, (d, total)) {
                    cancel.store(true, Ordering::Relaxed);
                    let _ = worker.join();
                    return Err(e);
                }
            }
            if finished {
                break;
            }
            if let Err(e) = py.check_signals() {
                cancel.store(true, Ordering::Relaxed);
                let _ = worker.join();
                return Err(e);
            }
            py.allow_threads(|| std::thread::sleep(std::time::Duration::from_millis(50)));
        }
        worker.join().map_err(|_| PyErr::from(Error::Backtest("the sweep thread panicked".into())))
    })?;
    let result = outcome.map_err(|e| Error::Config(e.to_string()))?;
    Ok(json(&result)?)
}

/// Refuses, before anything runs, an axis that names no field of the bot
/// file (every one of its values, set alone, is refused as an unknown
/// field or path): one error rather than the same error on every row.
fn check_axes(bot: &BotFile, grid: &backtest::sweep::Grid) -> Result<(), Error> {
    for (path, values) in grid.axes() {
        let errors: Vec<String> = values
            .iter()
            .filter_map(|v| backtest::sweep::Grid::new().axis(path.clone(), [v.clone()]).bot(bot, 0).err())
            .collect();
        let unknown = |e: &String| e.contains("unknown field") || e.contains("is not inside");
        if !values.is_empty() && errors.len() == values.len() && errors.iter().all(unknown) {
            let first = errors.first().map(|e| without_position(e)).unwrap_or_default();
            return Err(Error::Config(format!("grid axis {path:?} names no bot-file field: {first}")));
        }
    }
    Ok(())
}

/// The live deal engine, for Python bots that bring their own execution.
/// Events and outputs are JSON text (the Python layer wraps them).
#[pyclass(module = "martingale._core")]
struct Engine {
    inner: martingale_core::engine::Engine,
}

#[pymethods]
impl Engine {
    /// A new engine for `bot_id` (1 to 15 of `[A-Za-z0-9_-]`) and a bot file.
    #[new]
    fn new(bot_id: &str, bot_json: &str) -> PyResult<Self> {
        let bot = bot_from_json(bot_json)?;
        let id = martingale_core::engine::BotId::new(bot_id).map_err(|e| Error::Config(e.to_string()))?;
        let inner = martingale_core::engine::Engine::new(id, &bot).map_err(|e| Error::Config(e.to_string()))?;
        Ok(Engine { inner })
    }

    /// Handles one event (JSON text, SPEC event shapes); returns the output
    /// (`{"actions": [...], "closed": [...]}`) as JSON text. A refused event
    /// raises `EngineError` and changes nothing.
    fn handle(&mut self, event_json: &str) -> PyResult<String> {
        let event: martingale_core::engine::Event =
            serde_json::from_str(event_json).map_err(|e| Error::Engine(format!("event: {e}")))?;
        let out = self.inner.handle(event).map_err(|e| Error::Engine(e.to_string()))?;
        Ok(json(&out)?)
    }

    /// The whole state as JSON text.
    fn snapshot(&self) -> String {
        self.inner.to_json()
    }

    /// An engine restored from [`Engine::snapshot`] text.
    #[staticmethod]
    fn restore(text: &str) -> PyResult<Self> {
        let inner = martingale_core::engine::Engine::from_json(text).map_err(|e| Error::Engine(e.to_string()))?;
        Ok(Engine { inner })
    }

    /// Mode, phase, open deal and totals as JSON text.
    fn status(&self) -> PyResult<String> {
        let e = &self.inner;
        let v = serde_json::json!({
            "bot_id": e.bot_id().as_str(),
            "mode": e.mode(),
            "phase": e.phase().kind(),
            "deal": e.deal().map(|d| serde_json::json!({
                "number": d.number,
                "quantity": d.position.open_qty(),
                "average_price": d.position.average_price(),
                "safety_orders_filled": d.levels_filled,
                "take_profit_price": d.take_profit.price(),
                "take_profit_steps": d.step_prices,
                "stop_loss_price": e.watch().stop_loss,
            })),
            "totals": e.totals(),
            "last_price": e.last_price(),
        });
        Ok(json(&v)?)
    }

    fn __reduce__(&self, py: Python<'_>) -> PyResult<(PyObject, (String,))> {
        let restore = py.get_type::<Engine>().getattr("restore")?.unbind();
        Ok((restore, (self.inner.to_json(),)))
    }
}

/// The native module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MartingaleError", py.get_type::<MartingaleError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("CandleError", py.get_type::<CandleError>())?;
    m.add("BacktestError", py.get_type::<BacktestError>())?;
    m.add_class::<Candles>()?;
    m.add_function(wrap_pyfunction!(validate_bot, m)?)?;
    m.add_function(wrap_pyfunction!(bot_from_toml, m)?)?;
    m.add_function(wrap_pyfunction!(bot_to_toml, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(run_backtest, m)?)?;
    m.add_function(wrap_pyfunction!(run_sweep, m)?)?;
    m.add_function(wrap_pyfunction!(time_backtest_rust, m)?)?;
    m.add_function(wrap_pyfunction!(equity_curve, m)?)?;
    m.add_class::<Engine>()?;
    m.add_class::<BacktestOutput>()?;
    m.add("EngineError", py.get_type::<EngineError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
