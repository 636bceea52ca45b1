use zkperp_state::batch::SlotKind;
use zkperp_state::order::Side;
use zkperp_state::pubdata::PubData;
use zkperp_state::testkit::*;
use zkperp_state::tx::forced_cancel::ForcedCancelRecord;
use zkperp_state::tx::{TradeError, TxError};
use zkperp_state::units::{AccountId, L1Address};

/// Whether `f`'s next forced cancel is served, checking that only a served one changes the
/// state (and that the record repeats the request).
fn served(
    f: &mut Fixture,
    index: u64,
    account: AccountId,
    requester: L1Address,
    below: u64,
) -> bool {
    let clear = f.clear();
    let tx = Fixture::forced_cancel_tx(index, account, requester, below);
    let receipt = f.apply(tx).expect("a forced request is always answered");
    let served = match receipt.pubdata.as_slice() {
        [PubData::ForcedCancel(ForcedCancelRecord {
            index: i,
            account: a,
            requester: r,
            order_id,
            served,
        })] => {
            assert_eq!(
                (*i, *a, *r, order_id.get()),
                (index, account, requester, below)
            );
            *served
        }
        other => panic!("unexpected public data {other:?}"),
    };
    if !served {
        assert_eq!(f.clear(), clear, "a refusal changes nothing");
    }
    served
}

fn floor(f: &Fixture, account: AccountId) -> u64 {
    f.state
        .account(account)
        .expect("account")
        .leaf
        .order_floor
        .get()
}

#[test]
fn only_the_owner_of_an_existing_account_raises_its_floor() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    let owner = f.traders[0].l1;
    let stranger = f.traders[1].l1;
    assert!(!served(&mut f, 0, a, stranger, 50), "not the owner");
    assert_eq!(floor(&f, a), 0);
    let nobody = AccountId::new(77).expect("id");
    assert!(!served(&mut f, 1, nobody, owner, 50), "no such account");
    assert!(served(&mut f, 2, a, owner, 50));
    assert_eq!(floor(&f, a), 50);
    // Never lowered: a smaller id is served and changes nothing.
    assert!(served(&mut f, 3, a, owner, 20));
    assert_eq!(floor(&f, a), 50);
    assert_eq!(f.state.queue_next(SlotKind::ForcedCancel), 4);
}

#[test]
fn orders_below_the_floor_never_fill_and_those_above_do() {
    let mut f = Fixture::new(2);
    let a = f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    let resting = f.order_with_id(0, btc(), Side::Buy, 10, 500_000, 40);
    let partly = f.order_with_id(0, btc(), Side::Buy, 10, 500_000, 41);
    let taker = f.order(1, btc(), Side::Sell, 20, 500_000);
    f.apply(Fixture::trade_tx(partly, taker, 4, 500_000))
        .expect("a partial fill before the cancel");
    let owner = f.traders[0].l1;
    assert!(served(&mut f, 0, a, owner, 42));
    for maker in [resting, partly] {
        let taker = f.order(1, btc(), Side::Sell, 1, 500_000);
        assert_eq!(
            f.refuse(Fixture::trade_tx(maker, taker, 1, 500_000)),
            TxError::Trade(TradeError::BelowFloor(zkperp_state::tx::Role::Maker))
        );
    }
    // As a taker too.
    let maker = f.order(1, btc(), Side::Sell, 1, 500_000);
    let old = f.order_with_id(0, btc(), Side::Buy, 1, 500_000, 7);
    assert_eq!(
        f.refuse(Fixture::trade_tx(maker, old, 1, 500_000)),
        TxError::Trade(TradeError::BelowFloor(zkperp_state::tx::Role::Taker))
    );
    // The floor itself and above fill.
    let at = f.order_with_id(0, btc(), Side::Buy, 1, 500_000, 42);
    let taker = f.order(1, btc(), Side::Sell, 1, 500_000);
    f.apply(Fixture::trade_tx(at, taker, 1, 500_000))
        .expect("an order at the floor fills");
}

#[test]
fn forced_cancels_are_answered_in_their_own_queue_order() {
    let mut f = Fixture::new(1);
    let a = f.deposit(0, 1_000_000_000);
    let owner = f.traders[0].l1;
    let err = f.refuse(Fixture::forced_cancel_tx(1, a, owner, 5));
    assert_eq!(
        err,
        TxError::QueueOutOfOrder {
            kind: SlotKind::ForcedCancel,
            expected: 0,
            got: 1
        }
    );
    // The forced-withdrawal queue is another queue: its position does not move this one's.
    assert!(served(&mut f, 0, a, owner, 5));
    assert_eq!(f.state.queue_next(SlotKind::ForcedWithdrawal), 0);
}

#[test]
fn a_floor_that_was_never_raised_hashes_as_before() {
    let mut f = Fixture::new(1);
    let a = f.deposit(0, 1_000_000_000);
    let leaf = f.state.account(a).expect("account").leaf.clone();
    let old_layout = zkperp_state::poseidon::poseidon([
        leaf.public_key.x(),
        leaf.public_key.y(),
        leaf.l1_address.to_field(),
        zkperp_state::field::fr_from_i128(leaf.collateral.get()),
        zkperp_state::Fr::from(leaf.nonce.get()),
        leaf.orders_root,
        zkperp_state::leaf::positions_hash(&leaf.positions),
        leaf.salt,
    ]);
    assert_eq!(leaf.hash(), old_layout);
    let owner = f.traders[0].l1;
    assert!(served(&mut f, 0, a, owner, 1));
    assert_ne!(f.state.account(a).expect("account").leaf.hash(), old_layout);
}
