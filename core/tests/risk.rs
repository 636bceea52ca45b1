//! Pre-trade risk against real states built with the state machine (zkperp_state::testkit).

use proptest::prelude::*;
use zkperp_core::risk::{check_order, Exposure, OpenExposure, RiskError};
use zkperp_state::funding::settle_funding;
use zkperp_state::leaf::AccountLeaf;
use zkperp_state::margin::total_value;
use zkperp_state::market::{MarketParams, MarketState};
use zkperp_state::order::Side;
use zkperp_state::testkit::{btc, eth, Fixture};
use zkperp_state::units::PPM_ONE;

fn exposure_of(open: &[Exposure]) -> OpenExposure {
    let mut exposure = OpenExposure::default();
    for e in open {
        exposure.add(e);
    }
    exposure
}

fn check(f: &Fixture, trader: usize, open: &[Exposure], new: Exposure) -> Result<(), RiskError> {
    let leaf = &f.state.account(f.id(trader)).expect("account").leaf;
    let result = check_order(
        leaf,
        f.state.markets(),
        &f.state.config().markets,
        &exposure_of(open),
        &new,
    );
    assert_eq!(
        result,
        reference_check(
            leaf,
            f.state.markets(),
            &f.state.config().markets,
            open,
            &new
        ),
        "the aggregate check and the plain one disagree"
    );
    result
}

/// The rule written as plainly as possible, summing every open order: what the engine's
/// aggregate ([`OpenExposure`]) must agree with.
fn reference_check(
    leaf: &AccountLeaf,
    markets: &[MarketState],
    params: &[MarketParams],
    open: &[Exposure],
    new: &Exposure,
) -> Result<(), RiskError> {
    let mut leaf = leaf.clone();
    settle_funding(&mut leaf, markets).map_err(|e| RiskError::Width(e.to_string()))?;
    // The position if every open order on the new one's side and it filled: within the limit,
    // unless that only brings it closer to zero.
    let held = leaf.positions.get(new.market).map_or(0, |p| p.size.get());
    let mut reached = held;
    for e in open.iter().chain(std::iter::once(new)) {
        if e.market == new.market && e.side == new.side {
            reached += new.side.sign() * i128::from(e.size);
        }
    }
    let max = params.get(new.market).map_or(0, |p| p.max_position_lots);
    if reached.abs() > i128::from(max) && reached.abs() > held.abs() {
        return Err(RiskError::PositionLimit {
            worst_lots: reached.unsigned_abs() as u64,
            max_lots: max,
        });
    }
    let mut worst_value = total_value(leaf.collateral, &leaf.positions, markets, params);
    let mut buys = vec![0i128; markets.len()];
    let mut sells = vec![0i128; markets.len()];
    for e in open.iter().chain(std::iter::once(new)) {
        let (Some(m), Some(c)) = (markets.get(e.market), params.get(e.market)) else {
            continue;
        };
        let mark = i128::from(m.mark_price.get());
        let (size, price) = (i128::from(e.size), i128::from(e.price));
        let loss_per_lot = match e.side {
            Side::Buy => price - mark,
            Side::Sell => mark - price,
        };
        worst_value -= loss_per_lot.max(0) * size * i128::from(c.tick_value.get());
        match e.side {
            Side::Buy => buys[e.market] += size,
            Side::Sell => sells[e.market] += size,
        }
    }
    let mut required_ppm = 0i128;
    for (m, ((p, s), c)) in leaf.positions.iter().zip(markets).zip(params).enumerate() {
        let position = p.size.get();
        let worst = (position + buys[m]).abs().max((position - sells[m]).abs());
        let notional = worst * i128::from(s.mark_price.get()) * i128::from(c.tick_value.get());
        // The highest margin tier the worst position reaches, else the base fraction.
        let lots = worst as u64;
        let fraction = c
            .margin_tiers
            .iter()
            .rev()
            .find(|t| t.from_lots <= lots)
            .map_or(c.initial_margin, |t| t.initial_margin);
        required_ppm += notional * i128::from(fraction.get());
    }
    if worst_value * i128::from(PPM_ONE) >= required_ppm {
        return Ok(());
    }
    let position = leaf.positions.get(new.market).map_or(0, |p| p.size.get());
    let same_side: i128 = open
        .iter()
        .filter(|e| e.market == new.market && e.side == new.side)
        .map(|e| i128::from(e.size))
        .sum();
    let shrinks = match new.side {
        Side::Buy => position < 0,
        Side::Sell => position > 0,
    };
    if shrinks && same_side + i128::from(new.size) <= position.abs() {
        return Ok(());
    }
    let one = i128::from(PPM_ONE);
    Err(RiskError::InsufficientMargin {
        worst_value,
        required: (required_ppm + one - 1) / one,
    })
}

