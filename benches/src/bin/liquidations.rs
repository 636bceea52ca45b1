//! Liquidation bench (issue 21): how fast the liquidation engine clears a crash. `accounts`
//! traders in pairs, each pair one long and one short in BTC at a leverage from 1x to 9.5x
//! (spread evenly), a funded insurance fund; then BTC falls 30% (the mark walks down by the
//! band, tick after tick, as `set_price` does), and after each tick the engine runs until no
//! account below maintenance is left, every step applied by the state machine. Run twice on the
//! same book: with the index the operator uses ([`LiquidationIndex`]) and with the scan that
//! evaluates every account per step ([`next_step`], the specification; skipped above
//! `scan_limit` accounts). Prints one JSON line per engine: liquidations (and deleverages: none
//! while the fund can absorb, as here), accounts evaluated, steps per second, and the time from
//! the first crashing tick to the last liquidation (the engine's and the rules' time; sealing and proving are not in it, and the
//! batch shape's liquidation slots bound how many a batch carries). Figures: docs/PERFORMANCE.md.
//!
//! `cargo run --release -p zkperp-benches --bin liquidations -- [accounts] [scan_limit] [fund]`
//! (`fund`: the insurance fund's deposit in collateral units, 10^15 by default; a small one
//! makes the crash a deleveraging cascade)

use std::time::{Duration, Instant};

use serde_json::json;
use zkperp_core::cost_basis::CostBasis;
use zkperp_core::liquidation::{next_step, LiquidationIndex};
use zkperp_state::testkit::{btc, Fixture};
use zkperp_state::tx::Transaction;

/// A book of `accounts` traders (even), opened at 500,000 ticks, and its positions' entries.
fn book(accounts: usize, fund: u64) -> (Fixture, CostBasis) {
    let mut f = Fixture::with_depths(accounts, 24, 1);
    f.fund_deposit(fund);
    for t in 0..accounts {
        f.deposit(t, 1_000_000_000);
    }
    // 1,000,000,000 collateral units: 200 lots at 500,000 (10 units a lot-tick) is 1x.
    for pair in 0..accounts / 2 {
        let leverage_tenths = 10 + (pair * 85 / (accounts / 2).max(1)) as i128;
        let lots = 200 * leverage_tenths / 10;
        f.trade(2 * pair, 2 * pair + 1, btc(), lots, 500_000)
            .expect("within initial margin");
    }
    let entries = CostBasis::default().with(f.state.batch_txs());
    f.advance(60);
    (f, entries)
}

struct Run {
    liquidations: u64,
    deleverages: u64,
    evaluations: u64,
    engine: Duration,
    crash: Duration,
}

/// The crash, walked tick by tick; after each tick `step` is asked until it has nothing.
fn crash(f: &mut Fixture, mut step: impl FnMut(&Fixture) -> Option<Transaction>) -> Run {
    let started = Instant::now();
    let mut engine = Duration::ZERO;
    let (mut liquidations, mut deleverages) = (0u64, 0u64);
    let target = 350_000u64;
    loop {
        let mark = f.state.markets()[0].mark_price.get();
        if mark == target {
            break;
        }
        // One tick: its median is the target, the band takes the mark part of the way.
        let tx = f.oracle_tick_tx(btc(), [target - 1, target, target + 1]);
        f.apply(tx).expect("tick");
        loop {
            let t = Instant::now();
            let next = step(f);
            engine += t.elapsed();
            let Some(tx) = next else { break };
            f.state
                .apply(&tx)
                .expect("the engine proposes what the rules accept");
            match tx {
                Transaction::Deleverage(_) => deleverages += 1,
                _ => liquidations += 1,
            }
        }
    }
    Run {
        liquidations,
        deleverages,
        evaluations: 0,
        engine,
        crash: started.elapsed(),
    }
}

fn report(engine: &str, accounts: usize, run: &Run) {
    println!(
        "{}",
        json!({
            "engine": engine,
            "accounts": accounts,
            "liquidations": run.liquidations,
            "deleverages": run.deleverages,
            "evaluations": run.evaluations,
            "engine_secs": run.engine.as_secs_f64(),
            "mark_to_last_liquidation_secs": run.crash.as_secs_f64(),
            "steps_per_sec": (run.liquidations + run.deleverages) as f64 / run.crash.as_secs_f64(),
        })
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let scan_limit: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let fund: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000_000_000_000);
    let accounts = accounts.max(2) & !1;

    let (mut f, sealed) = book(accounts, fund);
    let mut index = LiquidationIndex::new();
    // Built before the crash, as the operator's is by the time a crash comes.
    index.sync(&f.state);
    let built = index.evaluations();
    let mut run = crash(&mut f, |f| index.next_step(&f.state, &sealed));
    run.evaluations = index.evaluations() - built;
    report("index", accounts, &run);

    if accounts <= scan_limit {
        let (mut f, sealed) = book(accounts, fund);
        let mut evaluations = 0u64;
        let mut run = crash(&mut f, |f| {
            evaluations += f.state.accounts().count() as u64;
            next_step(&f.state, &sealed.with(f.state.batch_txs()))
        });
        run.evaluations = evaluations;
        report("scan", accounts, &run);
    }
}
