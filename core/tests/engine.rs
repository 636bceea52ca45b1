//! The engine end to end on the native state: signed orders in, fills applied as trade
//! transactions, refusals at entry and at fill time.

use zkperp_core::book::{CancelReason, Event, RejectReason, TimeInForce};
use zkperp_core::engine::{Engine, FeeSchedule, OrderError, OrderOptions};
use zkperp_core::risk::RiskError;
use zkperp_state::merkle::MemoryStore;
use zkperp_state::order::Side;
use zkperp_state::testkit::*;
use zkperp_state::tx::CancelOrder;
use zkperp_state::units::AccountId;

const FEES: FeeSchedule = FeeSchedule {
    maker_ppm: 0,
    taker_ppm: 500,
};

/// Three funded traders; the engine takes over the fixture's state.
fn setup() -> (Fixture, Engine<MemoryStore>) {
    let mut f = Fixture::new(3);
    for t in 0..3 {
        f.deposit(t, 1_000_000_000);
    }
    let state = std::mem::replace(&mut f.state, Fixture::new(0).state);
    (f, Engine::new(state, FEES))
}

fn gtc() -> OrderOptions {
    OrderOptions::default()
}

#[test]
fn crossing_orders_trade_through_the_state_machine() {
    let (mut f, mut e) = setup();
    let (a, b) = (f.id(0), f.id(1));
    let ask = f.order(1, btc(), Side::Sell, 100, 500_000);
    assert_eq!(
        e.submit(ask, gtc()).expect("rests"),
        vec![Event::Rested {
            key: key(&ask),
            remaining: 100
        }]
    );
    let bid = f.order(0, btc(), Side::Buy, 60, 500_100);
    let events = e.submit(bid, gtc()).expect("fills");
    assert!(matches!(events[0], Event::Fill(fill) if fill.size == 60 && fill.price == 500_000));
    let pos = |e: &Engine<MemoryStore>, id: AccountId| {
        e.state().account(id).expect("account").leaf.positions[0]
            .size
            .get()
    };
    assert_eq!((pos(&e, a), pos(&e, b)), (60, -60));
    // The taker paid 0.05% of 60 lots * 5 USD; the maker nothing. Fees reach the fee account
    // when the batch seals.
    assert_eq!(e.state().pending_fees(), 60 * 500_000 * 10 / 2_000);
    e.end_batch().expect("seal");
    let fee_account = e
        .state()
        .account(AccountId::FEES)
        .expect("fees")
        .leaf
        .collateral
        .get();
    assert_eq!(fee_account, 60 * 500_000 * 10 / 2_000);
    assert_eq!(e.book(0).expect("book").snapshot().asks[0].remaining, 40);
}

#[test]
fn refusals_at_entry_carry_their_reason() {
    let (mut f, mut e) = setup();
    let big = f.order(0, btc(), Side::Buy, 2_001, 500_000);
    assert!(matches!(
        e.submit(big, gtc()),
        Err(OrderError::Risk(RiskError::InsufficientMargin { .. }))
    ));
    let mut forged = f.order(0, btc(), Side::Buy, 1, 500_000);
    forged.order.size = lots(2);
    assert_eq!(e.submit(forged, gtc()), Err(OrderError::BadSignature));
    let ok = f.order(0, btc(), Side::Buy, 1, 499_000);
    e.submit(ok, gtc()).expect("rests");
    assert_eq!(e.submit(ok, gtc()), Err(OrderError::Duplicate));
    // Open orders count against the account: 1,999 more lots fit, 2,000 do not.
    let more = f.order(0, btc(), Side::Buy, 2_000, 499_000);
    assert!(matches!(e.submit(more, gtc()), Err(OrderError::Risk(_))));
    let post = f.order(2, btc(), Side::Sell, 1, 499_000);
    let po = OrderOptions {
        time_in_force: TimeInForce::PostOnly,
        ..gtc()
    };
    assert_eq!(
        e.submit(post, po),
        Ok(vec![Event::Rejected {
            key: key(&post),
            reason: RejectReason::WouldCross
        }])
    );
}

