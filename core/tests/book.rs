//! The order book: each order type and matching rule by example, then the fast book against the
//! reference book on random streams (same events, same resting book, after every operation).

use proptest::prelude::*;
use zkperp_core::book::reference::ReferenceBook;
use zkperp_core::book::{
    CancelReason, Event, Fill, NewOrder, OrderBook, OrderKey, RejectReason, SelfTradePrevention,
    TimeInForce, Verdict,
};
use zkperp_state::order::Side;
use zkperp_state::units::{AccountId, OrderId};

fn key(account: u64, id: u64) -> OrderKey {
    OrderKey {
        account: AccountId::new(account).expect("id"),
        order_id: OrderId::new(id).expect("id"),
    }
}

fn order(account: u64, id: u64, side: Side, price: u64, size: u64) -> NewOrder {
    NewOrder {
        key: key(account, id),
        side,
        price,
        size,
        time_in_force: TimeInForce::GoodTillCancelled,
        reduce_only: None,
        expiry: 1_000,
        self_trade: SelfTradePrevention::CancelResting,
    }
}

fn fills(events: &[Event]) -> Vec<(OrderKey, u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Fill(f) => Some((f.maker, f.price, f.size)),
            _ => None,
        })
        .collect()
}

#[test]
fn price_then_time_priority_at_the_makers_price() {
    let mut b = OrderBook::new();
    b.submit(order(1, 1, Side::Sell, 101, 5), 0);
    b.submit(order(2, 1, Side::Sell, 100, 5), 0);
    b.submit(order(3, 1, Side::Sell, 100, 5), 0);
    let ev = b.submit(order(4, 1, Side::Buy, 101, 12), 0);
    assert_eq!(
        fills(&ev),
        vec![
            (key(2, 1), 100, 5),
            (key(3, 1), 100, 5),
            (key(1, 1), 101, 2)
        ]
    );
    assert_eq!(b.best_ask(), Some(101));
    assert_eq!(b.snapshot().asks[0].remaining, 3);
    assert!(matches!(
        ev[0],
        Event::Fill(Fill {
            taker_side: Side::Buy,
            ..
        })
    ));
}

#[test]
fn limits_stop_matching_and_the_rest_rests() {
    let mut b = OrderBook::new();
    b.submit(order(1, 1, Side::Sell, 100, 5), 0);
    b.submit(order(1, 2, Side::Sell, 102, 5), 0);
    let ev = b.submit(order(2, 1, Side::Buy, 101, 8), 0);
    assert_eq!(fills(&ev), vec![(key(1, 1), 100, 5)]);
    assert_eq!(
        ev.last(),
        Some(&Event::Rested {
            key: key(2, 1),
            remaining: 3
        })
    );
    assert_eq!((b.best_bid(), b.best_ask()), (Some(101), Some(102)));
}

#[test]
fn immediate_or_cancel_and_market_orders_never_rest() {
    let mut b = OrderBook::new();
    b.submit(order(1, 1, Side::Buy, 99, 4), 0);
    let ioc = NewOrder {
        time_in_force: TimeInForce::ImmediateOrCancel,
        ..order(2, 1, Side::Sell, 1, 10)
    };
    let ev = b.submit(ioc, 0);
    assert_eq!(fills(&ev), vec![(key(1, 1), 99, 4)]);
    assert_eq!(
        ev.last(),
        Some(&Event::Cancelled {
            key: key(2, 1),
            remaining: 6,
            reason: CancelReason::Unfilled
        })
    );
    assert!(b.is_empty());
}

#[test]
fn fill_or_kill_fills_whole_or_changes_nothing() {
    let mut b = OrderBook::new();
    b.submit(order(1, 1, Side::Sell, 100, 5), 0);
    b.submit(order(3, 1, Side::Sell, 101, 5), 0);
    let fok = |size| NewOrder {
        time_in_force: TimeInForce::FillOrKill,
        ..order(2, size, Side::Buy, 101, size)
    };
    let before = b.snapshot();
    assert_eq!(
        b.submit(fok(11), 0),
        vec![Event::Rejected {
            key: key(2, 11),
            reason: RejectReason::InsufficientLiquidity
        }]
    );
    assert_eq!(b.snapshot(), before);
    assert_eq!(fills(&b.submit(fok(10), 0)).len(), 2);
    assert!(b.is_empty());
}