fn buy(market: usize, size: u64, price: u64) -> Exposure {
    Exposure {
        market,
        side: Side::Buy,
        size,
        price,
    }
}

fn sell(market: usize, size: u64, price: u64) -> Exposure {
    Exposure {
        market,
        side: Side::Sell,
        size,
        price,
    }
}

#[test]
fn orders_up_to_initial_margin_pass_and_one_lot_more_is_refused_with_the_numbers() {
    let mut f = Fixture::new(1);
    f.deposit(0, 1_000_000_000); // 1,000 USD: 2,000 BTC lots at 5 USD and 10% initial margin
    let b = btc().index();
    assert_eq!(check(&f, 0, &[], buy(b, 2_000, 500_000)), Ok(()));
    assert_eq!(
        check(&f, 0, &[], buy(b, 2_001, 500_000)),
        Err(RiskError::InsufficientMargin {
            worst_value: 1_000_000_000,
            required: 1_000_500_000
        })
    );
    // Open orders count: 1,500 resting leaves room for 500 more, on either side.
    let open = [buy(b, 1_500, 500_000)];
    assert_eq!(check(&f, 0, &open, buy(b, 500, 500_000)), Ok(()));
    assert!(check(&f, 0, &open, buy(b, 501, 500_000)).is_err());
    assert_eq!(
        check(&f, 0, &open, sell(b, 2_000, 500_000)),
        Ok(()),
        "the sides do not add up"
    );
    // Another market's orders use the same collateral.
    let e = eth().index();
    assert!(check(&f, 0, &open, buy(e, 1_000, 3_000_000)).is_err());
}

#[test]
fn a_limit_worse_than_the_mark_costs_its_difference() {
    let mut f = Fixture::new(1);
    f.deposit(0, 1_000_000_000);
    let b = btc().index();
    // Buying 1,000 lots 10% above the mark loses 500 USD at once: 500 USD left for 500 USD of
    // initial margin. One tick more is refused.
    assert_eq!(check(&f, 0, &[], buy(b, 1_000, 550_000)), Ok(()));
    assert!(check(&f, 0, &[], buy(b, 1_000, 550_001)).is_err());
    // A limit better than the mark earns nothing in advance.
    assert!(check(&f, 0, &[], buy(b, 2_001, 400_000)).is_err());
}

#[test]
fn an_account_below_margin_may_still_place_orders_that_close() {
    let mut f = Fixture::new(2);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 100_000_000_000);
    f.trade(0, 1, btc(), 2_000, 500_000).expect("full leverage");
    f.set_price(btc(), 480_000); // below initial margin now
    let b = btc().index();
    assert!(
        check(&f, 0, &[], buy(b, 1, 480_000)).is_err(),
        "adding is refused"
    );
    assert_eq!(
        check(&f, 0, &[], sell(b, 500, 480_000)),
        Ok(()),
        "closing is allowed"
    );
    assert_eq!(
        check(&f, 0, &[sell(b, 1_500, 480_000)], sell(b, 500, 480_000)),
        Ok(()),
        "up to the whole position"
    );
    assert!(
        check(&f, 0, &[sell(b, 1_500, 480_000)], sell(b, 501, 480_000)).is_err(),
        "beyond it flips"
    );
    assert!(
        check(&f, 0, &[], sell(b, 4_000, 480_000)).is_err(),
        "flipping is refused"
    );
}

