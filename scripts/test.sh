#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, docs, Rust tests
# (unit, integration, property and doc tests), the benches once each, and the
# Python tests. Installs nothing system-wide (Python packages go to .venv).
# Usage: scripts/test.sh        (from anywhere inside the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# One optimized build for every step below (tests, packaged tests, benches,
# the Python extension and wheel), made for testing: the release profile's
# codegen-units = 1 and thin LTO (what `cargo install` and published
# wheels get) cost more build time on 2 cores than they save in test time
# (measured: the test binaries' build 22m25s -> 12m09s; the slowest test,
# paper_identity, 115 s -> 135 s). Every cargo and maturin call here reads
# these.
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_LTO=false

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "postgres: a throwaway cluster for the service's database tests"
# Installs Debian's postgresql when missing; stopped and removed on exit.
. scripts/pg.sh

step "python: the test virtualenv (.venv), with ccxt for the exchange cross-check"
# Everything the Python side needs is installed here, into a project-local
# virtualenv, so a fresh machine with only Python and Rust passes. ccxt (an
# exact version: its requests are what the fakes are checked against) is the
# independent client of martingale-exchange/tests/ccxt_cross.rs, which runs
# in the cargo test step below and may not skip here.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" "pytest>=7" numpy pandas polars matplotlib tqdm "ccxt==4.5.90"
export MARTINGALE_CCXT_PYTHON="$PWD/.venv/bin/python" MARTINGALE_REQUIRE_CCXT=1

step "cargo test (unit, integration, property and doc tests)"
# Property tests run in release mode: same cases, a fraction of the time.
cargo test --workspace --locked --release

step "packaging: the publishable crates packaged, built from their packages, core's packaged tests run"
# `cargo package` builds each package from its .crate (martingale-exchange
# against the just-packaged martingale-core, which is not on crates.io yet;
# `cargo publish --dry-run` would need it there). Then the packaged core's
# own tests and doc tests run from an unpacked copy outside the workspace:
# everything they need must be inside the crate.
# Cargo treats a registry crate as immutable: the packaged core, served
# from a temporary registry under the same version every run, is unpacked
# into $CARGO_HOME/registry/src/-<hash of the checkout path>/ and built into
# target/debug once, and both copies are reused as they are. A machine that
# keeps CARGO_HOME or target/ between runs (CI does) would verify
# martingale-exchange against the core of an earlier run and fail on
# anything new. Remove both copies first (dev profile only: the release
# build the later steps use is kept).
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/martingale-*
cargo clean --profile dev -p martingale-core -p martingale-exchange
cargo package --locked --allow-dirty -p martingale-core -p martingale-exchange
PKG=$(mktemp -d)
# (One EXIT trap for both: the package copy and the Postgres cluster.)
trap 'rm -rf "$PKG"; if declare -F pg_stop >/dev/null; then pg_stop; fi' EXIT
tar -xzf target/package/martingale-core-*.crate -C "$PKG"
MARTINGALE_DATA_DIR="$PWD/../shared/data" CARGO_TARGET_DIR="$PWD/target" cargo test --release --manifest-path "$PKG"/martingale-core-*/Cargo.toml

step "benches, each run once (criterion's test mode: W5 fast / reference, the 1,000-set sweep, the fleet)"
cargo test --locked --release -p martingale-toolkit --benches

step "python: build the extension into .venv (maturin) and run pytest"
(
  . .venv/bin/activate
  cd martingale-py
  maturin develop --release --quiet
)
.venv/bin/python -m pytest martingale-py/tests -q -W error::DeprecationWarning

step "python: the abi3 wheel, installed into a clean virtualenv (no compiler there), imports and backtests"
# Reuses the release build above (same target directory and features).
rm -f target/wheels/martingale_toolkit-*.whl
(
  . .venv/bin/activate
  cd martingale-py
  maturin build --release --quiet --out ../target/wheels
)
rm -rf target/wheel-venv
"$PY" -m venv target/wheel-venv
# --only-binary: the package must come from the wheel, never be compiled.
target/wheel-venv/bin/python -m pip install --quiet --disable-pip-version-check --only-binary=:all: target/wheels/martingale_toolkit-*.whl
(cd target && wheel-venv/bin/python ../martingale-py/tests/wheel_smoke.py)

step "all checks passed"
