use zkperp_state::pubdata::PubData;
use zkperp_state::testkit::*;
use zkperp_state::tx::{
    ForcedWithdrawal, ForcedWithdrawalError, L1ForcedWithdrawal, Transaction, TxError,
};
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

fn served(f: &mut Fixture, tx: Transaction) -> bool {
    let root = f.state.root();
    let receipt = f.apply(tx).expect("a forced request is always answered");
    let served = match receipt.pubdata.as_slice() {
        [PubData::ForcedWithdrawal { amount, paid, .. }] => {
            assert!(
                paid == amount || paid.get() == 0,
                "served in full or refused"
            );
            paid.get() != 0
        }
        other => panic!("unexpected public data {other:?}"),
    };
    assert_eq!(
        served,
        f.state.root() != root,
        "refusals change nothing but the queue position"
    );
    served
}

#[test]
fn the_owner_is_served_when_the_margin_rule_allows() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.trade(0, 1, btc(), 1_000, 500_000).expect("open");
    let owner = f.traders[0].l1;
    assert!(
        !served(&mut f, forced(0, a, owner, 500_000_001)),
        "above free collateral"
    );
    let stranger = f.traders[1].l1;
    assert!(!served(&mut f, forced(1, a, stranger, 1)), "not the owner");
    assert!(
        !served(&mut f, forced(2, AccountId::new(77).expect("id"), owner, 1)),
        "no such account"
    );
    assert!(!served(&mut f, forced(3, a, owner, 0)), "zero");
    let before = f.collateral(a);
    assert!(served(&mut f, forced(4, a, owner, 500_000_000)));
    assert_eq!(f.collateral(a), before - 500_000_000);
    assert_eq!(f.state.forced_consumed(), 5);
}

#[test]
fn requests_are_answered_in_queue_order() {
    let mut f = Fixture::new(1);
    let a = f.deposit(0, 10);
    let err = f.refuse(forced(1, a, f.traders[0].l1, 1));
    assert_eq!(
        err,
        TxError::ForcedWithdrawal(ForcedWithdrawalError::OutOfOrder {
            expected: 0,
            got: 1
        })
    );
}
