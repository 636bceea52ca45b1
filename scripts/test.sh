#!/usr/bin/env bash
# Sets up and runs every check and test of zkperp: the one command CI runs (.ci/run).
# Ends with one line counting every test that ran: "tests: N passed, M failed", after one line
# per stage with its minutes ("stage: NAME M.M min"), so a slow stage shows in CI's log.
set -euo pipefail
cd "$(dirname "$0")/.."
stage_start=$SECONDS
stages=""
# Records the minutes since the previous stage ended under NAME.
stage() {
  local elapsed=$((SECONDS - stage_start))
  local line="stage: $1 $((elapsed / 60)).$(((elapsed % 60) / 6)) min"
  stages+="$line"$'\n'
  echo "$line"
  stage_start=$SECONDS
}
bash scripts/setup.sh
stage setup
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# L1 contracts: formatting, then every forge test (unit, fuzz, invariant).
# The committed artifacts the Rust bindings compile from must be what forge builds today.
(cd contracts && node_modules/.bin/forge fmt --check && node_modules/.bin/forge test && node tools/artifacts.js --check) 2>&1 | tee -a "$log"
stage contracts
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
stage "fmt and clippy"
# cargo test writes to a file that `tail` follows, not into a pipe: a process a test left
# behind (an anvil that inherited stderr) could hold a pipe open, and this script would wait on
# it forever after every test had finished. Such a process is a defect, reported and ended here.
cargo_log=$(mktemp)
trap 'rm -f "$log" "$cargo_log"' EXIT
cargo test --workspace --locked >"$cargo_log" 2>&1 &
cargo_pid=$!
tail -n +1 -f --pid="$cargo_pid" "$cargo_log"
cargo_status=0
wait "$cargo_pid" || cargo_status=$?
stage "cargo test"
cat "$cargo_log" >>"$log"
leaked=$(pgrep -f "$PWD/contracts/node_modules/" || true)
if [ -n "$leaked" ]; then
  echo "test.sh: processes left behind by the tests (a defect; ending them):" >&2
  ps -o pid,args -p "$(echo "$leaked" | paste -sd,)" >&2 || true
  kill -KILL $leaked 2>/dev/null || true
fi

# cargo prints "test result: ok. N passed; M failed; ..." per test binary, forge prints
# "Ran K test suites ...: N tests passed, M failed, ..." once.
passed=$(grep -Eo '(^test result: [a-zA-Z]+\. [0-9]+ passed)|([0-9]+ tests passed)' "$log" | grep -Eo '[0-9]+ (tests )?passed' | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '(; [0-9]+ failed;)|(passed, [0-9]+ failed)' "$log" | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
printf '%s' "$stages"
echo "tests: ${passed} passed, ${failed} failed"
exit "$cargo_status"