#[test]
fn post_only_rests_or_is_rejected() {
    let mut b = OrderBook::new();
    b.submit(order(1, 1, Side::Sell, 100, 5), 0);
    let po = |price| NewOrder {
        time_in_force: TimeInForce::PostOnly,
        ..order(2, price, Side::Buy, price, 1)
    };
    assert_eq!(
        b.submit(po(100), 0),
        vec![Event::Rejected {
            key: key(2, 100),
            reason: RejectReason::WouldCross
        }]
    );
    assert_eq!(
        b.submit(po(99), 0),
        vec![Event::Rested {
            key: key(2, 99),
            remaining: 1
        }]
    );
}

#[test]
fn reduce_only_shrinks_and_is_cut_to_the_position() {
    let mut b = OrderBook::new();
    b.submit(order(1, 1, Side::Buy, 100, 50), 0);
    let ro = |position, side| NewOrder {
        reduce_only: Some(position),
        ..order(2, 1, side, 100, 10)
    };
    assert_eq!(
        b.submit(ro(4, Side::Buy), 0),
        vec![Event::Rejected {
            key: key(2, 1),
            reason: RejectReason::ReduceOnly
        }]
    );
    assert_eq!(
        b.submit(ro(0, Side::Sell), 0),
        vec![Event::Rejected {
            key: key(2, 1),
            reason: RejectReason::ReduceOnly
        }]
    );
    assert_eq!(
        fills(&b.submit(ro(4, Side::Sell), 0)),
        vec![(key(1, 1), 100, 4)]
    );
}

