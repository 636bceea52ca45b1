//! Benchmarks live in `benches/`; run them with `cargo bench -p zkperp-benches`. The figures and
//! the machine that produced them are in docs/PERFORMANCE.md. What the bench binaries
//! (`src/bin/`) share is here.

pub mod overload;

use zkperp_state::batch::SealedBatch;
use zkperp_state::order::Side;
use zkperp_state::testkit::{btc, ts, Fixture, START};

/// The `i`th command-line argument as a number, or `default`.
pub fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// A sealed batch of `trades` trades between funded traders (two per trade) at the given
/// depths, after the batch of their deposits; and the fixture it was made with.
pub fn trades_batch(trades: usize, account_depth: u8, order_depth: u8) -> (Fixture, SealedBatch) {
    let traders = 2 * trades.max(1);
    let mut f = Fixture::with_depths(traders, account_depth, order_depth);
    for t in 0..traders {
        f.deposit(t, 1_000_000_000);
    }
    f.state.end_batch().expect("seal 1");
    f.state.begin_batch(ts(START + 60)).expect("begin");
    for i in 0..trades {
        let buy = f.order(2 * i, btc(), Side::Buy, 10, 500_000);
        let sell = f.order(2 * i + 1, btc(), Side::Sell, 10, 500_000);
        f.apply(Fixture::trade_tx_with_fees(
            sell, buy, 10, 500_000, 0, 1_000,
        ))
        .expect("trade");
    }
    let batch = f.state.end_batch().expect("seal 2");
    (f, batch)
}

/// The REST API's load benches' exchange: the real stack (axum, the hub, the sequencer with its
/// RocksDB journal synced before every acknowledgement, the engine and the state machine at
/// production tree depths), two markets priced, every trader funded; batches of
/// `trades_per_batch` trades, closed when a fill finds the open batch full and sealed (trees
/// hashed, witness made) off the sequencer's lock by the seal worker, as in the node; the
/// sealed batches are taken from the hub's sink and dropped (the node proves them).
#[derive(Debug)]
pub struct ApiStack {
    pub fixture: Fixture,
    pub hub: std::sync::Arc<zkperp_sequencer::hub::Hub>,
    pub services: zkperp_api::Services,
    _dir: tempfile::TempDir,
}

impl ApiStack {
    pub fn new(traders: usize, trades_per_batch: usize) -> Self {
        use std::sync::{Arc, Mutex};
        use zkperp_core::command::Command;
        use zkperp_sequencer::hub::Hub;
        use zkperp_sequencer::pipeline::BatchStore;
        use zkperp_sequencer::sequencer::{Sequencer, SequencerConfig};
        use zkperp_sequencer::verified::VerifiedState;
        use zkperp_state::testkit::eth;

        let dir = tempfile::tempdir().expect("tmp");
        let mut f = Fixture::with_depths(traders, 32, 16);
        let config = f.state.config().clone();
        let shape = format!("o2-f1-l1-x1-d32-fw1-fc1-ft1-t{trades_per_batch}-w1-c1")
            .parse()
            .expect("shape");
        // One database for every table, as in the node.
        let storage = zkperp_sequencer::storage::Storage::open(dir.path()).expect("storage");
        let sequencer = Sequencer::open(
            &storage,
            &SequencerConfig {
                state: config.clone(),
                fees: zkperp_core::testkit::FEES,
                shape,
            },
        )
        .expect("sequencer");
        let hub = Arc::new(Hub::new(sequencer));
        let run = |command: Command| hub.execute(command).expect("journaled");
        run(Command::BeginBatch {
            timestamp: ts(START),
        });
        for (market, price) in [(btc(), 500_000), (eth(), 3_000_000)] {
            run(Command::Apply {
                tx: f.oracle_tick_tx(market, [price - 1, price, price + 1]),
            });
        }
        for t in 0..traders {
            run(Command::Apply {
                tx: f.deposit_tx(t, 100_000_000_000),
            });
            f.deposit(t, 100_000_000_000);
        }
        // A batch takes a shape's worth of deposits; the rest wait for the batches after.
        let last = f.id(traders - 1);
        while hub.with_sequencer(|s| s.engine().state().account(last).is_none()) {
            run(Command::EndBatch);
            run(Command::BeginBatch {
                timestamp: ts(START),
            });
        }
        // From here on, as in the node: batches sealed off the lock, taken from the sink.
        let mut sealed = hub.sealed_batches().expect("the seal worker starts");
        std::thread::spawn(move || while sealed.blocking_recv().is_some() {});
        let services = zkperp_api::Services {
            hub: hub.clone(),
            batches: Arc::new(BatchStore::open(&storage).expect("store")),
            verified: Arc::new(Mutex::new(
                VerifiedState::open(&storage, &config).expect("verified"),
            )),
            oracle: Arc::new(Mutex::new(zkperp_core::oracle::OracleBook::new(&config))),
            archive: None,
            info: serde_json::json!({}),
        };
        ApiStack {
            fixture: f,
            hub,
            services,
            _dir: dir,
        }
    }

