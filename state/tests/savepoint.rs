//! Savepoints: whatever is applied after one, rollback returns the state to exactly where it was,
//! as if those transactions had never been applied.

use zkperp_state::order::Side;
use zkperp_state::testkit::*;

fn base() -> Fixture {
    let mut f = Fixture::new(3);
    f.fund_deposit(10_000_000_000);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    f
}

#[test]
fn rollback_undoes_every_kind_of_change() {
    let mut f = base();
    let mut g = base();
    let buy = f.order_with_id(0, btc(), Side::Buy, 100, 500_000, 7);
    let sell = f.order_with_id(1, btc(), Side::Sell, 100, 500_000, 7);
    let clear = f.clear();
    let accounts = f.state.accounts().count();
    let sp = f.state.savepoint();
    // A new account, fills that write orders slots, a price, funding, a withdrawal, a liquidation.
    f.deposit(2, 5_000_000);
    f.apply(Fixture::trade_tx(buy, sell, 60, 500_000))
        .expect("fill");
    f.apply(Fixture::trade_tx(buy, sell, 40, 500_000))
        .expect("fill the rest");
    f.set_price(btc(), 510_000);
    f.apply(f.withdrawal_tx(1, 1_000)).expect("withdraw");
    assert_ne!(f.clear(), clear);
    f.state.rollback(sp).expect("rollback");
    f.deposits -= 1;
    f.traders[2].id = None;
    assert_eq!(f.clear(), clear);
    assert_eq!(f.state.accounts().count(), accounts);
    assert_eq!(
        f.state.queue_next(zkperp_state::batch::SlotKind::Deposit),
        g.state.queue_next(zkperp_state::batch::SlotKind::Deposit)
    );
    // The same orders fill again in full: their slots were restored.
    for h in [&mut f, &mut g] {
        h.apply(Fixture::trade_tx(buy, sell, 100, 500_000))
            .expect("fills as if never filled");
        h.deposit(2, 7);
    }
    assert_eq!(f.clear(), g.clear());
    assert_eq!(
        f.state.end_batch().expect("batch"),
        g.state.end_batch().expect("batch")
    );
}

#[test]
fn nested_savepoints_and_release() {
    let mut f = base();
    let outer = f.state.savepoint();
    f.deposit(0, 10);
    let after_first = f.clear();
    let inner = f.state.savepoint();
    f.deposit(1, 10);
    f.state.rollback(inner).expect("inner");
    assert_eq!(f.clear(), after_first);
    f.deposits -= 1;
    f.deposit(1, 20);
    let kept = f.clear();
    f.state.release(outer);
    assert_eq!(f.clear(), kept);
}
