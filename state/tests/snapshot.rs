//! Snapshots: a state restored from [`State::snapshot`] is the state it was taken from (same
//! root, accounts, order slots and counters, and the same results for whatever comes next), and
//! a snapshot that does not match the root it records is refused.

use zkperp_state::field::Fr;
use zkperp_state::order::Side;
use zkperp_state::state::StateError;
use zkperp_state::testkit::*;
use zkperp_state::units::Collateral;
use zkperp_state::State;

/// A state after a batch with deposits, partial fills (order slots written) and a price change.
fn traded() -> Fixture {
    let mut f = Fixture::new(3);
    f.fund_deposit(10_000_000_000);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.deposit(2, 5_000_000);
    let buy = f.order_with_id(0, btc(), Side::Buy, 100, 500_000, 7);
    let sell = f.order_with_id(1, btc(), Side::Sell, 100, 500_000, 9);
    f.apply(Fixture::trade_tx(buy, sell, 60, 500_000))
        .expect("fill");
    f.set_price(btc(), 510_000);
    f.state.end_batch().expect("seal");
    f
}

#[test]
fn restored_state_is_the_state_it_was_taken_from() {
    let mut f = traded();
    let snapshot = f.state.snapshot().expect("between batches");
    let mut restored = State::restore(f.state.config().clone(), snapshot.clone()).expect("restore");
    assert_eq!(restored.root(), f.state.root());
    assert_eq!(restored.batches_sealed(), 1);
    assert_eq!(restored.snapshot().expect("between batches"), snapshot);
    for (id, account) in f.state.accounts() {
        let other = restored.account(*id).expect("same accounts");
        assert_eq!(other.leaf, account.leaf);
        assert_eq!(other.order_slots(), account.order_slots());
        assert_eq!(
            restored.account_by_owner(&account.leaf.public_key, &account.leaf.l1_address),
            Some(*id)
        );
        assert_eq!(
            restored.account_tree().proof(id.index()).expect("proof"),
            f.state.account_tree().proof(id.index()).expect("proof")
        );
    }

    // The same next batch on both: the rest of the partly filled order, a new account, a seal.
    let buy = f.order_with_id(0, btc(), Side::Buy, 100, 500_000, 7);
    let sell = f.order_with_id(1, btc(), Side::Sell, 100, 500_000, 9);
    let deposit = f.deposit_tx(2, 1_000);
    let too_much = Fixture::trade_tx(buy, sell, 41, 500_000);
    let rest = Fixture::trade_tx(buy, sell, 40, 500_000);
    for state in [&mut f.state, &mut restored] {
        state.begin_batch(ts(START + 10)).expect("time");
        state
            .apply(&too_much)
            .expect_err("only 40 lots are left of the order");
        state.apply(&rest).expect("the rest fills");
        state.apply(&deposit).expect("deposit");
    }
    assert_eq!(
        restored.end_batch().expect("seal"),
        f.state.end_batch().expect("seal")
    );
}

#[test]
fn no_snapshot_inside_a_batch() {
    let mut f = traded();
    f.state.begin_batch(ts(START + 10)).expect("time");
    assert!(
        f.state.snapshot().is_some(),
        "a begun batch with nothing in it is still between"
    );
    f.deposit(0, 10);
    assert!(f.state.snapshot().is_none());
    f.state.end_batch().expect("seal");
    assert!(f.state.snapshot().is_some());
}

#[test]
fn a_snapshot_that_does_not_match_its_root_is_refused() {
    let f = traded();
    let config = f.state.config().clone();
    let good = f.state.snapshot().expect("between batches");
    let refused = |snapshot| match State::restore(config.clone(), snapshot) {
        Err(StateError::Snapshot(why)) => why,
        other => panic!("restored a tampered snapshot: {other:?}"),
    };

    let mut richer = good.clone();
    richer.accounts[3].leaf.collateral = Collateral::new(1).expect("in range");
    assert!(refused(richer).contains("state root"));

    let mut filled = good.clone();
    let with_slots = filled
        .accounts
        .iter_mut()
        .find(|a| !a.slots.is_empty())
        .expect("a trader with an order slot");
    with_slots.slots[0].1.filled = lots(1);
    assert!(refused(filled).contains("orders root"));

    let mut repriced = good.clone();
    repriced.markets[0].mark_price = ticks(1);
    assert!(refused(repriced).contains("state root"));

    let mut forged_root = good.clone();
    forged_root.root += Fr::from(1u64);
    assert!(refused(forged_root).contains("state root"));

    let mut twice = good.clone();
    let copy = twice.accounts[2].clone();
    twice.accounts.push(copy);
    assert!(refused(twice).contains("twice"));

    let mut no_fund = good.clone();
    no_fund.accounts.remove(0);
    assert!(refused(no_fund).contains("system account"));

    let mut past_next = good;
    past_next.next_account = 2;
    assert!(refused(past_next).contains("next id"));
}
