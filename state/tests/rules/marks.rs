//! Stale marks: a margin check reads the mark of every market the account holds, and refuses
//! one older than the market's `max_mark_age_secs` (a day in the fixture); a forced
//! withdrawal is served on whatever mark there is.

use zkperp_state::margin::StaleMark;
use zkperp_state::pubdata::PubData;
use zkperp_state::testkit::*;
use zkperp_state::tx::{
    Deleverage, DeleverageError, ForcedWithdrawal, L1ForcedWithdrawal, Liquidation,
    LiquidationError, Role, TradeError, Transaction, TxError, WithdrawalError,
};
use zkperp_state::units::MarketId;

use crate::liquidation::leveraged_long;

const DAY: u64 = 86_400;

fn stale(market: MarketId, age: u64) -> StaleMark {
    StaleMark {
        market,
        age,
        max: DAY,
    }
}

/// A fresh tick of `market` at the current time, at `price`.
fn tick(f: &mut Fixture, market: MarketId, price: u64) {
    let tx = f.oracle_tick_tx(market, [price, price, price]);
    f.apply(tx).expect("tick");
}

#[test]
fn trades_and_withdrawals_refuse_a_stale_mark_of_a_market_the_account_holds() {
    let mut f = Fixture::new(3);
    for t in 0..3 {
        f.deposit(t, 1_000_000_000);
    }
    f.trade(0, 1, btc(), 10, 500_000).expect("fresh marks");
    // A day and a second later, no tick has come: every mark is too old.
    f.advance(DAY + 1);
    let buy = f.order(0, btc(), zkperp_state::order::Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), zkperp_state::order::Side::Sell, 10, 500_000);
    assert_eq!(
        f.refuse(Fixture::trade_tx(buy, sell, 10, 500_000)),
        TxError::Trade(TradeError::StaleMark(Role::Maker, stale(btc(), DAY + 1)))
    );
    // The age is the mark's, not the batch's: one second inside the bound passes below.
    assert_eq!(
        f.refuse(f.withdrawal_tx(0, 1)),
        TxError::Withdrawal(WithdrawalError::StaleMark(stale(btc(), DAY + 1)))
    );
    // An account that holds nothing reads no mark: it withdraws.
    f.apply(f.withdrawal_tx(2, 1))
        .expect("no position, no mark read");
    // A fresh BTC mark: BTC trades and withdrawals go on while ETH's mark stays stale.
    tick(&mut f, btc(), 500_000);
    f.trade(0, 1, btc(), 5, 500_000).expect("a fresh BTC mark");
    f.apply(f.withdrawal_tx(0, 1)).expect("holds only BTC");
    // Opening an ETH position reads the stale ETH mark.
    let buy = f.order(0, eth(), zkperp_state::order::Side::Buy, 10, 3_000_000);
    let sell = f.order(2, eth(), zkperp_state::order::Side::Sell, 10, 3_000_000);
    assert_eq!(
        f.refuse(Fixture::trade_tx(buy, sell, 10, 3_000_000)),
        TxError::Trade(TradeError::StaleMark(Role::Maker, stale(eth(), DAY + 1)))
    );
}

#[test]
fn a_mark_exactly_at_the_maximum_age_is_still_used() {
    let mut f = Fixture::new(2);
    for t in 0..2 {
        f.deposit(t, 1_000_000_000);
    }
    f.trade(0, 1, btc(), 10, 500_000).expect("fresh");
    f.advance(DAY);
    f.apply(f.withdrawal_tx(0, 1)).expect("exactly a day old");
}

#[test]
fn liquidations_and_deleverages_wait_for_a_fresh_mark() {
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    f.set_price(btc(), 440_000); // a bankrupt, the empty fund cannot absorb it
    f.advance(DAY + 1);
    let liquidation = Transaction::Liquidation(Liquidation {
        account: a,
        market: btc(),
        size: lots(100),
        fee: coll(0),
    });
    assert_eq!(
        f.refuse(liquidation.clone()),
        TxError::Liquidation(LiquidationError::StaleMark(stale(btc(), DAY + 1)))
    );
    let deleverage = Transaction::Deleverage(Deleverage {
        deleveraged: a,
        deleverager: b,
        market: btc(),
        size: lots(900),
    });
    assert_eq!(
        f.refuse(deleverage.clone()),
        TxError::Deleverage(DeleverageError::StaleMark(stale(btc(), DAY + 1)))
    );
    tick(&mut f, btc(), 440_000);
    f.apply(deleverage).expect("a fresh mark");
}

#[test]
fn a_forced_withdrawal_is_served_on_a_stale_mark() {
    let mut f = Fixture::new(2);
    for t in 0..2 {
        f.deposit(t, 1_000_000_000);
    }
    f.trade(0, 1, btc(), 10, 500_000).expect("fresh");
    f.advance(DAY + 1);
    let (a, owner) = (f.id(0), f.traders[0].l1);
    let receipt = f
        .apply(Transaction::ForcedWithdrawal(ForcedWithdrawal {
            request: L1ForcedWithdrawal {
                index: 0,
                account: a,
                requester: owner,
                amount: amount(1_000_000),
            },
        }))
        .expect("answered");
    assert!(
        matches!(receipt.pubdata.as_slice(), [PubData::ForcedWithdrawal(zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord { paid, .. })] if paid.get() == 1_000_000),
        "served: the operator chooses which ticks enter a batch, so a stale mark is no ground"
    );
}
