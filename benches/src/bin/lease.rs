//! What a remote prover's lease costs: the size of a sealed batch's witness as the prover API
//! sends it (JSON), and the time to encode it on the node and to decode it (every field element
//! checked `< r`) on the prover, for a batch of trades at the given depths. Prints one JSON
//! line; `docs/PERFORMANCE.md` has the figures and command.
//!
//! `cargo run --release -p zkperp-benches --bin lease -- [trades] [account depth] [order depth]`

use std::time::Instant;

use zkperp_benches::{arg, trades_batch};
use zkperp_state::batch::SealedBatch;

fn main() {
    let trades = arg(1, 4) as usize;
    let account_depth = arg(2, 32) as u8;
    let order_depth = arg(3, 16) as u8;
    let (_, batch) = trades_batch(trades, account_depth, order_depth);

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
