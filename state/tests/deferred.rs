//! The tree work done at the seal (`State::execute`, then `State::hash_pending`) gives exactly
//! the batch that hashing each transaction as it is applied (`State::apply`) gives: the same
//! receipts, account table and final root. (The random streams of
//! `circuits/tests/random_batches.rs` check the same over every kind, with savepoints.)

use zkperp_state::batch::SlotKind;
use zkperp_state::order::Side;
use zkperp_state::testkit::*;
use zkperp_state::tx::{ForcedWithdrawal, L1ForcedWithdrawal, Transaction};
use zkperp_state::units::AccountId;

fn base() -> Fixture {
    let mut f = Fixture::new(3);
    f.fund_deposit(10_000_000_000);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f.state.end_batch().expect("seal the deposits");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    f.set_price(btc(), 500_000);
    f
}

/// A forced withdrawal of `account` asked by someone else: refused, so it only reads the
/// account (its leaf and path go into the receipt).
fn stranger_withdrawal(f: &Fixture, account: AccountId) -> Transaction {
    Transaction::ForcedWithdrawal(ForcedWithdrawal {
        request: L1ForcedWithdrawal {
            index: f.state.queue_next(SlotKind::ForcedWithdrawal),
            account,
            requester: f.traders[2].l1,
            amount: amount(1_000_000),
        },
    })
}

/// One trade between traders 0 and 1: applied (hashed at once) to `eager`, executed (its tree
/// work pending) on `lent`.
fn trade(eager: &mut Fixture, lent: &mut Fixture) {
    let buy = eager.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = eager.order(1, btc(), Side::Sell, 10, 500_000);
    let tx = Fixture::trade_tx(buy, sell, 10, 500_000);
    eager.apply(tx.clone()).expect("applies");
    lent.state.execute(&tx).expect("executes");
}

#[test]
fn a_read_after_a_write_of_the_same_account_sees_its_new_orders_root() {
    let (mut eager, mut deferred) = (base(), base());
    let mut txs = Vec::new();
    // Trades write both accounts' orders slots; the refused forced withdrawals then read them,
    // all in one run of pending work.
    for round in 0..3 {
        let buy = eager.order(0, btc(), Side::Buy, 10, 500_000);
        let sell = eager.order(1, btc(), Side::Sell, 10, 500_000);
        txs.push(Fixture::trade_tx(buy, sell, 10, 500_000));
        let reader = if round % 2 == 0 { 0 } else { 1 };
        for tx in [txs.last().cloned().expect("trade"), {
            let id = eager.id(reader);
            stranger_withdrawal(&eager, id)
        }] {
            let receipt = eager.apply(tx.clone()).expect("applies");
            deferred.state.execute(&tx).expect("executes");
            if let Transaction::ForcedWithdrawal(_) = tx {
                assert_eq!(
                    receipt.reads.len(),
                    1,
                    "a refused request reads its account"
                );
            }
        }
    }
    assert_eq!(deferred.state.pending_len(), 6);
    assert_eq!(
        deferred.state.root(),
        eager.state.root(),
        "inside a batch both trees are as it began: the account tree waits for the seal"
    );
    deferred.state.hash_pending().expect("hash");
    for t in 0..2 {
        let id = deferred.id(t);
        assert_eq!(
            deferred.state.account(id).expect("exists").leaf,
            eager.state.account(id).expect("exists").leaf,
            "after the tree work, the leaf in the clear has its orders root"
        );
    }
    let (a, b) = (
        eager.state.end_batch().expect("seal"),
        deferred.state.end_batch().expect("seal"),
    );
    assert!(a == b, "the seal's tree work gave another batch");
    b.check_table().expect("one chain of writes");
    for t in 0..2 {
        let id = deferred.id(t);
        let leaf = &deferred.state.account(id).expect("exists").leaf;
        assert_eq!(
            leaf.hash(),
            deferred
                .state
                .account_tree()
                .leaf(id.index())
                .expect("leaf"),
            "after the seal, the leaf in the clear is the one in the tree"
        );
    }
    assert_eq!(deferred.state.pending_len(), 0);
    assert_eq!(eager.state.root(), deferred.state.root());
    assert_eq!(
        eager.state.snapshot().expect("between batches"),
        deferred.state.snapshot().expect("between batches"),
        "the leaves in the clear, orders roots included, agree after the seal"
    );
}

/// Trees lent away across a seal and given back in the middle of the next batch
/// (`State::return_trees`, as a sequencer's snapshot or settle does), then some of that
/// batch hashed in place before its seal: the batches are the ones a state that never lent
/// its trees seals.
#[test]
fn trees_given_back_mid_batch_seal_from_the_batch_start() {
    let (mut eager, mut lent) = (base(), base());
    // The base batch's price tick was hashed in place: lent from the next batch on.
    for state in [&mut eager.state, &mut lent.state] {
        state.end_batch().expect("seal the price");
        state.begin_batch(ts(START + 90)).expect("begin");
    }
    let mut trees = lent
        .state
        .lend_trees()
        .expect("nothing hashed in place yet");
    trade(&mut eager, &mut lent);
    let first = eager.state.end_batch().expect("seal");
    let closed = lent.state.close_batch().expect("close");
    assert!(trees.seal(closed).expect("the lent trees seal") == first);
    for state in [&mut eager.state, &mut lent.state] {
        state.begin_batch(ts(START + 120)).expect("begin");
    }
    trade(&mut eager, &mut lent);
    // Back in the middle of the batch, then part of it hashed in place.
    lent.state.return_trees(trees);
    lent.state.hash_pending().expect("hash");
    trade(&mut eager, &mut lent);
    let (a, b) = (
        eager.state.end_batch().expect("seal"),
        lent.state.end_batch().expect("seal"),
    );
    assert_eq!(
        b.old_root, first.new_root,
        "the batch starts where the last ended"
    );
    assert!(a == b, "the batch sealed after the trees came back differs");
    assert_eq!(
        eager.state.snapshot().expect("between batches"),
        lent.state.snapshot().expect("between batches")
    );
}

/// Trees lent in the middle of a batch part of which was hashed in place (the account tree is
/// as the batch began until its seal, so the worker can take them then): the worker seals the
/// batch a state that never lent its trees seals.
#[test]
fn trees_lent_mid_batch_after_hashing_in_place_seal_the_same_batch() {
    let (mut eager, mut lent) = (base(), base());
    trade(&mut eager, &mut lent);
    lent.state.hash_pending().expect("hash in place");
    let savepoint = lent.state.savepoint();
    assert!(
        lent.state.lend_trees().is_none(),
        "not while a savepoint is open"
    );
    lent.state.release(savepoint);
    let mut trees = lent.state.lend_trees().expect("lent mid-batch");
    trade(&mut eager, &mut lent);
    let a = eager.state.end_batch().expect("seal");
    let b = trees
        .seal(lent.state.close_batch().expect("close"))
        .expect("the lent trees seal");
    assert!(a == b, "the batch sealed by the worker differs");
    b.check_table().expect("one chain of writes");
    lent.state.return_trees(trees);
    assert_eq!(
        eager.state.snapshot().expect("between batches"),
        lent.state.snapshot().expect("between batches")
    );
}