#[test]
fn self_trade_prevention_modes() {
    let setup = || {
        let mut b = OrderBook::new();
        b.submit(order(1, 1, Side::Sell, 100, 5), 0);
        b.submit(order(2, 1, Side::Sell, 100, 5), 0);
        b
    };
    let taker = |stp| NewOrder {
        self_trade: stp,
        ..order(1, 9, Side::Buy, 100, 8)
    };
    let mut b = setup();
    let ev = b.submit(taker(SelfTradePrevention::CancelResting), 0);
    assert_eq!(
        ev[0],
        Event::Cancelled {
            key: key(1, 1),
            remaining: 5,
            reason: CancelReason::SelfTrade
        }
    );
    assert_eq!(fills(&ev), vec![(key(2, 1), 100, 5)]);
    assert_eq!(
        ev.last(),
        Some(&Event::Rested {
            key: key(1, 9),
            remaining: 3
        })
    );
    let mut b = setup();
    let ev = b.submit(taker(SelfTradePrevention::CancelIncoming), 0);
    assert_eq!(
        ev,
        vec![Event::Cancelled {
            key: key(1, 9),
            remaining: 8,
            reason: CancelReason::SelfTrade
        }]
    );
    assert_eq!(b.len(), 2);
    let mut b = setup();
    let ev = b.submit(taker(SelfTradePrevention::CancelBoth), 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(b.len(), 1);
}

#[test]
fn expiry_cancel_cancel_all_duplicates_and_zeroes() {
    let mut b = OrderBook::new();
    b.submit(
        NewOrder {
            expiry: 10,
            ..order(1, 1, Side::Sell, 100, 5)
        },
        0,
    );
    b.submit(order(1, 2, Side::Sell, 101, 5), 0);
    b.submit(order(2, 1, Side::Sell, 102, 5), 0);
    assert_eq!(
        b.submit(order(1, 2, Side::Sell, 105, 1), 0),
        vec![Event::Rejected {
            key: key(1, 2),
            reason: RejectReason::Duplicate
        }]
    );
    assert_eq!(
        b.submit(order(3, 1, Side::Buy, 100, 0), 0),
        vec![Event::Rejected {
            key: key(3, 1),
            reason: RejectReason::ZeroSizeOrPrice
        }]
    );
    assert_eq!(
        b.submit(
            NewOrder {
                expiry: 9,
                ..order(3, 2, Side::Buy, 1, 1)
            },
            10
        ),
        vec![Event::Rejected {
            key: key(3, 2),
            reason: RejectReason::Expired
        }]
    );
    // At time 10 the order expiring at 10 may still fill; at 11 it is gone.
    assert!(b.expire_now(10).is_empty());
    assert_eq!(
        b.expire_now(11),
        vec![Event::Cancelled {
            key: key(1, 1),
            remaining: 5,
            reason: CancelReason::Expired
        }]
    );
    assert_eq!(
        b.cancel(key(1, 1), 11),
        vec![Event::Rejected {
            key: key(1, 1),
            reason: RejectReason::NotFound
        }]
    );
    assert_eq!(
        b.cancel_all(AccountId::new(1).expect("id"), 11),
        vec![Event::Cancelled {
            key: key(1, 2),
            remaining: 5,
            reason: CancelReason::User
        }]
    );
    assert_eq!(
        b.cancel(key(2, 1), 11),
        vec![Event::Cancelled {
            key: key(2, 1),
            remaining: 5,
            reason: CancelReason::User
        }]
    );
    assert!(b.is_empty());
    assert_eq!(b.snapshot(), Default::default());
}

#[derive(Debug, Clone)]
enum Op {
    Submit {
        account: u64,
        side: bool,
        price: u64,
        size: u64,
        tif: u8,
        stp: u8,
        reduce: Option<i64>,
        ttl: u64,
    },
    Cancel {
        account: u64,
        id_back: u64,
    },
    CancelAll {
        account: u64,
    },
    Expire,
}

fn op() -> impl Strategy<Value = (Op, u64)> {
    let submit = (
        1u64..5,
        any::<bool>(),
        95u64..106,
        1u64..20,
        0u8..4,
        0u8..3,
        proptest::option::weighted(0.15, -30i64..30),
        0u64..30,
    )
        .prop_map(
            |(account, side, price, size, tif, stp, reduce, ttl)| Op::Submit {
                account,
                side,
                price,
                size,
                tif,
                stp,
                reduce,
                ttl,
            },
        );
    let op = prop_oneof![
        14 => submit,
        3 => (1u64..5, 0u64..6).prop_map(|(account, id_back)| Op::Cancel { account, id_back }),
        1 => (1u64..5).prop_map(|account| Op::CancelAll { account }),
        1 => Just(Op::Expire),
    ];
    (op, 0u64..3)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn fast_book_equals_reference_book(ops in proptest::collection::vec(op(), 1..300)) {
        let mut fast = OrderBook::new();
        let mut reference = ReferenceBook::new();
        let mut now = 0u64;
        let mut next_id = [1u64; 5];
        for (op, dt) in ops {
            now += dt;
            let (a, b) = match op {
                Op::Submit { account, side, price, size, tif, stp, reduce, ttl } => {
                    let id = next_id[account as usize];
                    next_id[account as usize] += 1;
                    let o = NewOrder {
                        key: key(account, id),
                        side: if side { Side::Buy } else { Side::Sell },
                        price,
                        size,
                        time_in_force: [TimeInForce::GoodTillCancelled, TimeInForce::ImmediateOrCancel, TimeInForce::FillOrKill, TimeInForce::PostOnly][tif as usize],
                        reduce_only: reduce,
                        expiry: now + ttl,
                        self_trade: [SelfTradePrevention::CancelResting, SelfTradePrevention::CancelIncoming, SelfTradePrevention::CancelBoth][stp as usize],
                    };
                    // A deterministic gate standing in for the state machine: refuses some makers
                    // and some takers, by a hash of the fill, and pauses every third fill it is
                    // asked about (a full batch: the caller resumes the order at once).
                    let gate = || {
                        let mut asked = 0u64;
                        move |f: &Fill| {
                            asked += 1;
                            match (f.maker.order_id.get() * 7 + f.taker.order_id.get() * 13 + f.size) % 11 {
                                0 => Verdict::RefuseMaker,
                                1 => Verdict::RefuseTaker,
                                _ if asked.is_multiple_of(3) => Verdict::Pause,
                                _ => Verdict::Accept,
                            }
                        }
                    };
                    let (mut fast_gate, mut reference_gate) = (gate(), gate());
                    let mut a = Vec::new();
                    let mut paused = fast.submit_gated(o, now, &mut a, &mut fast_gate);
                    while let Some(rest) = paused {
                        paused = fast.resume_gated(rest, now, &mut a, &mut fast_gate);
                    }
                    let (mut b, mut paused) = reference.submit_gated(o, now, &mut reference_gate);
                    while let Some(rest) = paused {
                        let (more, next) = reference.resume_gated(rest, now, &mut reference_gate);
                        b.extend(more);
                        paused = next;
                    }
                    (a, b)
                }
                Op::Cancel { account, id_back } => {
                    let k = key(account, next_id[account as usize].saturating_sub(id_back + 1).max(1));
                    (fast.cancel(k, now), reference.cancel(k, now))
                }
                Op::CancelAll { account } => {
                    let a = AccountId::new(account).expect("id");
                    (fast.cancel_all(a, now), reference.cancel_all(a, now))
                }
                Op::Expire => (fast.expire_now(now), reference.expire_now(now)),
            };
            prop_assert_eq!(a, b);
            prop_assert_eq!(fast.snapshot(), reference.snapshot());
            let s = fast.snapshot();
            if let (Some(bid), Some(ask)) = (s.bids.first(), s.asks.first()) {
                prop_assert!(bid.price < ask.price, "the book is crossed");
            }
        }
    }
}

/// A long stream (enough to make the fast book compact its expiry heap several times) against
/// the reference book.
#[test]
fn long_streams_with_many_cancels_stay_equal() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
    let mut fast = OrderBook::new();
    let mut reference = ReferenceBook::new();
    let mut live = Vec::new();
    for i in 0..20_000u64 {
        let now = i / 50;
        if rng.gen_bool(0.55) || live.is_empty() {
            let side = if rng.gen_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            let price = if side == Side::Buy {
                rng.gen_range(90..100)
            } else {
                rng.gen_range(101..111)
            };
            let o = NewOrder {
                expiry: now + rng.gen_range(0..400),
                ..order(
                    rng.gen_range(1..50),
                    i + 1,
                    side,
                    price,
                    rng.gen_range(1..10),
                )
            };
            live.push(o.key);
            assert_eq!(fast.submit(o, now), reference.submit(o, now));
        } else {
            let k = live.swap_remove(rng.gen_range(0..live.len()));
            assert_eq!(fast.cancel(k, now), reference.cancel(k, now));
        }
    }
    assert_eq!(fast.snapshot(), reference.snapshot());
    assert_eq!(
        fast.expire_now(u64::MAX >> 1),
        reference.expire_now(u64::MAX >> 1)
    );
    assert!(fast.is_empty());
}

