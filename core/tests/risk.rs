//! Pre-trade risk against real states built with the state machine (zkperp_state::testkit).

use zkperp_core::risk::{check_order, Exposure, RiskError};
use zkperp_state::order::Side;
use zkperp_state::testkit::{btc, eth, Fixture};

fn check(f: &Fixture, trader: usize, open: &[Exposure], new: Exposure) -> Result<(), RiskError> {
    let leaf = &f.state.account(f.id(trader)).expect("account").leaf;
    check_order(
        leaf,
        f.state.markets(),
        &f.state.config().markets,
        open,
        &new,
    )
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
