#!/usr/bin/env bash
# Sets up and runs every check and test of zkperp: the one command CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# L1 contracts: formatting, then every forge test (unit, fuzz, invariant).
(cd contracts && node_modules/.bin/forge fmt --check && node_modules/.bin/forge test)
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
