//! The order book alone, one core: a stream of 60% resting limit orders near the touch, 25%
//! cancels of resting orders and 15% immediate-or-cancel orders that cross, against a book
//! kept around 10,000 resting orders. Reported per operation (criterion's "thrpt" line gives
//! operations per second).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkperp_sequencer::book::{
    Event, NewOrder, OrderBook, OrderKey, SelfTradePrevention, TimeInForce,
};
use zkperp_state::order::Side;
use zkperp_state::units::{AccountId, OrderId};

enum Op {
    Submit(NewOrder),
    Cancel(OrderKey),
}

fn stream(n: usize, seed: u64) -> (Vec<NewOrder>, Vec<Op>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let accounts: Vec<AccountId> = (0..1_000u64)
        .map(|a| AccountId::new(a).expect("id"))
        .collect();
    let mut next_id = 1u64;
    let mut new = |rng: &mut ChaCha20Rng, side: Side, price: u64, tif: TimeInForce| {
        next_id += 1;
        NewOrder {
            key: OrderKey {
                account: accounts[rng.gen_range(0..accounts.len())],
                order_id: OrderId::new(next_id).expect("id"),
            },
            side,
            price,
            size: rng.gen_range(1..100),
            time_in_force: tif,
            reduce_only: None,
            expiry: u64::MAX >> 24,
            self_trade: SelfTradePrevention::CancelResting,
        }
    };
    let mid = 100_000u64;
    let mut resting = Vec::new();
    let seed_orders: Vec<NewOrder> = (0..10_000)
        .map(|i| {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let price = if side == Side::Buy {
                mid - 1 - rng.gen_range(0..200)
            } else {
                mid + 1 + rng.gen_range(0..200)
            };
            let o = new(&mut rng, side, price, TimeInForce::GoodTillCancelled);
            resting.push(o.key);
            o
        })
        .collect();
    let ops = (0..n)
        .map(|_| {
            let roll = rng.gen_range(0..100);
            if roll < 60 {
                let side = if rng.gen_bool(0.5) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let price = if side == Side::Buy {
                    mid - 1 - rng.gen_range(0..50)
                } else {
                    mid + 1 + rng.gen_range(0..50)
                };
                let o = new(&mut rng, side, price, TimeInForce::GoodTillCancelled);
                resting.push(o.key);
                Op::Submit(o)
            } else if roll < 85 && !resting.is_empty() {
                let i = rng.gen_range(0..resting.len());
                Op::Cancel(resting.swap_remove(i))
            } else {
                let side = if rng.gen_bool(0.5) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let price = if side == Side::Buy {
                    mid + 20
                } else {
                    mid - 20
                };
                Op::Submit(new(&mut rng, side, price, TimeInForce::ImmediateOrCancel))
            }
        })
        .collect();
    (seed_orders, ops)
}

fn bench_book(c: &mut Criterion) {
    const OPS: usize = 200_000;
    let (seed_orders, ops) = stream(OPS, 7);
    let mut g = c.benchmark_group("order book (one core)");
    g.throughput(Throughput::Elements(OPS as u64));
    g.sample_size(20);
    g.bench_function(
        "mixed stream: 60% limit, 25% cancel, 15% crossing IOC",
        |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                let mut events: Vec<Event> = Vec::with_capacity(64);
                for _ in 0..iters {
                    let mut book = OrderBook::new();
                    for o in &seed_orders {
                        book.submit(*o, 0);
                    }
                    let start = Instant::now();
                    for op in &ops {
                        events.clear();
                        match op {
                            Op::Submit(o) => book.submit_into(*o, 0, &mut events),
                            Op::Cancel(k) => book.cancel_into(*k, 0, &mut events),
                        }
                        black_box(&events);
                    }
                    total += start.elapsed();
                }
                total
            })
        },
    );
    g.finish();
}

/// The full path: a signed order through entry checks (signature), pre-trade risk, the book and
/// the state machine (a second signature check per side, margin, tree writes) for every fill.
fn bench_engine(c: &mut Criterion) {
    use zkperp_sequencer::engine::{Engine, OrderOptions};
    use zkperp_state::testkit::{btc, Fixture};
    let mut f = Fixture::with_depths(2, 32, 16);
    f.deposit(0, 1_000_000_000_000);
    f.deposit(1, 1_000_000_000_000);
    let state = std::mem::replace(&mut f.state, Fixture::new(0).state);
    let mut engine = Engine::new(state, zkperp_sequencer::testkit::FEES);
    let mut g = c.benchmark_group("engine (production depths)");
    g.sample_size(20);
    g.bench_function("signed order pair: rest, then cross and fill", |b| {
        b.iter_custom(|iters| {
            // Signing is the traders' work: done before timing.
            let pairs: Vec<_> = (0..iters)
                .map(|_| {
                    (
                        f.order(0, btc(), Side::Buy, 1, 500_000),
                        f.order(1, btc(), Side::Sell, 1, 500_000),
                    )
                })
                .collect();
            let start = Instant::now();
            for (bid, ask) in pairs {
                engine.submit(bid, OrderOptions::default()).expect("rests");
                black_box(engine.submit(ask, OrderOptions::default()).expect("fills"));
            }
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_book, bench_engine);
criterion_main!(benches);
