//! The batch builder: every sealed batch fits the shape and runs its kinds in slot order,
//! whatever order the commands came in; trades roll full batches; start-of-batch transactions
//! wait for the next batch, withdrawals and cancels for the seal; nothing accepted is lost; a
//! replay of the commands gives the same batches, books and root.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkperp_core::batcher::{BatchEvent, Batcher, Executed, Outcome};
use zkperp_core::book::{CancelReason, Event, SelfTradePrevention, TimeInForce};
use zkperp_core::command::Command;
use zkperp_core::config::SequencerConfig;
use zkperp_core::engine::{FeeSchedule, OrderError, OrderOptions};
use zkperp_core::testkit::fingerprint;
use zkperp_state::batch::{SealedBatch, Shape, SlotKind};
use zkperp_state::merkle::MemoryStore;
use zkperp_state::order::{Order, Side, SignedOrder};
use zkperp_state::testkit::*;
use zkperp_state::tx::{CancelOrder, OracleTick, Transaction, Withdrawal};
use zkperp_state::units::{AccountId, OrderId, Ppm};

const FEES: FeeSchedule = FeeSchedule {
    maker_ppm: 0,
    taker_ppm: 500,
};

/// A sequencer core driven by commands, with the keys to sign them and a record of every result.
struct World {
    f: Fixture,
    config: SequencerConfig,
    batcher: Batcher<MemoryStore>,
    commands: Vec<Command>,
    results: Vec<Executed>,
    /// The batch time of the last `BeginBatch` sent.
    time: u64,
}

impl World {
    fn new(traders: usize, shape: &str) -> Self {
        let f = Fixture::new(traders);
        let config = SequencerConfig {
            state: f.state.config().clone(),
            fees: FEES,
            shape: shape.parse().expect("shape"),
        };
        let batcher = config.genesis().expect("genesis");
        World {
            f,
            config,
            batcher,
            commands: Vec::new(),
            results: Vec::new(),
            time: START,
        }
    }

    fn shape(&self) -> Shape {
        self.config.shape
    }

    fn run(&mut self, command: Command) -> Executed {
        let ticket = self.commands.len() as u64;
        let executed = self.batcher.execute(ticket, &command);
        assert_eq!(executed.ticket, ticket);
        for batch in executed.sealed() {
            batch
                .check_shape(&self.config.shape)
                .expect("every sealed batch fits the shape");
        }
        self.commands.push(command);
        self.results.push(executed.clone());
        self.learn_accounts();
        executed
    }

    /// Traders whose deposit has landed get their account id (to sign orders with).
    fn learn_accounts(&mut self) {
        let state = self.batcher.engine().state();
        for t in &mut self.f.traders {
            if t.id.is_none() {
                t.id = state.account_by_owner(&t.key.public_key(), &t.l1);
            }
        }
    }

    fn next_ticket(&self) -> u64 {
        self.commands.len() as u64
    }

    fn begin(&mut self, time: u64) -> Executed {
        self.time = time;
        self.run(Command::BeginBatch {
            timestamp: ts(time),
        })
    }

    fn end(&mut self) -> Executed {
        self.run(Command::EndBatch)
    }

    fn tick(&self, market: zkperp_state::units::MarketId, price: u64) -> Command {
        let quotes = [price - 1, price, price + 1]
            .iter()
            .enumerate()
            .map(|(i, p)| self.f.quote(i as u8, market, *p, self.time))
            .collect();
        Command::Apply {
            tx: Transaction::OracleTick(OracleTick { market, quotes }),
        }
    }

    /// The next L1 deposit, to `trader`.
    fn deposit(&mut self, trader: usize, units: u64) -> Command {
        let tx = self.f.deposit_tx(trader, units);
        self.f.deposits += 1;
        Command::Apply { tx }
    }

    fn withdrawal(&self, trader: usize, units: u64, nonce: u64) -> Command {
        let account = self.f.id(trader);
        let (amount, nonce) = (
            amount(units),
            zkperp_state::units::Nonce::new(nonce).expect("n"),
        );
        let signature = self.f.traders[trader].key.sign(Withdrawal::message(
            &zkperp_state::domain::SigningDomain::TEST,
            account,
            amount,
            nonce,
        ));
        Command::Apply {
            tx: Transaction::Withdrawal(Withdrawal {
                account,
                amount,
                nonce,
                signature,
            }),
        }
    }

