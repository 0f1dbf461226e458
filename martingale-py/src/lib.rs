//! # martingale-py
//!
//! Python bindings for `martingale-core`.
//!
//! Status: not built yet. This crate is an empty placeholder in the workspace
//! so that the layout is fixed; it exposes no API and no Python module. The
//! PyO3 module is tracked in the project's issues.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