#[test]
fn the_gate_cancels_refused_makers_and_stops_refused_takers() {
    let mut b = OrderBook::new();
    b.submit(order(1, 1, Side::Sell, 100, 5), 0);
    b.submit(order(2, 1, Side::Sell, 100, 5), 0);
    b.submit(order(3, 1, Side::Sell, 101, 5), 0);
    let mut events = Vec::new();
    let mut refuse_account_1 = |f: &Fill| {
        if f.maker.account.get() == 1 {
            Verdict::RefuseMaker
        } else {
            Verdict::Accept
        }
    };
    let paused = b.submit_gated(
        order(4, 1, Side::Buy, 101, 7),
        0,
        &mut events,
        &mut refuse_account_1,
    );
    assert_eq!(paused, None, "this gate never pauses");
    assert_eq!(
        events[0],
        Event::Cancelled {
            key: key(1, 1),
            remaining: 5,
            reason: CancelReason::Refused
        }
    );
    assert_eq!(
        fills(&events),
        vec![(key(2, 1), 100, 5), (key(3, 1), 101, 2)]
    );
    let mut events = Vec::new();
    let paused = b.submit_gated(
        order(5, 1, Side::Buy, 101, 3),
        0,
        &mut events,
        &mut |_: &Fill| Verdict::RefuseTaker,
    );
    assert_eq!(paused, None, "this gate never pauses");
    assert_eq!(
        events,
        vec![Event::Cancelled {
            key: key(5, 1),
            remaining: 3,
            reason: CancelReason::Refused
        }]
    );
    assert_eq!(
        b.snapshot().asks[0].remaining,
        3,
        "a refused taker leaves the book as it was"
    );
    // Fill-or-kill asks about every fill first and is rejected whole.
    let fok = NewOrder {
        time_in_force: TimeInForce::FillOrKill,
        ..order(6, 1, Side::Buy, 101, 3)
    };
    let mut asked = 0;
    let mut events = Vec::new();
    let paused = b.submit_gated(fok, 0, &mut events, &mut |_: &Fill| {
        asked += 1;
        Verdict::RefuseMaker
    });
    assert_eq!(paused, None, "this gate never pauses");
    assert_eq!(
        events,
        vec![Event::Rejected {
            key: key(6, 1),
            reason: RejectReason::Refused
        }]
    );
    assert_eq!((asked, b.snapshot().asks[0].remaining), (1, 3));
}

