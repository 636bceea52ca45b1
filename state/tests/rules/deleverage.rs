use crate::liquidation::leveraged_long;
use zkperp_state::testkit::*;
use zkperp_state::tx::{Deleverage, DeleverageError, Transaction, TxError};
use zkperp_state::units::AccountId;

fn deleverage(deleveraged: AccountId, deleverager: AccountId, size: i128) -> Transaction {
    Transaction::Deleverage(Deleverage {
        deleveraged,
        deleverager,
        market: btc(),
        size: lots(size),
    })
}

fn derr(e: TxError) -> DeleverageError {
    match e {
        TxError::Deleverage(e) => e,
        other => panic!("expected a deleverage error, got {other:?}"),
    }
}

#[test]
fn a_bankrupt_account_is_closed_against_a_profitable_one_at_the_bankruptcy_price() {
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    f.set_price(btc(), 440_000); // a: TV -80 USD, collateral -8,000 USD; b: TV 2,080 USD
                                 // Half the position carries half the deficit: a sells 900 lots for their 3,960 USD at the
                                 // mark plus 40 USD.
    f.apply(deleverage(a, b, 900)).expect("half");
    assert_eq!(f.position(a, btc()), 900);
    assert_eq!(f.position(b, btc()), -900);
    assert_eq!(f.collateral(a), -8_000_000_000 + 3_960_000_000 + 40_000_000);
    assert_eq!(f.total_value(a), -40_000_000, "half the deficit left");
    // The rest at the bankruptcy price leaves a at exactly zero.
    f.apply(deleverage(a, b, 900)).expect("rest");
    assert_eq!(f.collateral(a), 0);
    assert_eq!(f.position(a, btc()), 0);
    assert_eq!(
        f.collateral(b),
        2_000_000_000,
        "b kept its profit less the 80 USD deficit"
    );
    assert_eq!(f.total_collateral(), f.deposited);
    assert_eq!(f.open_interest_balance(btc()), 0);
}

/// The price is the rule's: a 1-lot deleverage carries exactly one lot's share of the deficit
/// (80 USD / 1,800 lots, rounded down against the bankrupt account), so the operator cannot
/// make one counterparty pay the whole deficit for a single lot; and the steps add up to the
/// whole deficit whatever their sizes.
#[test]
fn each_lot_carries_its_share_of_the_deficit_whatever_the_steps() {
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    f.set_price(btc(), 440_000);
    let before_b = f.total_value(b);
    f.apply(deleverage(a, b, 1)).expect("one lot");
    let one_lot_share = 80_000_000 / 1_800; // 44,444 units, rounded down
    assert_eq!(f.total_value(a), -80_000_000 + one_lot_share);
    assert_eq!(
        f.total_value(b),
        before_b - one_lot_share,
        "b pays one lot's share"
    );
    for step in [7, 100, 1, 692, 999] {
        f.apply(deleverage(a, b, step)).expect("a step");
        assert!(
            f.total_value(a) <= 0,
            "never made solvent by more than its deficit"
        );
    }
    assert_eq!(f.position(a, btc()), 0);
    assert_eq!(
        f.total_value(a),
        0,
        "the last step carries what is left, exactly"
    );
    assert_eq!(f.total_value(b), before_b - 80_000_000);
}

/// A bankrupt account with positions in two markets: the deficit is shared in proportion to
/// the positions' notional, so closing one market's position carries that market's part only.
#[test]
fn the_deficit_is_shared_across_markets_by_notional() {
    use zkperp_state::tx::deleverage::{deficit_share, total_notional};
    let mut f = Fixture::new(2);
    let (a, b) = (f.deposit(0, 1_200_000_000), f.deposit(1, 10_000_000_000));
    f.trade(0, 1, btc(), 500, 500_000).expect("BTC long"); // 2,500 USD
    f.trade(0, 1, eth(), 1_000, 3_000_000).expect("ETH long"); // 3,000 USD
    f.set_price(btc(), 400_000); // -500 USD
    f.set_price(eth(), 2_200_000); // -800 USD: TV -100 USD
    let tv = f.total_value(a);
    assert_eq!(tv, -100_000_000);
    let leaf = f.state.account(a).expect("a").leaf.clone();
    let all = total_notional(
        &leaf.positions,
        f.state.markets(),
        &f.state.config().markets,
    );
    assert_eq!(all, 2_000_000_000 + 2_200_000_000);
    let btc_value = 2_000_000_000;
    let expected = deficit_share(-tv, btc_value, all).expect("share");
    assert_eq!(
        expected, 47_619_047,
        "100 USD * 2,000 / 4,200, rounded down"
    );
    let before = f.total_value(a);
    f.apply(Transaction::Deleverage(Deleverage {
        deleveraged: a,
        deleverager: b,
        market: btc(),
        size: lots(500),
    }))
    .expect("the BTC position");
    assert_eq!(
        f.total_value(a),
        before + expected,
        "BTC's part of the deficit only"
    );
    assert!(
        f.total_value(a) < 0,
        "ETH's part is left for ETH's counterparties"
    );
}

