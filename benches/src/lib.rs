//! Benchmarks live in `benches/`; run them with `cargo bench -p zkperp-benches`. The figures and
//! the machine that produced them are in docs/PERFORMANCE.md. What the bench binaries
//! (`src/bin/`) share is here.

use zkperp_state::batch::SealedBatch;
use zkperp_state::order::Side;
use zkperp_state::testkit::{btc, ts, Fixture, START};

/// The `i`th command-line argument as a number, or `default`.
pub fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// A sealed batch of `trades` trades between funded traders (two per trade) at the given
/// depths, after the batch of their deposits; and the fixture it was made with.
pub fn trades_batch(trades: usize, account_depth: u8, order_depth: u8) -> (Fixture, SealedBatch) {
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
    (f, batch)
}