/// A pause stops matching before the fill and changes nothing; resumed, the order does exactly
/// what it would have done unpaused. Under fill-or-kill a pause is a refusal: the order is
/// rejected whole, since its fills cannot span a pause.
#[test]
fn a_paused_order_resumes_as_if_it_had_never_stopped() {
    let book = || {
        let mut b = OrderBook::new();
        b.submit(order(1, 1, Side::Sell, 100, 5), 0);
        b.submit(order(2, 1, Side::Sell, 100, 5), 0);
        b.submit(order(3, 1, Side::Sell, 101, 5), 0);
        b
    };
    let taker = order(4, 1, Side::Buy, 101, 12);
    let mut unpaused = book();
    let expected = unpaused.submit(taker, 0);

    let mut b = book();
    let mut events = Vec::new();
    let mut asked = 0;
    let mut pause_second = |_: &Fill| {
        asked += 1;
        if asked == 2 {
            Verdict::Pause
        } else {
            Verdict::Accept
        }
    };
    let paused = b
        .submit_gated(taker, 0, &mut events, &mut pause_second)
        .expect("paused at the second fill");
    assert_eq!((paused.key(), paused.remaining()), (key(4, 1), 7));
    assert_eq!(fills(&events), vec![(key(1, 1), 100, 5)]);
    assert_eq!(
        b.snapshot().asks[0].remaining,
        5,
        "the fill it paused before is not made"
    );
    assert!(
        !b.snapshot().bids.iter().any(|o| o.key == key(4, 1)),
        "a paused order does not rest"
    );
    let resumed = b.resume_gated(paused, 0, &mut events, &mut pause_second);
    assert_eq!(resumed, None);
    assert_eq!(events, expected);
    assert_eq!(b.snapshot(), unpaused.snapshot());

    let mut b = book();
    let fok = NewOrder {
        time_in_force: TimeInForce::FillOrKill,
        ..order(5, 1, Side::Buy, 101, 7)
    };
    let mut events = Vec::new();
    let paused = b.submit_gated(fok, 0, &mut events, &mut |_: &Fill| Verdict::Pause);
    assert_eq!(paused, None, "a fill-or-kill order never pauses");
    assert_eq!(
        events,
        vec![Event::Rejected {
            key: key(5, 1),
            reason: RejectReason::Refused
        }]
    );
    assert_eq!(b.snapshot(), book().snapshot());
}
