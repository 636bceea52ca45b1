use zkperp_state::domain::SigningDomain;
use zkperp_state::order::Side;
use zkperp_state::testkit::*;
use zkperp_state::tx::{CancelOrder, CancelOrderError, Role, TradeError, Transaction, TxError};
use zkperp_state::units::{AccountId, OrderId};

fn cancel(f: &Fixture, trader: usize, order_id: u64) -> Transaction {
    let account = f.id(trader);
    let order_id = OrderId::new(order_id).expect("id");
    let signature = f.traders[trader].key.sign(CancelOrder::message(
        &SigningDomain::TEST,
        account,
        order_id,
    ));
    Transaction::CancelOrder(CancelOrder {
        account,
        order_id,
        signature,
    })
}

fn cerr(e: TxError) -> CancelOrderError {
    match e {
        TxError::CancelOrder(e) => e,
        other => panic!("expected a cancel error, got {other:?}"),
    }
}

#[test]
fn a_cancelled_order_never_fills_even_partly_filled_or_unseen() {
    let mut f = Fixture::new(2);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    let buy = f.order_with_id(0, btc(), Side::Buy, 10, 500_000, 3);
    let sell = f.order_with_id(1, btc(), Side::Sell, 100, 500_000, 3);
    f.apply(Fixture::trade_tx(buy, sell, 4, 500_000))
        .expect("partial fill");
    f.apply(cancel(&f, 0, 3)).expect("cancel the rest");
    let e = f.refuse(Fixture::trade_tx(buy, sell, 1, 500_000));
    assert_eq!(e, TxError::Trade(TradeError::Overfill(Role::Maker)));
    // An order the exchange never saw can be cancelled ahead of time.
    let unseen = f.order_with_id(0, btc(), Side::Buy, 10, 500_000, 5);
    f.apply(cancel(&f, 0, 5)).expect("cancel ahead");
    assert_eq!(
        f.refuse(Fixture::trade_tx(unseen, sell, 1, 500_000)),
        TxError::Trade(TradeError::Overfill(Role::Maker))
    );
    // Cancelling again changes nothing.
    let clear = f.clear();
    f.apply(cancel(&f, 0, 5)).expect("idempotent");
    assert_eq!(f.clear(), clear);
    // A later order in the same slot (5 + 16) is unaffected.
    let later = f.order_with_id(0, btc(), Side::Buy, 10, 500_000, 21);
    f.apply(Fixture::trade_tx(later, sell, 1, 500_000))
        .expect("later order fills");
}

#[test]
fn only_the_owner_cancels_and_only_orders_not_superseded() {
    let mut f = Fixture::new(2);
    f.deposit(0, 1_000_000_000);
    f.deposit(1, 1_000_000_000);
    let Transaction::CancelOrder(mut forged) = cancel(&f, 0, 3) else {
        unreachable!()
    };
    forged.signature = f.traders[1].key.sign(CancelOrder::message(
        &SigningDomain::TEST,
        forged.account,
        forged.order_id,
    ));
    assert_eq!(
        cerr(f.refuse(Transaction::CancelOrder(forged))),
        CancelOrderError::BadSignature
    );
    let Transaction::CancelOrder(mut other_order) = cancel(&f, 0, 3) else {
        unreachable!()
    };
    other_order.order_id = OrderId::new(4).expect("id");
    assert_eq!(
        cerr(f.refuse(Transaction::CancelOrder(other_order))),
        CancelOrderError::BadSignature
    );
    let Transaction::CancelOrder(mut ghost) = cancel(&f, 0, 3) else {
        unreachable!()
    };
    ghost.account = AccountId::new(99).expect("id");
    assert_eq!(
        cerr(f.refuse(Transaction::CancelOrder(ghost))),
        CancelOrderError::NoSuchAccount
    );
    let later = f.order_with_id(0, btc(), Side::Buy, 10, 500_000, 19);
    let sell = f.order_with_id(1, btc(), Side::Sell, 10, 500_000, 1);
    f.apply(Fixture::trade_tx(later, sell, 1, 500_000))
        .expect("order 19 takes slot 3");
    assert_eq!(
        cerr(f.refuse(cancel(&f, 0, 3))),
        CancelOrderError::Superseded
    );
}