#[test]
fn only_bankrupt_accounts_the_fund_cannot_absorb_are_deleveraged() {
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    f.set_price(btc(), 465_000); // liquidatable but not bankrupt
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 100))),
        DeleverageError::NotBankrupt
    );
    let mut g = leveraged_long(10_000_000_000);
    let (a2, b2) = (g.id(0), g.id(1));
    g.set_price(btc(), 440_000);
    assert_eq!(
        derr(g.refuse(deleverage(a2, b2, 1_800))),
        DeleverageError::FundCanAbsorb
    );
}

#[test]
fn sides_must_be_distinct_opposite_and_large_enough() {
    let mut f = leveraged_long(0);
    f.traders.push(f.traders[0].clone());
    f.traders[2].key = zkperp_state::eddsa::PrivateKey::from_bytes([3; 32]);
    f.traders[2].l1 = zkperp_state::units::L1Address([3; 20]);
    f.traders[2].id = None;
    f.deposit(2, 1_000_000_000);
    f.trade(2, 1, btc(), 100, 500_000).expect("another long");
    let (a, b, c) = (f.id(0), f.id(1), f.id(2));
    f.set_price(btc(), 440_000);
    assert_eq!(
        derr(f.refuse(deleverage(a, a, 1))),
        DeleverageError::SameAccount
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, AccountId::INSURANCE_FUND, 1))),
        DeleverageError::InsuranceFund
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, c, 10))),
        DeleverageError::BadSize,
        "c is long too"
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 1_801))),
        DeleverageError::BadSize
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 0))),
        DeleverageError::BadSize
    );
    f.apply(deleverage(a, b, 1_800)).expect("valid");
}

/// The fund-can-absorb test is the exact complement of the liquidation's `FundExhausted`: for
/// every size of fund, a bankrupt account's position is either liquidated into the fund or
/// deleveraged, never both and never neither. (The fund must also carry the position's
/// maintenance risk, 396 USD here, not just the 80 USD deficit: funds between 80 and 476 USD
/// once left the account stuck.)
#[test]
fn every_bankrupt_position_can_be_liquidated_or_deleveraged_but_not_both() {
    use zkperp_state::tx::{Liquidation, LiquidationError};
    for fund_usd in [0u64, 79, 80, 81, 200, 395, 475, 476, 477, 600, 10_000] {
        let mut f = leveraged_long(fund_usd * 1_000_000);
        let (a, b) = (f.id(0), f.id(1));
        f.set_price(btc(), 440_000); // a: TV -80 USD; its position's maintenance risk 396 USD
        let liquidation = Transaction::Liquidation(Liquidation {
            account: a,
            market: btc(),
            size: lots(1_800),
            fee: coll(0),
        });
        let liquidated = f.state.check(&liquidation);
        let deleveraged = f.state.check(&deleverage(a, b, 1_800));
        match (&liquidated, &deleveraged) {
            (Ok(()), Err(TxError::Deleverage(DeleverageError::FundCanAbsorb))) => {
                assert!(fund_usd >= 476, "fund {fund_usd} USD")
            }
            (Err(TxError::Liquidation(LiquidationError::FundExhausted)), Ok(())) => {
                assert!(fund_usd < 476, "fund {fund_usd} USD")
            }
            other => panic!("fund {fund_usd} USD: {other:?}"),
        }
    }
}
