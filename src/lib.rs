//! Umbrella package of the martingale workspace: it re-exports the library
//! crates and hosts the runnable `examples/` and the criterion `benches/`.
//! Depend on `martingale-core` and `martingale-exchange` directly.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod jobs;

pub use martingale_core as core;
pub use martingale_exchange as exchange;

/// `println!` for programs whose output may be piped: when the reader has
/// gone away (`... | head`), the program ends quietly (exit code 0) instead
/// of panicking with "failed printing to stdout: Broken pipe". Any other
/// write error is reported on stderr and exits with code 1.
///
/// ```
/// martingale_toolkit::outln!("{} deals", 3);
/// ```
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))
    };
}

/// Small helpers shared by the examples' command lines.
pub mod cli {
    use std::io::Write;
    use std::process::ExitCode;

    /// Writes one line to stdout (what [`outln!`](crate::outln) expands to).
    /// A closed stdout ends the program quietly with exit code 0; any other
    /// write error ends it with a message and exit code 1.
    pub fn write_line(args: std::fmt::Arguments<'_>) {
        let mut out = std::io::stdout().lock();
        handle(out.write_fmt(args).and_then(|()| out.write_all(b"\n")));
    }

    /// Writes `text` to stdout as it is, with [`write_line`]'s handling of a
    /// closed stdout.
    pub fn write_text(text: &str) {
        handle(std::io::stdout().lock().write_all(text.as_bytes()));
    }

    fn handle(result: std::io::Result<()>) {
        if let Err(e) = result {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            // stderr may be gone too: nothing more to do about it.
            let _ = writeln!(std::io::stderr(), "error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }

    /// Resident memory of this process in bytes (Linux `/proc`), else 0:
    /// the load examples' memory figures.
    pub fn resident_bytes() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
            .map_or(0, |kb| kb * 1024)
    }

    /// Bytes of the files directly in `dir` (0 if it cannot be read).
    pub fn dir_bytes(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir).map_or(0, |d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
    }

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