#[test]
fn a_maker_that_lost_its_margin_is_cancelled_at_fill_time_and_matching_goes_on() {
    let (mut f, mut e) = setup();
    // Trader 0 rests a big bid while flat; then its collateral leaves (withdrawal) so the bid
    // can no longer fill; trader 1's bid behind it fills instead.
    let rich = f.order(0, btc(), Side::Buy, 1_900, 500_000);
    e.submit(rich, gtc()).expect("rests");
    let other = f.order(1, btc(), Side::Buy, 10, 500_000);
    e.submit(other, gtc()).expect("rests");
    let withdrawal = {
        let id = f.id(0);
        let nonce = e.state().account(id).expect("account").leaf.nonce;
        let a = amount(900_000_000);
        zkperp_state::tx::Transaction::Withdrawal(zkperp_state::tx::Withdrawal {
            account: id,
            amount: a,
            nonce,
            signature: f.traders[0].key.sign(zkperp_state::tx::Withdrawal::message(
                &zkperp_state::domain::SigningDomain::TEST,
                id,
                a,
                nonce,
            )),
        })
    };
    e.apply(&withdrawal).expect("withdraw");
    let sell = f.order(2, btc(), Side::Sell, 1_900, 500_000);
    let events = e.submit(sell, gtc()).expect("matches");
    assert_eq!(
        events[0],
        Event::Cancelled {
            key: key(&rich),
            remaining: 1_900,
            reason: CancelReason::Refused
        }
    );
    assert!(matches!(events[1], Event::Fill(fill) if fill.maker == key(&other) && fill.size == 10));
    assert_eq!(
        events[2],
        Event::Rested {
            key: key(&sell),
            remaining: 1_890
        }
    );
}

#[test]
fn fill_or_kill_is_all_or_nothing_in_the_state_too() {
    let (mut f, mut e) = setup();
    e.submit(f.order(1, btc(), Side::Sell, 10, 500_000), gtc())
        .expect("rests");
    e.submit(f.order(2, btc(), Side::Sell, 10, 500_000), gtc())
        .expect("rests");
    // Trader 2 cancels its ask in the state (signed cancel) but the book still shows it: the
    // second fill is refused, so the FOK must leave no trace.
    let resting_2 = e.book(0).expect("book").snapshot().asks[1].key;
    let cancel = CancelOrder {
        account: resting_2.account,
        order_id: resting_2.order_id,
        signature: f.traders[2].key.sign(CancelOrder::message(
            &zkperp_state::domain::SigningDomain::TEST,
            resting_2.account,
            resting_2.order_id,
        )),
    };
    e.apply(&zkperp_state::tx::Transaction::CancelOrder(cancel))
        .expect("cancel in the state only");
    let clear = zkperp_state::testkit::ClearState::of(e.state());
    let fok = f.order(0, btc(), Side::Buy, 20, 500_000);
    let events = e
        .submit(
            fok,
            OrderOptions {
                time_in_force: TimeInForce::FillOrKill,
                ..gtc()
            },
        )
        .expect("answered");
    assert_eq!(
        events,
        vec![Event::Rejected {
            key: key(&fok),
            reason: RejectReason::Refused
        }]
    );
    assert_eq!(
        zkperp_state::testkit::ClearState::of(e.state()),
        clear,
        "the accepted first fill was rolled back"
    );
    // Through the engine, a cancel reaches both the state and the book.
    let own = f.order(0, btc(), Side::Buy, 5, 499_000);
    e.submit(own, gtc()).expect("rests");
    let cancel = CancelOrder {
        account: own.order.account,
        order_id: own.order.order_id,
        signature: f.traders[0].key.sign(CancelOrder::message(
            &zkperp_state::domain::SigningDomain::TEST,
            own.order.account,
            own.order.order_id,
        )),
    };
    let events = e.cancel(cancel).expect("cancelled");
    assert_eq!(
        events,
        vec![Event::Cancelled {
            key: key(&own),
            remaining: 5,
            reason: CancelReason::User
        }]
    );
}

fn key(o: &zkperp_state::order::SignedOrder) -> zkperp_core::book::OrderKey {
    zkperp_core::book::OrderKey {
        account: o.order.account,
        order_id: o.order.order_id,
    }
}

