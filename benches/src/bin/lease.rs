//! What a remote prover's lease costs: the size of a sealed batch's witness as the prover API
//! sends it (JSON), and the time to encode it on the node and to decode it (every field element
//! checked `< r`) on the prover, for a batch of trades at the given depths. Prints one JSON
//! line; `docs/PERFORMANCE.md` has the figures and command.
//!
//! `cargo run --release -p zkperp-benches --bin lease -- [trades] [account depth] [order depth]`

use std::time::Instant;

use zkperp_state::batch::SealedBatch;
use zkperp_state::order::Side;
use zkperp_state::testkit::{btc, ts, Fixture, START};

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let trades = arg(1, 4) as usize;
    let account_depth = arg(2, 32) as u8;
    let order_depth = arg(3, 16) as u8;
    let traders = 2 * trades.max(1);
    let mut f = Fixture::with_depths(traders, account_depth, order_depth);
    for t in 0..traders {
        f.deposit(t, 1_000_000_000);
    }
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    for i in 0..trades {
        let buy = f.order(2 * i, btc(), Side::Buy, 10, 500_000);
        let sell = f.order(2 * i + 1, btc(), Side::Sell, 10, 500_000);
        f.apply(Fixture::trade_tx_with_fees(
            sell, buy, 10, 500_000, 0, 1_000,
        ))
        .expect("trade");
    }
    let batch = f.state.end_batch().expect("seal 2");

    let runs = 5;
    let t = Instant::now();
    let mut json = Vec::new();
    for _ in 0..runs {
        json = serde_json::to_vec(&batch).expect("encode");
    }
    let encode_ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
    let t = Instant::now();
    for _ in 0..runs {
        let decoded: SealedBatch = serde_json::from_slice(&json).expect("decode");
        assert_eq!(decoded.new_root, batch.new_root);
    }
    let decode_ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
    println!(
        "{}",
        serde_json::json!({
            "trades": trades,
            "account_tree_depth": account_depth,
            "order_tree_depth": order_depth,
            "transactions": batch.txs.len(),
            "witness_json_bytes": json.len(),
            "bytes_per_transaction": json.len() / batch.txs.len().max(1),
            "encode_ms": (encode_ms * 100.0).round() / 100.0,
            "decode_ms": (decode_ms * 100.0).round() / 100.0,
            "proof_bytes": zkperp_prover::export::PROOF_BYTES,
        })
    );
}
