#!/usr/bin/env bash
# Installs what zkperp needs on a fresh Debian bookworm machine (root, or sudo available):
# Debian's RocksDB and libclang (bindgen) so the rocksdb crate links instead of compiling
# RocksDB from C++ (about 5 minutes of cold build instead of 24 on 2 cores).
# strace lets the sequencer's crash tests check that every commit is fsynced.
# npm installs the L1 toolchain (forge, anvil, solc) into contracts/node_modules.
# Idempotent: a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
for pkg in librocksdb-dev libclang-dev strace; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then need_apt+=("$pkg"); fi
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# The L1 toolchain (forge, anvil, solc) comes from npm, pinned by contracts/package-lock.json.
# `npm ci` runs only when node_modules is missing or was installed from another lock file.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: node and npm are required (node 20)" >&2
  exit 1
fi
lock_sum="$(sha256sum contracts/package-lock.json | cut -d' ' -f1)"
stamp=contracts/node_modules/.zkperp-lock-sha256
if [ ! -x contracts/node_modules/.bin/forge ] || [ ! -x contracts/node_modules/.bin/anvil ] \
  || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci in contracts/"
  (cd contracts && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$stamp"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is required (rustup, Rust >= 1.94)" >&2
  exit 1
fi
echo "setup: ok"
