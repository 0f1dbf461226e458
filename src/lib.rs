//! Umbrella package of the martingale workspace: it re-exports the library
//! crates and hosts the runnable `examples/` and the criterion `benches/`.
//! Depend on `martingale-core` and `martingale-exchange` directly.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use martingale_core as core;
pub use martingale_exchange as exchange;

/// Small helpers shared by the examples' command lines.
pub mod cli {
    use std::process::ExitCode;

    /// The value after `--name` on the command line.
    pub fn arg(name: &str) -> Option<String> {
        let args: Vec<String> = std::env::args().collect();
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
    }

    /// True when `--name` is on the command line.
    pub fn flag(name: &str) -> bool {
        std::env::args().any(|a| a == name)
    }

    /// The exit code of a main's result; an error is printed first.
    pub fn exit(result: Result<(), String>) -> ExitCode {
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Runs an async main on a tokio runtime; errors are printed and make
    /// the exit code non-zero.
    pub fn run_async<F>(main: F) -> ExitCode
    where
        F: std::future::Future<Output = Result<(), String>>,
    {
        let result = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(main));
        exit(result)
    }
}
