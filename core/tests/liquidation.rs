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

/// A small deterministic generator (xorshift64*): the scenarios below are reproducible from
/// their seed without a dependency.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The index against the specification on random books: traders of every leverage long and
/// short in both markets, marks walking up and down (by the band, several ticks a move),
/// funding ticks, batches sealed with and without telling the index, and the engine's own
/// liquidations and deleverages applied as it proposes them. After every change the index
/// lists the accounts below maintenance that evaluating every account lists, riskiest first,
/// proposes the same transaction, and knows every account's current leaf; and over the run it
/// evaluates far fewer accounts than a scan after every change would.
#[test]
fn the_index_finds_what_evaluating_every_account_finds() {
    use zkperp_core::liquidation::{below_maintenance, LiquidationIndex};
    use zkperp_state::tx::FundingTick;
    use zkperp_state::units::FundingIndex;

    const TRADERS: usize = 24;
    let mut checks = 0u64;
    let (mut steps_applied, mut deleverages) = (0usize, 0usize);
    for seed in 1..=6u64 {
        let mut draw = Draw(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut f = Fixture::new(TRADERS);
        if draw.below(3) > 0 {
            f.fund_deposit(draw.below(2) * 2_000_000_000 + 1);
        }
        for t in 0..TRADERS {
            f.deposit(t, 200_000_000 + draw.below(2_000_000_000));
        }
        let mut index = LiquidationIndex::new();
        // The entry prices of the sealed batches' positions (the batcher keeps them so).
        let mut basis = CostBasis::default();
        let mut check = |f: &Fixture, index: &mut LiquidationIndex, basis: &CostBasis| {
            let entries = basis.with(f.state.batch_txs());
            assert_eq!(
                index.below_maintenance(&f.state),
                below_maintenance(&f.state),
                "seed {seed}: the same accounts, in the same order"
            );
            assert!(index.is_current(&f.state), "seed {seed}: every leaf seen");
            let proposed = index.next_step(&f.state, basis);
            assert_eq!(proposed, next_step(&f.state, &entries), "seed {seed}");
            checks += 1;
            proposed
        };
        let mut prices = [500_000u64, 3_000_000];
        for _ in 0..60 {
            match draw.below(6) {
                // Trades at the mark between two traders, of any size the rules accept.
                0..=2 => {
                    for _ in 0..4 {
                        let (a, b) = (draw.below(TRADERS as u64), draw.below(TRADERS as u64));
                        let m = draw.below(2) as usize;
                        let market = if m == 0 { btc() } else { eth() };
                        let size = 1 + draw.below(if m == 0 { 3_000 } else { 20_000 }) as i128;
                        if a != b {
                            let _ = f.trade(a as usize, b as usize, market, size, prices[m]);
                        }
                    }
                }
                // A mark move of up to 12% either way.
                3 | 4 => {
                    let m = draw.below(2) as usize;
                    let move_ppm = draw.below(300_000) as i64 - 150_000;
                    prices[m] = (prices[m] as i64 + prices[m] as i64 * move_ppm / 1_000_000)
                        .max(1_000) as u64;
                    f.set_price(if m == 0 { btc() } else { eth() }, prices[m]);
                }
                // A batch sealed (told to the index, or not: then it rebuilds), time passing,
                // and a funding tick as large as the cap allows for it.
                _ => {
                    if draw.below(3) > 0 {
                        index.sealing(&f.state);
                    }
                    basis.record_all(f.state.batch_txs());
                    f.advance(600);
                    let m = draw.below(2) as usize;
                    let market = if m == 0 { btc() } else { eth() };
                    let now = f.state.markets()[m].funding_index.get();
                    for delta in [200, 40, 8] {
                        let moved = now + delta * (draw.below(3) as i128 - 1);
                        let tick = Transaction::FundingTick(FundingTick {
                            market,
                            index: FundingIndex::new(moved).expect("index"),
                        });
                        if f.apply(tick).is_ok() {
                            break;
                        }
                    }
                }
            }
            while let Some(tx) = check(&f, &mut index, &basis) {
                f.state
                    .apply(&tx)
                    .expect("the engine only proposes what the rules accept");
                steps_applied += 1;
                deleverages += usize::from(matches!(tx, Transaction::Deleverage(_)));
            }
        }
    }
    assert!(steps_applied > 10, "the runs liquidate: {steps_applied}");
    assert!(
        deleverages > 3 && deleverages < steps_applied,
        "and deleverage where the fund cannot absorb: {deleverages} of {steps_applied}"
    );
    assert!(checks > 300);
}

/// A mark move looks again only at the accounts whose margin it could have taken below
/// maintenance: with 40 traders long at 2x and two at about 9.5x, a 6% fall evaluates only the
/// one it takes below (where a scan evaluates all 46). An account in one market is filed at
/// its exact liquidation mark; one in several, earlier (see `zkperp_core::liquidation`).
#[test]
fn a_mark_move_evaluates_only_the_accounts_it_could_have_crossed() {
    use zkperp_core::liquidation::LiquidationIndex;

    let mut f = Fixture::new(44);
    f.fund_deposit(10_000_000_000);
    for t in 0..42 {
        f.deposit(t, 1_000_000_000);
    }
    f.deposit(42, 20_000_000_000);
    f.deposit(43, 20_000_000_000);
    // BTC: 10 collateral units a lot-tick, 10% initial and 5% maintenance margin. 400 lots at
    // 500,000 on 1,000,000,000 is 2x; 1,900 lots 9.5x (below maintenance under 470,914) and
    // 1,850 lots 9.25x (under 469,418). The shorts hold 20x their margin's worth of slack.
    for t in 0..40 {
        f.trade(t, 42 + t % 2, btc(), 400, 500_000).expect("2x");
    }
    f.trade(40, 42, btc(), 1_900, 500_000).expect("9.5x");
    f.trade(41, 43, btc(), 1_850, 500_000).expect("9.25x");
    let mut index = LiquidationIndex::new();
    assert!(index.below_maintenance(&f.state).is_empty());
    let built = index.evaluations();
    assert_eq!(
        built, 46,
        "built once from every account, the fund's and the fees' too"
    );
    index.sealing(&f.state);
    f.advance(60);
    f.set_price(btc(), 470_000);
    let below = index.below_maintenance(&f.state);
    let looked_at = index.evaluations() - built;
    assert_eq!(
        below,
        [f.id(40)],
        "9.5x is below maintenance, 9.25x not yet"
    );
    assert_eq!(looked_at, 1, "the 9.5x long, and nobody else");
    assert_eq!(below, zkperp_core::liquidation::below_maintenance(&f.state));
    // Another 0.3% down takes the 9.25x long below: it alone is looked at (and the 9.5x one
    // again, below maintenance, as every mark moves it in the risk order).
    f.set_price(btc(), 469_000);
    let before = index.evaluations();
    assert_eq!(index.below_maintenance(&f.state), [f.id(40), f.id(41)]);
    assert_eq!(index.evaluations() - before, 2);
}
