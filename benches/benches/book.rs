//! The order book alone, one core: a stream of 60% resting limit orders near the touch, 25%
//! cancels of resting orders and 15% immediate-or-cancel orders that cross, against a book
//! kept around 10,000 resting orders. Reported per operation (criterion's "thrpt" line gives
//! operations per second).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zkperp_benches::book_stream::{run, stream};
use zkperp_core::book::{Event, OrderBook};
use zkperp_state::order::Side;

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
                    black_box(run(&mut book, &ops, &mut events));
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
    use zkperp_core::engine::{Engine, OrderOptions};
    use zkperp_state::testkit::{btc, Fixture};
    let mut f = Fixture::with_depths(2, 32, 16);
    f.deposit(0, 1_000_000_000_000);
    f.deposit(1, 1_000_000_000_000);
    let state = std::mem::replace(&mut f.state, Fixture::new(0).state);
    let mut engine = Engine::new(state, zkperp_core::testkit::FEES);
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

/// Entry checks and pre-trade risk for an account that already has many resting orders (a
/// market maker's quotes): an immediate-or-cancel bid below the best ask, so nothing fills and
/// nothing rests, its signature already in the verification memo. What is left is the entry
/// checks, the risk check against the account's open orders, and the book.
fn bench_risk(c: &mut Criterion) {
    use zkperp_core::book::TimeInForce;
    use zkperp_core::engine::{Engine, OrderOptions};
    use zkperp_state::testkit::{btc, Fixture};
    let mut g = c.benchmark_group("risk with resting orders");
    for resting in [10u64, 1_000] {
        let mut f = Fixture::with_depths(1, 32, 16);
        f.deposit(0, 1_000_000_000_000);
        let state = std::mem::replace(&mut f.state, Fixture::new(0).state);
        let mut engine = Engine::new(state, zkperp_core::testkit::FEES);
        for i in 0..resting {
            let bid = f.order(0, btc(), Side::Buy, 1, 400_000 - i);
            engine.submit(bid, OrderOptions::default()).expect("rests");
        }
        let domain = engine.state().config().domain;
        let key = engine
            .state()
            .account(f.id(0))
            .expect("account")
            .leaf
            .public_key;
        let ioc = OrderOptions {
            time_in_force: TimeInForce::ImmediateOrCancel,
            ..OrderOptions::default()
        };
        g.bench_function(format!("an IOC bid from an account with {resting}"), |b| {
            b.iter_custom(|iters| {
                let orders: Vec<_> = (0..iters)
                    .map(|_| {
                        let order = f.order(0, btc(), Side::Buy, 1, 450_000);
                        key.verify(order.order.hash(&domain), &order.signature)
                            .expect("valid");
                        order
                    })
                    .collect();
                let start = Instant::now();
                for order in orders {
                    black_box(engine.submit(order, ioc).expect("checked"));
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_book, bench_engine, bench_risk);
criterion_main!(benches);