#[test]
fn no_order_may_take_a_position_past_the_limit_if_its_side_filled() {
    let mut f = Fixture::configured(2, |c| c.markets[0].max_position_lots = 100);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    let b = btc().index();
    assert_eq!(check(&f, 0, &[], buy(b, 100, 500_000)), Ok(()));
    let past = RiskError::PositionLimit {
        worst_lots: 101,
        max_lots: 100,
    };
    assert_eq!(check(&f, 0, &[], buy(b, 101, 500_000)), Err(past.clone()));
    // Open orders on the same side count; the other side's do not.
    assert_eq!(
        check(&f, 0, &[buy(b, 60, 500_000)], buy(b, 41, 500_000)),
        Err(past.clone())
    );
    assert_eq!(
        check(&f, 0, &[sell(b, 100, 500_000)], buy(b, 100, 500_000)),
        Ok(())
    );
    // From a long of 80: selling 180 reaches short 100; 181 is past it; buying 21 is too.
    f.trade(0, 1, btc(), 80, 500_000).expect("long 80");
    assert_eq!(check(&f, 0, &[], sell(b, 180, 500_000)), Ok(()));
    assert!(matches!(
        check(&f, 0, &[], sell(b, 181, 500_000)),
        Err(RiskError::PositionLimit {
            worst_lots: 101,
            ..
        })
    ));
    assert_eq!(check(&f, 0, &[], buy(b, 21, 500_000)), Err(past));
    // The other market keeps its own limit.
    assert_eq!(
        check(&f, 0, &[], buy(eth().index(), 101, 3_000_000)),
        Ok(())
    );
}

fn exposure() -> impl Strategy<Value = Exposure> {
    (0usize..2, any::<bool>(), 1u64..400, 490_000u64..510_000).prop_map(
        |(market, buy, size, price)| Exposure {
            market,
            side: if buy { Side::Buy } else { Side::Sell },
            size,
            // ETH's mark is 3,000,000 ticks: move its orders around it too.
            price: if market == 1 { price * 6 } else { price },
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The aggregate the engine keeps gives the plain rule's answer, with some orders taken
    /// away again (filled or cancelled) after they were added, against an account with
    /// positions on both markets.
    #[test]
    fn the_aggregate_check_is_the_plain_rule(
        open in proptest::collection::vec(exposure(), 0..40),
        gone in proptest::collection::vec(any::<bool>(), 40),
        new in exposure(),
        deposit in 1u64..4_000,
    ) {
        let mut f = Fixture::new(2);
        f.deposit(0, deposit * 1_000_000);
        f.deposit(1, 1_000_000_000_000);
        let b = f.order(0, btc(), Side::Buy, 300, 500_000);
        let s = f.order(1, btc(), Side::Sell, 300, 500_000);
        let _ = f.apply(zkperp_state::testkit::Fixture::trade_tx_with_fees(s, b, 300, 500_000, 0, 0));
        let leaf = f.state.account(f.id(0)).expect("account").leaf.clone();
        let mut exposure = exposure_of(&open);
        let mut kept = Vec::new();
        for (e, gone) in open.iter().zip(&gone) {
            if *gone {
                exposure.remove(e);
            } else {
                kept.push(*e);
            }
        }
        let (markets, params) = (f.state.markets(), &f.state.config().markets);
        prop_assert_eq!(
            check_order(&leaf, markets, params, &exposure, &new),
            reference_check(&leaf, markets, params, &kept, &new)
        );
    }
}
