#!/usr/bin/env bash
# Sets up and runs the zkperp devnet on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --release --locked -p zkperp -- devnet "$@"
