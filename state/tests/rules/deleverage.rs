use crate::liquidation::leveraged_long;
use zkperp_state::testkit::*;
use zkperp_state::tx::{Deleverage, DeleverageError, Transaction, TxError};
use zkperp_state::units::AccountId;

fn deleverage(
    deleveraged: AccountId,
    deleverager: AccountId,
    size: i128,
    quote: i128,
) -> Transaction {
    Transaction::Deleverage(Deleverage {
        deleveraged,
        deleverager,
        market: btc(),
        size: lots(size),
        quote: coll(quote),
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
                                 // Half: a's deficit halves (quote = 8,000 - 3,960 - 40 USD).
    f.apply(deleverage(a, b, 900, 4_000_000_000)).expect("half");
    assert_eq!(f.position(a, btc()), 900);
    assert_eq!(f.position(b, btc()), -900);
    // The rest at the bankruptcy price leaves a at exactly zero.
    f.apply(deleverage(a, b, 900, 3_960_000_000 + 40_000_000))
        .expect("rest");
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

#[test]
fn quotes_outside_the_bankruptcy_bounds_are_refused() {
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    f.set_price(btc(), 440_000);
    // More than covers the deficit: a would end positive.
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 1_800, 8_000_000_001))),
        DeleverageError::UnfairQuote
    );
    // Less than the mark value: a would end worse than it was.
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 1_800, 7_920_000_000 - 1))),
        DeleverageError::UnfairQuote
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 1_800, -1))),
        DeleverageError::UnfairQuote
    );
    f.apply(deleverage(a, b, 1_800, 7_920_000_000))
        .expect("at the mark: within bounds");
}

#[test]
fn only_bankrupt_accounts_the_fund_cannot_absorb_are_deleveraged() {
    let mut f = leveraged_long(0);
    let (a, b) = (f.id(0), f.id(1));
    f.set_price(btc(), 465_000); // liquidatable but not bankrupt
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 100, 0))),
        DeleverageError::NotBankrupt
    );
    let mut g = leveraged_long(10_000_000_000);
    let (a2, b2) = (g.id(0), g.id(1));
    g.set_price(btc(), 440_000);
    assert_eq!(
        derr(g.refuse(deleverage(a2, b2, 1_800, 8_000_000_000))),
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
        derr(f.refuse(deleverage(a, a, 1, 0))),
        DeleverageError::SameAccount
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, AccountId::INSURANCE_FUND, 1, 0))),
        DeleverageError::InsuranceFund
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, c, 10, 44_000_000))),
        DeleverageError::BadSize,
        "c is long too"
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 1_801, 8_000_000_000))),
        DeleverageError::BadSize
    );
    assert_eq!(
        derr(f.refuse(deleverage(a, b, 0, 0))),
        DeleverageError::BadSize
    );
    f.apply(deleverage(a, b, 1_800, 8_000_000_000))
        .expect("valid");
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
        let deleveraged = f
            .state
            .check(&deleverage(a, b, 1_800, 7_920_000_000 + 80_000_000));
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
