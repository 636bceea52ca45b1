#!/usr/bin/env bash
# Runs zkperp on this machine as the separate services of a deployment, each its own process
# with its own log, talking only through the L1 RPC and the API:
#
#   anvil ─── zkperp deploy (once: keys, verifiers, rollup, test token, network.json)
#     │
#     └── zkperp node (sequencer + API + prover) <── zkperp oracle ×3 (POST /v1/oracle/quotes)
#
# Usage: deploy/local.sh            start everything (a fresh L1 and network each time;
#                                   the oracle keys and proving keys are kept, so the second
#                                   start skips the slow key setup)
#        deploy/local.sh restart    kill -9 the node and start it again on its data directory
#                                   (while local.sh runs in another terminal)
# Settings: deploy/local.env (ZKPERP_LOCAL_ENV names another file). Logs and state:
# deploy/.local/ (ZKPERP_LOCAL_DIR). ZKPERP_BIN runs a zkperp binary already built instead of
# building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a
# shellcheck source=deploy/local.env
. "${ZKPERP_LOCAL_ENV:-deploy/local.env}"
set +a
DIR=${ZKPERP_LOCAL_DIR:-deploy/.local}
BIN=${ZKPERP_BIN:-target/release/zkperp}
mkdir -p "$DIR/logs" "$DIR/identities"

node_args=(node --network "$DIR/network.json" --keys-dir "$DIR/keys" --data-dir "$DIR/node"
  --listen "$ZKPERP_LISTEN" --batch-secs "$BATCH_SECS" --funding-secs "$FUNDING_SECS")

if [ "${1:-}" = restart ]; then
  pid=$(cat "$DIR/node.pid")
  echo "killing the node (pid $pid) with SIGKILL, as a crash would"
  kill -KILL "$pid"
  sleep 1
  "$BIN" "${node_args[@]}" >>"$DIR/logs/node.log" 2>&1 &
  echo $! >"$DIR/node.pid"
  echo "node restarted (pid $!): see $DIR/logs/node.log for its \"node\" event"
  exit 0
fi

bash scripts/setup.sh
[ -n "${ZKPERP_BIN:-}" ] || cargo build --release --locked -p zkperp

pids=()
stop() {
  trap - EXIT INT TERM
  echo "stopping the services"
  [ -f "$DIR/node.pid" ] && pids+=("$(cat "$DIR/node.pid")")
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

# A fresh L1, so a fresh network: only keys survive from an earlier run.
rm -rf "$DIR/node" "$DIR/network.json"
contracts/node_modules/.bin/anvil --port "$L1_PORT" >"$DIR/logs/anvil.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  grep -q "Listening on" "$DIR/logs/anvil.log" && break
  sleep 0.2
done

# Keys of the oracles and the system accounts: made once, kept.
field() { sed -n "s/.*\"$2\": \"\\([^\"]*\\)\".*/\\1/p" "$1"; }
identity() {
  local file="$DIR/identities/$1.json"
  [ -f "$file" ] || "$BIN" keygen >"$file"
  echo "$file"
}
deploy_args=(deploy --rpc "$ZKPERP_L1_RPC" --shape "$SHAPE" --account-depth "$ACCOUNT_DEPTH"
  --order-depth "$ORDER_DEPTH" --keys-dir "$DIR/keys" --out "$DIR/network.json"
  --fund-key "$(field "$(identity fund)" public_key)" --fund-owner "$FUND_OWNER"
  --fee-key "$(field "$(identity fees)" public_key)" --fee-owner "$FEE_OWNER")
for i in $(seq "$ORACLES"); do
  deploy_args+=(--oracle-key "$(field "$(identity "oracle-$i")" public_key)")
done
for trader in $TRADERS; do
  deploy_args+=(--mint "$trader:$MINT_UNITS")
done
echo "deploying (the first run makes the proving keys: minutes)"
"$BIN" "${deploy_args[@]}" | tee "$DIR/logs/deploy.log"

"$BIN" "${node_args[@]}" >"$DIR/logs/node.log" 2>&1 &
echo $! >"$DIR/node.pid"
# The oracles pin the deployment they sign for (network.json's rollup and chain id): a node
# that served another deployment's configuration would get no quote from them.
ROLLUP=$(field "$DIR/network.json" rollup | head -n 1)
CHAIN_ID=$(sed -n 's/.*"chain_id": \([0-9]*\).*/\1/p' "$DIR/network.json" | head -n 1)
pin=()
[ -n "$ROLLUP" ] && pin+=(--rollup "$ROLLUP")
[ -n "$CHAIN_ID" ] && pin+=(--chain-id "$CHAIN_ID")
for i in $(seq "$ORACLES"); do
  ZKPERP_ORACLE_KEY=$(field "$DIR/identities/oracle-$i.json" private_key) \
    "$BIN" oracle --api "http://$ZKPERP_LISTEN" --offset "$((i - 1))" ${pin[@]+"${pin[@]}"} \
    >"$DIR/logs/oracle-$i.log" 2>&1 &
  pids+=($!)
done
cat <<INFO
zkperp is running as separate services:
  L1 RPC      $ZKPERP_L1_RPC                (log $DIR/logs/anvil.log)
  API         http://$ZKPERP_LISTEN/v1/markets (log $DIR/logs/node.log)
  oracles     $ORACLES signers                  (logs $DIR/logs/oracle-*.log)
  network     $DIR/network.json
  crash test  deploy/local.sh restart       (in another terminal)
A trader: ZKPERP_API=http://$ZKPERP_LISTEN ZKPERP_ETH_KEY=<an anvil key of accounts 1-7> \
  $BIN wallet deposit --amount 1000
Ctrl-C stops everything.
INFO
wait
