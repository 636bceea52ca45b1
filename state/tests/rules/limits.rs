//! A market's risk limits (`zkperp_state::limits`): no trade, signed or forced, leaves a party's
//! position above the market's position limit or the market's open interest above its cap; a
//! trade that closes always passes; the open interest is the sum of longs after every kind of
//! position change. And its margin tiers (`MarketParams::margin_tiers`): a large position's
//! initial and maintenance requirements are its tier's fractions of its whole notional.

use zkperp_state::limits::{OpenInterestCap, PositionLimit};
use zkperp_state::market::MarginTier;
use zkperp_state::order::Side;
use zkperp_state::pubdata::PubData;
use zkperp_state::state::StateConfig;
use zkperp_state::testkit::*;
use zkperp_state::tx::trade::Role;
use zkperp_state::tx::{Liquidation, TradeError, Transaction, TxError};
use zkperp_state::units::{BaseLots, Collateral, MarketId, Ppm};

/// `traders` funded with 1,000 USD each; BTC limited to 100 lots a position and `cap` lots of
/// open interest.
fn limited(traders: usize, cap: u64) -> Fixture {
    let mut f = Fixture::configured(traders, |c| {
        c.markets[0].max_position_lots = 100;
        c.markets[0].open_interest_cap_lots = cap;
    });
    for t in 0..traders {
        f.deposit(t, 1_000_000_000);
    }
    f
}

fn interest(f: &Fixture, market: MarketId) -> i128 {
    let recorded = i128::from(f.state.markets()[market.index()].open_interest);
    assert_eq!(
        recorded,
        f.longs(market),
        "open interest is the sum of longs"
    );
    recorded
}

fn trade_err(e: TxError) -> TradeError {
    match e {
        TxError::Trade(e) => e,
        other => panic!("expected a trade error, got {other:?}"),
    }
}

#[test]
fn no_trade_takes_a_position_past_the_limit_and_closing_always_passes() {
    let mut f = limited(3, 1_000);
    f.trade(0, 1, btc(), 100, 500_000)
        .expect("exactly the limit");
    // One more lot for the buyer (the maker)...
    let before = f.clear();
    let e = trade_err(
        f.trade(0, 2, btc(), 1, 500_000)
            .expect_err("past the limit"),
    );
    assert_eq!(
        e,
        TradeError::PositionLimit(
            Role::Maker,
            PositionLimit {
                lots: 101,
                max: 100
            }
        )
    );
    // ...or for the seller (the taker), short past it.
    let e = trade_err(
        f.trade(2, 1, btc(), 1, 500_000)
            .expect_err("past the limit"),
    );
    assert_eq!(
        e,
        TradeError::PositionLimit(
            Role::Taker,
            PositionLimit {
                lots: 101,
                max: 100
            }
        )
    );
    assert_eq!(f.clear(), before, "a refusal changes nothing");
    // Closing, and flipping to the limit on the other side, pass.
    f.trade(2, 0, btc(), 60, 500_000).expect("closing");
    f.trade(1, 0, btc(), 140, 500_000)
        .expect("long 40 to short 100, and short 100 to long 40");
    assert_eq!(f.position(f.id(0), btc()), -100);
    assert_eq!(f.position(f.id(1), btc()), 40);
    // The other market keeps its own (built-in) limit.
    f.trade(0, 1, eth(), 101, 3_000_000)
        .expect("ETH is not limited to 100 lots");
}

#[test]
fn open_interest_is_the_sum_of_longs_and_no_trade_leaves_it_above_the_cap() {
    let mut f = limited(5, 150);
    f.trade(0, 1, btc(), 100, 500_000).expect("opens 100");
    assert_eq!(interest(&f, btc()), 100);
    let e = trade_err(f.trade(2, 3, btc(), 60, 500_000).expect_err("160 > 150"));
    assert_eq!(
        e,
        TradeError::OpenInterestCap(OpenInterestCap {
            lots: 160,
            cap: 150
        })
    );
    assert_eq!(interest(&f, btc()), 100, "a refusal moves nothing");
    f.trade(2, 3, btc(), 50, 500_000).expect("exactly the cap");
    assert_eq!(interest(&f, btc()), 150);
    // At the cap: a trade that only moves interest between accounts passes (the short 1 buys
    // back 10 lots from a new short), and one that closes lowers it.
    f.trade(1, 4, btc(), 10, 500_000)
        .expect("interest unchanged at the cap");
    assert_eq!(interest(&f, btc()), 150);
    f.trade(3, 0, btc(), 30, 500_000)
        .expect("a long sells to a short: both close");
    assert_eq!(interest(&f, btc()), 120);
    // A long flipping short against a short flipping long changes it by the difference.
    f.trade(3, 2, btc(), 90, 500_000)
        .expect("short 20 to long 70; long 50 to short 40");
    assert_eq!(interest(&f, btc()), 140);
}

