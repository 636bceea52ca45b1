use zkperp_state::batch::SlotKind;
use zkperp_state::pubdata::PubData;
use zkperp_state::testkit::*;
use zkperp_state::tx::{ForcedWithdrawal, L1ForcedWithdrawal, Transaction, TxError};
use zkperp_state::units::{AccountId, L1Address};

fn forced(index: u64, account: AccountId, requester: L1Address, units: u64) -> Transaction {
    Transaction::ForcedWithdrawal(ForcedWithdrawal {
        request: L1ForcedWithdrawal {
            index,
            account,
            requester,
            amount: amount(units),
        },
    })
}

/// What `tx` pays (0: refused), checking that only a payment changes the state.
fn paid(f: &mut Fixture, tx: Transaction) -> u64 {
    let before = f.clear();
    let receipt = f.apply(tx).expect("a forced request is always answered");
    let paid = match receipt.pubdata.as_slice() {
        [PubData::ForcedWithdrawal(
            zkperp_state::tx::forced_withdrawal::ForcedWithdrawalRecord { amount, paid, .. },
        )] => {
            assert!(paid <= amount, "never more than asked");
            paid.get()
        }
        other => panic!("unexpected public data {other:?}"),
    };
    assert_eq!(
        paid != 0,
        f.clear() != before,
        "refusals change nothing but the queue position"
    );
    paid
}

#[test]
fn the_owner_is_paid_what_the_margin_rule_allows() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    // 1,000 lots at 50,000 USD: 5,000 USD notional, 500 USD of initial margin; TV 1,000 USD.
    f.trade(0, 1, btc(), 1_000, 500_000).expect("open");
    let owner = f.traders[0].l1;
    let stranger = f.traders[1].l1;
    assert_eq!(paid(&mut f, forced(0, a, stranger, 1)), 0, "not the owner");
    assert_eq!(
        paid(&mut f, forced(1, AccountId::new(77).expect("id"), owner, 1)),
        0,
        "no such account"
    );
    assert_eq!(paid(&mut f, forced(2, a, owner, 0)), 0, "zero");
    let before = f.collateral(a);
    assert_eq!(
        paid(&mut f, forced(3, a, owner, 200_000_000)),
        200_000_000,
        "in full"
    );
    assert_eq!(f.collateral(a), before - 200_000_000);
    // More than the free collateral: served up to it, never refused for holding a position.
    assert_eq!(
        paid(&mut f, forced(4, a, owner, 500_000_001)),
        300_000_000,
        "the rest of the free collateral"
    );
    assert!(!f.is_liquidatable(a));
    let margin = zkperp_state::margin::margin_summary(
        zkperp_state::units::Collateral::new(f.collateral(a)).expect("c"),
        &f.state.account(a).expect("a").leaf.positions,
        f.state.markets(),
        &f.state.config().markets,
        zkperp_state::margin::Fraction::Initial,
    );
    assert_eq!(
        margin.total_value * 1_000_000,
        margin.total_risk_ppm,
        "exactly at the initial margin"
    );
    assert_eq!(
        paid(&mut f, forced(5, a, owner, 1)),
        0,
        "nothing left to pay"
    );
    assert_eq!(f.state.queue_next(SlotKind::ForcedWithdrawal), 6);
}

/// The payment rounds down to a whole unit: what is left keeps the account at or above its
/// initial margin.
#[test]
fn a_partial_payment_never_breaks_the_margin_rule() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 1_000_000_007);
    f.deposit(1, 1_000_000_000);
    f.trade(0, 1, eth(), 333, 3_000_001).expect("open");
    let owner = f.traders[0].l1;
    let p = paid(&mut f, forced(0, a, owner, u64::MAX >> 2));
    assert!(p > 0);
    let leaf = f.state.account(a).expect("a").leaf.clone();
    let m = zkperp_state::margin::margin_summary(
        leaf.collateral,
        &leaf.positions,
        f.state.markets(),
        &f.state.config().markets,
        zkperp_state::margin::Fraction::Initial,
    );
    assert!(
        m.total_value * 1_000_000 >= m.total_risk_ppm,
        "well margined after"
    );
    assert!(
        (m.total_value - 1) * 1_000_000 < m.total_risk_ppm,
        "one unit more would have broken it"
    );
}

#[test]
fn requests_are_answered_in_queue_order() {
    let mut f = Fixture::new(1);
    let a = f.deposit(0, 10);
    let err = f.refuse(forced(1, a, f.traders[0].l1, 1));
    assert_eq!(
        err,
        TxError::QueueOutOfOrder {
            kind: SlotKind::ForcedWithdrawal,
            expected: 0,
            got: 1
        }
    );
}
