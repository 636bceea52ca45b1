//! Snapshot bench at production depths (accounts 32, orders 16): what a snapshot of a state with
//! `accounts` funded accounts (the first `traders` of them with a filled order each) costs to
//! take, encode, decode and restore, and how big it is. Restoring rebuilds every tree from the
//! leaves and checks the root (`State::restore`). Prints one JSON line. Figures:
//! docs/PERFORMANCE.md.
//!
//! `cargo run --release -p zkperp-benches --bin snapshot -- [accounts] [traders]`

use std::time::Instant;

use serde_json::json;
use zkperp_state::order::Side;
use zkperp_state::state::StateSnapshot;
use zkperp_state::testkit::{btc, Fixture};
use zkperp_state::State;

fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let traders: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let traders = traders.min(accounts) & !1;

    let started = Instant::now();
    let mut f = Fixture::with_depths(accounts, 32, 16);
    f.fund_deposit(10_000_000_000);
    for i in 0..accounts {
        f.deposit(i, 1_000_000_000);
    }
    for pair in 0..traders / 2 {
        let (buyer, seller) = (2 * pair, 2 * pair + 1);
        let maker = f.order_with_id(buyer, btc(), Side::Buy, 10, 500_000, 1);
        let taker = f.order_with_id(seller, btc(), Side::Sell, 10, 500_000, 1);
        f.apply(Fixture::trade_tx(maker, taker, 4, 500_000))
            .expect("a partial fill");
    }
    f.state.end_batch().expect("seal");
    let build_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let snapshot = f.state.snapshot().expect("between batches");
    let take_ms = started.elapsed().as_secs_f64() * 1e3;

    let started = Instant::now();
    let mut bytes = Vec::new();
    ciborium::into_writer(&snapshot, &mut bytes).expect("encodes");
    let encode_ms = started.elapsed().as_secs_f64() * 1e3;

    let started = Instant::now();
    let decoded: StateSnapshot = ciborium::from_reader(bytes.as_slice()).expect("decodes");
    let decode_ms = started.elapsed().as_secs_f64() * 1e3;

    let started = Instant::now();
    let restored = State::restore(f.state.config().clone(), decoded).expect("restores");
    let restore_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(restored.root(), f.state.root());

    println!(
        "{}",
        json!({
            "accounts": accounts + 3,
            "accounts_with_orders": traders,
            "depths": [32, 16],
            "build_state_secs": build_secs,
            "snapshot_bytes": bytes.len(),
            "take_ms": take_ms,
            "encode_ms": encode_ms,
            "decode_ms": decode_ms,
            "restore_ms": restore_ms,
        })
    );
}
