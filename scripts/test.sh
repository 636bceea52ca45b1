#!/usr/bin/env bash
# Sets up and runs every check and test of zkperp: the one command CI runs (.ci/run).
# Ends with one line counting every test that ran: "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# L1 contracts: formatting, then every forge test (unit, fuzz, invariant).
# The committed artifacts the Rust bindings compile from must be what forge builds today.
(cd contracts && node_modules/.bin/forge fmt --check && node_modules/.bin/forge test && node tools/artifacts.js --check) 2>&1 | tee -a "$log"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked 2>&1 | tee -a "$log"

# cargo prints "test result: ok. N passed; M failed; ..." per test binary, forge prints
# "Ran K test suites ...: N tests passed, M failed, ..." once.
passed=$(grep -Eo '(^test result: [a-zA-Z]+\. [0-9]+ passed)|([0-9]+ tests passed)' "$log" | grep -Eo '[0-9]+ (tests )?passed' | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '(; [0-9]+ failed;)|(passed, [0-9]+ failed)' "$log" | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
echo "tests: ${passed} passed, ${failed} failed"