    fn nonce(&self, trader: usize) -> u64 {
        let id = self.f.id(trader);
        self.batcher
            .engine()
            .state()
            .account(id)
            .expect("account")
            .leaf
            .nonce
            .get()
    }

    fn cancel(&self, account: AccountId, order_id: OrderId) -> Command {
        let trader = self
            .f
            .traders
            .iter()
            .position(|t| t.id == Some(account))
            .expect("a trader's account");
        let signature = self.f.traders[trader].key.sign(CancelOrder::message(
            &zkperp_state::domain::SigningDomain::TEST,
            account,
            order_id,
        ));
        Command::Cancel {
            cancel: CancelOrder {
                account,
                order_id,
                signature,
            },
        }
    }

    fn submit(&mut self, order: SignedOrder, time_in_force: TimeInForce) -> Executed {
        self.run(Command::Submit {
            order,
            options: OrderOptions {
                time_in_force,
                ..OrderOptions::default()
            },
        })
    }

    /// The open batch's transaction kinds so far.
    fn open_kinds(&self) -> Vec<SlotKind> {
        kinds_of(self.batcher.engine().state().batch_txs())
    }

    fn sealed(&self) -> Vec<&SealedBatch> {
        self.results.iter().flat_map(Executed::sealed).collect()
    }
}

fn kinds_of<'a>(txs: impl Iterator<Item = &'a Transaction>) -> Vec<SlotKind> {
    txs.map(SlotKind::of).collect()
}

fn kinds(batch: &SealedBatch) -> Vec<SlotKind> {
    kinds_of(batch.txs.iter().map(|a| &a.tx))
}

fn fills(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Book(events) => events
            .iter()
            .filter(|e| matches!(e, Event::Fill(_)))
            .count(),
        other => panic!("expected book events, got {other:?}"),
    }
}

/// A batch open at `START` with BTC priced and `funded` traders' deposits applied.
fn opened(traders: usize, funded: usize, shape: &str) -> World {
    let mut w = World::new(traders, shape);
    assert_eq!(w.begin(START).outcome, Outcome::BatchStarted);
    let tick = w.tick(btc(), 500_000);
    assert_eq!(w.run(tick).outcome, Outcome::Applied);
    for t in 0..funded {
        let deposit = w.deposit(t, 1_000_000_000);
        assert_eq!(w.run(deposit).outcome, Outcome::Applied);
    }
    w
}

use SlotKind::{CancelOrder as C, Deposit as D, OracleTick as O, Trade as T, Withdrawal as W};

#[test]
fn a_deposit_after_a_trade_goes_to_the_next_batch() {
    let mut w = opened(3, 2, "o2-f1-l1-x1-d2-fw1-fc1-ft1-t4-w2-c2");
    let ask = w.f.order(1, btc(), Side::Sell, 10, 500_000);
    w.submit(ask, TimeInForce::GoodTillCancelled);
    let bid = w.f.order(0, btc(), Side::Buy, 10, 500_000);
    assert_eq!(
        fills(&w.submit(bid, TimeInForce::GoodTillCancelled).outcome),
        1
    );
    // The batch has passed its deposits: this one, and an oracle tick, wait for the next batch.
    let (deposit_ticket, deposit) = (w.next_ticket(), w.deposit(2, 1_000_000_000));
    assert_eq!(w.run(deposit).outcome, Outcome::Held);
    let (tick_ticket, tick) = (w.next_ticket(), w.tick(btc(), 501_000));
    assert_eq!(w.run(tick).outcome, Outcome::Held);

    let sealed = w.end();
    assert_eq!(sealed.outcome, Outcome::BatchSealed);
    let first = sealed.sealed().next().expect("sealed").clone();
    assert_eq!(kinds(&first), vec![O, D, D, T]);
    assert!(w.f.traders[2].id.is_none(), "not credited yet");

    // The next batch begins with them, in slot order: the tick before the deposit.
    let begun = w.begin(START + 1);
    assert_eq!(
        begun.events,
        vec![
            BatchEvent::Applied {
                ticket: tick_ticket,
                kind: O
            },
            BatchEvent::Applied {
                ticket: deposit_ticket,
                kind: D
            },
        ]
    );
    assert_eq!(w.open_kinds(), vec![O, D]);
    assert!(w.f.traders[2].id.is_some(), "credited in batch 2");
    let second = w.end().sealed().next().expect("sealed").clone();
    assert_eq!(second.batch_number, first.batch_number + 1);
    assert_eq!(second.old_root, first.new_root);
}

