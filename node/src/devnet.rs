//! The devnet: the native state machine driven through a simulated market.
//!
//! Each batch: the market clock advances, three oracle signers quote a random-walk price (the
//! median becomes the mark), funding moves within its cap, simulated traders sign orders that
//! are matched at the mark, a liquidation engine closes accounts below maintenance (into the
//! insurance fund, or by deleveraging the most valuable opposite position when the fund cannot
//! absorb them), and the batch is sealed: its public data is printed as one JSON line.

use std::time::Duration;

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkperp_sequencer::liquidation::next_step;
use zkperp_state::batch::Shape;
use zkperp_state::order::Side;
use zkperp_state::testkit::Fixture;
use zkperp_state::tx::{OracleTick, Transaction};
use zkperp_state::units::MarketId;

#[derive(Debug, clap::Args)]
pub struct DevnetArgs {
    /// Batches to run; 0 runs until interrupted.
    #[arg(long, default_value_t = 0)]
    batches: u64,
    /// Market seconds per batch.
    #[arg(long, default_value_t = 60)]
    batch_secs: u64,
    /// Wall-clock pause between batches, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Simulated traders.
    #[arg(long, default_value_t = 8)]
    traders: usize,
    /// Orders matched per batch.
    #[arg(long, default_value_t = 24)]
    trades_per_batch: usize,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Debug, Default, serde::Serialize)]
struct Counts {
    trades: u32,
    refused_trades: u32,
    liquidations: u32,
    deleverages: u32,
}

pub fn run(args: &DevnetArgs) -> Result<()> {
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    let mut f = Fixture::with_depths(args.traders.max(2), 16, 8);
    f.fund_deposit(50_000_000_000);
    for t in 0..f.traders.len() {
        f.deposit(t, rng.gen_range(1_000..20_000) * 1_000_000);
    }
    let first = f.state.end_batch()?;
    tracing::info!(
        target: "devnet",
        traders = f.traders.len(),
        markets = f.state.config().markets.len(),
        genesis_root = %zkperp_state::field::fr_to_decimal(&first.new_root),
        "devnet running the native state machine (no API, prover or L1 yet)"
    );
    let mut batch = 0u64;
    while args.batches == 0 || batch < args.batches {
        batch += 1;
        f.advance(args.batch_secs);
        let mut counts = Counts::default();
        // In batch order (zkperp_state::batch): ticks, then the liquidations the new prices
        // trigger, then trades.
        let markets = f.state.config().markets.len();
        for m in 0..markets {
            move_price(&mut f, &mut rng, MarketId::new(m as u64)?)?;
        }
        for m in 0..markets {
            fund(&mut f, &mut rng, MarketId::new(m as u64)?, args.batch_secs)?;
        }
        liquidate(&mut f, &mut counts)?;
        for _ in 0..args.trades_per_batch {
            if trade(&mut f, &mut rng)? {
                counts.trades += 1;
            } else {
                counts.refused_trades += 1;
            }
        }
        let sealed = f.state.end_batch()?;
        let data = sealed.public_data(&Shape::tight(&sealed))?;
        let line = serde_json::json!({
            "batch": batch,
            "time": data.timestamp.get(),
            "old_root": zkperp_state::field::fr_to_decimal(&data.old_root),
            "new_root": zkperp_state::field::fr_to_decimal(&data.new_root),
            "mark_prices": f.state.markets().iter().map(|m| m.mark_price.get()).collect::<Vec<_>>(),
            "funding_indices": f.state.markets().iter().map(|m| m.funding_index.get().to_string()).collect::<Vec<_>>(),
            "leaf_writes": data.accounts.len(),
            "public_data_bytes": data.to_bytes().len(),
            "counts": counts,
        });
        println!("{line}");
        if args.interval_ms > 0 {
            std::thread::sleep(Duration::from_millis(args.interval_ms));
        }
    }
    Ok(())
}

fn move_price(f: &mut Fixture, rng: &mut ChaCha20Rng, market: MarketId) -> Result<()> {
    let mark = f.state.markets()[market.index()].mark_price.get() as f64;
    let next = (mark * (1.0 + rng.gen_range(-0.01..0.01))).max(1.0) as u64;
    let now = f.state.now().get();
    let mut quotes: Vec<_> = (0..3u8)
        .map(|i| {
            let noisy = (next as f64 * (1.0 + rng.gen_range(-0.0005..0.0005))).max(1.0) as u64;
            f.quote(i, market, noisy, now - rng.gen_range(0..5))
        })
        .collect();
    quotes.sort_by_key(|q| q.quote.price);
    f.apply(Transaction::OracleTick(OracleTick { market, quotes }))?;
    Ok(())
}

fn fund(f: &mut Fixture, rng: &mut ChaCha20Rng, market: MarketId, secs: u64) -> Result<()> {
    let state = f.state.markets()[market.index()];
    let params = &f.state.config().markets[market.index()];
    let cap = i128::from(params.max_funding_rate.get())
        * i128::from(state.mark_price.get())
        * i128::from(params.tick_value.get())
        * i128::from(secs)
        / 1_000_000_000;
    let delta = cap * rng.gen_range(-50..=50) / 100;
    let index = zkperp_state::units::FundingIndex::new(state.funding_index.get() + delta)?;
    f.apply(Transaction::FundingTick(zkperp_state::tx::FundingTick {
        market,
        index,
    }))?;
    Ok(())
}

fn trade(f: &mut Fixture, rng: &mut ChaCha20Rng) -> Result<bool> {
    let n = f.traders.len();
    let (buyer, seller) = (rng.gen_range(0..n), rng.gen_range(0..n));
    if buyer == seller {
        return Ok(false);
    }
    let market = MarketId::new(rng.gen_range(0..f.state.config().markets.len()) as u64)?;
    let mark = f.state.markets()[market.index()].mark_price.get();
    let price = (mark as f64 * (1.0 + rng.gen_range(-0.001..0.001))) as u64;
    let size: i128 = rng.gen_range(1..400);
    let tick_value = f.state.config().markets[market.index()].tick_value.get();
    let fee = size * i128::from(price) * i128::from(tick_value) / 2_000; // 0.05%
    let maker = f.order(buyer, market, Side::Buy, size, price);
    let taker = f.order(seller, market, Side::Sell, size, price);
    let tx = Fixture::trade_tx_with_fees(maker, taker, size, price, fee, fee);
    Ok(f.apply(tx).is_ok())
}

/// Runs the sequencer's liquidation engine until nobody below maintenance can be dealt with.
fn liquidate(f: &mut Fixture, counts: &mut Counts) -> Result<()> {
    while let Some(tx) = next_step(&f.state) {
        match &tx {
            Transaction::Liquidation(_) => counts.liquidations += 1,
            Transaction::Deleverage(_) => counts.deleverages += 1,
            _ => {}
        }
        f.apply(tx)?;
    }
    Ok(())
}
