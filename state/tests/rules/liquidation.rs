use zkperp_state::testkit::*;
use zkperp_state::tx::{Liquidation, LiquidationError, Transaction, TxError};
use zkperp_state::units::{AccountId, MarketId};

/// Trader 0: 1,000 USD, long 1,800 BTC lots bought at 500,000 ticks from trader 1.
pub fn leveraged_long(fund: u64) -> Fixture {
    let mut f = Fixture::new(2);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    if fund > 0 {
        f.fund_deposit(fund);
    }
    f.trade(0, 1, btc(), 1_800, 500_000).expect("open");
    f
}

pub fn liquidation(account: AccountId, size: i128, fee: i128) -> Transaction {
    Transaction::Liquidation(Liquidation {
        account,
        market: btc(),
        size: lots(size),
        fee: coll(fee),
    })
}

fn lerr(e: TxError) -> LiquidationError {
    match e {
        TxError::Liquidation(e) => e,
        other => panic!("expected a liquidation error, got {other:?}"),
    }
}

#[test]
fn only_accounts_below_maintenance_are_liquidated() {
    let mut f = leveraged_long(10_000_000_000);
    let a = f.id(0);
    f.set_price(btc(), 475_000); // TV 550 USD >= maintenance 427.5 USD
    assert_eq!(
        lerr(f.refuse(liquidation(a, 100, 0))),
        LiquidationError::NotLiquidatable
    );
    f.set_price(btc(), 465_000); // TV 370 USD < maintenance 418.5 USD
    assert!(f.is_liquidatable(a));
    f.apply(liquidation(a, 100, 0)).expect("liquidatable");
}

#[test]
fn positions_only_shrink_and_penalties_are_bounded() {
    let mut f = leveraged_long(10_000_000_000);
    let a = f.id(0);
    f.set_price(btc(), 465_000);
    assert_eq!(
        lerr(f.refuse(liquidation(a, 0, 0))),
        LiquidationError::BadSize
    );
    assert_eq!(
        lerr(f.refuse(liquidation(a, 1_801, 0))),
        LiquidationError::BadSize
    );
    assert_eq!(
        lerr(f.refuse(liquidation(a, 900, -1))),
        LiquidationError::BadFee
    );
    let closed = 900 * 465_000 * 10;
    assert_eq!(
        lerr(f.refuse(liquidation(a, 900, closed / 100 + 1))),
        LiquidationError::BadFee
    );
    assert_eq!(
        lerr(f.refuse(liquidation(AccountId::INSURANCE_FUND, 1, 0))),
        LiquidationError::InsuranceFund
    );
    let mut unknown = liquidation(a, 1, 0);
    if let Transaction::Liquidation(l) = &mut unknown {
        l.market = MarketId::new(5).expect("id");
    }
    assert_eq!(lerr(f.refuse(unknown)), LiquidationError::UnknownMarket);
    let (tv_before, fund_before) = (f.total_value(a), f.total_value(AccountId::INSURANCE_FUND));
    f.apply(liquidation(a, 900, closed / 100))
        .expect("half, with the full penalty");
    assert_eq!(f.position(a, btc()), 900);
    assert_eq!(
        f.position(AccountId::INSURANCE_FUND, btc()),
        900,
        "the fund took the other half"
    );
    assert_eq!(
        f.total_value(a),
        tv_before - closed / 100,
        "the transfer at mark is value-neutral"
    );
    assert_eq!(
        f.total_value(AccountId::INSURANCE_FUND),
        fund_before + closed / 100
    );
    assert_eq!(f.total_collateral(), f.deposited);
    assert_eq!(f.open_interest_balance(btc()), 0);
}

#[test]
fn the_fund_absorbs_a_bankrupt_remainder_while_it_can() {
    let mut f = leveraged_long(10_000_000_000);
    let a = f.id(0);
    f.set_price(btc(), 440_000); // TV = -80 USD
    assert_eq!(f.total_value(a), -80_000_000);
    assert_eq!(
        lerr(f.refuse(liquidation(a, 1_800, 1))),
        LiquidationError::BadFee,
        "no penalty from a bankrupt account"
    );
    let fund_before = f.total_value(AccountId::INSURANCE_FUND);
    f.apply(liquidation(a, 1_800, 0)).expect("close all");
    assert_eq!(f.collateral(a), 0);
    assert_eq!(f.position(a, btc()), 0);
    assert_eq!(
        f.total_value(AccountId::INSURANCE_FUND),
        fund_before - 80_000_000
    );
    assert_eq!(f.total_collateral(), f.deposited);
}

#[test]
fn an_exhausted_fund_refuses_and_deleveraging_takes_over() {
    let mut f = leveraged_long(0);
    let a = f.id(0);
    f.set_price(btc(), 440_000);
    assert_eq!(
        lerr(f.refuse(liquidation(a, 1_800, 0))),
        LiquidationError::FundExhausted
    );
}