#[test]
fn a_forced_trade_past_a_limit_is_refused_and_one_within_moves_the_interest() {
    let mut f = limited(4, 150);
    let served = |f: &mut Fixture, tx: Transaction| {
        let receipt = f.apply(tx).expect("a forced request is always answered");
        match receipt.pubdata.as_slice() {
            [PubData::ForcedTrade(record)] => record.served,
            other => panic!("unexpected public data {other:?}"),
        }
    };
    let tx = f.forced_trade_tx(0, (0, 1), btc(), Side::Buy, 101, 500_000);
    assert!(!served(&mut f, tx), "A past the position limit");
    let tx = f.forced_trade_tx(1, (1, 0), btc(), Side::Buy, 101, 500_000);
    assert!(!served(&mut f, tx), "B past the position limit");
    let tx = f.forced_trade_tx(2, (0, 1), btc(), Side::Buy, 100, 500_000);
    assert!(served(&mut f, tx));
    assert_eq!(interest(&f, btc()), 100);
    let tx = f.forced_trade_tx(3, (2, 3), btc(), Side::Buy, 51, 500_000);
    assert!(!served(&mut f, tx), "past the open interest cap");
    assert_eq!(interest(&f, btc()), 100);
    let tx = f.forced_trade_tx(4, (2, 3), btc(), Side::Buy, 50, 500_000);
    assert!(served(&mut f, tx));
    assert_eq!(interest(&f, btc()), 150);
    // At the cap, closing is still served.
    let tx = f.forced_trade_tx(5, (0, 1), btc(), Side::Sell, 100, 500_000);
    assert!(served(&mut f, tx));
    assert_eq!(interest(&f, btc()), 50);
}

#[test]
fn a_liquidation_moves_the_interest_to_the_fund_without_a_limit() {
    // The fund may take a position beyond the per-account limit: it never trades.
    let mut f = limited(3, 1_000);
    f.fund_deposit(100_000_000_000);
    f.trade(0, 1, btc(), 100, 500_000).expect("open");
    // Trader 1, short 100 lots (500 USD) on 1,000 USD, loses 950 USD as BTC nearly triples.
    f.set_price(btc(), 1_450_000);
    assert!(f.is_liquidatable(f.id(1)));
    let tx = Transaction::Liquidation(Liquidation {
        account: f.id(1),
        market: btc(),
        size: BaseLots::new(100).expect("lots"),
        fee: Collateral::ZERO,
    });
    f.apply(tx).expect("the fund takes the short");
    assert_eq!(f.position(f.id(1), btc()), 0);
    assert_eq!(
        interest(&f, btc()),
        100,
        "the long is still open against the fund"
    );
}

/// BTC with one margin tier from 1,000 lots (5,000 USD at the mark): 20% initial, 10%
/// maintenance, twice the base fractions; no tier at all with `tiers` false.
fn tiered(tiers: bool) -> Fixture {
    let mut f = Fixture::configured(3, |c: &mut StateConfig| {
        c.markets[0].margin_tiers = if tiers {
            vec![MarginTier {
                from_lots: 1_000,
                initial_margin: Ppm::new(200_000).expect("ppm"),
                maintenance_margin: Ppm::new(100_000).expect("ppm"),
            }]
        } else {
            Vec::new()
        };
    });
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 100_000_000_000);
    f.deposit(2, 100_000_000_000);
    f.fund_deposit(10_000_000_000);
    f
}

#[test]
fn a_position_in_a_margin_tier_needs_the_tier_fraction_of_its_whole_notional() {
    // 1,000 USD: below the tier 10% carries 1,999 lots; from 1,000 lots 20% carries 1,000.
    let mut f = tiered(true);
    f.trade(0, 1, btc(), 999, 500_000)
        .expect("999 lots: 499.5 USD at 10%");
    let e = trade_err(
        f.trade(0, 1, btc(), 2, 500_000)
            .expect_err("1,001 lots at 20%"),
    );
    assert!(matches!(e, TradeError::Margin(Role::Maker, _)), "{e:?}");
    f.trade(0, 1, btc(), 1, 500_000)
        .expect("1,000 lots: exactly 1,000 USD at 20%");
    let mut g = tiered(false);
    g.trade(0, 1, btc(), 1_999, 500_000)
        .expect("without the tier, 10% throughout");
}

#[test]
fn a_position_in_a_margin_tier_is_liquidated_on_the_tier_maintenance() {
    // Long 1,000 lots on 1,000 USD. At 440,000 ticks it has lost 600 USD: 400 USD of value
    // against 440 USD at the tier's 10% (220 USD at the base 5%).
    for (tiers, liquidatable) in [(true, true), (false, false)] {
        let mut f = tiered(tiers);
        f.trade(0, 1, btc(), 1_000, 500_000).expect("open");
        f.set_price(btc(), 440_000);
        assert_eq!(f.is_liquidatable(f.id(0)), liquidatable, "tiers {tiers}");
        let tx = Transaction::Liquidation(Liquidation {
            account: f.id(0),
            market: btc(),
            size: BaseLots::new(1).expect("lots"),
            fee: Collateral::ZERO,
        });
        let result = f.apply(tx);
        assert_eq!(result.is_ok(), liquidatable, "tiers {tiers}: {result:?}");
    }
}