#[test]
fn a_fill_past_a_risk_limit_cancels_its_order_with_the_limit_named() {
    // BTC capped at 150 lots of open interest.
    let mut f = Fixture::configured(4, |c| c.markets[0].open_interest_cap_lots = 150);
    for t in 0..4 {
        f.deposit(t, 1_000_000_000);
    }
    let state = std::mem::replace(&mut f.state, Fixture::new(0).state);
    let mut e = Engine::new(state, FEES);
    let ask = f.order(1, btc(), Side::Sell, 100, 500_000);
    e.submit(ask, gtc()).expect("rests");
    let bid = f.order(0, btc(), Side::Buy, 100, 500_000);
    e.submit(bid, gtc()).expect("fills: 100 lots of interest");
    // 60 more lots would make 160: the taker is cancelled, and says why.
    let ask = f.order(3, btc(), Side::Sell, 60, 500_000);
    e.submit(ask, gtc()).expect("rests");
    let bid = f.order(2, btc(), Side::Buy, 60, 500_000);
    assert_eq!(
        e.submit(bid, gtc()).expect("refused at the fill"),
        vec![Event::Cancelled {
            key: key(&bid),
            remaining: 60,
            reason: CancelReason::OpenInterestCap
        }]
    );
    assert_eq!(e.state().markets()[0].open_interest, 100);
    // A fill-or-kill order is rejected with the same name.
    let bid = f.order(2, btc(), Side::Buy, 60, 500_000);
    let fok = OrderOptions {
        time_in_force: TimeInForce::FillOrKill,
        ..gtc()
    };
    assert_eq!(
        e.submit(bid, fok).expect("refused at the fill"),
        vec![Event::Rejected {
            key: key(&bid),
            reason: RejectReason::OpenInterestCap
        }]
    );
    // Up to the cap fills: 50 lots against the resting ask make 150.
    let bid = f.order(2, btc(), Side::Buy, 50, 500_000);
    let events = e.submit(bid, gtc()).expect("fills");
    assert!(
        matches!(events[0], Event::Fill(fill) if fill.size == 50),
        "{events:?}"
    );
    assert_eq!(e.state().markets()[0].open_interest, 150);
    // At the cap, interest that only changes hands fills: the first buyer sells to the second
    // (at a better price than the rest of the resting ask, so first).
    let ask = f.order(0, btc(), Side::Sell, 50, 499_000);
    e.submit(ask, gtc()).expect("rests");
    let bid = f.order(2, btc(), Side::Buy, 50, 500_000);
    let events = e.submit(bid, gtc()).expect("fills");
    assert!(
        matches!(events[0], Event::Fill(fill) if fill.size == 50 && fill.price == 499_000),
        "{events:?}"
    );
    assert_eq!(e.state().markets()[0].open_interest, 150);
}

#[test]
fn while_the_oracles_disagree_only_closing_orders_enter_and_fill() {
    let mut f = Fixture::new(3);
    for t in 0..3 {
        f.deposit(t, 1_000_000_000);
    }
    f.trade(0, 1, btc(), 10, 500_000)
        .expect("trader 0 long 10, trader 1 short 10");
    let state = std::mem::replace(&mut f.state, Fixture::new(0).state);
    let mut e = Engine::new(state, FEES);
    // A resting ask from trader 2 would open a short.
    let ask = f.order(2, btc(), Side::Sell, 5, 500_000);
    e.submit(ask, gtc()).expect("rests");
    // Quotes 6% apart: BTC is reduce-only.
    let tick = f.oracle_tick_tx(btc(), [490_000, 500_000, 520_000]);
    e.apply(&tick).expect("tick");
    assert!(e.state().markets()[0].quotes_disagree);
    // An opening order is refused at entry and says why.
    let bid = f.order(2, btc(), Side::Buy, 1, 500_000);
    assert!(matches!(
        e.submit(bid, gtc()),
        Err(zkperp_core::engine::OrderError::Risk(
            zkperp_core::risk::RiskError::ReduceOnly
        ))
    ));
    // A closing bid (trader 1 buys back 5) enters; the resting ask would open trader 2's
    // short, so the maker is cancelled and says why.
    let bid = f.order(1, btc(), Side::Buy, 5, 500_000);
    let events = e.submit(bid, gtc()).expect("a closing order enters");
    assert!(
        events.contains(&Event::Cancelled {
            key: key(&ask),
            remaining: 5,
            reason: CancelReason::MarketReduceOnly
        }),
        "{events:?}"
    );
    // Against trader 0's closing ask it fills: both positions shrink.
    let ask = f.order(0, btc(), Side::Sell, 5, 500_000);
    let events = e.submit(ask, gtc()).expect("fills");
    assert!(
        events
            .iter()
            .any(|ev| matches!(ev, Event::Fill(fill) if fill.size == 5)),
        "{events:?}"
    );
    // Agreeing quotes lift it.
    let tick = f.oracle_tick_tx(btc(), [499_999, 500_000, 500_001]);
    e.apply(&tick).expect("tick");
    let bid = f.order(2, btc(), Side::Buy, 1, 500_000);
    e.submit(bid, gtc()).expect("opening again");
}