#[test]
fn start_of_batch_kinds_keep_slot_order_and_their_queues_order() {
    let mut w = opened(4, 2, "o2-f1-l1-x1-d2-fw1-fc1-ft1-t4-w2-c2");
    // Deposits are full (2 of 2): the next two wait, in queue order.
    let third = (w.next_ticket(), w.deposit(2, 1_000_000_000));
    assert_eq!(w.run(third.1).outcome, Outcome::Held);
    // An oracle tick after the deposits would go backwards: it waits too.
    let tick = w.tick(btc(), 500_500);
    assert_eq!(w.run(tick).outcome, Outcome::Held);
    w.end();
    let fourth = (w.next_ticket(), w.deposit(3, 1_000_000_000));
    assert_eq!(w.run(fourth.1).outcome, Outcome::Held, "no batch is open");
    let begun = w.begin(START + 1);
    let applied: Vec<_> = begun
        .events
        .iter()
        .map(|e| match e {
            BatchEvent::Applied { ticket, kind } => (*ticket, *kind),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(applied, vec![(third.0 + 1, O), (third.0, D), (fourth.0, D)]);
    // The deposit slots are full again: the next deposit waits for the next batch.
    let fifth = w.deposit(0, 5);
    assert_eq!(w.run(fifth).outcome, Outcome::Held);
}

#[test]
fn a_trade_beyond_capacity_rolls_the_batch() {
    let mut w = opened(3, 3, "o2-f1-l1-x1-d4-fw1-fc1-ft1-t2-w1-c2");
    let asks: Vec<_> = (0..3)
        .map(|_| w.f.order(1, btc(), Side::Sell, 5, 500_000))
        .collect();
    for ask in &asks {
        w.submit(*ask, TimeInForce::GoodTillCancelled);
    }
    // Two withdrawals of trader 2 with consecutive nonces: one withdrawal slot per batch.
    let w1 = (w.next_ticket(), w.withdrawal(2, 1_000, 0));
    assert_eq!(w.run(w1.1).outcome, Outcome::Held);
    let w2 = (w.next_ticket(), w.withdrawal(2, 2_000, 1));
    assert_eq!(w.run(w2.1).outcome, Outcome::Held);

    // Three fills, two trade slots: the third fill seals the batch (with the first withdrawal)
    // and lands in the next batch, begun at the same time.
    let bid = w.f.order(0, btc(), Side::Buy, 15, 500_000);
    let executed = w.submit(bid, TimeInForce::GoodTillCancelled);
    assert_eq!(fills(&executed.outcome), 3);
    assert_eq!(
        executed.events[0],
        BatchEvent::Applied {
            ticket: w1.0,
            kind: W
        }
    );
    let rolled: Vec<_> = executed.sealed().cloned().collect();
    assert_eq!(rolled.len(), 1);
    assert_eq!(kinds(&rolled[0]), vec![O, D, D, D, T, T, W]);
    assert_eq!(rolled[0].timestamp, ts(START));
    assert_eq!(w.open_kinds(), vec![T]);
    assert_eq!(w.batcher.engine().state().now(), ts(START));
    assert_eq!(w.batcher.held().map(|(t, _)| t).collect::<Vec<_>>(), [w2.0]);

    let end = w.end();
    assert_eq!(
        end.events[0],
        BatchEvent::Applied {
            ticket: w2.0,
            kind: W
        }
    );
    let second = end.sealed().next().expect("sealed");
    assert_eq!(kinds(second), vec![T, W]);
    assert_eq!(second.old_root, rolled[0].new_root);
    assert_eq!(w.nonce(2), 2);
}

#[test]
fn withdrawals_and_cancels_land_after_the_trades() {
    let mut w = opened(3, 3, "o2-f1-l1-x1-d4-fw1-fc1-ft1-t4-w2-c2");
    let withdrawal = (w.next_ticket(), w.withdrawal(2, 1_000, 0));
    assert_eq!(w.run(withdrawal.1).outcome, Outcome::Held);
    let resting = w.f.order(2, btc(), Side::Buy, 3, 499_000);
    w.submit(resting, TimeInForce::GoodTillCancelled);
    // The cancel takes the order out of the book at once; its transaction waits for the seal.
    let held = (
        w.next_ticket(),
        w.cancel(resting.order.account, resting.order.order_id),
    );
    assert_eq!(
        w.run(held.1.clone()).outcome,
        Outcome::Cancelled(vec![Event::Cancelled {
            key: zkperp_core::book::OrderKey {
                account: resting.order.account,
                order_id: resting.order.order_id
            },
            remaining: 3,
            reason: CancelReason::User
        }])
    );
    assert!(w.batcher.engine().book(0).expect("book").is_empty());
    // Until the cancel lands, the order cannot come back, nor be cancelled twice.
    assert_eq!(
        w.submit(resting, TimeInForce::GoodTillCancelled).outcome,
        Outcome::Refused(OrderError::CancelPending)
    );
    assert_eq!(
        w.run(held.1).outcome,
        Outcome::Refused(OrderError::CancelPending)
    );
    // A forged cancel changes nothing.
    let ask = w.f.order(1, btc(), Side::Sell, 4, 500_000);
    w.submit(ask, TimeInForce::GoodTillCancelled);
    let Command::Cancel { mut cancel } = w.cancel(ask.order.account, ask.order.order_id) else {
        unreachable!()
    };
    cancel.signature = w.f.traders[0].key.sign(CancelOrder::message(
        &zkperp_state::domain::SigningDomain::TEST,
        cancel.account,
        cancel.order_id,
    ));
    assert!(matches!(
        w.run(Command::Cancel { cancel }).outcome,
        Outcome::Refused(OrderError::State(_))
    ));
    let bid = w.f.order(0, btc(), Side::Buy, 4, 500_000);
    assert_eq!(
        fills(&w.submit(bid, TimeInForce::GoodTillCancelled).outcome),
        1
    );

    let end = w.end();
    assert_eq!(
        end.events[..2],
        [
            BatchEvent::Applied {
                ticket: withdrawal.0,
                kind: W
            },
            BatchEvent::Applied {
                ticket: held.0,
                kind: C
            },
        ]
    );
    let batch = end.sealed().next().expect("sealed");
    assert_eq!(kinds(batch), vec![O, D, D, D, T, W, C]);
}

#[test]
fn a_fill_or_kill_larger_than_what_is_left_rolls_first_and_one_larger_than_a_batch_is_refused() {
    let mut w = opened(3, 3, "o2-f1-l1-x1-d4-fw1-fc1-ft1-t2-w1-c1");
    for _ in 0..3 {
        let ask = w.f.order(1, btc(), Side::Sell, 5, 500_000);
        w.submit(ask, TimeInForce::GoodTillCancelled);
    }
    let bid = w.f.order(0, btc(), Side::Buy, 5, 500_000);
    assert_eq!(
        fills(&w.submit(bid, TimeInForce::GoodTillCancelled).outcome),
        1
    );
    // One trade slot left; the fill-or-kill needs two: the batch is sealed before it matches,
    // and both its fills land in the next batch (under one savepoint).
    let fok = w.f.order(0, btc(), Side::Buy, 10, 500_000);
    let executed = w.submit(fok, TimeInForce::FillOrKill);
    assert_eq!(fills(&executed.outcome), 2);
    let rolled: Vec<_> = executed.sealed().collect();
    assert_eq!(rolled.len(), 1);
    assert_eq!(kinds(rolled[0]), vec![O, D, D, D, T]);
    assert_eq!(w.open_kinds(), vec![T, T]);

    // Three fills can never fit two trade slots: refused before anything changes.
    for _ in 0..3 {
        let ask = w.f.order(2, btc(), Side::Sell, 5, 500_000);
        w.submit(ask, TimeInForce::GoodTillCancelled);
    }
    let before = fingerprint(&w.batcher);
    let fok = w.f.order(0, btc(), Side::Buy, 15, 500_000);
    let executed = w.submit(fok, TimeInForce::FillOrKill);
    assert_eq!(
        executed.outcome,
        Outcome::Refused(OrderError::TooManyFills { fills: 3, slots: 2 })
    );
    assert!(executed.events.is_empty());
    assert_eq!(fingerprint(&w.batcher), before);
    // Two fills fit a fresh batch: the full one is rolled, and the order fills whole.
    let fok = w.f.order(0, btc(), Side::Buy, 10, 500_000);
    let executed = w.submit(fok, TimeInForce::FillOrKill);
    assert_eq!(fills(&executed.outcome), 2);
    assert_eq!(executed.sealed().count(), 1);
}

#[test]
fn between_batches_orders_wait_and_batch_commands_out_of_place_are_refused() {
    let mut w = World::new(2, "o2-f1-l1-x1-d2-fw1-fc1-ft1-t2-w1-c1");
    assert!(matches!(w.end().outcome, Outcome::BatchRefused(_)));
    let deposit = (w.next_ticket(), w.deposit(0, 1_000_000_000));
    assert_eq!(
        w.run(deposit.1).outcome,
        Outcome::Held,
        "nothing applies between batches"
    );
    assert_eq!(
        w.begin(START).events,
        vec![BatchEvent::Applied {
            ticket: deposit.0,
            kind: D
        }]
    );
    assert!(matches!(w.begin(START).outcome, Outcome::BatchRefused(_)));
    let tick = w.tick(btc(), 500_000);
    assert_eq!(w.run(tick).outcome, Outcome::Held, "a tick after a deposit");
    w.end();
    assert!(matches!(
        w.begin(START - 1).outcome,
        Outcome::BatchRefused(_)
    ));
    assert!(!w.batcher.is_open());
    let bid = w.f.order(0, btc(), Side::Buy, 1, 500_000);
    assert_eq!(
        w.submit(bid, TimeInForce::GoodTillCancelled).outcome,
        Outcome::Refused(OrderError::NoOpenBatch)
    );
    // A trade is not a transaction to apply by hand.
    let trade = Fixture::trade_tx(bid, bid, 1, 500_000);
    assert_eq!(
        w.run(Command::Apply { tx: trade }).outcome,
        Outcome::Refused(OrderError::TradeOutsideBook)
    );
    // A shape without a slot of some kind is refused outright.
    let mut config = w.config.clone();
    config.shape = "o1-f1-l1-x1-d1-fw0-fc1-ft1-t1-w1-c1"
        .parse()
        .expect("shape");
    assert!(config.genesis().is_err());
}

/// A random stream of commands: orders of every kind, cancels, deposits, withdrawals, oracle
/// ticks, batch boundaries at random points.
fn random_stream(w: &mut World, seed: u64, commands: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    w.begin(START);
    for market in [btc(), eth()] {
        let price = if market == btc() { 500_000 } else { 3_000_000 };
        let tick = w.tick(market, price);
        w.run(tick);
    }
    for t in 0..w.f.traders.len() {
        let deposit = w.deposit(t, 1_000_000_000);
        w.run(deposit);
    }
    let traders = w.f.traders.len();
    while w.commands.len() < commands {
        let trader = rng.gen_range(0..traders);
        let funded = w.f.traders[trader].id.is_some();
        let command = match rng.gen_range(0..100) {
            // The timer: usually the next batch begins at once, sometimes a few commands
            // arrive in between; now and then a begin comes while a batch is open.
            0..4 => {
                w.run(Command::EndBatch);
                if rng.gen_bool(0.3) {
                    continue;
                }
                Command::BeginBatch {
                    timestamp: ts(w.time + rng.gen_range(0..3)),
                }
            }
            4..6 => Command::BeginBatch {
                timestamp: ts(w.time + rng.gen_range(0..3)),
            },
            9..13 => {
                let market = if rng.gen_bool(0.5) { btc() } else { eth() };
                let mark = w.batcher.engine().state().markets()[market.index()]
                    .mark_price
                    .get()
                    .max(1_000);
                w.tick(
                    market,
                    mark + mark * rng.gen_range(0..20) / 1_000 - mark / 100,
                )
            }
            13..17 => w.deposit(trader, rng.gen_range(1..1_000_000_000)),
            17..23 if funded => {
                let id = w.f.id(trader);
                let pending = w
                    .batcher
                    .held()
                    .filter(|(_, tx)| matches!(tx, Transaction::Withdrawal(x) if x.account == id))
                    .count() as u64;
                let nonce = w.nonce(trader) + pending;
                w.withdrawal(trader, rng.gen_range(1..100_000_000), nonce)
            }
            23..38 if funded => {
                let id = w.f.id(trader);
                let resting: Vec<_> = w
                    .batcher
                    .engine()
                    .snapshots()
                    .into_iter()
                    .flat_map(|s| s.bids.into_iter().chain(s.asks))
                    .filter(|o| o.key.account == id)
                    .collect();
                let order_id = match resting.is_empty() || rng.gen_bool(0.1) {
                    true => OrderId::new(rng.gen_range(1..50)).expect("id"),
                    false => resting[rng.gen_range(0..resting.len())].key.order_id,
                };
                w.cancel(id, order_id)
            }
            _ if funded => {
                let market = if rng.gen_bool(0.7) { btc() } else { eth() };
                let mark = w.batcher.engine().state().markets()[market.index()]
                    .mark_price
                    .get();
                let side = if rng.gen_bool(0.5) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let offset = mark * rng.gen_range(0..20) / 10_000;
                let price = match (side, rng.gen_bool(0.5)) {
                    (Side::Buy, true) | (Side::Sell, false) => mark + offset,
                    _ => mark - offset,
                };
                let t = &mut w.f.traders[trader];
                let order_id = t.next_order;
                t.next_order += 1;
                let order = Order {
                    account: w.f.id(trader),
                    market,
                    side,
                    size: lots(rng.gen_range(1..30)),
                    limit_price: ticks(price),
                    max_fee: Ppm::new(1_000).expect("ppm"),
                    expiry: ts(w.time + rng.gen_range(0..6)),
                    order_id: OrderId::new(order_id).expect("id"),
                };
                let time_in_force = match rng.gen_range(0..10) {
                    0 | 1 => TimeInForce::FillOrKill,
                    2 | 3 => TimeInForce::ImmediateOrCancel,
                    4 => TimeInForce::PostOnly,
                    _ => TimeInForce::GoodTillCancelled,
                };
                Command::Submit {
                    order: w.f.sign(trader, order),
                    options: OrderOptions {
                        time_in_force,
                        reduce_only: rng.gen_bool(0.1),
                        self_trade: SelfTradePrevention::CancelResting,
                    },
                }
            }
            _ => continue,
        };
        if let Command::BeginBatch { timestamp } = &command {
            if !w.batcher.is_open() {
                w.time = timestamp.get();
            }
        }
        w.run(command);
    }
}

/// What the stream did, for the checks below and to show it exercised the builder.
#[derive(Debug, Default)]
struct Tally {
    fills: usize,
    sealed: usize,
    rolled: usize,
    held: usize,
    late_applied: usize,
    late_refused: usize,
}

/// Every sealed batch fits the shape and chains onto the last; every held transaction ends
/// applied (and is then in a batch), refused with its reason, or still held.
fn check_stream(w: &World) -> Tally {
    let mut tally = Tally::default();
    let mut pending: BTreeMap<u64, Transaction> = BTreeMap::new();
    let mut late = Vec::new();
    let mut previous: Option<&SealedBatch> = None;
    for (command, executed) in w.commands.iter().zip(&w.results) {
        match (&executed.outcome, command) {
            (Outcome::Held, Command::Apply { tx }) => {
                pending.insert(executed.ticket, tx.clone());
            }
            (Outcome::Cancelled(_), Command::Cancel { cancel }) => {
                pending.insert(executed.ticket, Transaction::CancelOrder(*cancel));
            }
            (Outcome::Book(events), _) => {
                tally.fills += events
                    .iter()
                    .filter(|e| matches!(e, Event::Fill(_)))
                    .count();
                tally.rolled += executed.sealed().count();
            }
            _ => {}
        }
        tally.held += matches!(executed.outcome, Outcome::Held | Outcome::Cancelled(_)) as usize;
        for event in &executed.events {
            match event {
                BatchEvent::Applied { ticket, kind } => {
                    let tx = pending
                        .remove(ticket)
                        .expect("applied once, after it was held");
                    assert_eq!(SlotKind::of(&tx), *kind);
                    late.push(tx);
                    tally.late_applied += 1;
                }
                BatchEvent::Refused { ticket, kind, .. } => {
                    let tx = pending
                        .remove(ticket)
                        .expect("refused once, after it was held");
                    assert_eq!(SlotKind::of(&tx), *kind);
                    tally.late_refused += 1;
                }
                BatchEvent::Sealed(batch) => {
                    batch.check_shape(&w.shape()).expect("fits the shape");
                    match previous {
                        Some(p) => {
                            assert_eq!(batch.batch_number, p.batch_number + 1);
                            assert_eq!(batch.old_root, p.new_root);
                            assert!(batch.timestamp >= p.timestamp);
                        }
                        None => assert_eq!(batch.batch_number, 1),
                    }
                    previous = Some(batch);
                    tally.sealed += 1;
                }
                BatchEvent::SealFailed(reason) => panic!("seal failed: {reason}"),
                BatchEvent::Closed(number) => panic!("no seal worker here: batch {number}"),
                BatchEvent::Book(events) => panic!("no forced cancel here: {events:?}"),
            }
        }
    }
    let still_held: BTreeMap<u64, Transaction> = w
        .batcher
        .held()
        .map(|(ticket, tx)| (ticket, tx.clone()))
        .collect();
    assert_eq!(pending, still_held, "held = accepted - applied - refused");
    let batched: Vec<&Transaction> = w
        .sealed()
        .into_iter()
        .flat_map(|b| b.txs.iter().map(|a| &a.tx))
        .chain(w.batcher.engine().state().batch_txs())
        .collect();
    for tx in &late {
        assert!(
            batched.contains(&tx),
            "an applied held transaction is in a batch"
        );
    }
    tally
}

/// Runs the commands again into a fresh builder: the same results, batches, books and root.
fn replay(w: &World) {
    let mut fresh = w.config.genesis().expect("genesis");
    for (ticket, (command, executed)) in w.commands.iter().zip(&w.results).enumerate() {
        assert_eq!(
            &fresh.execute(ticket as u64, command),
            executed,
            "command {ticket}"
        );
    }
    assert_eq!(fingerprint(&fresh), fingerprint(&w.batcher));
}

#[test]
fn random_streams_fit_the_shape_and_replay_identically() {
    let mut total = Tally::default();
    for seed in 0..4 {
        let mut w = World::new(4, "o2-f1-l1-x1-d2-fw1-fc1-ft1-t3-w1-c2");
        random_stream(&mut w, seed, 300);
        let tally = check_stream(&w);
        replay(&w);
        total.fills += tally.fills;
        total.sealed += tally.sealed;
        total.rolled += tally.rolled;
        total.held += tally.held;
        total.late_applied += tally.late_applied;
        total.late_refused += tally.late_refused;
    }
    assert!(
        total.fills > 50
            && total.rolled > 5
            && total.sealed > 20
            && total.late_applied > 20
            && total.late_refused > 0,
        "the streams did not exercise the builder: {total:?}"
    );
}

/// Padded batches list decoys: accounts none of the batch's transactions touched, refreshed
/// like the others, never a system account. (That a sequencer's journal replays to the same
/// batches, padding included, is the sequencer crate's `snapshot` test.)
#[test]
fn padded_batches_list_decoys_and_never_a_system_account() {
    let mut w = World::new(4, "o2-f1-l1-x1-d2-fw1-fc1-ft1-t3-w1-c2");
    w.batcher.set_padding_secret([7; 32]);
    random_stream(&mut w, 99, 200);
    check_stream(&w);
    let mut decoys = 0;
    for batch in w.results.iter().flat_map(|e| e.sealed()) {
        let used: std::collections::BTreeSet<AccountId> = batch
            .txs
            .iter()
            .flat_map(|a| a.receipt.accounts())
            .collect();
        for id in &batch.touched() {
            if !used.contains(id) && *id != AccountId::FEES {
                assert_ne!(
                    *id,
                    AccountId::INSURANCE_FUND,
                    "a system account as a decoy"
                );
                decoys += 1;
            }
        }
    }
    assert!(decoys > 0, "no batch was padded");
}

/// A served forced cancel raises its account's order floor; the book then drops the account's
/// resting orders below it at once (they could never fill), and keeps those above. Between
/// batches it is held and the drop comes with the next batch's start.
#[test]
fn a_forced_cancel_drops_the_orders_below_the_floor_from_the_book() {
    let mut w = opened(2, 2, "o2-f1-l1-x1-d2-fw1-fc1-ft1-t2-w1-c1");
    let account = w.f.id(0);
    let resting = |w: &World| -> Vec<u64> {
        let mut ids: Vec<u64> = w
            .batcher
            .engine()
            .snapshots()
            .iter()
            .flat_map(|s| s.bids.iter().chain(&s.asks).map(|o| o.key.order_id.get()))
            .collect();
        ids.sort_unstable();
        ids
    };
    for id in [5, 8, 20, 30] {
        let bid = w.f.order_with_id(0, btc(), Side::Buy, 1, 400_000, id);
        w.submit(bid, TimeInForce::GoodTillCancelled);
    }
    assert_eq!(resting(&w), [5, 8, 20, 30]);
    let dropped = |executed: &Executed| -> Vec<u64> {
        executed
            .events
            .iter()
            .filter_map(|e| match e {
                BatchEvent::Book(events) => Some(events),
                _ => None,
            })
            .flatten()
            .filter_map(|e| match e {
                Event::Cancelled { key, .. } if key.account == account => Some(key.order_id.get()),
                _ => None,
            })
            .collect()
    };
    let l1 = w.f.traders[0].l1;
    let forced = |index, below| Command::Apply {
        tx: Fixture::forced_cancel_tx(index, account, l1, below),
    };
    let executed = w.run(forced(0, 10));
    assert_eq!(executed.outcome, Outcome::Applied);
    assert_eq!(dropped(&executed), [5, 8]);
    assert_eq!(resting(&w), [20, 30]);
    // Between batches: held, then applied and dropped when the next batch begins.
    w.end();
    assert_eq!(w.run(forced(1, 25)).outcome, Outcome::Held);
    assert_eq!(resting(&w), [20, 30]);
    let begun = w.begin(START + 1);
    assert_eq!(dropped(&begun), [20]);
    assert_eq!(resting(&w), [30]);
    // A stranger's forced cancel is refused by the rules: nothing leaves the book. (The
    // batch's one forced-cancel slot is taken: it waits for the next batch.)
    let stranger = w.f.traders[1].l1;
    let executed = w.run(Command::Apply {
        tx: Fixture::forced_cancel_tx(2, account, stranger, 40),
    });
    assert_eq!(executed.outcome, Outcome::Held);
    w.end();
    let begun = w.begin(START + 2);
    assert!(
        begun.events.iter().any(|e| matches!(
            e,
            BatchEvent::Applied {
                kind: SlotKind::ForcedCancel,
                ..
            }
        )),
        "{begun:?}"
    );
    assert!(dropped(&begun).is_empty());
    assert_eq!(resting(&w), [30]);
}

/// A shape whose account table is smaller than its slots could touch: deposits and trades of
/// new accounts fill the table before the slots, and the batch rolls (or the deposit waits)
/// when the next transaction could bring accounts the table has no room for. Every sealed
/// batch fits, its table included.
#[test]
fn a_full_account_table_rolls_the_batch() {
    // 5 entries: the fee account and four more; 6 deposit and 8 trade slots.
    let mut w = World::new(6, "o2-f1-l1-x1-d6-fw1-fc1-ft1-t8-w1-c1-a5");
    assert_eq!(w.begin(START).outcome, Outcome::BatchStarted);
    let tick = w.tick(btc(), 500_000);
    assert_eq!(w.run(tick).outcome, Outcome::Applied);
    let mut outcomes = Vec::new();
    for t in 0..6 {
        let deposit = w.deposit(t, 1_000_000_000);
        outcomes.push(w.run(deposit).outcome);
    }
    assert!(outcomes[..4].iter().all(|o| *o == Outcome::Applied));
    assert!(
        outcomes[4..].iter().all(|o| *o == Outcome::Held),
        "the table is full: the next batch"
    );
    w.end();
    w.begin(START + 1);
    assert_eq!(
        w.batcher.engine().state().batch_len(),
        2,
        "the held deposits"
    );
    w.end();
    w.begin(START + 2);

    // Trader 0 bids; traders 1..=5 each sell 1 lot into it: five fills of two accounts each.
    for seller in 1..=5 {
        let ask = w.f.order(seller, btc(), Side::Sell, 1, 500_000);
        w.submit(ask, TimeInForce::GoodTillCancelled);
    }
    let bid = w.f.order(0, btc(), Side::Buy, 5, 500_000);
    let executed = w.submit(bid, TimeInForce::GoodTillCancelled);
    assert_eq!(fills(&executed.outcome), 5);
    let rolled: Vec<_> = executed.sealed().cloned().collect();
    assert_eq!(
        rolled.len(),
        2,
        "two fills per batch: each may bring two accounts"
    );
    w.end();
    let trades: Vec<usize> = w
        .sealed()
        .iter()
        .skip(2)
        .map(|b| kinds(b).iter().filter(|k| **k == T).count())
        .collect();
    assert_eq!(trades, [2, 2, 1]);
    for batch in w.sealed() {
        assert!(
            batch.touched().len() <= 5,
            "{} accounts",
            batch.touched().len()
        );
    }
}
