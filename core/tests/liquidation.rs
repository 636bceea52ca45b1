//! The liquidation engine's policy on real states: liquidate into the fund while it can absorb,
//! deleverage the most profitable opposite positions when it cannot, until nobody is left below
//! maintenance.

use zkperp_core::cost_basis::CostBasis;
use zkperp_core::liquidation::next_step;
use zkperp_state::testkit::*;
use zkperp_state::tx::Transaction;
use zkperp_state::units::AccountId;

/// Runs the engine to completion; returns the transactions it applied.
fn run(f: &mut Fixture) -> Vec<Transaction> {
    let mut applied = Vec::new();
    // Every transaction of these tests is in the fixture's one open batch.
    let entries = |f: &Fixture| CostBasis::default().with(f.state.batch_txs());
    while let Some(tx) = next_step(&f.state, &entries(f)) {
        f.state
            .apply(&tx)
            .expect("the engine only proposes what the rules accept");
        applied.push(tx);
        assert!(applied.len() < 50, "the engine must make progress");
    }
    applied
}

#[test]
fn below_maintenance_goes_to_the_fund_with_the_full_penalty() {
    let mut f = Fixture::new(2);
    f.fund_deposit(10_000_000_000);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.trade(0, 1, btc(), 1_800, 500_000).expect("open");
    f.set_price(btc(), 475_000);
    assert!(run(&mut f).is_empty(), "nobody is below maintenance yet");
    f.set_price(btc(), 465_000);
    let (a, fund_before) = (f.id(0), f.total_value(AccountId::INSURANCE_FUND));
    let steps = run(&mut f);
    assert_eq!(steps.len(), 1);
    let penalty = 1_800 * 465_000 * 10 / 100;
    assert!(
        matches!(&steps[0], Transaction::Liquidation(l) if l.size.get() == 1_800 && l.fee.get() == penalty)
    );
    assert_eq!(f.position(a, btc()), 0);
    assert_eq!(
        f.total_value(AccountId::INSURANCE_FUND),
        fund_before + penalty
    );
    assert!(!f.is_liquidatable(a));
}

#[test]
fn an_exhausted_fund_means_deleveraging_the_most_profitable_opposite_positions() {
    let mut f = Fixture::new(4);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.deposit(2, 5_000_000_000);
    f.deposit(3, 1_000_000_000);
    // Trader 2 first makes money on a round trip through trader 3 (long 800 lots at 450,000,
    // closed at 500,000), so its account, deposit and gains, is worth far more than trader 1's.
    f.trade(2, 3, btc(), 800, 450_000)
        .expect("trader 2 buys low");
    f.trade(3, 2, btc(), 800, 500_000).expect("and sells high");
    f.trade(0, 1, btc(), 1_000, 500_000).expect("open");
    f.trade(0, 2, btc(), 800, 500_000).expect("open");
    f.set_price(btc(), 440_000); // trader 0: TV -80 USD, bankrupt; the fund is empty
    let (a, b, c) = (f.id(0), f.id(1), f.id(2));
    // Both shorts are 60,000 ticks a lot up; trader 1's is the larger position, so the more
    // profitable one (60 M lot-ticks against 48 M), however much more trader 2's account holds.
    assert!(f.total_value(c) > f.total_value(b));
    let steps = run(&mut f);
    match steps.as_slice() {
        [Transaction::Deleverage(first), Transaction::Deleverage(second)] => {
            assert_eq!(
                first.deleverager, b,
                "the most profitable opposite position goes first"
            );
            assert_eq!(first.size.get(), 1_000);
            assert_eq!(second.deleverager, c);
            assert_eq!(second.size.get(), 800);
        }
        other => panic!("expected two deleverages, got {other:?}"),
    }
    assert_eq!(f.position(a, btc()), 0);
    assert_eq!(
        f.collateral(a),
        0,
        "the whole deficit was covered, no dust left"
    );
    assert_eq!(f.total_collateral(), f.deposited);
    assert!(!f.is_liquidatable(b) && !f.is_liquidatable(c));
}