    /// Serves the API on a loopback port (on the current tokio runtime); its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = zkperp_api::router(self.services.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    /// `count` signed orders of the fixture's traders, in turn, with their request bodies,
    /// signed on every core (signing is the clients' work, done before any clock starts). A
    /// `cross_pct` share are immediate-or-cancel sells at the best bid (each a fill through the
    /// state machine); the rest are bids resting below the mark. Order ids start at
    /// `first_id` for every trader.
    pub fn orders(
        &self,
        count: usize,
        cross_pct: usize,
        first_id: u64,
    ) -> Vec<(zkperp_state::order::SignedOrder, String)> {
        use rayon::prelude::*;
        use zkperp_core::book::{SelfTradePrevention, TimeInForce};
        use zkperp_core::engine::OrderOptions;
        let traders = self.fixture.traders.len();
        (0..count)
            .into_par_iter()
            .map(|i| {
                let cross = i % 100 < cross_pct;
                let (side, price, time_in_force) = if cross {
                    (Side::Sell, 490_000, TimeInForce::ImmediateOrCancel)
                } else {
                    (
                        Side::Buy,
                        499_000 - (i % 500) as u64,
                        TimeInForce::GoodTillCancelled,
                    )
                };
                let id = first_id + (i / traders) as u64;
                let order = self
                    .fixture
                    .order_with_id(i % traders, btc(), side, 1, price, id);
                let options = OrderOptions {
                    time_in_force,
                    reduce_only: false,
                    self_trade: SelfTradePrevention::CancelIncoming,
                };
                let body = serde_json::json!({"order": order, "options": options}).to_string();
                (order, body)
            })
            .collect()
    }
}

/// The `p`th percentile of sorted `durations`, in milliseconds.
pub fn percentile_ms(sorted: &[std::time::Duration], p: usize) -> f64 {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// The order book benches' stream (`benches/book.rs` under criterion, the `book-ops` binary
/// under callgrind): 60% resting limit orders near the touch, 25% cancels of resting orders,
/// 15% immediate-or-cancel orders crossing 20 ticks deep, from 1,000 accounts, after a book
/// seeded with 10,000 resting orders over 400 levels.
pub mod book_stream {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use zkperp_core::book::{
        Event, NewOrder, OrderBook, OrderKey, SelfTradePrevention, TimeInForce,
    };
    use zkperp_state::order::Side;
    use zkperp_state::units::{AccountId, OrderId};

    /// One operation of the stream.
    #[derive(Debug, Clone, Copy)]
    pub enum Op {
        Submit(NewOrder),
        Cancel(OrderKey),
    }

    /// The seed book's orders and `n` operations, drawn from `seed`.
    pub fn stream(n: usize, seed: u64) -> (Vec<NewOrder>, Vec<Op>) {
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

    /// Runs `ops` against `book` (one `events` buffer, cleared per operation); the number of
    /// events they made.
    #[inline(never)]
    pub fn run(book: &mut OrderBook, ops: &[Op], events: &mut Vec<Event>) -> usize {
        let mut made = 0;
        for op in ops {
            events.clear();
            match op {
                Op::Submit(o) => book.submit_into(*o, 0, events),
                Op::Cancel(k) => book.cancel_into(*k, 0, events),
            }
            made += std::hint::black_box(&*events).len();
        }
        made
    }
}
